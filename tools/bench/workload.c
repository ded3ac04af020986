/*
 * workload.c - what every store mmc-bench measures shares: keys, values and
 * their verification, the store registry and the phase plan.
 *
 * Keys are SGLang-like: 64 hex characters + "_0_k", derived from the seed,
 * the value size and the key's index.  Keys 0..count-1 are the read set;
 * with --mix below 100 each process also owns wset more (count + id * wset
 * onwards), the write set its mixed puts replace, so that readers never
 * meet a key in the middle of being replaced.  Values are deterministic: a
 * 64-byte header (key index, tags) followed by a cache-line-aligned window
 * of a seeded random pool, so every value differs and any returned byte can
 * be checked; mmc puts hand the two pieces to mmc_putv, the stores that
 * take one buffer get them copied together (value_copy) before the clock.
 * Every get phase verifies a sample of what it read (every 64th key, or all
 * with --verify all) byte for byte, and the warm-up pass verifies every key
 * once; a mismatch aborts the run with exit status 1, whatever the store.
 *
 * A store (struct store, bench.h) lives in a file of its own (mmc.c,
 * memcached.c, redis.c) with its table of modes; store_find() knows which
 * were built in, plan_phases() turns -m's list into entries of one table.
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

	for (uint32_t k = 0; k < b->nkeys; k++) {
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
static inline void value_header(const struct bench *b, uint32_t k, uint8_t hdr[HDR_BYTES])
{
	uint64_t w = k;

	memcpy(hdr, &w, 8);
	for (unsigned i = 1; i < HDR_BYTES / 8; i++) {
		w = mix64(b->o.seed * 31 + k + (b->o.size << 32) + i * 0x1000193ull);
		memcpy(hdr + 8 * i, &w, 8);
	}
}

static inline const uint8_t *value_window(const struct bench *b, uint32_t k)
{
	return b->pool + (mix64(b->o.seed ^ 0x5bd1e995ull ^ k) % POOL_SLOTS) * POOL_ALIGN;
}

int value_iov(const struct bench *b, uint32_t k, uint8_t hdr[HDR_BYTES],
	      struct iovec iov[2])
{
	value_header(b, k, hdr);
	iov[0].iov_base = hdr;
	iov[0].iov_len = b->o.size < HDR_BYTES ? b->o.size : HDR_BYTES;
	if (b->o.size <= HDR_BYTES)
		return 1;
	iov[1].iov_base = (void *)value_window(b, k);
	iov[1].iov_len = b->o.size - HDR_BYTES;
	return 2;
}

void value_copy(const struct bench *b, uint32_t k, uint8_t *dst)
{
	uint8_t hdr[HDR_BYTES] __attribute__((aligned(64)));
	struct iovec iov[2];
	int n = value_iov(b, k, hdr, iov);

	for (int i = 0; i < n; i++) {
		memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
}

/* 0 if p[0..len) is key k's value, else the first bad offset + 1. */
static size_t value_check(const struct bench *b, uint32_t k, const uint8_t *p,
			  size_t len)
{
	uint8_t hdr[HDR_BYTES] __attribute__((aligned(64)));
	size_t h = b->o.size < HDR_BYTES ? b->o.size : HDR_BYTES;

	if (len != b->o.size)
		return 1;
	value_header(b, k, hdr);
	if (memcmp(p, hdr, h) || (len > h && memcmp(p + h, value_window(b, k), len - h))) {
		const uint8_t *body = value_window(b, k);

		for (size_t i = 0; i < len; i++)
			if (p[i] != (i < h ? hdr[i] : body[i - h]))
				return i + 1;
	}
	return 0;
}

void verify_or_die(struct worker *w, uint32_t k, const uint8_t *p, size_t len)
{
	size_t bad = value_check(w->b, k, p, len);

	if (bad && len != w->b->o.size)
		die_worker(w, k, "CONTENT MISMATCH: value is %zu bytes, expected %" PRIu64,
			   len, w->b->o.size);
	if (bad)
		die_worker(w, k, "CONTENT MISMATCH at byte %zu of %zu: the %s store "
			   "returned wrong bytes; no speed is reported", bad - 1, len,
			   w->b->store->name);
	w->r->verified++;
}

/* ------------------------------------------------------------------------ */
/* the keys of one call */

void batch_keys(struct worker *w)
{
	for (uint32_t i = 0; i < w->bn; i++)
		memcpy(w->kbuf + (size_t)i * KEY_LEN, key_of(w->b, w->bk[i]), KEY_LEN);
	__asm__ volatile("" ::: "memory");
}

void batch_range(struct worker *w, uint32_t k, uint32_t n, uint32_t lo, uint32_t hi)
{
	w->bn = n;
	for (uint32_t i = 0; i < n; i++) {
		w->bk[i] = k;
		w->bv[i] = 0;
		if (++k == hi)
			k = lo;
	}
	batch_keys(w);
}

/* ------------------------------------------------------------------------ */
/* untimed sweeps the stores share */

void check_put_readback(struct worker *w)
{
	w->b->store->readback(w, w->key_lo, w->key_hi, w->b->verify_every);
}

int timed_set_many(struct worker *w, int (*set_many)(struct worker *w, bool staged),
		   uint64_t *lat, uint64_t *vns)
{
	uint64_t ts = now_ns(), t0;
	int ret;

	for (uint32_t i = 0; i < w->bn; i++)
		value_copy(w->b, w->bk[i], w->stage + (size_t)i * w->stride);
	t0 = now_ns();
	ret = set_many(w, true);
	*lat = now_ns() - t0;
	*vns = t0 - ts;      /* building the values: not the store's time */
	if (!ret)
		w->r->bytes += (uint64_t)w->bn * w->b->o.size;
	return ret;
}

void sweep_fill(struct worker *w, uint32_t lo, uint32_t hi,
		int (*set_many)(struct worker *w, bool staged))
{
	for (uint32_t k = lo; k < hi; k += SWEEP_BATCH) {
		uint32_t n = hi - k < SWEEP_BATCH ? hi - k : SWEEP_BATCH;
		int ret;

		batch_range(w, k, n, lo, hi);
		if ((ret = set_many(w, false)))
			die_worker(w, k, "fill: %s", worker_strerror(w, ret));
	}
}

void sweep_readback(struct worker *w, uint32_t lo, uint32_t hi, uint32_t step,
		    int (*mget)(struct worker *w, bool check_all, uint64_t *vns))
{
	uint64_t vns;

	for (uint32_t k = lo; k < hi; ) {
		int ret;

		w->bn = 0;
		for (; k < hi && w->bn < SWEEP_BATCH; k += step)
			w->bk[w->bn++] = k;
		batch_keys(w);
		if ((ret = mget(w, true, &vns)))
			die_worker(w, w->bk[0], "read-back: %s", worker_strerror(w, ret));
	}
}

/* ------------------------------------------------------------------------ */
/* stores and the phase plan */

extern const struct store store_mmc;
#ifdef MMC_BENCH_MEMCACHED
extern const struct store store_memcached;
#endif
#ifdef MMC_BENCH_REDIS
extern const struct store store_redis;
#endif

const struct store *store_find(const char *name, bool *built)
{
	static const struct store *const built_in[] = {
		&store_mmc,
#ifdef MMC_BENCH_MEMCACHED
		&store_memcached,
#endif
#ifdef MMC_BENCH_REDIS
		&store_redis,
#endif
	};

	*built = true;
	for (size_t i = 0; i < sizeof(built_in) / sizeof(built_in[0]); i++)
		if (!strcmp(built_in[i]->name, name))
			return built_in[i];
	*built = strcmp(name, "memcached") && strcmp(name, "redis");
	return NULL;
}

/* The entry of s named name[0..len): the batched variant when asked for and
 * there is one, else the single one. */
static const struct mode *mode_find(const struct store *s, const char *name,
				    size_t len, bool batched)
{
	const struct mode *single = NULL;

	for (size_t i = 0; i < s->nmodes; i++) {
		const struct mode *m = &s->modes[i];

		if (strlen(m->name) != len || memcmp(m->name, name, len))
			continue;
		if (m->batched == batched)
			return m;
		if (!m->batched)
			single = m;
	}
	return single;
}

int plan_phases(const struct store *s, const char *modes, bool batched,
		const struct mode **plan)
{
	int n = 0;

	if (!strcmp(modes, "all")) {
		for (size_t i = 0; i < s->nmodes && n < MAX_PHASES; i++) {
			const struct mode *m = &s->modes[i];

			if (!m->batched)
				plan[n++] = mode_find(s, m->name, strlen(m->name), batched);
		}
		return n;
	}
	for (const char *p = modes; ; ) {
		size_t len = strcspn(p, ",");

		if (!len || n == MAX_PHASES)
			return -EINVAL;
		plan[n] = mode_find(s, p, len, batched);
		if (!plan[n++])
			return -EINVAL;
		if (!p[len])
			return n;
		p += len + 1;
	}
}
