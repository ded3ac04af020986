/*
 * fuzz_peer.c - libFuzzer harness: what another node sends an agent, through
 * the peer engine's real connection code (peer_wire.c: the header checks,
 * HELLO, GET, PUT, EXISTS, RECORD, VALUE and FOUND frames, values into the
 * owner's blocks, crc32c checks, answers queued and sent).
 *
 * Input: byte 0 picks the side.  Even: an incoming connection (a member
 * dialled us; it must say HELLO "m" first).  Odd: our outgoing connection
 * to member "m", with a GET (id 1) and an EXISTS of two keys (id 2) waiting
 * for their answers, and our HELLO already answered.  The rest is the byte
 * stream the other side sends, written into a socketpair at once, then the
 * engine polls until the stream is used up or the connection closed.
 * After each input the connection is closed and every GET answered, every
 * block given back: the owner's stubs below count them and abort on a
 * leak, a double answer or a value past its block.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crc32c.h"
#include "peer-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BLOCK (64 << 10)

static char block[BLOCK];
static int blocks_out;           /* lookup / put_begin not yet given back */
static int filling;              /* a value_begin block, until get_done */
static int asks_out;             /* GETs and EXISTS not yet answered */
static char value[] = "a value a member asked for";

static void *value_begin(void *ctx, uint64_t cookie, uint64_t len)
{
	(void)ctx;
	(void)cookie;
	if (len > BLOCK || filling)
		return filling ? (abort(), NULL) : NULL;   /* one value at a time */
	filling = 1;
	return block;
}

static void get_done(void *ctx, uint64_t cookie, int res, uint32_t crc)
{
	(void)ctx;
	(void)cookie;
	(void)res;
	(void)crc;
	filling = 0;                 /* the block is the owner's again */
	if (--asks_out < 0)
		abort();                 /* answered twice */
}

/* GETs of "d" are answered later (a value on its way from SSD). */
static uint64_t deferred[64];
static unsigned ndeferred;

static int lookup(void *ctx, const void *key, uint16_t key_len, uint64_t serve,
		  const void **v, uint64_t *len, uint32_t *crc, uint64_t *pin)
{
	(void)ctx;
	if (key_len == 1 && *(const char *)key == 'd') {
		if (ndeferred < 64)
			deferred[ndeferred++] = serve;
		return -EINPROGRESS;
	}
	if (key_len != 1 || *(const char *)key != 'k')
		return -ENOENT;
	*v = value;
	*len = sizeof(value);
	*crc = mmc_crc32c(0, value, sizeof(value));
	*pin = 7;
	blocks_out++;
	return 0;
}

static void release(void *ctx, uint64_t pin)
{
	(void)ctx;
	if (pin != 7 || --blocks_out < 0)
		abort();
}

static void *put_begin(void *ctx, const void *key, uint16_t key_len, uint64_t len,
		       uint64_t *cookie)
{
	(void)ctx;
	(void)key;
	if (len > BLOCK || key_len < 2)
		return NULL;
	*cookie = 9;
	blocks_out++;
	return block;
}

static void put_done(void *ctx, uint64_t cookie, int res, uint32_t crc)
{
	(void)ctx;
	(void)res;
	(void)crc;
	if (cookie != 9 || --blocks_out < 0)
		abort();
}

static bool has(void *ctx, const void *key, uint16_t key_len)
{
	(void)ctx;
	return key_len & 1 && *(const char *)key == 'k';
}

static void exists_done(void *ctx, uint64_t cookie, int res, const uint8_t *found,
			unsigned n)
{
	(void)ctx;
	(void)cookie;
	if ((!res && (!found || n != 2)) || --asks_out < 0)
		abort();
}

static void record(void *ctx, const void *key, uint16_t key_len, int member)
{
	(void)ctx;
	(void)key;
	if (!key_len || member != 0)
		abort();
}

static int holder(void *ctx, const void *key, uint16_t key_len)
{
	(void)ctx;
	return key_len == 2 && *(const char *)key == 'r' ? 0 : -1;
}

static void moved(void *ctx, uint64_t cookie, int member)
{
	(void)ctx;
	(void)cookie;
	if (member != 0 || --asks_out < 0)
		abort();
}

static struct mmc_peer *engine(void)
{
	static const struct mmc_peer_ops ops = {
		.value_begin = value_begin, .get_done = get_done, .lookup = lookup,
		.release = release, .put_begin = put_begin, .put_done = put_done,
		.has = has, .exists_done = exists_done, .record = record,
		.holder = holder, .moved = moved,
	};
	static const struct mmc_peer_config cfg = {
		.node_id = "x", .listen = "127.0.0.1:0", .peers = "x@127.0.0.1:1, m@127.0.0.1:1",
		.timeout_ms = 60000, .down_after = 1000000, .retry_ms = 60000,
		.queue_max = 1 << 20,
	};
	static struct mmc_peer *p;
	char err[256];

	if (!p && mmc_peer_create(&cfg, &ops, NULL, &p, err, sizeof(err)))
		abort();
	return p;
}

/* Our connection to m, HELLO answered, a GET and an EXISTS waiting. */
static struct conn *outgoing(struct mmc_peer *p, int fd)
{
	struct conn *c = mmc_peer__conn_new(p, fd, 0, true);
	struct pget *g[2];

	if (!c)
		abort();
	c->ready = true;
	for (int i = 0; i < 2; i++) {
		g[i] = calloc(1, sizeof(*g[i]));
		if (!g[i])
			abort();
		g[i]->id = (uint32_t)i + 1;
		g[i]->exists = i == 1;
		g[i]->n = 2;
		g[i]->deadline = UINT64_MAX;
		asks_out++;
	}
	g[0]->next = g[1];
	c->gets = g[0];
	c->gets_tail = g[1];
	p->m[0].out = c;
	return c;
}

/* Answers the GETs put off, as the owner would: a value lent for each,
 * taken back at once when the asker is gone. */
static void answer_deferred(struct mmc_peer *p)
{
	for (unsigned i = 0; i < ndeferred; i++) {
		blocks_out++;
		if (mmc_peer_answer(p, deferred[i], 0, value, sizeof(value),
				    mmc_crc32c(0, value, sizeof(value)), 7))
			blocks_out--;
	}
	ndeferred = 0;
}

/* Is c still open?  (A poll frees the connections it closed.) */
static bool open_conn(const struct mmc_peer *p, const struct conn *c)
{
	for (const struct conn *x = p->conns; x; x = x->next)
		if (x == c)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mmc_peer *p = engine();
	struct conn *c;
	int sv[2];

	if (!size || size > 60000)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	c = data[0] & 1 ? outgoing(p, sv[0]) : mmc_peer__conn_new(p, sv[0], -1, false);
	if (!c)
		abort();
	c->deadline = UINT64_MAX;
	if (size > 1)
		(void)!send(sv[1], data + 1, size - 1, MSG_DONTWAIT);
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; i < 64 && open_conn(p, c); i++) {
		mmc_peer_poll(p);
		if (i == 1)
			answer_deferred(p);
	}
	if (open_conn(p, c))
		mmc_peer__conn_close(p, c, -ECONNRESET);
	answer_deferred(p);              /* the asker is gone: -ENOENT each */
	mmc_peer__free_closed(p);
	p->m[0].up = true;               /* whatever the input did to m */
	p->m[0].fails = 0;
	close(sv[1]);
	if (blocks_out || asks_out || filling)
		abort();                 /* a block not given back, a GET not answered */
	return 0;
}
