/*
 * peer.c - the agents of other nodes: TCP connections, frames, deadlines,
 * and who is up (peer.h has the contract, peer_proto-t.h the frames,
 * docs/cluster.md the story).
 *
 * Members.  The [cluster] peers list, parsed once: id, host, port.  This
 * node's own entry is skipped; every other member gets a slot with its
 * outgoing connection (ours: we ask, it answers), its failures in a row,
 * and when to try it again once it is down.  Placement (placement.c) holds
 * the same members by id and skips the down ones.
 *
 * A connection is a socket with a receive state (header, key, value) and a
 * queue of frames to send.  Outgoing ones start with our HELLO and are
 * ready when the member's HELLO comes back: only an answer proves a member
 * is alive (a stopped process still completes TCP handshakes).  Incoming
 * ones must start with a HELLO naming a known member, answered with ours;
 * then they carry GETs (answered with VALUE) and PUTs (not answered).
 *
 * Values never pass through a buffer: a VALUE or PUT is sent with one
 * sendmsg() of the header and key and the value where it lies (the arena:
 * the owner keeps it there until release()), and received with recv()
 * straight into the block the owner gives (value_begin/put_begin), then
 * checked against the sender's crc32c before the owner may publish it.  A
 * value nobody wants is read into a scratch buffer and dropped.
 *
 * Deadlines.  Every GET carries one; mmc_peer_poll() answers the late ones
 * -ETIMEDOUT.  A GET whose value is arriving when its deadline passes ends
 * its connection (the bytes have a destination the owner wants back).  A
 * timerfd in the engine's epoll wakes the loop at the next deadline or
 * retry, so the agent's loop just watches one descriptor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "crc32c.h"
#include "layout-t.h"
#include "log.h"
#include "peer.h"
#include "peer_proto-t.h"
#include "placement.h"
#include "timer.h"

#define HELLO_MIN_MS  1000      /* a new connection's deadline, at least */
#define BACKOFF_MAX   32        /* retry_ms doubles up to this many times it */
#define SCRATCH       (64 << 10)
#define SOCK_BUF      (4 << 20)
#define MS            1000000ull

enum rstate { R_HDR, R_KEY, R_VALUE };

struct out {                     /* a frame waiting to be sent */
	struct out *next;
	unsigned char head[sizeof(struct mmc_peer_frame) + MMC_KEY_MAX];
	size_t head_len, sent;       /* sent counts head, then value bytes */
	const char *value;
	uint64_t value_len;
	uint64_t pin;
	bool pinned;
};

struct pget {                    /* a GET we sent and wait for */
	struct pget *next;
	uint32_t id;
	uint64_t cookie, deadline;
};

struct conn {
	struct conn *next;
	int fd;
	int member;                  /* -1: incoming, before its HELLO */
	bool outgoing, connecting, ready, want_out;
	uint64_t deadline;           /* outgoing, not ready yet: its HELLO's */
	/* receiving */
	enum rstate rs;
	struct mmc_peer_frame f;
	size_t got;
	unsigned char key[MMC_KEY_MAX];
	char *dst;                   /* NULL: dropping the value */
	uint64_t cookie;             /* of the GET (VALUE) or the push (PUT) */
	bool has_cookie;
	uint32_t crc;
	/* sending */
	struct out *q, *q_tail;
	uint64_t queued;             /* value bytes in q */
	/* outgoing: GETs waiting for their VALUE, oldest first */
	struct pget *gets, *gets_tail;
	struct pget *receiving;      /* the one whose value is arriving */
};

struct member {
	char id[MMC_NODE_ID_MAX + 1];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char where[300];             /* host:port, for messages */
	struct conn *out;
	unsigned fails;
	bool up;
	uint64_t retry_at, backoff_ms;
};

struct mmc_peer {
	struct mmc_peer_config cfg;
	char self[MMC_NODE_ID_MAX + 1];
	struct mmc_peer_ops ops;
	void *ctx;
	struct mmc_placement *place;
	struct member *m;
	int nm;
	int epfd, lfd, tfd;
	uint64_t timer_due;          /* the timerfd fires then (0: disarmed) */
	struct conn *conns;
	uint32_t next_id;
	char *scratch;
	struct mmc_peer_stats st;
};

static const char lfd_tag, tfd_tag;   /* epoll data of the listener, the timer */

/* Makes the timer fire at due at the latest. */
static void arm(struct mmc_peer *p, uint64_t due, uint64_t now)
{
	struct itimerspec its = { 0 };
	uint64_t d;

	if (p->timer_due && p->timer_due <= due)
		return;
	d = due > now ? due - now : 1;
	its.it_value.tv_sec = (time_t)(d / 1000000000ull);
	its.it_value.tv_nsec = (long)(d % 1000000000ull);
	(void)timerfd_settime(p->tfd, 0, &its, NULL);
	p->timer_due = due;
}

/* ---- parsing ---- */

/* "host:port", "[v6]:port" or ":port" -> host (may be empty), port. */
static int split_hostport(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
	const char *c = strrchr(s, ':'), *h = s;
	size_t n;

	if (!c || !c[1] || strlen(c + 1) >= plen)
		return -EINVAL;
	n = (size_t)(c - s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		h = s + 1;
		n -= 2;
	}
	if (n >= hlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	strcpy(port, c + 1);
	return 0;
}

static int resolve(const char *hp, bool passive, struct sockaddr_storage *ss,
		   socklen_t *len, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) };
	char host[256], port[16];
	struct addrinfo *ai;
	int r;

	if (split_hostport(hp, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "'%.80s' is not host:port", hp);
		return -EINVAL;
	}
	r = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (r) {
		snprintf(err, errlen, "'%.80s': %s", hp, gai_strerror(r));
		return -EINVAL;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* "id@host:port" entries, separated by commas or blanks. */
static int parse_members(struct mmc_peer *p, char *err, size_t errlen)
{
	char *list = strdup(p->cfg.peers ? p->cfg.peers : ""), *save = NULL, *tok;
	int ret = list ? 0 : -ENOMEM;

	for (tok = list ? strtok_r(list, ", \t", &save) : NULL; tok && !ret;
	     tok = strtok_r(NULL, ", \t", &save)) {
		char *at = strchr(tok, '@');
		struct member *m;

		if (!at || at == tok || (size_t)(at - tok) > MMC_NODE_ID_MAX) {
			snprintf(err, errlen, "[cluster] peers: '%.80s' is not id@host:port "
				 "(id 1..%d bytes)", tok, MMC_NODE_ID_MAX);
			ret = -EINVAL;
			break;
		}
		*at = '\0';
		if (!strcmp(tok, p->self))
			continue;             /* this node */
		m = realloc(p->m, (size_t)(p->nm + 1) * sizeof(*m));
		if (!m) {
			ret = -ENOMEM;
			break;
		}
		p->m = m;
		m = &p->m[p->nm];
		memset(m, 0, sizeof(*m));
		strcpy(m->id, tok);
		snprintf(m->where, sizeof(m->where), "%s", at + 1);
		if ((ret = resolve(at + 1, false, &m->addr, &m->addr_len, err, errlen)))
			break;
		m->up = true;
		p->nm++;
		ret = mmc_placement_add(p->place, m->id);
		if (ret == -EEXIST)
			snprintf(err, errlen, "[cluster] peers: '%s' is listed twice", m->id);
	}
	free(list);
	return ret;
}

/* ---- connections ---- */

static void watch(struct mmc_peer *p, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP |
				  (c->want_out ? EPOLLOUT : 0u), .data.ptr = c };

	(void)epoll_ctl(p->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static struct conn *conn_new(struct mmc_peer *p, int fd, int member, bool outgoing)
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
	return c;
}

static void out_release(struct mmc_peer *p, struct out *o)
{
	if (o->pinned)
		p->ops.release(p->ctx, o->pin);
	free(o);
}

/* Ends c: its queued values are released, its GETs answered res, a value
 * being received handed back. */
static void conn_close(struct mmc_peer *p, struct conn *c, int res)
{
	struct conn **pp;

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
	if (c->receiving) {
		p->ops.get_done(p->ctx, c->receiving->cookie, res, 0);
		free(c->receiving);
	}
	while (c->gets) {
		struct pget *g = c->gets;

		c->gets = g->next;
		p->ops.get_done(p->ctx, g->cookie, res, 0);
		free(g);
	}
	close(c->fd);
	free(c);
}

/* Member m answered: it is up. */
static void member_ok(struct mmc_peer *p, struct member *m)
{
	m->fails = 0;
	m->backoff_ms = 0;
	if (!m->up) {
		m->up = true;
		(void)mmc_placement_set_up(p->place, m->id, true);
		log_info("[cluster] member %s (%s) is up", m->id, m->where);
	}
}

/* Member m failed a call (why): after down_after in a row it is down. */
static void member_failed(struct mmc_peer *p, struct member *m, const char *why)
{
	p->st.failures++;
	if (!m->up) {                 /* a retry that failed: wait longer */
		m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : p->cfg.retry_ms;
		if (m->backoff_ms > (uint64_t)p->cfg.retry_ms * BACKOFF_MAX)
			m->backoff_ms = (uint64_t)p->cfg.retry_ms * BACKOFF_MAX;
		m->retry_at = mmc_now_ns() + m->backoff_ms * MS;
		return;
	}
	if (++m->fails < p->cfg.down_after)
		return;
	m->up = false;
	(void)mmc_placement_set_up(p->place, m->id, false);
	m->backoff_ms = p->cfg.retry_ms;
	m->retry_at = mmc_now_ns() + m->backoff_ms * MS;
	log_warn("[cluster] member %s (%s) is down after %u failures (last: %s); "
		 "its keys are misses until it answers again", m->id, m->where,
		 m->fails, why);
	if (m->out)
		conn_close(p, m->out, -EHOSTDOWN);
}

static void queue(struct mmc_peer *p, struct conn *c, struct out *o)
{
	o->next = NULL;
	if (c->q_tail && c->q)
		c->q_tail->next = o;
	else
		c->q = o;
	c->q_tail = o;
	c->queued += o->value_len;
	if (!c->want_out) {
		c->want_out = true;
		watch(p, c);
	}
}

/* A frame of type with key: a zeroed out with its head filled. */
static struct out *frame(int type, const void *key, uint16_t key_len)
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

static struct mmc_peer_frame *head_of(struct out *o)
{
	return (struct mmc_peer_frame *)(void *)o->head;
}

static int send_hello(struct mmc_peer *p, struct conn *c)
{
	struct out *o = frame(MMC_PEER_HELLO, p->self, (uint16_t)strlen(p->self));

	if (!o)
		return -ENOMEM;
	queue(p, c, o);
	return 0;
}

/* Starts the outgoing connection to member i (connect, then HELLO). */
static struct conn *dial(struct mmc_peer *p, int i)
{
	struct member *m = &p->m[i];
	int fd = socket(m->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	uint64_t t = p->cfg.timeout_ms > HELLO_MIN_MS ? p->cfg.timeout_ms : HELLO_MIN_MS;
	struct conn *c;

	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&m->addr, m->addr_len) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		member_failed(p, m, strerror(errno));
		return NULL;
	}
	c = conn_new(p, fd, i, true);
	if (!c)
		return NULL;
	c->connecting = true;
	c->deadline = mmc_now_ns() + t * MS;
	if (send_hello(p, c)) {
		conn_close(p, c, -ENOMEM);
		return NULL;
	}
	m->out = c;
	arm(p, c->deadline, mmc_now_ns());
	return c;
}

/* ---- sending ---- */

/* Sends what c has queued until the socket is full.  0, or -errno (the
 * connection is broken: the caller closes it). */
static int flush(struct mmc_peer *p, struct conn *c)
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
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -errno;
		o->sent += (size_t)n;
		p->st.bytes_out += (uint64_t)n;
		if (o->sent < o->head_len + o->value_len)
			return 0;
		c->q = o->next;
		c->queued -= o->value_len;
		out_release(p, o);
	}
	c->want_out = false;
	watch(p, c);
	return 0;
}

/* ---- receiving ---- */

static bool frame_ok(const struct conn *c, const struct mmc_peer_frame *f)
{
	bool valued = f->type == MMC_PEER_VALUE || f->type == MMC_PEER_PUT;

	if (f->magic != MMC_PEER_MAGIC || f->version != MMC_PEER_VERSION ||
	    !f->type || f->type >= MMC_PEER_TYPE_MAX_ || f->key_len > MMC_KEY_MAX ||
	    f->value_len >= MMC_PEER_VALUE_MAX || (!valued && f->value_len) || f->flags)
		return false;
	if (f->type == MMC_PEER_HELLO)
		return !c->ready && f->key_len >= 1 && f->key_len <= MMC_NODE_ID_MAX;
	if (!c->ready)
		return false;
	if (c->outgoing)              /* we ask, it answers: a value or why not */
		return f->type == MMC_PEER_VALUE && !f->key_len &&
			(f->status < 0) == !f->value_len;
	if (f->type == MMC_PEER_PUT)
		return f->key_len && f->value_len;
	return f->type == MMC_PEER_GET && f->key_len;
}

static void serve_get(struct mmc_peer *p, struct conn *c)
{
	const void *v = NULL;
	uint64_t len = 0, pin = 0;
	uint32_t crc = 0;
	int r = p->ops.lookup(p->ctx, c->key, c->f.key_len, &v, &len, &crc, &pin);
	struct out *o = frame(MMC_PEER_VALUE, NULL, 0);

	if (!o) {
		if (!r)
			p->ops.release(p->ctx, pin);
		return;                   /* the asker's deadline answers it */
	}
	head_of(o)->id = c->f.id;
	head_of(o)->status = r;
	if (!r) {
		head_of(o)->value_len = len;
		head_of(o)->crc = crc;
		o->value = v;
		o->value_len = len;
		o->pin = pin;
		o->pinned = true;
	}
	p->st.served++;
	queue(p, c, o);
}

/* A whole HELLO: incoming, it names the member (answered with ours);
 * outgoing, the member answered ours. */
static int got_hello(struct mmc_peer *p, struct conn *c)
{
	char id[MMC_NODE_ID_MAX + 1];
	int i;

	memcpy(id, c->key, c->f.key_len);
	id[c->f.key_len] = '\0';
	for (i = 0; i < p->nm && strcmp(p->m[i].id, id); i++)
		;
	if (i == p->nm || (c->outgoing && i != c->member)) {
		log_warn("[cluster] a connection says it is '%s', not a member we expect: "
			 "closed", id);
		return -EPERM;
	}
	c->ready = true;
	c->member = i;
	if (c->outgoing)
		member_ok(p, &p->m[i]);
	else if (send_hello(p, c))
		return -ENOMEM;
	return 0;
}

/* The header and key of a frame are in: decide where its value goes. */
static int frame_in(struct mmc_peer *p, struct conn *c)
{
	struct mmc_peer_frame *f = &c->f;

	c->dst = NULL;
	c->has_cookie = false;
	c->crc = 0;
	switch (f->type) {
	case MMC_PEER_HELLO:
		return got_hello(p, c);
	case MMC_PEER_GET:
		serve_get(p, c);
		return 0;
	case MMC_PEER_PUT:
		p->st.pushes_received++;
		c->dst = p->ops.put_begin(p->ctx, c->key, f->key_len, f->value_len, &c->cookie);
		c->has_cookie = c->dst != NULL;
		return 0;
	case MMC_PEER_VALUE: {
		struct pget **pp = &c->gets, *g;

		for (; *pp && (*pp)->id != f->id; pp = &(*pp)->next)
			;
		if (!(g = *pp))
			return 0;             /* timed out already: dropped */
		*pp = g->next;
		if (c->gets_tail == g) {
			c->gets_tail = NULL;
			for (struct pget *x = c->gets; x; x = x->next)
				c->gets_tail = x;
		}
		member_ok(p, &p->m[c->member]);
		if (f->status) {
			p->ops.get_done(p->ctx, g->cookie, f->status == -ENOENT ? -ENOENT : -EPROTO, 0);
			free(g);
			return 0;
		}
		c->receiving = g;
		c->dst = p->ops.value_begin(p->ctx, g->cookie, f->value_len);
		return 0;
	}
	}
	return -EPROTO;
}

/* The value of the frame is in (in c->dst, or dropped). */
static void value_in(struct mmc_peer *p, struct conn *c)
{
	const struct mmc_peer_frame *f = &c->f;
	int res = 0;

	if (c->dst && mmc_crc32c(0, c->dst, f->value_len) != f->crc)
		res = -EBADMSG;
	if (res)
		log_warn("[cluster] a value from %s failed its crc32c check: dropped",
			 p->m[c->member].id);
	if (f->type == MMC_PEER_PUT) {
		if (c->has_cookie)
			p->ops.put_done(p->ctx, c->cookie, res, f->crc);
	} else if (c->receiving) {
		if (!res && !c->dst)
			res = -ENOMEM;
		p->st.get_hits += !res;
		p->ops.get_done(p->ctx, c->receiving->cookie, res, f->crc);
		free(c->receiving);
		c->receiving = NULL;
	}
	c->has_cookie = false;
}

/* Reads what c has.  0, or -errno: the connection must close. */
static int receive(struct mmc_peer *p, struct conn *c)
{
	for (;;) {
		char *to;
		size_t want;
		ssize_t n;

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

			to = c->dst ? c->dst + c->got : p->scratch;
			want = c->dst || left < SCRATCH ? (size_t)left : SCRATCH;
			break;
		}
		}
		n = want ? recv(c->fd, to, want, MSG_DONTWAIT) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (!n && want)
			return -ECONNRESET;
		c->got += (size_t)n;
		p->st.bytes_in += (uint64_t)n;
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
			if (c->f.type == MMC_PEER_VALUE || c->f.type == MMC_PEER_PUT)
				value_in(p, c);
			c->rs = R_HDR;
			c->got = 0;
		}
	}
}

/* ---- the engine ---- */

int mmc_peer_create(const struct mmc_peer_config *cfg, const struct mmc_peer_ops *ops,
		    void *ctx, struct mmc_peer **out, char *err, size_t errlen)
{
	struct mmc_peer *p = calloc(1, sizeof(*p));
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, ret;

	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	p->ops = *ops;
	p->ctx = ctx;
	p->epfd = p->lfd = p->tfd = -1;
	snprintf(p->self, sizeof(p->self), "%s", cfg->node_id);
	p->scratch = malloc(SCRATCH);
	ret = p->scratch ? mmc_placement_create(&p->place) : -ENOMEM;
	if (!ret)
		ret = mmc_placement_add(p->place, p->self);
	if (ret) {
		snprintf(err, errlen, "[cluster] node_id '%s': %s", p->self, strerror(-ret));
		goto fail;
	}
	if ((ret = parse_members(p, err, errlen)))
		goto fail;
	if ((ret = resolve(cfg->listen, true, &ss, &sl, err, errlen)))
		goto fail;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	p->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->epfd < 0 || p->tfd < 0 || p->lfd < 0 ||
	    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(p->lfd, (struct sockaddr *)&ss, sl) < 0 || listen(p->lfd, 128) < 0) {
		ret = -errno;
		snprintf(err, errlen, "[cluster] listen '%s': %s", cfg->listen, strerror(errno));
		goto fail;
	}
	ev.data.ptr = (void *)&lfd_tag;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->lfd, &ev) < 0)
		ret = -errno;
	ev.data.ptr = (void *)&tfd_tag;
	if (!ret && epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->tfd, &ev) < 0)
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "[cluster] epoll: %s", strerror(-ret));
		goto fail;
	}
	*out = p;
	return 0;
fail:
	mmc_peer_destroy(p);
	return ret;
}

void mmc_peer_destroy(struct mmc_peer *p)
{
	if (!p)
		return;
	while (p->conns)
		conn_close(p, p->conns, -ECONNRESET);
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->tfd >= 0)
		close(p->tfd);
	if (p->epfd >= 0)
		close(p->epfd);
	mmc_placement_destroy(p->place);
	free(p->scratch);
	free(p->m);
	free(p);
}

int mmc_peer_fd(const struct mmc_peer *p)
{
	return p->epfd;
}

static void accept_all(struct mmc_peer *p)
{
	for (;;) {
		int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return;               /* EAGAIN, or out of descriptors: later */
		c = conn_new(p, fd, -1, false);
		if (c)                    /* its HELLO must come within a deadline */
			c->deadline = mmc_now_ns() + (uint64_t)HELLO_MIN_MS * MS;
	}
}

static void conn_event(struct mmc_peer *p, struct conn *c, uint32_t events)
{
	int r = 0;

	if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int e = 0;
		socklen_t l = sizeof(e);

		(void)getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &l);
		if (e) {
			struct member *m = &p->m[c->member];

			conn_close(p, c, -EHOSTDOWN);
			member_failed(p, m, strerror(e));
			return;
		}
		c->connecting = false;
	}
	if (events & EPOLLIN)
		r = receive(p, c);
	if (!r && !c->connecting && (events & EPOLLOUT))
		r = flush(p, c);
	if (!r && (events & (EPOLLHUP | EPOLLERR)))
		r = -ECONNRESET;
	if (r) {
		int member = c->member;
		bool outgoing = c->outgoing;

		conn_close(p, c, r == -EPROTO ? -EPROTO : -ECONNRESET);
		if (outgoing && member >= 0)
			member_failed(p, &p->m[member], strerror(-r));
	}
}

/* Answers the GETs past their deadline, drops connections whose HELLO is
 * late, retries down members that are due; arms the timer for what is
 * next. */
static void run_deadlines(struct mmc_peer *p, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	struct conn *c, *cn;

	for (c = p->conns; c; c = cn) {
		struct pget **pp = &c->gets;
		bool late = false;

		cn = c->next;
		if (!c->ready && c->deadline <= now) {
			int member = c->member;
			bool outgoing = c->outgoing;

			conn_close(p, c, -ETIMEDOUT);
			if (outgoing)
				member_failed(p, &p->m[member], "no answer to our hello");
			continue;
		}
		if (!c->ready && c->deadline < next)
			next = c->deadline;
		if (c->receiving && c->receiving->deadline <= now)
			late = true;
		while (*pp) {
			struct pget *g = *pp;

			if (g->deadline > now) {
				if (g->deadline < next)
					next = g->deadline;
				pp = &g->next;
				continue;
			}
			*pp = g->next;
			p->ops.get_done(p->ctx, g->cookie, -ETIMEDOUT, 0);
			free(g);
			late = true;
		}
		c->gets_tail = NULL;
		for (struct pget *x = c->gets; x; x = x->next)
			c->gets_tail = x;
		if (c->receiving && !late && c->receiving->deadline < next)
			next = c->receiving->deadline;
		if (late) {
			struct member *m = &p->m[c->member];

			if (c->receiving)
				conn_close(p, c, -ETIMEDOUT);
			member_failed(p, m, "a deadline passed");
		}
	}
	for (int i = 0; i < p->nm; i++) {
		struct member *m = &p->m[i];

		if (m->up || m->out)
			continue;
		if (m->retry_at <= now)
			dial(p, i);
		else if (m->retry_at < next)
			next = m->retry_at;
		if (m->out && m->out->deadline < next)
			next = m->out->deadline;
	}
	p->timer_due = 0;
	if (next != UINT64_MAX)
		arm(p, next, now);
}

void mmc_peer_poll(struct mmc_peer *p)
{
	struct epoll_event evs[64];
	int n;

	while ((n = epoll_wait(p->epfd, evs, 64, 0)) > 0) {
		for (int i = 0; i < n; i++) {
			void *d = evs[i].data.ptr;

			if (d == &lfd_tag) {
				accept_all(p);
			} else if (d == &tfd_tag) {
				uint64_t v;

				(void)!read(p->tfd, &v, sizeof(v));
			} else {
				conn_event(p, d, evs[i].events);
			}
		}
		if (n < 64)
			break;
	}
	run_deadlines(p, mmc_now_ns());
}

/* ---- asking ---- */

int mmc_peer_home(const struct mmc_peer *p, uint64_t h)
{
	const char *id;

	if (!mmc_placement_homes(p->place, h, &id, 1))
		return MMC_PEER_NONE;
	if (!strcmp(id, p->self))
		return MMC_PEER_SELF;
	for (int i = 0; i < p->nm; i++)
		if (!strcmp(p->m[i].id, id))
			return i;
	return MMC_PEER_NONE;
}

const char *mmc_peer_member_id(const struct mmc_peer *p, int member)
{
	return member >= 0 && member < p->nm ? p->m[member].id : p->self;
}

/* The outgoing connection to member i, dialled if there is none. */
static struct conn *conn_to(struct mmc_peer *p, int i)
{
	if (i < 0 || i >= p->nm || !p->m[i].up)
		return NULL;
	return p->m[i].out ? p->m[i].out : dial(p, i);
}

int mmc_peer_get(struct mmc_peer *p, int member, const void *key, uint16_t key_len,
		 uint64_t cookie)
{
	struct conn *c = conn_to(p, member);
	struct pget *g;
	struct out *o;

	if (!c)
		return -EHOSTDOWN;
	g = calloc(1, sizeof(*g));
	o = frame(MMC_PEER_GET, key, key_len);
	if (!g || !o) {
		free(g);
		free(o);
		return -ENOMEM;
	}
	g->id = ++p->next_id;
	g->cookie = cookie;
	g->deadline = mmc_now_ns() + (uint64_t)p->cfg.timeout_ms * MS;
	head_of(o)->id = g->id;
	if (c->gets_tail)
		c->gets_tail->next = g;
	else
		c->gets = g;
	c->gets_tail = g;
	queue(p, c, o);
	p->st.gets++;
	if (!c->connecting && flush(p, c)) {
		conn_close(p, c, -ECONNRESET);   /* answers g too */
		return 0;
	}
	arm(p, g->deadline, mmc_now_ns());
	return 0;
}

int mmc_peer_push(struct mmc_peer *p, int member, const void *key, uint16_t key_len,
		  const void *value, uint64_t len, uint32_t crc, uint64_t pin)
{
	struct conn *c = conn_to(p, member);
	struct out *o = NULL;

	if (c && c->queued + len <= p->cfg.queue_max)
		o = frame(MMC_PEER_PUT, key, key_len);
	if (!o) {
		p->st.pushes_dropped++;
		p->ops.release(p->ctx, pin);
		return c ? -ENOBUFS : -EHOSTDOWN;
	}
	head_of(o)->value_len = len;
	head_of(o)->crc = crc;
	o->value = value;
	o->value_len = len;
	o->pin = pin;
	o->pinned = true;
	queue(p, c, o);
	p->st.pushes++;
	if (!c->connecting && flush(p, c))
		conn_close(p, c, -ECONNRESET);
	return 0;
}

void mmc_peer_get_stats(const struct mmc_peer *p, struct mmc_peer_stats *st)
{
	*st = p->st;
	st->members = (uint64_t)p->nm;
	st->members_up = 0;
	for (int i = 0; i < p->nm; i++)
		st->members_up += p->m[i].up;
}
