/*
 * workload.c - what mmc-bench measures: the mode table, keys, values and
 * their verification.
 *
 * A mode (struct mode, bench.h) is a name, how its keys are chosen, an
 * optional untimed set-up, one timed operation, an optional untimed check
 * and an optional control.  run_phase() (procs.c) drives it; an operation
 * times itself (clock_gettime, vDSO) so it can leave verification out of
 * its latency.  The three mmc modes are put (mmc_putv), get (mmc_get into a
 * private buffer) and zget (mmc_acquire + mmc_release, value not read).
 *
 * Keys are SGLang-like: 64 hex characters + "_0_k", derived from the seed,
 * the value size and the key's index.  Values are deterministic: a 64-byte
 * header (key index, tags) followed by a cache-line-aligned window of a
 * seeded random pool, so every value differs and any returned byte can be
 * checked; puts hand the two pieces to mmc_putv (mmc_put is mmc_putv of one
 * piece), so the source stays as aligned as a real KV page.  Every get
 * phase verifies a sample of what it read (every 64th op, or all with
 * --verify all) byte for byte, and the warm-up pass verifies every key once;
 * a mismatch aborts the run with exit status 1.  Verification time is
 * measured and left out of both latencies and throughput.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/uio.h>

#include "bench.h"

/* ------------------------------------------------------------------------ */
/* keys and values */

void build_keys(struct bench *b)
{
	static const char hex[] = "0123456789abcdef";

	for (uint32_t k = 0; k < b->o.count; k++) {
		uint8_t *p = b->keys + (size_t)k * KEY_LEN;
		uint64_t h = b->o.seed ^ (b->o.size * 0x100000001b3ull) ^ ((uint64_t)k << 20);

		for (int w = 0; w < KEY_HEX / 16; w++) {
			uint64_t v = mix64(h + (uint64_t)w * 0x632be59bd9b4e019ull);

			for (int i = 0; i < 16; i++)
				*p++ = (uint8_t)hex[(v >> (60 - 4 * i)) & 15];
		}
		memcpy(p, KEY_SUFFIX, sizeof(KEY_SUFFIX) - 1);
	}
}

void build_pool(struct bench *b)
{
	uint64_t s = mix64(b->o.seed ^ 0x706f6f6cull);

	for (size_t i = 0; i < b->pool_len; i += 8) {
		uint64_t v = rng_next(&s);
		size_t n = b->pool_len - i < 8 ? b->pool_len - i : 8;

		memcpy(b->pool + i, &v, n);
	}
}

/* Value of key k: a 64-byte header (k, then tags of seed/size/k) followed
 * by pool[off .. off + size - 64) with off a multiple of 64.  Header and
 * window are cache-line sized and aligned so that, like a real KV page, the
 * source and the arena are mutually aligned: glibc's memcpy on some CPUs is
 * several times slower on misaligned destinations, and that would be a
 * property of this benchmark, not of the library. */
static inline void value_hdr(const struct bench *b, uint32_t k, uint8_t hdr[HDR_BYTES])
{
	uint64_t w = k;

	memcpy(hdr, &w, 8);
	for (unsigned i = 1; i < HDR_BYTES / 8; i++) {
		w = mix64(b->o.seed * 31 + k + (b->o.size << 32) + i * 0x1000193ull);
		memcpy(hdr + 8 * i, &w, 8);
	}
}

static inline const uint8_t *value_body(const struct bench *b, uint32_t k)
{
	return b->pool + (mix64(b->o.seed ^ 0x5bd1e995ull ^ k) % POOL_SLOTS) * POOL_ALIGN;
}

static int value_iov(const struct bench *b, uint32_t k, uint8_t hdr[HDR_BYTES],
		     struct iovec iov[2])
{
	value_hdr(b, k, hdr);
	iov[0].iov_base = hdr;
	iov[0].iov_len = b->o.size < HDR_BYTES ? b->o.size : HDR_BYTES;
	if (b->o.size <= HDR_BYTES)
		return 1;
	iov[1].iov_base = (void *)value_body(b, k);
	iov[1].iov_len = b->o.size - HDR_BYTES;
	return 2;
}

/* 0 if p[0..len) is key k's value, else the first bad offset + 1. */
static size_t value_check(const struct bench *b, uint32_t k, const uint8_t *p,
			  size_t len)
{
	uint8_t hdr[HDR_BYTES] __attribute__((aligned(64)));
	size_t h = b->o.size < HDR_BYTES ? b->o.size : HDR_BYTES;

	if (len != b->o.size)
		return 1;
	value_hdr(b, k, hdr);
	if (memcmp(p, hdr, h) || (len > h && memcmp(p + h, value_body(b, k), len - h))) {
		const uint8_t *body = value_body(b, k);

		for (size_t i = 0; i < len; i++)
			if (p[i] != (i < h ? hdr[i] : body[i - h]))
				return i + 1;
	}
	return 0;
}

static void verify_or_die(struct worker *w, uint32_t k, const uint8_t *p, size_t len)
{
	size_t bad = value_check(w->b, k, p, len);

	if (bad && len != w->b->o.size)
		die_worker(w, k, "CONTENT MISMATCH: value is %zu bytes, expected %" PRIu64,
			   len, w->b->o.size);
	if (bad)
		die_worker(w, k, "CONTENT MISMATCH at byte %zu of %zu: the library "
			   "returned wrong bytes; no speed is reported", bad - 1, len);
	w->r->verified++;
}

/* ------------------------------------------------------------------------ */
/* the mmc operations (op_fn, bench.h) */

static int op_put(struct worker *w, uint32_t k, bool verify,
		  uint64_t *lat, uint64_t *vns)
{
	uint8_t hdr[HDR_BYTES] __attribute__((aligned(64)));
	struct iovec iov[2];
	int n = value_iov(w->b, k, hdr, iov), ret;
	const uint8_t *key = hot_key(w, k);
	uint64_t t0 = now_ns();

	ret = mmc_putv(w->c, key, KEY_LEN, iov, n);
	*lat = now_ns() - t0;
	*vns = 0;
	if (ret == -EEXIST) {       /* immutable objects: a put that is done */
		w->r->exists++;
		return 0;
	}
	if (!ret)
		w->r->bytes += w->b->o.size;
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

/* Put phase set-up: remove this process's keys so that the timed puts
 * really reserve, copy and commit (not answer -EEXIST from a past run). */
static int setup_put(struct worker *w)
{
	for (uint32_t k = w->key_lo; k < w->key_hi; k++) {
		int ret = mmc_remove(w->c, key_of(w->b, k), KEY_LEN);

		if (ret && ret != -ENOENT)
			die_worker(w, k, "remove before put: %s", mmc_strerror(ret));
	}
	return 0;
}

/* Put phase check: read back a sample of what was put (untimed). */
static void check_put(struct worker *w)
{
	for (uint32_t k = w->key_lo; k < w->key_hi; k++) {
		size_t len = 0;
		int ret;

		if (!w->b->o.verify_all && (k - w->key_lo) % w->b->verify_every)
			continue;
		ret = mmc_get(w->c, key_of(w->b, k), KEY_LEN, w->buf, w->b->o.size, &len);
		if (ret)
			die_worker(w, k, "read-back after put: %s", mmc_strerror(ret));
		verify_or_die(w, k, w->buf, len);
	}
}

void fill(struct worker *w)
{
	w->phase = "fill";
	for (uint32_t k = w->key_lo; k < w->key_hi; k++) {
		uint8_t hdr[HDR_BYTES] __attribute__((aligned(64)));
		struct iovec iov[2];
		int n = value_iov(w->b, k, hdr, iov);
		int ret = mmc_putv(w->c, key_of(w->b, k), KEY_LEN, iov, n);

		if (ret && ret != -EEXIST)
			die_worker(w, k, "put: %s", mmc_strerror(ret));
	}
}

/* ------------------------------------------------------------------------ */
/* the mode table: "all" runs every entry, in this order */

static const struct mode modes[] = {
	{ "put",  "mmc_putv: reserve via ring, copy in, commit via ring",
	  KEYS_OWN_RANGE, BASE_WRITE, true, setup_put, op_put, check_put, NULL, 5000 },
	{ "get",  "mmc_get: local hit, copy into a private buffer",
	  KEYS_RANDOM, BASE_READ, true, NULL, op_get, NULL, control_get, 300 },
	{ "zget", "mmc_acquire + mmc_release: zero-copy local hit, value not read",
	  KEYS_RANDOM, BASE_NONE, false, NULL, op_zget, NULL, NULL, 300 },
	{ "exists", "mmc_exists_batch of 128 consecutive keys with the prefix count "
	  "(SGLang's batch_exists); one op = one batch",
	  KEYS_RANDOM, BASE_NONE, false, NULL, op_exists, NULL, NULL, 128 * 150 },
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static const struct mode *mode_find(const char *name)
{
	for (size_t i = 0; i < NMODES; i++)
		if (!strcmp(modes[i].name, name))
			return &modes[i];
	return NULL;
}

int plan_phases(const char *mode, const struct mode **plan)
{
	if (!strcmp(mode, "all")) {
		for (size_t i = 0; i < NMODES; i++)
			plan[i] = &modes[i];
		return (int)NMODES;
	}
	plan[0] = mode_find(mode);
	return plan[0] ? 1 : -EINVAL;
}
