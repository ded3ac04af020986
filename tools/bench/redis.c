/*
 * redis.c - the Redis store: the same workloads through hiredis over
 * loopback TCP, for bench/compare.sh's side-by-side table.
 *
 * Each client process holds one connection (hiredis sets TCP_NODELAY; the
 * reader keeps its buffer between replies instead of freeing it above
 * 16 KiB, hiredis' maxbuf = 0).  Keys and values go as binary-safe
 * arguments (redisCommandArgv / redisAppendCommandArgv, the argv form of
 * "%b").
 *
 *   get          GET: the value arrives in a reply hiredis allocates; it is
 *                checked there and freed (freeReplyObject is in the clock)
 *   get batched  MGET of B keys: one command, one reply of B values.  MGET
 *                rather than B pipelined GETs: one command for the server to
 *                parse and one reply for the client, the faster of the two.
 *   put          SET of a value built before the clock, and its "OK"
 *   put batched  B SETs pipelined (appended, then B replies read), Redis'
 *                batch form of a write that answers each key
 *   mixed put    SET overwrites, so a replace is the put.
 *
 * A miss (nil) or a wrong byte ends the run like any other store's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "bench.h"

struct redis_conn {
	redisContext *ctx;
};

/* A failure into w->err: the reply's error text, else the connection's.
 * Frees reply (may be NULL).  Returns -EIO (-ENOMEM for Redis' OOM). */
static int rd_fail(struct worker *w, redisReply *reply, const char *what)
{
	redisContext *ctx = w->rd->ctx;
	bool oom = false;

	if (reply && reply->type == REDIS_REPLY_ERROR) {
		oom = !strncmp(reply->str, "OOM", 3);
		snprintf(w->err, sizeof(w->err), "redis %.64s:%d, %s: %s%s", w->b->host,
			 w->b->port, what, reply->str, oom ? " (raise maxmemory)" : "");
	} else if (reply) {
		snprintf(w->err, sizeof(w->err), "redis %.64s:%d, %s: unexpected reply type %d",
			 w->b->host, w->b->port, what, reply->type);
	} else {
		snprintf(w->err, sizeof(w->err), "redis %.64s:%d, %s: %s", w->b->host,
			 w->b->port, what, ctx->err ? ctx->errstr : "no reply");
	}
	if (reply)
		freeReplyObject(reply);
	return oom ? -ENOMEM : -EIO;
}

/* The reply of a SET: "OK", or -errno (w->err).  Frees it. */
static int set_reply(struct worker *w, redisReply *reply)
{
	if (!reply || reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, "OK"))
		return rd_fail(w, reply, "SET");
	freeReplyObject(reply);
	return 0;
}

/* Pipelines SETs of w->bk[0..bn) with their values (built in w->stage before
 * the clock when staged, else here one at a time: hiredis copies each
 * command into its output buffer), then reads the bn replies. */
static int rd_set_many(struct worker *w, bool staged)
{
	redisContext *ctx = w->rd->ctx;
	int ret = 0;

	for (uint32_t i = 0; i < w->bn; i++) {
		const char *argv[3] = { "SET", w->kp[i], NULL };
		size_t lens[3] = { 3, KEY_LEN, w->b->o.size };

		if (!staged)
			value_copy(w->b, w->bk[i], w->stage);
		argv[2] = (const char *)w->stage + (staged ? (size_t)i * w->stride : 0);
		if (redisAppendCommandArgv(ctx, 3, argv, lens) != REDIS_OK)
			return rd_fail(w, NULL, "SET");
	}
	for (uint32_t i = 0; i < w->bn; i++) {
		void *reply = NULL;
		int r;

		if (redisGetReply(ctx, &reply) != REDIS_OK)
			return rd_fail(w, NULL, "pipelined SET");
		r = set_reply(w, reply);
		if (!ret)
			ret = r;
	}
	return ret;
}

/* Checks one value reply of key bk[i]: present, the right bytes if asked
 * (time into *vns), counted. */
static void rd_value(struct worker *w, uint32_t i, const redisReply *v, bool check,
		     uint64_t *vns)
{
	if (v->type == REDIS_REPLY_NIL)
		die_worker(w, w->bk[i], "redis: key missing (evicted? raise maxmemory)");
	if (v->type != REDIS_REPLY_STRING)
		die_worker(w, w->bk[i], "redis: a GET answered type %d", v->type);
	if (check || v->len != w->b->o.size) {
		uint64_t t = now_ns();

		verify_or_die(w, w->bk[i], (const uint8_t *)v->str, v->len);
		*vns += now_ns() - t;
	}
	w->r->bytes += v->len;
}

/* MGET of w->bk[0..bn), checking the keys w->bv marks (all with check_all).
 * The reply is freed inside the call; *vns is the checking time. */
static int rd_mget(struct worker *w, bool check_all, uint64_t *vns)
{
	const char *argv[MAX_BATCH + 1];
	size_t lens[MAX_BATCH + 1];
	redisReply *reply;

	argv[0] = "MGET";
	lens[0] = 4;
	for (uint32_t i = 0; i < w->bn; i++) {
		argv[i + 1] = w->kp[i];
		lens[i + 1] = KEY_LEN;
	}
	*vns = 0;
	reply = redisCommandArgv(w->rd->ctx, (int)w->bn + 1, argv, lens);
	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != w->bn)
		return rd_fail(w, reply, "MGET");
	for (uint32_t i = 0; i < w->bn; i++)
		rd_value(w, i, reply->element[i], check_all || w->bv[i], vns);
	freeReplyObject(reply);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* ops */

static int rd_op_get(struct worker *w, uint32_t k, bool verify,
		     uint64_t *lat, uint64_t *vns)
{
	const char *argv[2] = { "GET", (const char *)hot_key(w, k) };
	size_t lens[2] = { 3, KEY_LEN };
	uint64_t t0 = now_ns();
	redisReply *reply = redisCommandArgv(w->rd->ctx, 2, argv, lens);

	*vns = 0;
	if (!reply)
		return rd_fail(w, NULL, "GET");
	w->bk[0] = k;
	rd_value(w, 0, reply, verify, vns);
	freeReplyObject(reply);
	*lat = now_ns() - t0 - *vns;
	return 0;
}

static int rd_op_get_batch(struct worker *w, uint32_t k, bool verify,
			   uint64_t *lat, uint64_t *vns)
{
	uint64_t t0 = now_ns();
	int ret = rd_mget(w, false, vns);

	*lat = now_ns() - t0 - *vns;
	return ret;
}

static int rd_op_put(struct worker *w, uint32_t k, bool verify,
		     uint64_t *lat, uint64_t *vns)
{
	const char *argv[3] = { "SET", (const char *)hot_key(w, k), (const char *)w->stage };
	size_t lens[3] = { 3, KEY_LEN, w->b->o.size };
	uint64_t ts = now_ns(), t0;
	int ret;

	value_copy(w->b, k, w->stage);
	t0 = now_ns();
	ret = set_reply(w, redisCommandArgv(w->rd->ctx, 3, argv, lens));
	*lat = now_ns() - t0;
	*vns = t0 - ts;      /* building the values: not the store's time */
	if (!ret)
		w->r->bytes += w->b->o.size;
	return ret;
}

static int rd_op_put_batch(struct worker *w, uint32_t k, bool verify,
			   uint64_t *lat, uint64_t *vns)
{
	return timed_set_many(w, rd_set_many, lat, vns);
}

/* Put phase set-up: DEL this process's keys so that the timed SETs store
 * new keys. */
static int rd_setup_put(struct worker *w)
{
	const char *argv[SWEEP_BATCH + 1];
	size_t lens[SWEEP_BATCH + 1];

	for (uint32_t k = w->key_lo; k < w->key_hi; k += SWEEP_BATCH) {
		uint32_t n = w->key_hi - k < SWEEP_BATCH ? w->key_hi - k : SWEEP_BATCH;
		redisReply *reply;

		batch_range(w, k, n, w->key_lo, w->key_hi);
		argv[0] = "DEL";
		lens[0] = 3;
		for (uint32_t i = 0; i < n; i++) {
			argv[i + 1] = w->kp[i];
			lens[i + 1] = KEY_LEN;
		}
		reply = redisCommandArgv(w->rd->ctx, (int)n + 1, argv, lens);
		if (!reply || reply->type != REDIS_REPLY_INTEGER)
			die_worker(w, k, "DEL before put: %s",
				   worker_strerror(w, rd_fail(w, reply, "DEL")));
		freeReplyObject(reply);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* the store */

static void rd_fill(struct worker *w, uint32_t lo, uint32_t hi)
{
	sweep_fill(w, lo, hi, rd_set_many);
}

static void rd_readback(struct worker *w, uint32_t lo, uint32_t hi, uint32_t step)
{
	sweep_readback(w, lo, hi, step, rd_mget);
}

/* A connection to host:port, or NULL with the reason in msg. */
static redisContext *rd_open(const struct bench *b, char *msg, size_t len)
{
	struct timeval tv = { .tv_sec = 5 };
	redisContext *ctx = redisConnectWithTimeout(b->host, b->port, tv);

	if (!ctx || ctx->err) {
		snprintf(msg, len, "cannot reach redis at %s:%d: %s (is redis-server "
			 "running? set --server HOST:PORT)", b->host, b->port,
			 ctx ? ctx->errstr : "out of memory");
		if (ctx)
			redisFree(ctx);
		return NULL;
	}
	/* blocking calls without a time limit; keep the read buffer */
	if (redisSetTimeout(ctx, (struct timeval){ 0 }) != REDIS_OK) {
		snprintf(msg, len, "redis: cannot clear the socket timeout");
		redisFree(ctx);
		return NULL;
	}
	ctx->reader->maxbuf = 0;
	return ctx;
}

static void rd_disconn(struct worker *w)
{
	if (!w->rd)
		return;
	if (w->rd->ctx)
		redisFree(w->rd->ctx);
	free(w->rd);
	w->rd = NULL;
}

static int rd_conn(struct worker *w)
{
	w->rd = calloc(1, sizeof(*w->rd));
	if (!w->rd) {
		snprintf(w->err, sizeof(w->err), "redis: out of memory");
		return -ENOMEM;
	}
	w->rd->ctx = rd_open(w->b, w->err, sizeof(w->err));
	if (!w->rd->ctx) {
		rd_disconn(w);
		return -ECONNREFUSED;
	}
	return 0;
}

/* The parent: connect and PING. */
static int rd_probe(struct bench *b, char *msg, size_t len)
{
	redisContext *ctx = rd_open(b, msg, len);
	redisReply *reply;
	int ret = 0;

	if (!ctx)
		return -ECONNREFUSED;
	reply = redisCommand(ctx, "PING");
	if (!reply || reply->type != REDIS_REPLY_STATUS) {
		snprintf(msg, len, "redis at %s:%d does not answer PING: %s", b->host,
			 b->port, reply && reply->type == REDIS_REPLY_ERROR ? reply->str :
			 ctx->errstr);
		ret = -EIO;
	}
	if (reply)
		freeReplyObject(reply);
	redisFree(ctx);
	return ret;
}

static const struct mode rd_modes[] = {
	{ "put", "SET and its OK", false, KEYS_OWN_RANGE, BASE_WRITE, true,
	  rd_setup_put, rd_op_put, check_put_readback, NULL, NULL, 40000, 1.5 },
	{ "get", "GET: the value in a reply hiredis allocates, freed in the clock",
	  false, KEYS_RANDOM, BASE_READ, true, NULL, rd_op_get, NULL, NULL,
	  rd_op_put, 40000, 2.0 },
	{ "put", "B pipelined SETs, then their B replies", true, KEYS_OWN_RANGE,
	  BASE_WRITE, true, rd_setup_put, rd_op_put_batch, check_put_readback, NULL, NULL,
	  5000, 1.5 },
	{ "get", "MGET of B keys: one command, one reply of B values", true,
	  KEYS_RANDOM, BASE_READ, true, NULL, rd_op_get_batch, NULL, NULL,
	  rd_op_put_batch, 5000, 2.0 },
};

const struct store store_redis = {
	.name = "redis",
	.modes = rd_modes,
	.nmodes = sizeof(rd_modes) / sizeof(rd_modes[0]),
	.warm_with_op = false,
	.probe = rd_probe,
	.connect = rd_conn,
	.disconnect = rd_disconn,
	.fill = rd_fill,
	.readback = rd_readback,
};
