/*
 * peer_wire.c - the connections between agents: a socket, what it is
 * receiving, what waits to be sent (peer.h has the contract, peer.c the
 * members and deadlines, peer_proto-t.h the frames).
 *
 * A connection is a socket with a receive state (header, key, value) and a
 * queue of frames to send.  Every header is checked before a byte more is
 * read (frame_ok); a bad one ends the connection.  Incoming connections
 * must start with a HELLO naming a known member, answered with ours; then
 * they carry GETs (answered with VALUE, straight from the owner's memory)
 * and PUTs (not answered).  Outgoing ones carry our GETs and PUTs and
 * receive VALUEs, matched to their GET by id.
 *
 * Values never pass through a buffer: a VALUE or PUT is sent with one
 * sendmsg() of the header and key and the value where it lies (the arena:
 * the owner keeps it there until release()), and received with recv()
 * straight into the block the owner gives (value_begin/put_begin), then
 * checked against the sender's crc32c before the owner may publish it.  A
 * value nobody wants is read into a scratch buffer and dropped.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "peer-int.h"
#include "timer.h"

/* ---- connections ---- */

void mmc_peer__watch(struct mmc_peer *p, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP |
				  (c->want_out ? EPOLLOUT : 0u), .data.ptr = c };

	(void)epoll_ctl(p->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

struct conn *mmc_peer__conn_new(struct mmc_peer *p, int fd, int member, bool outgoing)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	int one = 1, buf = SOCK_BUF;

	if (!c || epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(c);
		close(fd);
		return NULL;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	c->fd = fd;
	c->member = member;
	c->outgoing = outgoing;
	c->next = p->conns;
	p->conns = c;
	if (mmc_peer__tls_attach(p, c)) {
		mmc_peer__conn_close(p, c, -ENOMEM);
		return NULL;
	}
	return c;
}

static void out_release(struct mmc_peer *p, struct out *o)
{
	if (o->pinned)
		p->ops.release(p->ctx, o->pin);
	if (o->owned)
		free((void *)o->value);
	free(o);
}

/* Ends c: its queued values are released, its GETs answered res, a value
 * being received handed back. */
void mmc_peer__conn_close(struct mmc_peer *p, struct conn *c, int res)
{
	struct conn **pp;

	if (c->closed)
		return;
	c->closed = true;
	for (pp = &p->conns; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	if (c->member >= 0 && p->m[c->member].out == c)
		p->m[c->member].out = NULL;
	while (c->q) {
		struct out *o = c->q;

		c->q = o->next;
		out_release(p, o);
	}
	if (c->rs == R_VALUE && c->has_cookie && !c->outgoing)
		p->ops.put_done(p->ctx, c->cookie, -ECONNRESET, 0);
	if (c->dst_owned)
		free(c->dst);
	for (struct pserve **sp = &p->serves; *sp;) {   /* its answers find no one */
		struct pserve *ps = *sp;

		if (ps->c == c) {
			*sp = ps->next;
			free(ps);
		} else {
			sp = &ps->next;
		}
	}
	if (c->receiving)
		mmc_peer__fail(p, c->receiving, res);
	while (c->gets) {
		struct pget *g = c->gets;

		c->gets = g->next;
		mmc_peer__fail(p, g, res);
	}
	mmc_peer__tls_detach(c);
	close(c->fd);
	/* Freed after the batch of events being handled: a later event of
	 * the batch, or a walk of the list (c->next stays), may still point
	 * at it (mmc_peer_poll). */
	c->receiving = NULL;
	c->gets = c->gets_tail = NULL;
	c->closed_next = p->closed;
	p->closed = c;
}

void mmc_peer__free_closed(struct mmc_peer *p)
{
	while (p->closed) {
		struct conn *c = p->closed;

		p->closed = c->closed_next;
		free(c);
	}
}

void mmc_peer__queue(struct mmc_peer *p, struct conn *c, struct out *o)
{
	o->next = NULL;
	if (c->q_tail && c->q)
		c->q_tail->next = o;
	else
		c->q = o;
	c->q_tail = o;
	c->queued += o->value_len;
	c->nq++;
	if (!c->want_out) {
		c->want_out = true;
		mmc_peer__watch(p, c);
	}
}

/* A frame of type with key: a zeroed out with its head filled. */
struct out *mmc_peer__frame(int type, const void *key, uint16_t key_len)
{
	struct out *o = calloc(1, sizeof(*o));
	struct mmc_peer_frame f = { .magic = MMC_PEER_MAGIC, .version = MMC_PEER_VERSION,
				    .type = (uint8_t)type, .key_len = key_len };

	if (!o)
		return NULL;
	memcpy(o->head, &f, sizeof(f));
	if (key_len)
		memcpy(o->head + sizeof(f), key, key_len);
	o->head_len = sizeof(f) + key_len;
	return o;
}

void mmc_peer__frame_value(struct out *o, const void *value, uint64_t len, uint32_t crc,
			   uint64_t pin)
{
	mmc_peer__head(o)->value_len = len;
	mmc_peer__head(o)->crc = crc;
	o->value = value;
	o->value_len = len;
	o->pin = pin;
	o->pinned = true;
}

int mmc_peer__send_hello(struct mmc_peer *p, struct conn *c)
{
	struct out *o = mmc_peer__frame(MMC_PEER_HELLO, p->self, (uint16_t)strlen(p->self));

	if (!o)
		return -ENOMEM;
	mmc_peer__queue(p, c, o);
	return 0;
}

/* Starts the outgoing connection to member i (connect, then HELLO). */
/* ---- sending ---- */

/* Sends what c has queued until the socket is full.  0, or -errno (the
 * connection is broken: the caller closes it). */
int mmc_peer__flush(struct mmc_peer *p, struct conn *c)
{
	while (c->q) {
		struct out *o = c->q;
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		ssize_t n;

		if (o->sent < o->head_len) {
			iov[0] = (struct iovec){ o->head + o->sent, o->head_len - o->sent };
			iov[1] = (struct iovec){ (void *)o->value, o->value_len };
			mh.msg_iovlen = o->value_len ? 2 : 1;
		} else {
			uint64_t done = o->sent - o->head_len;

			iov[0] = (struct iovec){ (void *)(o->value + done), o->value_len - done };
			mh.msg_iovlen = 1;
		}
		n = mmc_peer__write(c, iov, (int)mh.msg_iovlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -errno;
		o->sent += (size_t)n;
		p->st.bytes_out += (uint64_t)n;
		if (c->member >= 0)
			p->m[c->member].bytes_out += (uint64_t)n;
		if (o->sent < o->head_len + o->value_len)
			continue;    /* a short write (TLS: one record): on until EAGAIN */
		c->q = o->next;
		c->queued -= o->value_len;
		c->nq--;
		out_release(p, o);
	}
	c->want_out = false;
	mmc_peer__watch(p, c);
	return 0;
}

/* ---- receiving ---- */

static bool frame_ok(const struct conn *c, const struct mmc_peer_frame *f)
{
	bool valued = f->type == MMC_PEER_VALUE || f->type == MMC_PEER_PUT ||
		f->type == MMC_PEER_EXISTS || f->type == MMC_PEER_FOUND;

	if (f->magic != MMC_PEER_MAGIC || f->version != MMC_PEER_VERSION ||
	    !f->type || f->type >= MMC_PEER_TYPE_MAX_ || f->key_len > MMC_KEY_MAX ||
	    f->value_len >= MMC_PEER_VALUE_MAX || (!valued && f->value_len) || f->flags)
		return false;
	if (f->type == MMC_PEER_HELLO)
		return !c->ready && f->key_len >= 1 && f->key_len <= MMC_NODE_ID_MAX;
	if (!c->ready)
		return false;
	if (c->outgoing && f->type == MMC_PEER_FOUND)   /* one byte per key */
		return !f->key_len && !f->status && f->value_len &&
			f->value_len <= MMC_PEER_EXISTS_MAX;
	if (c->outgoing && f->type == MMC_PEER_VALUE && f->status == -EREMOTE)
		return f->key_len >= 1 && f->key_len <= MMC_NODE_ID_MAX && !f->value_len;
	if (c->outgoing)              /* we ask, it answers: a value or why not */
		return f->type == MMC_PEER_VALUE && !f->key_len &&
			(f->status < 0) == !f->value_len;
	if (f->type == MMC_PEER_RECORD)
		return f->key_len && !f->value_len;
	if (f->type == MMC_PEER_PUT)
		return f->key_len && f->value_len;
	if (f->type == MMC_PEER_EXISTS)
		return !f->key_len && f->value_len >= 3 && f->value_len <= MMC_PEER_EXISTS_BYTES;
	return f->type == MMC_PEER_GET && f->key_len;
}

static void serve_get(struct mmc_peer *p, struct conn *c)
{
	const void *v = NULL;
	uint64_t len = 0, pin = 0;
	uint32_t crc = 0;
	/* A member that asks without reading its answers gets misses, not
	 * our memory: values wait up to queue_max, like pushes. */
	uint64_t serve = ++p->next_serve;
	int r = c->queued < p->cfg.queue_max ?
		p->ops.lookup(p->ctx, c->key, c->f.key_len, serve, &v, &len, &crc, &pin) :
		-ENOENT;
	int h;
	const char *to;
	struct out *o;

	if (r == -EINPROGRESS) {     /* mmc_peer_answer() will (no memory: the deadline) */
		struct pserve *ps = malloc(sizeof(*ps));

		if (ps) {
			*ps = (struct pserve){ .next = p->serves, .c = c, .id = c->f.id,
					       .token = serve };
			p->serves = ps;
		}
		return;
	}
	h = r ? p->ops.holder(p->ctx, c->key, c->f.key_len) : -1;
	to = h >= 0 && h < p->nm && p->m[h].up && h != c->member ? p->m[h].id : NULL;
	o = mmc_peer__frame(MMC_PEER_VALUE, to, to ? (uint16_t)strlen(to) : 0);

	if (!o) {
		if (!r)
			p->ops.release(p->ctx, pin);
		return;                   /* the asker's deadline answers it */
	}
	mmc_peer__head(o)->id = c->f.id;
	mmc_peer__head(o)->status = to ? -EREMOTE : r;   /* not here; ask it */
	if (!r)
		mmc_peer__frame_value(o, v, len, crc, pin);
	mmc_peer__queue(p, c, o);
}

int mmc_peer_answer(struct mmc_peer *p, uint64_t serve, int res, const void *value,
		    uint64_t len, uint32_t crc, uint64_t pin)
{
	struct pserve **pp, *ps;
	struct out *o;

	for (pp = &p->serves; *pp && (*pp)->token != serve; pp = &(*pp)->next)
		;
	if (!(ps = *pp))
		return -ENOENT;
	*pp = ps->next;
	o = mmc_peer__frame(MMC_PEER_VALUE, NULL, 0);
	if (o) {
		mmc_peer__head(o)->id = ps->id;
		mmc_peer__head(o)->status = res;
		if (!res)
			mmc_peer__frame_value(o, value, len, crc, pin);
		/* Queued, not sent: sending may release a value, and the
		 * owner is not called back from inside its own call. */
		mmc_peer__queue(p, ps->c, o);
	}
	free(ps);
	return o ? 0 : -ENOMEM;
}

/* A whole EXISTS is in c->dst: answers it with a FOUND.  0, or -EPROTO
 * for a list that is not well formed. */
static int serve_exists(struct mmc_peer *p, struct conn *c)
{
	const unsigned char *k = (const unsigned char *)c->dst, *end = k + c->f.value_len;
	uint8_t *found = malloc(MMC_PEER_EXISTS_MAX);
	struct out *o = NULL;
	unsigned n = 0;

	if (!found)
		return 0;                 /* the asker's deadline answers it */
	while (k < end) {
		uint16_t len;

		if (end - k < 3 || n == MMC_PEER_EXISTS_MAX)
			break;
		len = (uint16_t)(k[0] | k[1] << 8);
		if (!len || len > MMC_KEY_MAX || len > end - k - 2)
			break;
		found[n++] = p->ops.has(p->ctx, k + 2, len);
		k += 2 + len;
	}
	if (k != end) {
		free(found);
		return -EPROTO;
	}
	if (!(o = mmc_peer__frame(MMC_PEER_FOUND, NULL, 0))) {
		free(found);
		return 0;
	}
	mmc_peer__head(o)->id = c->f.id;
	mmc_peer__head(o)->value_len = n;
	mmc_peer__head(o)->crc = mmc_crc32c(0, found, n);
	o->value = (const char *)found;
	o->value_len = n;
	o->owned = true;
	mmc_peer__queue(p, c, o);
	return 0;
}

/* A whole HELLO: incoming, it names the member (answered with ours);
 * outgoing, the member answered ours. */
static int got_hello(struct mmc_peer *p, struct conn *c)
{
	char id[MMC_NODE_ID_MAX + 1];
	int i;

	memcpy(id, c->key, c->f.key_len);
	id[c->f.key_len] = '\0';
	for (i = 0; i < p->nm && (p->m[i].gone || strcmp(p->m[i].id, id)); i++)
		;
	if (i == p->nm || (c->outgoing && i != c->member)) {
		if (p->etcd)             /* a member joining before etcd told us: it retries */
			log_info("[cluster] a connection says it is '%s', not a member "
				 "(yet): closed", id);
		else
			log_warn("[cluster] a connection says it is '%s', not a member we "
				 "expect: closed", id);
		return -EPERM;
	}
	if (!c->outgoing && !mmc_peer__tls_is(c, id)) {
		p->st.tls_refused++;
		log_warn("[cluster] a connection says it is '%s' but its certificate is "
			 "not for '%s': closed", id, id);
		return -EPERM;
	}
	c->ready = true;
	c->member = i;
	if (c->outgoing)
		mmc_peer__member_ok(p, &p->m[i]);
	else if (mmc_peer__send_hello(p, c))
		return -ENOMEM;
	return 0;
}

/* The header and key of a frame are in: decide where its value goes. */
static int frame_in(struct mmc_peer *p, struct conn *c)
{
	struct mmc_peer_frame *f = &c->f;

	c->dst = NULL;
	c->dst_owned = false;
	c->has_cookie = false;
	c->crc = 0;
	switch (f->type) {
	case MMC_PEER_HELLO:
		return got_hello(p, c);
	case MMC_PEER_GET:
		serve_get(p, c);
		return 0;
	case MMC_PEER_PUT:
		c->dst = p->ops.put_begin(p->ctx, c->key, f->key_len, f->value_len, &c->cookie);
		c->has_cookie = c->dst != NULL;
		return 0;
	case MMC_PEER_RECORD:
		p->ops.record(p->ctx, c->key, f->key_len, c->member);
		return 0;
	case MMC_PEER_EXISTS:
		c->dst = malloc(f->value_len);     /* NULL: dropped, the asker times out */
		c->dst_owned = c->dst != NULL;
		return 0;
	case MMC_PEER_VALUE:
	case MMC_PEER_FOUND: {
		struct pget **pp = &c->gets, *g;

		for (; *pp && (*pp)->id != f->id; pp = &(*pp)->next)
			;
		if (!(g = *pp))
			return 0;             /* timed out already: dropped */
		if (g->exists != (f->type == MMC_PEER_FOUND) ||
		    (g->exists && g->n != f->value_len))
			return -EPROTO;       /* not the answer to what was asked */
		*pp = g->next;
		if (c->gets_tail == g) {
			c->gets_tail = NULL;
			for (struct pget *x = c->gets; x; x = x->next)
				c->gets_tail = x;
		}
		mmc_peer__member_ok(p, &p->m[c->member]);
		{                             /* its round trip, smoothed (1/8) */
			struct member *m = &p->m[c->member];
			uint64_t rtt = mmc_now_ns() - g->sent_ns;

			m->rtt_ns = m->rtt_ns ? m->rtt_ns - m->rtt_ns / 8 + rtt / 8 : rtt;
		}
		if (f->status == -EREMOTE && !g->exists) {
			int i = mmc_peer__member_of(p, (const char *)c->key, f->key_len);

			if (i < 0) {
				mmc_peer__fail(p, g, -ENOENT);
			} else {
				p->ops.moved(p->ctx, g->cookie, i);
				free(g);
			}
			return 0;
		}
		if (f->status) {
			mmc_peer__fail(p, g, f->status == -ENOENT ? -ENOENT : -EPROTO);
			return 0;
		}
		c->receiving = g;
		c->dst = g->exists ? (char *)c->found :   /* <= MMC_PEER_EXISTS_MAX bytes */
			p->ops.value_begin(p->ctx, g->cookie, f->value_len);
		return 0;
	}
	}
	return -EPROTO;
}

/* The value of the frame is in (in c->dst, or dropped).  0, or -errno:
 * the connection must close. */
static int value_in(struct mmc_peer *p, struct conn *c)
{
	const struct mmc_peer_frame *f = &c->f;
	int res = 0;

	if (c->dst && c->crc != f->crc)     /* summed as it arrived (receive) */
		res = -EBADMSG;
	if (res)
		log_warn("[cluster] a value from %s failed its crc32c check: dropped",
			 p->m[c->member].id);
	if (f->type == MMC_PEER_EXISTS) {
		if (c->dst && !res)
			res = serve_exists(p, c);
		free(c->dst);
		c->dst = NULL;
		c->dst_owned = false;
		return res == -EPROTO ? res : 0;
	}
	if (f->type == MMC_PEER_PUT) {
		if (c->has_cookie)
			p->ops.put_done(p->ctx, c->cookie, res, f->crc);
	} else if (c->receiving && c->receiving->exists) {
		if (res)
			mmc_peer__fail(p, c->receiving, res);
		else
			p->ops.exists_done(p->ctx, c->receiving->cookie, 0,
					   (const uint8_t *)c->dst, (unsigned)f->value_len);
		if (!res)
			free(c->receiving);
		c->receiving = NULL;
	} else if (c->receiving) {
		if (!res && !c->dst)
			res = -ENOMEM;
		p->m[c->member].hits += !res;
		p->ops.get_done(p->ctx, c->receiving->cookie, res, f->crc);
		free(c->receiving);
		c->receiving = NULL;
	}
	c->has_cookie = false;
	return 0;
}

/* Reads what c has.  0, or -errno: the connection must close. */
int mmc_peer__receive(struct mmc_peer *p, struct conn *c)
{
	uint64_t taken = 0;
	unsigned frames = 0;

	c->more = false;

	/* A budget per call: a member that sends without pause cannot keep the
	 * loop here (epoll is level-triggered: the rest comes next turn), and
	 * one that asks without reading is cut off at QUEUE_FRAMES answers. */
	while (taken < READ_BUDGET && frames < READ_FRAMES) {
		char *to;
		size_t want;
		ssize_t n;

		if (c->nq >= QUEUE_FRAMES) {
			log_warn("[cluster] %s asks without reading our answers: connection "
				 "closed", c->member >= 0 ? p->m[c->member].id : "a member");
			return -ENOBUFS;
		}

		switch (c->rs) {
		case R_HDR:
			to = (char *)&c->f + c->got;
			want = sizeof(c->f) - c->got;
			break;
		case R_KEY:
			to = (char *)c->key + c->got;
			want = c->f.key_len - c->got;
			break;
		default: {
			uint64_t left = c->f.value_len - c->got;

			/* Into its block a slice at a time, each summed while it
			 * is still in the cache; a dropped value via scratch. */
			to = c->dst ? c->dst + c->got : p->scratch;
			want = left < SCRATCH ? (size_t)left : SCRATCH;
			break;
		}
		}
		n = want ? mmc_peer__read(c, to, want) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (!n && want)
			return -ECONNRESET;
		if (c->rs == R_VALUE && c->dst)
			c->crc = mmc_crc32c(c->crc, to, (size_t)n);
		c->got += (size_t)n;
		taken += (uint64_t)n;
		p->st.bytes_in += (uint64_t)n;
		if (c->member >= 0)
			p->m[c->member].bytes_in += (uint64_t)n;
		if (c->rs == R_HDR && c->got == sizeof(c->f)) {
			if (!frame_ok(c, &c->f)) {
				p->st.bad_frames++;
				log_warn("[cluster] a malformed frame from %s: connection closed",
					 c->member >= 0 ? p->m[c->member].id : "a new connection");
				return -EPROTO;
			}
			c->rs = R_KEY;
			c->got = 0;
		}
		if (c->rs == R_KEY && c->got == c->f.key_len) {
			int r = frame_in(p, c);

			if (r)
				return r;
			c->rs = R_VALUE;
			c->got = 0;
		}
		if (c->rs == R_VALUE && c->got == c->f.value_len) {
			int t = c->f.type, r = 0;

			if (t == MMC_PEER_VALUE || t == MMC_PEER_PUT || t == MMC_PEER_EXISTS ||
			    t == MMC_PEER_FOUND)
				r = value_in(p, c);

			if (r)
				return r;
			c->rs = R_HDR;
			c->got = 0;
			frames++;
		}
	}
	/* Out of budget: the rest next turn (what TLS has buffered makes no
	 * epoll event, so mmc_peer_poll() comes back for it). */
	c->more = true;
	p->repoll = true;
	return 0;
}

