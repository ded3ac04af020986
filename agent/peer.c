/*
 * peer.c - the agents of other nodes: who they are, who is up, deadlines,
 * and the calls the owner makes (peer.h has the contract, peer_wire.c the
 * connections, peer_proto-t.h the frames, docs/cluster.md the story).
 *
 * Members.  The [cluster] peers list, parsed once: id, host, port.  This
 * node's own entry is skipped; every other member gets a slot with its
 * outgoing connection (ours: we ask, it answers), its failures in a row,
 * and when to try it again once it is down.  Placement (placement.c) holds
 * the same members by id and skips the down ones.
 *
 * Connections (peer_wire.c has them, and the frames): outgoing ones start
 * with our HELLO and are ready when the member's HELLO comes back - only an
 * answer proves a member is alive (a stopped process still completes TCP
 * handshakes) - so a member is up again only once it answered.
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "members_etcd.h"
#include "peer-int.h"
#include "timer.h"


static const char lfd_tag, tfd_tag, etcd_tag;   /* epoll data of the listener, the timer */

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

/* host:port into *ss.  passive: a listening address.  numeric: no name
 * lookup (the event loop must not wait for DNS; only start-up may). */
static int resolve(const char *hp, bool passive, bool numeric, struct sockaddr_storage *ss,
		   socklen_t *len, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) |
					      (numeric ? AI_NUMERICHOST : 0) };
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

/* Adds member id at hostport (or brings a member that left back): its
 * slot, or -errno with one line in err. */
static int member_add(struct mmc_peer *p, const char *id, const char *hostport,
		      bool numeric, char *err, size_t errlen)
{
	struct member *m;
	int i, ret;

	for (i = 0; i < p->nm && strcmp(p->m[i].id, id); i++)
		;
	if (i < p->nm && !p->m[i].gone) {
		snprintf(err, errlen, "[cluster] member '%s' is listed twice", id);
		return -EEXIST;
	}
	if (i == p->nm) {
		if (p->nm == MMC_PLACEMENT_MAX)
			return -ENOSPC;
		m = realloc(p->m, (size_t)(p->nm + 1) * sizeof(*m));
		if (!m)
			return -ENOMEM;
		p->m = m;
		p->nm++;
	}
	m = &p->m[i];
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	snprintf(m->where, sizeof(m->where), "%s", hostport);
	m->gone = true;                   /* until it is all set */
	if ((ret = resolve(hostport, false, numeric, &m->addr, &m->addr_len, err, errlen)) ||
	    (ret = mmc_placement_add(p->place, m->id)))
		return ret;
	m->gone = false;
	m->up = true;
	return i;
}

/* Member i left the pool: its keys go to others, its calls end. */
static void member_remove(struct mmc_peer *p, int i)
{
	struct member *m = &p->m[i];

	(void)mmc_placement_remove(p->place, m->id);
	m->gone = true;
	m->up = false;
	if (m->out)
		mmc_peer__conn_close(p, m->out, -EHOSTDOWN);
	for (struct conn *c = p->conns, *cn; c; c = cn) {
		cn = c->next;
		if (c->member == i)
			mmc_peer__conn_close(p, c, -EHOSTDOWN);
	}
}

/* "id@host:port" entries, separated by commas or blanks. */
static int parse_members(struct mmc_peer *p, char *err, size_t errlen)
{
	char *list = strdup(p->cfg.peers ? p->cfg.peers : ""), *save = NULL, *tok;
	int ret = list ? 0 : -ENOMEM;

	for (tok = list ? strtok_r(list, ", \t", &save) : NULL; tok && !ret;
	     tok = strtok_r(NULL, ", \t", &save)) {
		char *at = strchr(tok, '@');

		if (!at || at == tok || (size_t)(at - tok) > MMC_NODE_ID_MAX) {
			snprintf(err, errlen, "[cluster] peers: '%.80s' is not id@host:port "
				 "(id 1..%d bytes)", tok, MMC_NODE_ID_MAX);
			ret = -EINVAL;
			break;
		}
		*at = '\0';
		if (strcmp(tok, p->self))     /* not this node */
			ret = member_add(p, tok, at + 1, false, err, errlen);
		ret = ret < 0 ? ret : 0;
	}
	free(list);
	return ret;
}

/* A new member list from etcd (this node in it or not): who joined, who
 * left, who moved. */
static void members_from_etcd(struct mmc_peer *p)
{
	static struct mmc_etcd_member list[MMC_PLACEMENT_MAX];
	int n = mmc_etcd_members(p->etcd, list, MMC_PLACEMENT_MAX);
	char err[256];

	if (n < 0)
		return;
	for (int i = 0; i < p->nm; i++) {
		struct member *m = &p->m[i];
		int k;

		if (m->gone)
			continue;
		for (k = 0; k < n && strcmp(list[k].id, m->id); k++)
			;
		if (k < n && !strcmp(list[k].addr, m->where))
			continue;
		log_info("[cluster] member %s (%s) left the pool", m->id, m->where);
		member_remove(p, i);          /* gone, or moved: added again below */
	}
	for (int k = 0; k < n; k++) {
		int i;

		if (!strcmp(list[k].id, p->self))
			continue;
		for (i = 0; i < p->nm && (p->m[i].gone || strcmp(p->m[i].id, list[k].id)); i++)
			;
		if (i < p->nm)
			continue;
		/* From the loop: an address, not a name to look up. */
		if (member_add(p, list[k].id, list[k].addr, true, err, sizeof(err)) < 0)
			log_warn("[cluster] etcd lists member %s at '%s': %s (members "
				 "registered in etcd must advertise an IP address)",
				 list[k].id, list[k].addr, err);
		else
			log_info("[cluster] member %s (%s) joined the pool", list[k].id,
				 list[k].addr);
	}
}

void mmc_peer__member_ok(struct mmc_peer *p, struct member *m)
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
	/* Up, it is dialled again in the background no sooner than this (a
	 * call dials at once): members starting one after another do not
	 * use up each other's failures in a few microseconds. */
	m->retry_at = mmc_now_ns() + (uint64_t)p->cfg.retry_ms * MS;
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
		mmc_peer__conn_close(p, m->out, -EHOSTDOWN);
}

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
	c = mmc_peer__conn_new(p, fd, i, true);
	if (!c)
		return NULL;
	c->connecting = true;
	c->deadline = mmc_now_ns() + t * MS;
	if (mmc_peer__send_hello(p, c)) {
		mmc_peer__conn_close(p, c, -ENOMEM);
		return NULL;
	}
	m->out = c;
	arm(p, c->deadline, mmc_now_ns());
	return c;
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
	if ((ret = parse_members(p, err, errlen)) || (ret = mmc_peer__tls_init(p, err, errlen)))
		goto fail;
	if (cfg->etcd && cfg->etcd[0]) {
		struct mmc_etcd_config ec = {
			.endpoint = cfg->etcd, .prefix = cfg->etcd_prefix, .node_id = p->self,
			.advertise = cfg->advertise && cfg->advertise[0] ? cfg->advertise :
				cfg->listen, .ttl_s = cfg->etcd_ttl_s };

		if ((ret = mmc_etcd_start(&ec, &p->etcd, err, errlen)))
			goto fail;
	}
	if ((ret = resolve(cfg->listen, true, false, &ss, &sl, err, errlen)))
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
	ev.data.ptr = (void *)&etcd_tag;
	if (!ret && p->etcd && epoll_ctl(p->epfd, EPOLL_CTL_ADD, mmc_etcd_fd(p->etcd), &ev) < 0)
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "[cluster] epoll: %s", strerror(-ret));
		goto fail;
	}
	arm(p, mmc_now_ns() + MS, mmc_now_ns());   /* the first turn dials every member */
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
	mmc_etcd_stop(p->etcd);          /* leaves the pool in etcd now */
	while (p->conns)
		mmc_peer__conn_close(p, p->conns, -ECONNRESET);
	mmc_peer__free_closed(p);
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->tfd >= 0)
		close(p->tfd);
	if (p->epfd >= 0)
		close(p->epfd);
	mmc_placement_destroy(p->place);
	mmc_peer__tls_free(p);
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

		if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			       errno == ENOMEM)) {
			/* The listener would stay readable: stop watching it
			 * for a while rather than spin (run_deadlines). */
			log_warn("[cluster] cannot accept members' connections: %s; "
				 "trying again in 100 ms", strerror(errno));
			(void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->lfd, NULL);
			p->accept_at = mmc_now_ns() + 100 * MS;
			arm(p, p->accept_at, mmc_now_ns());
			return;
		}
		if (fd < 0)
			return;               /* EAGAIN: all taken */
		c = mmc_peer__conn_new(p, fd, -1, false);
		if (c)                    /* its HELLO must come within a deadline */
			c->deadline = mmc_now_ns() + (uint64_t)HELLO_MIN_MS * MS;
	}
}

static void conn_event(struct mmc_peer *p, struct conn *c, uint32_t events)
{
	int r = 0;

	if (c->closed)                   /* by an earlier event of this batch */
		return;
	if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int e = 0;
		socklen_t l = sizeof(e);

		(void)getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &l);
		if (e) {
			struct member *m = &p->m[c->member];

			mmc_peer__conn_close(p, c, -EHOSTDOWN);
			member_failed(p, m, strerror(e));
			return;
		}
		c->connecting = false;
	}
	if (c->connecting)
		return;
	if (c->ssl && !c->tls_done) {    /* TLS first: what arrives is handshake */
		bool out = c->want_out;

		c->want_out = false;
		r = mmc_peer__tls_handshake(p, c);
		if (!r) {                    /* more to come: watch what it wants */
			if (c->want_out != out)
				mmc_peer__watch(p, c);
			return;
		}
		c->want_out = out || c->q;
		mmc_peer__watch(p, c);
		r = r < 0 ? r : 0;
		events |= EPOLLIN;           /* bytes may follow the handshake's */
	}
	if (!r && (events & EPOLLIN))
		r = mmc_peer__receive(p, c);
	/* Answers just queued go now, not a turn of the loop later. */
	if (!r && ((events & EPOLLOUT) || c->q))
		r = mmc_peer__flush(p, c);
	if (!r && (events & (EPOLLHUP | EPOLLERR)))
		r = -ECONNRESET;
	if (r) {
		int member = c->member;
		bool outgoing = c->outgoing;

		mmc_peer__conn_close(p, c, r == -EPROTO ? -EPROTO : -ECONNRESET);
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
		struct pget **pp = &c->gets, *expired = NULL;
		bool late = false;

		cn = c->next;
		if (c->closed)               /* closed by an earlier step of this walk */
			continue;
		if (!c->ready && c->deadline <= now) {
			int member = c->member;
			bool outgoing = c->outgoing;

			mmc_peer__conn_close(p, c, -ETIMEDOUT);
			if (outgoing)
				member_failed(p, &p->m[member], "no answer to our hello");
			continue;
		}
		if (!c->ready && c->deadline < next)
			next = c->deadline;
		if (c->receiving && c->receiving->deadline <= now)
			late = true;
		/* The late ones leave the list first, the list made whole
		 * (its tail too), and only then are their owners told: an
		 * owner may ask again on this very connection. */
		while (*pp) {
			struct pget *g = *pp;

			if (g->deadline > now) {
				if (g->deadline < next)
					next = g->deadline;
				pp = &g->next;
				continue;
			}
			*pp = g->next;
			g->next = expired;
			expired = g;
			late = true;
		}
		c->gets_tail = NULL;
		for (struct pget *x = c->gets; x; x = x->next)
			c->gets_tail = x;
		while (expired) {
			struct pget *g = expired;

			expired = g->next;
			mmc_peer__fail(p, g, -ETIMEDOUT);
		}
		if (c->receiving && !late && c->receiving->deadline < next)
			next = c->receiving->deadline;
		if (late) {
			struct member *m = &p->m[c->member];

			if (c->receiving)
				mmc_peer__conn_close(p, c, -ETIMEDOUT);
			member_failed(p, m, "a deadline passed");
		}
	}
	for (int i = 0; i < p->nm; i++) {
		struct member *m = &p->m[i];

		if (m->gone || m->out)
			continue;
		/* Up: keep a connection to it.  Down: its retry is due. */
		if (m->retry_at <= now)
			dial(p, i);
		if (!m->out && m->retry_at > now && m->retry_at < next)
			next = m->retry_at;
		if (m->out && !m->out->ready && m->out->deadline < next)
			next = m->out->deadline;    /* its HELLO's */
	}
	if (p->accept_at && p->accept_at <= now) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = (void *)&lfd_tag };

		(void)epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->lfd, &ev);
		p->accept_at = 0;
	} else if (p->accept_at && p->accept_at < next) {
		next = p->accept_at;
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
			} else if (d == &etcd_tag) {
				members_from_etcd(p);
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
	for (struct conn *c = p->conns; c; c = c->next)
		if (c->more && !c->closed)   /* stopped at its budget last time */
			conn_event(p, c, EPOLLIN);
	run_deadlines(p, mmc_now_ns());
	if (p->repoll) {                 /* the rest of a busy connection, next turn */
		p->repoll = false;
		arm(p, mmc_now_ns() + 1000, mmc_now_ns());
	}
	mmc_peer__free_closed(p);
}

/* ---- asking ---- */

void mmc_peer__fail(struct mmc_peer *p, struct pget *g, int res)
{
	if (g->exists)
		p->ops.exists_done(p->ctx, g->cookie, res, NULL, 0);
	else
		p->ops.get_done(p->ctx, g->cookie, res, 0);
	free(g);
}

int mmc_peer_count(const struct mmc_peer *p)
{
	return p->nm;
}

int mmc_peer_home(const struct mmc_peer *p, uint64_t h)
{
	int home;

	return mmc_peer_homes(p, h, &home, 1) ? home : MMC_PEER_NONE;
}

unsigned mmc_peer_homes(const struct mmc_peer *p, uint64_t h, int *out, unsigned n)
{
	const char *ids[MMC_PEER_REPLICAS_MAX];
	unsigned k;

	if (n > MMC_PEER_REPLICAS_MAX)
		n = MMC_PEER_REPLICAS_MAX;
	k = mmc_placement_homes(p->place, h, ids, n);
	for (unsigned j = 0; j < k; j++) {
		out[j] = MMC_PEER_NONE;
		if (!strcmp(ids[j], p->self))
			out[j] = MMC_PEER_SELF;
		for (int i = 0; i < p->nm && out[j] == MMC_PEER_NONE; i++)
			if (!p->m[i].gone && !strcmp(p->m[i].id, ids[j]))
				out[j] = i;
	}
	return k;
}

/* The outgoing connection to member i, dialled if there is none. */
static struct conn *conn_to(struct mmc_peer *p, int i)
{
	if (i < 0 || i >= p->nm || !p->m[i].up)
		return NULL;
	return p->m[i].out ? p->m[i].out : dial(p, i);
}

/* Queues o on c and sends what c can take now.  A send that fails here is
 * not handled here: the owner must not be called back from inside its own
 * call; the broken socket reports itself to the next poll, which closes it
 * (and answers what waited on it). */
static void send_frame(struct mmc_peer *p, struct conn *c, struct out *o)
{
	mmc_peer__queue(p, c, o);
	if (mmc_peer__io_ready(c))
		(void)mmc_peer__flush(p, c);
}

/* Sends o (a GET or EXISTS) to member, to be answered with cookie within
 * the deadline (g's other fields set by the caller). */
static int ask(struct mmc_peer *p, int member, struct out *o, struct pget *g)
{
	struct conn *c = conn_to(p, member);

	if (!c || !o || !g) {
		if (o && o->owned)
			free((void *)o->value);
		free(o);
		free(g);
		return c ? -ENOMEM : -EHOSTDOWN;
	}
	g->id = ++p->next_id;
	g->sent_ns = mmc_now_ns();
	g->deadline = g->sent_ns + (uint64_t)p->cfg.timeout_ms * MS;
	p->m[member].gets += !g->exists;
	mmc_peer__head(o)->id = g->id;
	if (c->gets_tail)
		c->gets_tail->next = g;
	else
		c->gets = g;
	c->gets_tail = g;
	send_frame(p, c, o);
	arm(p, g->deadline, mmc_now_ns());
	return 0;
}

int mmc_peer_get(struct mmc_peer *p, int member, const void *key, uint16_t key_len,
		 uint64_t cookie)
{
	struct pget *g = calloc(1, sizeof(*g));

	if (g)
		g->cookie = cookie;
	return ask(p, member, mmc_peer__frame(MMC_PEER_GET, key, key_len), g);
}

int mmc_peer_exists(struct mmc_peer *p, int member, const void *packed, size_t len,
		    unsigned n, uint64_t cookie)
{
	struct pget *g = calloc(1, sizeof(*g));
	struct out *o = mmc_peer__frame(MMC_PEER_EXISTS, NULL, 0);
	void *v = malloc(len);

	if (!v || !o || n < 1 || n > MMC_PEER_EXISTS_MAX || len > MMC_PEER_EXISTS_BYTES) {
		free(v);
		free(o);
		free(g);
		return n < 1 || n > MMC_PEER_EXISTS_MAX || len > MMC_PEER_EXISTS_BYTES ?
			-EINVAL : -ENOMEM;
	}
	memcpy(v, packed, len);
	mmc_peer__head(o)->value_len = len;
	mmc_peer__head(o)->crc = mmc_crc32c(0, v, len);
	o->value = v;
	o->value_len = len;
	o->owned = true;
	if (g) {
		g->cookie = cookie;
		g->exists = true;
		g->n = n;
	}
	return ask(p, member, o, g);
}

int mmc_peer_push(struct mmc_peer *p, int member, const void *key, uint16_t key_len,
		  const void *value, uint64_t len, uint32_t crc, uint64_t pin)
{
	struct conn *c = conn_to(p, member);
	struct out *o = NULL;

	if (c && c->queued + len <= p->cfg.queue_max)
		o = mmc_peer__frame(MMC_PEER_PUT, key, key_len);
	if (!o) {
		p->st.pushes_dropped++;
		p->ops.release(p->ctx, pin);
		return c ? -ENOBUFS : -EHOSTDOWN;
	}
	mmc_peer__frame_value(o, value, len, crc, pin);
	send_frame(p, c, o);
	p->st.pushes++;
	return 0;
}

void mmc_peer_get_stats(const struct mmc_peer *p, struct mmc_peer_stats *st)
{
	*st = p->st;
	st->members_up = 0;
	for (int i = 0; i < p->nm; i++)
		st->members_up += p->m[i].up && !p->m[i].gone;
}

int mmc_peer_member_info(const struct mmc_peer *p, int i, struct mmc_peer_member_info *mi)
{
	if (i < 0 || i >= p->nm || p->m[i].gone)
		return -ENOENT;
	mi->id = p->m[i].id;
	mi->where = p->m[i].where;
	mi->up = p->m[i].up;
	mi->rtt_ns = p->m[i].rtt_ns;
	mi->bytes_in = p->m[i].bytes_in;
	mi->bytes_out = p->m[i].bytes_out;
	mi->gets = p->m[i].gets;
	mi->hits = p->m[i].hits;
	return 0;
}

int mmc_peer__member_of(const struct mmc_peer *p, const char *id, size_t len)
{
	for (int i = 0; i < p->nm; i++)
		if (!p->m[i].gone && strlen(p->m[i].id) == len && !memcmp(p->m[i].id, id, len))
			return i;
	return -1;
}

int mmc_peer_record(struct mmc_peer *p, int member, const void *key, uint16_t key_len)
{
	struct conn *c = conn_to(p, member);
	struct out *o;

	if (!c)
		return -EHOSTDOWN;
	if (c->queued > p->cfg.queue_max)
		return -ENOBUFS;
	if (!(o = mmc_peer__frame(MMC_PEER_RECORD, key, key_len)))
		return -ENOMEM;
	send_frame(p, c, o);
	p->st.records++;
	return 0;
}
