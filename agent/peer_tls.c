/*
 * peer_tls.c - mutual TLS between agents (OpenSSL 3), and the one place a
 * connection's bytes are read and written, in the clear or not.
 *
 * With [cluster] tls = on every connection is TLS 1.3 both ways: each side
 * presents its certificate (cert, key) and verifies the other's against the
 * pool's CA (ca); a connection without a certificate, with one from another
 * CA, expired, or not for the member it claims to be, is refused and
 * logged.  Who a certificate is for: the member's node_id, in the
 * subjectAltName DNS names (or the CN).  The dialer checks the name during
 * the handshake (SSL_set1_host: it knows whom it called); the listener once
 * the HELLO says who is calling (mmc_peer__tls_is()).
 *
 * Non-blocking throughout: the handshake is driven by the connection's
 * events (mmc_peer__tls_handshake()), and reads and writes return -EAGAIN
 * when OpenSSL wants the socket again.  Writes go straight from the
 * arena: SSL_write encrypts from the value where it lies (partial writes
 * allowed, the rest retried from the same place).
 *
 * With tls = off the same calls are recv() and sendmsg().
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "log.h"
#include "peer-int.h"

/* The reason for OpenSSL's last failure, for a log line. */
static const char *tls_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (!e)
		return "connection closed during the handshake";
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

int mmc_peer__tls_init(struct mmc_peer *p, char *err, size_t errlen)
{
	const struct mmc_peer_config *cfg = &p->cfg;
	char why[256];
	SSL_CTX *ctx;

	if (!cfg->tls)
		return 0;
	ctx = SSL_CTX_new(TLS_method());
	if (!ctx) {
		snprintf(err, errlen, "[cluster] tls: %s", tls_reason(why, sizeof(why)));
		return -ENOMEM;
	}
	p->tls = ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		snprintf(err, errlen, "[cluster] cert '%s': %s", cfg->tls_cert,
			 tls_reason(why, sizeof(why)));
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "[cluster] key '%s': %s", cfg->tls_key,
			 tls_reason(why, sizeof(why)));
		return -EINVAL;
	}
	if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
		snprintf(err, errlen, "[cluster] ca '%s': %s", cfg->tls_ca,
			 tls_reason(why, sizeof(why)));
		return -EINVAL;
	}
	return 0;
}

void mmc_peer__tls_free(struct mmc_peer *p)
{
	SSL_CTX_free(p->tls);
	p->tls = NULL;
}

int mmc_peer__tls_attach(struct mmc_peer *p, struct conn *c)
{
	if (!p->tls)
		return 0;
	c->ssl = SSL_new(p->tls);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		return -ENOMEM;
	if (c->outgoing) {
		SSL_set_connect_state(c->ssl);
		/* The member we dial must hold a certificate for its id. */
		if (SSL_set1_host(c->ssl, p->m[c->member].id) != 1)
			return -ENOMEM;
	} else {
		SSL_set_accept_state(c->ssl);
	}
	return 0;
}

void mmc_peer__tls_detach(struct conn *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
}

int mmc_peer__tls_handshake(struct mmc_peer *p, struct conn *c)
{
	char why[256];
	int r, e;
	long v;

	if (!c->ssl || c->tls_done)
		return 1;
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->tls_done = true;
		return 1;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_WANT_WRITE) {
		c->want_out = true;
		return 0;
	}
	p->st.tls_refused++;
	v = SSL_get_verify_result(c->ssl);
	log_warn("[cluster] TLS with %s refused: %s", c->outgoing ? p->m[c->member].where :
		 "an incoming connection", v != X509_V_OK ? X509_verify_cert_error_string(v) :
		 tls_reason(why, sizeof(why)));
	ERR_clear_error();
	return -EPROTO;
}

bool mmc_peer__tls_is(const struct conn *c, const char *id)
{
	X509 *x;
	bool ok;

	if (!c->ssl)
		return true;
	x = SSL_get1_peer_certificate(c->ssl);
	ok = x && X509_check_host(x, id, strlen(id), 0, NULL) == 1;
	X509_free(x);
	return ok;
}

ssize_t mmc_peer__read(struct conn *c, void *buf, size_t len)
{
	size_t got = 0;
	int e;

	if (!c->ssl)
		return recv(c->fd, buf, len, MSG_DONTWAIT);
	if (SSL_read_ex(c->ssl, buf, len, &got) == 1)
		return (ssize_t)got;
	e = SSL_get_error(c->ssl, 0);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		errno = EAGAIN;
	else if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	else
		errno = ECONNRESET;
	return -1;
}

ssize_t mmc_peer__write(struct conn *c, const struct iovec *iov, int n)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	size_t put = 0;
	int e;

	if (!c->ssl)
		return sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* One record per piece: the header and key, then the value. */
	if (SSL_write_ex(c->ssl, iov[0].iov_base, iov[0].iov_len, &put) == 1)
		return (ssize_t)put;
	e = SSL_get_error(c->ssl, 0);
	ERR_clear_error();
	errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : ECONNRESET;
	return -1;
}
