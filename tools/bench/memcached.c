/*
 * memcached.c - the memcached store: the same workloads through libmemcached
 * over loopback TCP, for bench/compare.sh's side-by-side table.
 *
 * Each client process holds two connections (struct mc_conn): "mc" answers
 * every request (single gets and sets, multi-gets), "buf" has
 * MEMCACHED_BEHAVIOR_BUFFER_REQUESTS and NOREPLY on, libmemcached's batch
 * form of a store command: sets go out in one stream of quiet SETQs without
 * waiting for answers.  (Buffering alone, answers pending, lost the
 * connection once about 80 KiB of sets were buffered, and libmemcached
 * 1.1.4 then aborted on an assertion in io.cc.)  Both use the binary
 * protocol with TCP_NODELAY: on the reference VM it matched ASCII for
 * single gets and was 8-25 % faster for multi-gets and sets, so memcached
 * gets the faster one.
 *
 *   get          memcached_mget of one key + memcached_fetch_result into a
 *                result kept for the whole run (no malloc per call, one copy
 *                from libmemcached's read buffer: the value lands in client
 *                memory, as mmc_get's does)
 *   get batched  memcached_mget of B keys + the fetch loop
 *   put          memcached_set of a value built before the clock
 *   put batched  B buffered quiet memcached_set on "buf", then a sync: a
 *                multi-get of a key that is never set, whose answer comes
 *                after the server has processed all B (one connection is
 *                served in order), so the call ends when all B are stored.
 *                A quiet set answers only when it fails, and libmemcached
 *                drops that answer: the read-back after the phase (and the
 *                gets, which verify) find a set that failed.
 *   mixed put    SET overwrites, so a replace is the put.
 *
 * A miss or a wrong byte ends the run like any other store's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmemcached/memcached.h>

#include "bench.h"

struct mc_conn {
	memcached_st *mc;          /* replies awaited: gets, single sets */
	memcached_st *buf;         /* buffered requests: batched sets, fills */
	/* Results in our own storage: libmemcached frees a result it allocated
	 * when a fetch loop ends, and keeps the value buffer of one it did not
	 * (so gets reuse it instead of a malloc each). */
	memcached_result_st res;   /* every fetch of mc */
	memcached_result_st bres;  /* the syncs of buf */
	bool res_ok, bres_ok;
};

static const char sync_key[] = "mmc-bench-sync-never-set";
static const char mc_missing[] = "key missing from a multi-get (evicted, or a "
	"buffered set failed: are memcached's -m and -I large enough?)";

/* A libmemcached failure into w->err ("memcached HOST:PORT, what: code:
 * detail"); returns the -errno that stands for it. */
static int mc_fail(struct worker *w, memcached_st *m, memcached_return_t rc,
		   const char *what)
{
	const char *why = memcached_failed(memcached_last_error(m)) ?
		memcached_last_error_message(m) : NULL;

	snprintf(w->err, sizeof(w->err), "memcached %.64s:%d, %s: %s%s%s%s", w->b->host,
		 w->b->port, what, memcached_strerror(m, rc), why ? ": " : "", why ? why : "",
		 rc == MEMCACHED_E2BIG ? " (memcached -I must exceed the value size)" :
		 "");
	switch (rc) {
	case MEMCACHED_NOTFOUND: return -ENOENT;
	case MEMCACHED_E2BIG: return -E2BIG;
	case MEMCACHED_CONNECTION_FAILURE:
	case MEMCACHED_SERVER_MARKED_DEAD: return -ECONNREFUSED;
	case MEMCACHED_MEMORY_ALLOCATION_FAILURE:
	case MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE: return -ENOMEM;
	default: return -EIO;
	}
}

/* A handle on host:port with TCP_NODELAY, buffered or not; NULL on failure. */
static memcached_st *mc_open(const struct bench *b, bool buffered)
{
	memcached_st *m = memcached_create(NULL);

	bool ok;

	if (!m)
		return NULL;
	ok = memcached_server_add(m, b->host, (in_port_t)b->port) == MEMCACHED_SUCCESS;
	ok = ok && memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1) ==
		MEMCACHED_SUCCESS;
	ok = ok && memcached_behavior_set(m, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1) ==
		MEMCACHED_SUCCESS;
	if (buffered) {
		ok = ok && memcached_behavior_set(m, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1) ==
			MEMCACHED_SUCCESS;
		ok = ok && memcached_behavior_set(m, MEMCACHED_BEHAVIOR_NOREPLY, 1) ==
			MEMCACHED_SUCCESS;
	}
	if (!ok) {
		memcached_free(m);
		return NULL;
	}
	return m;
}

/* Flushes buf and waits for the answer to a get of a key that is never set:
 * when it returns 0, the server has processed everything sent on buf
 * before.  -errno (w->err) when the connection fails. */
static int mc_sync(struct worker *w)
{
	struct mc_conn *c = w->mc;
	const char *key = sync_key;
	size_t len = sizeof(sync_key) - 1;
	memcached_return_t rc = memcached_mget(c->buf, &key, &len, 1);

	if (rc != MEMCACHED_SUCCESS)
		return mc_fail(w, c->buf, rc, "sync after buffered sets");
	while (memcached_fetch_result(c->buf, &c->bres, &rc))
		;
	if (rc != MEMCACHED_END && rc != MEMCACHED_NOTFOUND && rc != MEMCACHED_SUCCESS)
		return mc_fail(w, c->buf, rc, "sync after buffered sets");
	return 0;
}

/* Sends keys w->bk[0..bn) with their values (built in w->stage before
 * the clock when staged, else here one by one) on buf, then syncs. */
static int mc_set_many(struct worker *w, bool staged)
{
	struct mc_conn *c = w->mc;

	for (uint32_t i = 0; i < w->bn; i++) {
		const uint8_t *v = w->stage + (staged ? (size_t)i * w->stride : 0);
		memcached_return_t rc;

		if (!staged)
			value_copy(w->b, w->bk[i], w->stage);
		rc = memcached_set(c->buf, w->kp[i], KEY_LEN, (const char *)v,
				   w->b->o.size, 0, 0);
		if (rc != MEMCACHED_BUFFERED && rc != MEMCACHED_SUCCESS)
			return mc_fail(w, c->buf, rc, "buffered set");
	}
	return mc_sync(w);
}

/* Multi-get of w->bk[0..bn) on mc: verifies the keys w->bv marks (or all
 * with check_all) as they arrive, counting that time into *vns.  A missing
 * key ends the run.  Returns 0 or -errno. */
static int mc_mget(struct worker *w, bool check_all, uint64_t *vns)
{
	struct mc_conn *c = w->mc;
	memcached_return_t rc = memcached_mget(c->mc, (const char *const *)w->kp, w->kl,
					       w->bn);
	uint32_t i = 0;

	*vns = 0;
	if (rc != MEMCACHED_SUCCESS)
		return mc_fail(w, c->mc, rc, "multi-get");
	while (memcached_fetch_result(c->mc, &c->res, &rc)) {
		const char *key = memcached_result_key_value(&c->res);
		size_t len = memcached_result_length(&c->res);

		/* answers come in request order, misses left out */
		if (i == w->bn || memcached_result_key_length(&c->res) != KEY_LEN ||
		    memcmp(key, w->kp[i], KEY_LEN))
			die_worker(w, w->bk[i < w->bn ? i : 0], "memcached: %s", mc_missing);
		if (check_all || w->bv[i] || len != w->b->o.size) {
			uint64_t t = now_ns();

			verify_or_die(w, w->bk[i], (const uint8_t *)memcached_result_value(&c->res),
				      len);
			*vns += now_ns() - t;
		}
		w->r->bytes += len;
		i++;
	}
	if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND)
		return mc_fail(w, c->mc, rc, "multi-get");
	if (i != w->bn)
		die_worker(w, w->bk[i], "memcached: %s", mc_missing);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* ops */

static int mc_op_get(struct worker *w, uint32_t k, bool verify,
		     uint64_t *lat, uint64_t *vns)
{
	uint64_t t0;
	int ret;

	w->bn = 1;
	w->bk[0] = k;
	w->bv[0] = verify;
	batch_keys(w);
	t0 = now_ns();
	ret = mc_mget(w, false, vns);
	*lat = now_ns() - t0 - *vns;
	return ret;
}

static int mc_op_get_batch(struct worker *w, uint32_t k, bool verify,
			   uint64_t *lat, uint64_t *vns)
{
	uint64_t t0 = now_ns();
	int ret = mc_mget(w, false, vns);

	*lat = now_ns() - t0 - *vns;
	return ret;
}

static int mc_op_put(struct worker *w, uint32_t k, bool verify,
		     uint64_t *lat, uint64_t *vns)
{
	const uint8_t *key = hot_key(w, k);
	memcached_return_t rc;
	uint64_t ts = now_ns(), t0;

	value_copy(w->b, k, w->stage);
	t0 = now_ns();
	rc = memcached_set(w->mc->mc, (const char *)key, KEY_LEN, (const char *)w->stage,
			   w->b->o.size, 0, 0);
	*lat = now_ns() - t0;
	*vns = t0 - ts;      /* building the values: not the store's time */
	if (rc != MEMCACHED_SUCCESS)
		return mc_fail(w, w->mc->mc, rc, "set");
	w->r->bytes += w->b->o.size;
	return 0;
}

static int mc_op_put_batch(struct worker *w, uint32_t k, bool verify,
			   uint64_t *lat, uint64_t *vns)
{
	return timed_set_many(w, mc_set_many, lat, vns);
}

/* Put phase set-up: delete this process's keys (buffered, then a sync) so
 * that the timed sets store new items. */
static int mc_setup_put(struct worker *w)
{
	for (uint32_t k = w->key_lo; k < w->key_hi; k += SWEEP_BATCH) {
		uint32_t n = w->key_hi - k < SWEEP_BATCH ? w->key_hi - k : SWEEP_BATCH;
		int ret;

		batch_range(w, k, n, w->key_lo, w->key_hi);
		for (uint32_t i = 0; i < n; i++) {
			memcached_return_t rc = memcached_delete(w->mc->buf, w->kp[i],
								 KEY_LEN, 0);

			if (rc != MEMCACHED_BUFFERED && rc != MEMCACHED_SUCCESS &&
			    rc != MEMCACHED_NOTFOUND)
				die_worker(w, w->bk[i], "delete before put: %s",
					   worker_strerror(w, mc_fail(w, w->mc->buf, rc,
								    "delete")));
		}
		if ((ret = mc_sync(w)))
			die_worker(w, k, "delete before put: %s", worker_strerror(w, ret));
	}
	return 0;
}

/* A quiet set that fails answers, and libmemcached drops that answer: the
 * batched put phase counted every key, so every key is read back, not a
 * sample, and a set the server refused fails the run. */
static void mc_check_quiet_puts(struct worker *w)
{
	w->b->store->readback(w, w->key_lo, w->key_hi, 1);
}

/* ------------------------------------------------------------------------ */
/* the store */

static void mc_fill(struct worker *w, uint32_t lo, uint32_t hi)
{
	sweep_fill(w, lo, hi, mc_set_many);
}

static void mc_readback(struct worker *w, uint32_t lo, uint32_t hi, uint32_t step)
{
	sweep_readback(w, lo, hi, step, mc_mget);
}

static void mc_disconn(struct worker *w)
{
	struct mc_conn *c = w->mc;

	if (!c)
		return;
	if (c->res_ok)
		memcached_result_free(&c->res);
	if (c->bres_ok)
		memcached_result_free(&c->bres);
	if (c->mc)
		memcached_free(c->mc);
	if (c->buf)
		memcached_free(c->buf);
	free(c);
	w->mc = NULL;
}

static int mc_conn(struct worker *w)
{
	struct mc_conn *c = calloc(1, sizeof(*c));
	memcached_return_t rc;

	w->mc = c;
	if (!c || !(c->mc = mc_open(w->b, false)) || !(c->buf = mc_open(w->b, true)) ||
	    !(c->res_ok = memcached_result_create(c->mc, &c->res)) ||
	    !(c->bres_ok = memcached_result_create(c->buf, &c->bres))) {
		snprintf(w->err, sizeof(w->err), "memcached: out of memory");
		mc_disconn(w);
		return -ENOMEM;
	}
	/* Both connections open now, not inside the first timed call. */
	rc = memcached_version(c->mc);
	if (rc != MEMCACHED_SUCCESS)
		mc_fail(w, c->mc, rc, "connect");
	else if (mc_sync(w) == 0)   /* else mc_sync left its message */
		return 0;
	mc_disconn(w);
	return -ECONNREFUSED;
}

/* The parent: one connection to see the server answers. */
static int mc_probe(struct bench *b, char *msg, size_t len)
{
	memcached_st *m = mc_open(b, false);
	memcached_return_t rc;

	if (!m) {
		snprintf(msg, len, "memcached: out of memory");
		return -ENOMEM;
	}
	rc = memcached_version(m);
	if (rc != MEMCACHED_SUCCESS)
		snprintf(msg, len, "cannot reach memcached at %s:%d: %s (is memcached "
			 "running? set --server HOST:PORT)", b->host, b->port,
			 memcached_last_error_message(m) ? memcached_last_error_message(m) :
			 memcached_strerror(m, rc));
	memcached_free(m);
	return rc == MEMCACHED_SUCCESS ? 0 : -ECONNREFUSED;
}

static const struct mode mc_modes[] = {
	{ "put", "memcached_set: one SET and its answer", false, KEYS_OWN_RANGE,
	  BASE_WRITE, true, mc_setup_put, mc_op_put, check_put_readback, NULL, NULL,
	  40000, 1.5 },
	{ "get", "memcached_mget of one key + memcached_fetch_result into a reused "
	  "result", false, KEYS_RANDOM, BASE_READ, true, NULL, mc_op_get, NULL, NULL,
	  mc_op_put, 40000, 2.5 },
	{ "put", "B buffered quiet memcached_set, then one round trip that ends after "
	  "the server stored them", true, KEYS_OWN_RANGE, BASE_WRITE, true, mc_setup_put,
	  mc_op_put_batch, mc_check_quiet_puts, NULL, NULL, 5000, 1.5 },
	{ "get", "memcached_mget of B keys + the fetch loop", true, KEYS_RANDOM,
	  BASE_READ, true, NULL, mc_op_get_batch, NULL, NULL, mc_op_put_batch,
	  5000, 2.5 },
};

const struct store store_memcached = {
	.name = "memcached",
	.modes = mc_modes,
	.nmodes = sizeof(mc_modes) / sizeof(mc_modes[0]),
	.warm_with_op = false,
	.probe = mc_probe,
	.connect = mc_conn,
	.disconnect = mc_disconn,
	.fill = mc_fill,
	.readback = mc_readback,
};
