/*
 * mmc.c - the mmc store: libshm against a running mmc-agent, the store the
 * benchmark exists for.
 *
 * Single calls: put (mmc_putv of the value's two pieces), get (mmc_get into a
 * private buffer), zget (mmc_acquire + mmc_release; the value is not read)
 * and exists (SGLang's batch_exists over 128 keys).  Batched calls (--batch
 * B): mmc_put_batch of B values built before the clock, mmc_get_batch into B
 * private buffers, and for zero copy mmc_acquire_batch then B mmc_release.
 * A latency sample is one call.
 *
 * Objects are write-once: a put of a present key answers -EEXIST.  A mixed
 * put (--mix) therefore replaces a write-set key with mmc_remove + the put,
 * timed together, which is what replacing a value costs here; memcached and
 * Redis overwrite in one SET.
 *
 * The probe (the parent, before anything is measured) reads the agent's
 * geometry and refuses a run that would not fit below its eviction
 * watermark.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "bench.h"

/* ------------------------------------------------------------------------ */
/* single calls */

/* mmc_putv of key k's value from its two pieces (header, pool window), the
 * clock around the call; with remove_first an mmc_remove goes first, timed
 * with it (a replace: mmc objects are write-once).  Counts the bytes of a
 * put that stored them. */
static int putv_timed(struct worker *w, uint32_t k, bool remove_first,
		      uint64_t *lat, uint64_t *vns)
{
	uint8_t hdr[HDR_BYTES] __attribute__((aligned(64)));
	struct iovec iov[2];
	int n = value_iov(w->b, k, hdr, iov), ret = 0;
	const uint8_t *key = hot_key(w, k);
	uint64_t t0 = now_ns();

	if (remove_first && (ret = mmc_remove(w->c, key, KEY_LEN)) == -ENOENT)
		ret = 0;
	if (!ret)
		ret = mmc_putv(w->c, key, KEY_LEN, iov, n);
	*lat = now_ns() - t0;
	*vns = 0;
	if (!ret)
		w->r->bytes += w->b->o.size;
	return ret;
}

static int op_put(struct worker *w, uint32_t k, bool verify,
		  uint64_t *lat, uint64_t *vns)
{
	int ret = putv_timed(w, k, false, lat, vns);

	if (ret == -EEXIST) {       /* immutable objects: a put that is done */
		w->r->exists++;
		return 0;
	}
	return ret;
}

static int op_get(struct worker *w, uint32_t k, bool verify,
		  uint64_t *lat, uint64_t *vns)
{
	size_t len = 0;
	const uint8_t *key = hot_key(w, k);
	uint64_t t0 = now_ns(), t1;
	int ret = mmc_get(w->c, key, KEY_LEN, w->buf, w->b->o.size, &len);

	t1 = now_ns();
	*lat = t1 - t0;
	*vns = 0;
	if (ret)
		return ret;
	if (verify || len != w->b->o.size) {
		verify_or_die(w, k, w->buf, len);
		*vns = now_ns() - t1;
	}
	w->r->bytes += len;
	return 0;
}

static int op_zget(struct worker *w, uint32_t k, bool verify,
		   uint64_t *lat, uint64_t *vns)
{
	struct mmc_view v;
	const uint8_t *key = hot_key(w, k);
	uint64_t t0 = now_ns(), ta = 0, tb = 0;
	int ret = mmc_acquire(w->c, key, KEY_LEN, &v);

	*vns = 0;
	if (ret) {
		*lat = now_ns() - t0;
		return ret;
	}
	if (verify || v.len != w->b->o.size) {
		/* Read through the view while it is pinned, as a consumer would. */
		ta = now_ns();
		verify_or_die(w, k, v.data, v.len);
		tb = now_ns();
	}
	w->r->bytes += v.len;
	ret = mmc_release(w->c, &v);
	/* Sampled ops carry two extra clock reads: keep them out of the
	 * latency histogram rather than skew a ~100 ns figure. */
	*lat = ta ? UINT64_MAX : now_ns() - t0;
	*vns = tb - ta;
	return ret;
}

/* SGLang's batch_exists(): of EXISTS_BATCH consecutive keys (a prefix
 * chain), how many from the first are present.  All are, so anything short
 * of the whole batch is a wrong answer.  Keys are copied out of the table
 * before the clock starts, as a caller has its keys at hand. */
static int op_exists(struct worker *w, uint32_t k, bool verify,
		     uint64_t *lat, uint64_t *vns)
{
	uint8_t keys[EXISTS_BATCH][KEY_LEN];
	const void *kp[EXISTS_BATCH];
	size_t kl[EXISTS_BATCH], prefix = 0;
	uint32_t n = w->b->o.count < EXISTS_BATCH ? w->b->o.count : EXISTS_BATCH;
	uint64_t t0;
	int ret;

	for (uint32_t i = 0; i < n; i++) {
		memcpy(keys[i], key_of(w->b, (k + i) % w->b->o.count), KEY_LEN);
		kp[i] = keys[i];
		kl[i] = KEY_LEN;
	}
	__asm__ volatile("" ::: "memory");
	t0 = now_ns();
	ret = mmc_exists_batch(w->c, n, kp, kl, NULL, &prefix);
	*lat = now_ns() - t0;
	*vns = 0;
	if (ret < 0)
		return ret;
	if (prefix != n)
		die_worker(w, k, "batch exists: prefix %zu, but all %u keys are present",
			   prefix, n);
	return 0;
}

/* Mixed put: replace write-set key k (remove, then put), timed together. */
static int op_replace(struct worker *w, uint32_t k, bool verify,
		      uint64_t *lat, uint64_t *vns)
{
	return putv_timed(w, k, true, lat, vns);
}

/* ------------------------------------------------------------------------ */
/* batched calls: keys w->bk[0..bn), hot copies in w->kp */

/* Builds the call's values in w->stage (before the clock). */
static void stage_values(struct worker *w, const void **vals, size_t *lens)
{
	for (uint32_t i = 0; i < w->bn; i++) {
		uint8_t *dst = w->stage + (size_t)i * w->stride;

		value_copy(w->b, w->bk[i], dst);
		vals[i] = dst;
		lens[i] = w->b->o.size;
	}
}

/* The answers of a batch put: 0 counts bytes, -EEXIST an existing key. */
static int put_results(struct worker *w, const int *res)
{
	for (uint32_t i = 0; i < w->bn; i++) {
		if (res[i] == -EEXIST)
			w->r->exists++;
		else if (res[i])
			return res[i];
		else
			w->r->bytes += w->b->o.size;
	}
	return 0;
}

/* One batch put of w's keys, values built first outside the clock (that
 * time into *vns); with remove_first a batch remove goes first, timed with
 * it (a replace: mmc objects are write-once).  res[] gets the put's
 * answers; returns the call's result. */
static int staged_put_batch(struct worker *w, bool remove_first, int *res,
			    uint64_t *lat, uint64_t *vns)
{
	const void *vals[MAX_BATCH];
	size_t lens[MAX_BATCH];
	uint64_t ts = now_ns(), t0;
	int ret = 0;

	stage_values(w, vals, lens);
	t0 = now_ns();
	if (remove_first)
		ret = mmc_remove_batch(w->c, w->bn, w->kp, w->kl, res);
	if (ret >= 0)
		ret = mmc_put_batch(w->c, w->bn, w->kp, w->kl, vals, lens, res);
	*lat = now_ns() - t0;
	*vns = t0 - ts;      /* building the values: not the store's time */
	return ret;
}

static int op_put_batch(struct worker *w, uint32_t k, bool verify,
			uint64_t *lat, uint64_t *vns)
{
	int res[MAX_BATCH], ret = staged_put_batch(w, false, res, lat, vns);

	return ret < 0 ? ret : put_results(w, res);
}

static int op_replace_batch(struct worker *w, uint32_t k, bool verify,
			    uint64_t *lat, uint64_t *vns)
{
	int res[MAX_BATCH], ret = staged_put_batch(w, true, res, lat, vns);

	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < w->bn; i++)
		if (res[i] == -EEXIST)      /* removed just before: not a done put */
			return -EEXIST;
	return put_results(w, res);
}

static int op_get_batch(struct worker *w, uint32_t k, bool verify,
			uint64_t *lat, uint64_t *vns)
{
	void *bufs[MAX_BATCH];
	size_t lens[MAX_BATCH];
	int64_t res[MAX_BATCH];
	uint64_t t0, t1;
	int ret;

	for (uint32_t i = 0; i < w->bn; i++) {
		bufs[i] = w->stage + (size_t)i * w->stride;
		lens[i] = w->b->o.size;
	}
	t0 = now_ns();
	ret = mmc_get_batch(w->c, w->bn, w->kp, w->kl, bufs, lens, res);
	t1 = now_ns();
	*lat = t1 - t0;
	*vns = 0;
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < w->bn; i++) {
		if (res[i] < 0)
			die_worker(w, w->bk[i], "batch get: %s", mmc_strerror((int)res[i]));
		if (w->bv[i] || (uint64_t)res[i] != w->b->o.size)
			verify_or_die(w, w->bk[i], bufs[i], (size_t)res[i]);
		w->r->bytes += (uint64_t)res[i];
	}
	*vns = now_ns() - t1;
	return 0;
}

/* One mmc_acquire_batch of B keys, then B releases: the whole call is one
 * sample.  Sampled keys are read while pinned, between the two halves,
 * outside the clock. */
static int op_zget_batch(struct worker *w, uint32_t k, bool verify,
			 uint64_t *lat, uint64_t *vns)
{
	struct mmc_view v[MAX_BATCH];
	int64_t res[MAX_BATCH];
	uint64_t t0 = now_ns(), ta, tb;
	int ret = mmc_acquire_batch(w->c, w->bn, w->kp, w->kl, v, res);

	ta = now_ns();
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < w->bn; i++) {
		if (res[i] < 0)
			die_worker(w, w->bk[i], "batch acquire: %s", mmc_strerror((int)res[i]));
		if (w->bv[i] || v[i].len != w->b->o.size)
			verify_or_die(w, w->bk[i], v[i].data, v[i].len);
		w->r->bytes += v[i].len;
	}
	tb = now_ns();
	ret = 0;
	for (uint32_t i = 0; i < w->bn; i++) {
		int r = mmc_release(w->c, &v[i]);

		if (r && !ret)
			ret = r;
	}
	*lat = (ta - t0) + (now_ns() - tb);
	*vns = tb - ta;
	return ret;
}

/* ------------------------------------------------------------------------ */
/* set-up and checks */

/* Put phase set-up: remove this process's keys so that the timed puts
 * really reserve, copy and commit (not answer -EEXIST from a past run). */
static int setup_put(struct worker *w)
{
	int res[SWEEP_BATCH];

	for (uint32_t k = w->key_lo; k < w->key_hi; k += SWEEP_BATCH) {
		uint32_t n = w->key_hi - k < SWEEP_BATCH ? w->key_hi - k : SWEEP_BATCH;
		int ret;

		batch_range(w, k, n, w->key_lo, w->key_hi);
		ret = mmc_remove_batch(w->c, n, w->kp, w->kl, res);
		for (uint32_t i = 0; ret >= 0 && i < n; i++)
			if (res[i] && res[i] != -ENOENT)
				ret = res[i];
		if (ret < 0)
			die_worker(w, k, "remove before put: %s", mmc_strerror(ret));
	}
	return 0;
}

static void mmc_readback(struct worker *w, uint32_t lo, uint32_t hi, uint32_t step)
{
	for (uint32_t k = lo; k < hi; k += step) {
		size_t len = 0;
		int ret = mmc_get(w->c, key_of(w->b, k), KEY_LEN, w->buf, w->b->o.size, &len);

		if (ret)
			die_worker(w, k, "read-back: %s", mmc_strerror(ret));
		verify_or_die(w, k, w->buf, len);
	}
}

/* Puts every key of [lo, hi) that is missing. */
static void mmc_fill(struct worker *w, uint32_t lo, uint32_t hi)
{
	for (uint32_t k = lo; k < hi; k++) {
		uint8_t hdr[HDR_BYTES] __attribute__((aligned(64)));
		struct iovec iov[2];
		int n = value_iov(w->b, k, hdr, iov);
		int ret = mmc_putv(w->c, key_of(w->b, k), KEY_LEN, iov, n);

		if (ret && ret != -EEXIST)
			die_worker(w, k, "put: %s", mmc_strerror(ret));
	}
}

static int mmc_conn(struct worker *w)
{
	int ret = mmc_connect(w->b->socket_path, &w->c);

	if (ret)
		snprintf(w->err, sizeof(w->err), "cannot connect to %s: %s",
			 w->b->socket_path, ret == -ENOENT ? "no such socket" :
			 mmc_strerror(ret));
	return ret;
}

static void mmc_disconn(struct worker *w)
{
	mmc_disconnect(w->c);
	w->c = NULL;
}

/* ------------------------------------------------------------------------ */
/* the probe: is the agent there, and does the run fit? */

static int mmc_probe(struct bench *b, char *msg, size_t len)
{
	mmc_client *c;
	struct mmc_stats st;
	uint64_t per_obj = (b->o.size + MMC_UNIT - 1) / MMC_UNIT * MMC_UNIT;
	uint64_t need = per_obj * b->nkeys, room, mine = 0;
	char s1[32], s2[32], s3[32], s4[32], s5[32];
	int ret = mmc_connect(b->socket_path, &c);

	if (ret) {
		snprintf(msg, len, "cannot connect to the agent at %s: %s (is mmc-agent "
			 "running? set --socket or $MMC_SOCKET)", b->socket_path,
			 ret == -ENOENT ? "no such socket" : mmc_strerror(ret));
		return ret;
	}
	ret = mmc_agent_stats(c, &st);
	/* Space this run's own keys hold already (a previous run) is reused. */
	for (uint32_t k = 0; !ret && k < b->nkeys; k++)
		if (mmc_exists(c, key_of(b, k), KEY_LEN) == 1)
			mine += per_obj;
	mmc_disconnect(c);
	if (ret) {
		snprintf(msg, len, "agent at %s: cannot read its stats: %s",
			 b->socket_path, mmc_strerror(ret));
		return ret;
	}
	b->arena_bytes = st.arena_bytes;
	b->used_bytes = st.used_bytes;
	b->max_objects = st.max_objects;
	b->high_pct = st.high_watermark_pct ? st.high_watermark_pct : 100;
	b->hugepages = st.hugepages;
	room = b->arena_bytes / 100 * b->high_pct;
	/* With an SSD tier, what DRAM cannot hold goes there (inclusive: the
	 * tier holds everything demoted; its regions are evicted oldest first). */
	if (st.ssd_capacity)
		room = st.ssd_capacity / 100 * 90;
	if (need > room) {
		snprintf(msg, len, "arena too small: %u keys x %s (%s in 4 KiB units) "
			 "need %s, but the agent's arena of %s starts evicting at %"
			 PRIu64 "%% (%s); restart mmc-agent with a larger --arena-size "
			 "or lower -n/-s", b->nkeys, fmt_bytes(b->o.size, s1, sizeof(s1)),
			 fmt_bytes(per_obj, s2, sizeof(s2)), fmt_bytes(need, s3, sizeof(s3)),
			 fmt_bytes(b->arena_bytes, s4, sizeof(s4)), b->high_pct,
			 fmt_bytes(room, s5, sizeof(s5)));
		return -ENOSPC;
	}
	if (b->max_objects && b->nkeys > b->max_objects && !st.ssd_capacity) {
		snprintf(msg, len, "arena too small: %u keys, but the agent indexes at "
			 "most %" PRIu64 " objects (mmc-agent --max-objects)",
			 b->nkeys, b->max_objects);
		return -ENOSPC;
	}
	if (b->used_bytes - (mine < b->used_bytes ? mine : b->used_bytes) + need > room)
		fprintf(stderr, "mmc-bench: warning: the arena already holds %s; this run "
			"will evict other objects\n", fmt_bytes(b->used_bytes, s1, sizeof(s1)));
	return 0;
}

/* ------------------------------------------------------------------------ */
/* the mode table: "all" runs every name once, in this order */

static const struct mode mmc_modes[] = {
	{ "put", "mmc_putv: reserve via ring, copy in, commit via ring", false,
	  KEYS_OWN_RANGE, BASE_WRITE, true, setup_put, op_put, check_put_readback, NULL, NULL,
	  5000, 0 },
	{ "get", "mmc_get: local hit, copy into a private buffer", false,
	  KEYS_RANDOM, BASE_READ, true, NULL, op_get, NULL, control_get, op_replace,
	  300, 0 },
	{ "zget", "mmc_acquire + mmc_release: zero-copy local hit, value not read",
	  false, KEYS_RANDOM, BASE_NONE, false, NULL, op_zget, NULL, NULL, op_replace,
	  300, 0 },
	{ "exists", "mmc_exists_batch of 128 consecutive keys with the prefix count "
	  "(SGLang's batch_exists); one op = one batch", false,
	  KEYS_RANDOM, BASE_NONE, false, NULL, op_exists, NULL, NULL, NULL, 128 * 150, 0 },
	{ "put", "mmc_put_batch: B reservations, copies and commits pipelined "
	  "through the ring", true, KEYS_OWN_RANGE, BASE_WRITE, true, setup_put,
	  op_put_batch, check_put_readback, NULL, NULL, 3000, 0 },
	{ "get", "mmc_get_batch: B local hits copied into B private buffers", true,
	  KEYS_RANDOM, BASE_READ, true, NULL, op_get_batch, NULL, control_get,
	  op_replace_batch, 250, 0 },
	{ "zget", "mmc_acquire_batch of B keys, then B mmc_release", true,
	  KEYS_RANDOM, BASE_NONE, false, NULL, op_zget_batch, NULL, NULL,
	  op_replace_batch, 200, 0 },
};

const struct store store_mmc = {
	.name = "mmc",
	.modes = mmc_modes,
	.nmodes = sizeof(mmc_modes) / sizeof(mmc_modes[0]),
	.warm_with_op = true,
	.probe = mmc_probe,
	.connect = mmc_conn,
	.disconnect = mmc_disconn,
	.fill = mmc_fill,
	.readback = mmc_readback,
};
