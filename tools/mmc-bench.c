/*
 * mmc-bench.c - put/get benchmark of libshm against a running mmc-agent.
 *
 *   mmc-bench [--socket PATH] [-s SIZE] [-n COUNT] [--ops N] [-p PROCS]
 *             [-m put|get|zget|all] [--warmup N|pass] [--verify sample|all]
 *             [--seed N] [--json]
 *
 * Structure (so that later workloads - memcached/Redis protocols, trace
 * replay - slot in without touching the rest):
 *
 *   modes[]        the workloads: a name, how keys are chosen, an optional
 *                  untimed set-up, and one timed operation.  An operation
 *                  times itself (clock_gettime, vDSO) so it can leave
 *                  verification out of its latency.
 *   run_phase()    runs one mode in one process: set-up, warm-up, barrier,
 *                  the measured loop into a per-process proc_result (counts
 *                  and a log-linear latency histogram) in a MAP_SHARED area.
 *   aggregate()    merges the processes of a phase into a phase_report.
 *   print_text(), print_json()   the only two places that format output.
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
 *
 * The memcpy baseline runs in the parent, on one core, before the clients
 * start: "read" copies random value-sized chunks of a private working set as
 * large as the gets touch (capped at 1 GiB) into one buffer, which is what a
 * copying get does; "write" copies one hot buffer into random chunks, which
 * is what a put does.  Its memory is of the arena's kind (shmem on 4 KiB
 * pages, or hugetlb 2 MiB pages), and it is measured before and after the
 * clients, the mean used.  A "control" (mode.control) adds, for get, the
 * same memcpy over the arena's own pages through views held outside the
 * clock, by client 0 alone before and after the phase: on a VM where the
 * placement of memory moves a plain memcpy by 20 %, that ratio isolates
 * what the library itself adds.
 *
 * Exit status: 0 success, 1 a run-time failure (agent unreachable, arena too
 * small, an operation failed, content mismatch), 2 bad usage.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/memfd.h>

#include "mmc/mmc.h"

#define KEY_HEX       64
#define KEY_SUFFIX    "_0_k"
#define KEY_LEN       (KEY_HEX + sizeof(KEY_SUFFIX) - 1)
#define HDR_BYTES     64u                   /* one cache line: keeps the body aligned */
#define POOL_ALIGN    64u                   /* value windows start at 64*slot */
#define POOL_SLOTS    1024u
#define POOL_SLACK    (POOL_SLOTS * POOL_ALIGN)
#define MAX_PROCS     256
#define MAX_PHASES    4
#define BASE_WS_CAP   (1ull << 30)          /* baseline working set cap */
#define OUT_OF_CACHE  (64ull << 20)
#define DEFAULT_SIZE  (1ull << 20)
#define DEFAULT_COUNT 256u
#define DEFAULT_VERIFY_EVERY 64u

/* ------------------------------------------------------------------------ */
/* small helpers */

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mix64(uint64_t x)   /* splitmix64 finaliser */
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint64_t rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix64(*s);
}

/* Uniform in [0, n). */
static inline uint32_t rng_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

static int parse_u64(const char *s, uint64_t *out, bool suffixes)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (suffixes && *end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': mul = 1ull << 10; break;
		case 'M': mul = 1ull << 20; break;
		case 'G': mul = 1ull << 30; break;
		case 'T': mul = 1ull << 40; break;
		default: return -EINVAL;
		}
		end++;
		if (toupper((unsigned char)*end) == 'I')
			end++;
		if (toupper((unsigned char)*end) == 'B')
			end++;
	}
	if (*end)
		return -EINVAL;
	if (v && mul > UINT64_MAX / v)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

static const char *fmt_bytes(uint64_t b, char *buf, size_t len)
{
	if (b >= (1ull << 30) && !(b % (1ull << 30)))
		snprintf(buf, len, "%" PRIu64 " GiB", b >> 30);
	else if (b >= (1ull << 20) && !(b % (1ull << 20)))
		snprintf(buf, len, "%" PRIu64 " MiB", b >> 20);
	else if (b >= (1ull << 10) && !(b % (1ull << 10)))
		snprintf(buf, len, "%" PRIu64 " KiB", b >> 10);
	else if (b >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", (double)b / (1 << 20));
	else
		snprintf(buf, len, "%" PRIu64 " B", b);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* latency histogram: log-linear, <= 1/64 relative error (HDR-like) */

#define H_SUB_BITS 6u
#define H_SUB      (1u << H_SUB_BITS)
#define H_LINEAR   (2u * H_SUB)             /* values below are exact */
#define H_MIN_EXP  (H_SUB_BITS + 1u)        /* log2(H_LINEAR) */
#define H_MAX_EXP  47u                      /* ~39 hours in ns */
#define H_NB       (H_LINEAR + (H_MAX_EXP - H_MIN_EXP + 1u) * H_SUB)

struct hist {
	uint64_t n, sum, min, max;
	uint64_t b[H_NB];
};

static inline unsigned h_index(uint64_t v)
{
	unsigned e;

	if (v < H_LINEAR)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e > H_MAX_EXP)
		return H_NB - 1;
	return H_LINEAR + (e - H_MIN_EXP) * H_SUB +
		(unsigned)((v >> (e - H_SUB_BITS)) & (H_SUB - 1));
}

/* The middle of bucket i. */
static double h_value(unsigned i)
{
	unsigned e, sub;
	uint64_t lo, width;

	if (i < H_LINEAR)
		return i;
	e = H_MIN_EXP + (i - H_LINEAR) / H_SUB;
	sub = (i - H_LINEAR) % H_SUB;
	lo = (uint64_t)(H_SUB + sub) << (e - H_SUB_BITS);
	width = 1ull << (e - H_SUB_BITS);
	return (double)lo + (double)(width - 1) / 2.0;
}

static inline void h_add(struct hist *h, uint64_t v)
{
	h->b[h_index(v)]++;
	h->n++;
	h->sum += v;
	if (v < h->min || h->n == 1)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

static void h_merge(struct hist *into, const struct hist *h)
{
	if (!h->n)
		return;
	if (!into->n || h->min < into->min)
		into->min = h->min;
	if (h->max > into->max)
		into->max = h->max;
	into->n += h->n;
	into->sum += h->sum;
	for (unsigned i = 0; i < H_NB; i++)
		into->b[i] += h->b[i];
}

static double h_quantile(const struct hist *h, double q)
{
	uint64_t want, cum = 0;

	if (!h->n)
		return NAN;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < H_NB; i++) {
		cum += h->b[i];
		if (cum >= want) {
			double v = h_value(i);

			if (v < (double)h->min)
				v = (double)h->min;
			if (v > (double)h->max)
				v = (double)h->max;
			return v;
		}
	}
	return (double)h->max;
}

/* ------------------------------------------------------------------------ */
/* configuration, keys and values */

enum warmup_kind { WARMUP_PASS, WARMUP_OPS };

struct opts {
	const char *socket;        /* NULL: $MMC_SOCKET or the default */
	uint64_t size;
	uint32_t count;
	uint64_t ops;              /* 0: about one second per get phase */
	int procs;
	const char *mode;
	enum warmup_kind warmup;
	uint64_t warmup_ops;
	bool json;
	uint64_t seed;
	bool verify_all;
};

struct bench {
	struct opts o;
	char socket_path[108];
	uint8_t *keys;             /* count * KEY_LEN, read-only after set-up */
	uint8_t *pool;             /* size + POOL_SLACK, read-only */
	size_t pool_len;
	uint32_t verify_every;     /* 1 with --verify all */
	/* from the agent */
	uint64_t arena_bytes, used_bytes, max_objects, high_pct;
	bool hugepages;
};

static inline const uint8_t *key_of(const struct bench *b, uint32_t k)
{
	return b->keys + (size_t)k * KEY_LEN;
}

static void build_keys(struct bench *b)
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

static void build_pool(struct bench *b)
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

/* ------------------------------------------------------------------------ */
/* shared result area and barrier */

struct proc_result {
	uint64_t ops, bytes, exists, verified, verify_ns, faults;
	uint64_t start_ns, end_ns;
	struct hist lat;
};

struct shared {
	_Atomic uint32_t arrived;
	_Atomic uint32_t gen;
	_Atomic int abort;
	_Atomic int err_claimed;    /* the first failing client writes err */
	char err[400];
	double control_gbps[MAX_PHASES], control_after[MAX_PHASES];
	int nprocs;
	struct proc_result res[];   /* [phase * nprocs + proc] */
};

static struct shared *sh;

/* All clients meet here; a failed run releases everyone (they exit). */
static void barrier(void)
{
	uint32_t g = atomic_load(&sh->gen);
	unsigned spins = 0;

	if (atomic_fetch_add(&sh->arrived, 1) + 1 == (uint32_t)sh->nprocs) {
		atomic_store(&sh->arrived, 0);
		atomic_fetch_add(&sh->gen, 1);
		return;
	}
	while (atomic_load(&sh->gen) == g) {
		if (atomic_load_explicit(&sh->abort, memory_order_relaxed))
			_exit(1);
		if (++spins < 256)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
}

/* ------------------------------------------------------------------------ */
/* workloads */

struct worker {
	const struct bench *b;
	mmc_client *c;
	int id;
	uint32_t key_lo, key_hi;   /* this process's put range */
	uint8_t *buf;              /* private get buffer, size bytes */
	uint8_t key[KEY_LEN];      /* the current key, hot in L1 */
	uint64_t rng;
	struct proc_result *r;     /* the current phase's slot */
	const char *phase;
};

/* Records a client's failure (the first one wins the report) and stops
 * every client at its next check. */
static void client_failed(const char *msg)
{
	if (!atomic_exchange(&sh->err_claimed, 1))
		snprintf(sh->err, sizeof(sh->err), "%s", msg);
	atomic_store(&sh->abort, 1);
	fprintf(stderr, "mmc-bench: %s\n", msg);
}

static void die_worker(struct worker *w, uint32_t k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

static void die_worker(struct worker *w, uint32_t k, const char *fmt, ...)
{
	char msg[sizeof(sh->err)];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "process %d, %s, key %.*s (#%u): ", w->id,
		     w->phase, (int)KEY_LEN, (const char *)key_of(w->b, k), k);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	client_failed(msg);
	mmc_disconnect(w->c);
	_exit(1);
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

/* One timed operation on key k.  *lat gets its latency in ns, or
 * UINT64_MAX to keep it out of the histogram; *vns the time spent
 * verifying (excluded from throughput).  Returns 0 or -errno. */
typedef int (*op_fn)(struct worker *w, uint32_t k, bool verify,
		     uint64_t *lat, uint64_t *vns);

/* A caller has the key it asks for at hand (it just built it): copy it out
 * of the big key table before the clock starts, so that a cache miss on the
 * benchmark's own table is not charged to the library. */
static inline const uint8_t *hot_key(struct worker *w, uint32_t k)
{
	memcpy(w->key, key_of(w->b, k), KEY_LEN);
	__asm__ volatile("" ::: "memory");
	return w->key;
}

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

/* Get's control: the same copy mmc_get does (arena pages -> the private
 * buffer, random keys) with the lookup and pin outside the clock: views are
 * acquired untimed, only the memcpy is timed.  Same pages, same TLB, same
 * moment as the phase, so get / control isolates what the library adds
 * even where the parent's baseline memory is placed differently. */
static double control_get(struct worker *w)
{
	uint64_t busy = 0, bytes = 0, t_end = now_ns() + 300000000ull;
	unsigned n = 0;

	while (n < 16 || now_ns() < t_end) {
		uint32_t k = rng_below(&w->rng, w->b->o.count);
		struct mmc_view v;
		uint64_t t0;
		int ret = mmc_acquire(w->c, hot_key(w, k), KEY_LEN, &v);

		if (ret)
			die_worker(w, k, "control copy: %s", mmc_strerror(ret));
		t0 = now_ns();
		memcpy(w->buf, v.data, v.len);
		__asm__ volatile("" ::: "memory");
		busy += now_ns() - t0;
		bytes += v.len;
		mmc_release(w->c, &v);
		n++;
	}
	return busy ? (double)bytes / (double)busy : NAN;
}

enum key_pattern {
	KEYS_OWN_RANGE,   /* each process walks its own slice once */
	KEYS_RANDOM,      /* uniform among all count keys, --ops times */
};

enum baseline_kind { BASE_NONE, BASE_READ, BASE_WRITE };

struct mode {
	const char *name;
	const char *what;
	enum key_pattern keys;
	enum baseline_kind base;   /* which memcpy baseline it compares to */
	bool copies;               /* moves value bytes (GB/s is real) */
	int (*setup)(struct worker *w);
	op_fn op;
	void (*check)(struct worker *w);
	/* Optional: a plain memcpy over the arena's own pages, measured by
	 * client 0 alone just before and just after the phase (GB/s). */
	double (*control)(struct worker *w);
	double est_ns;             /* rough cost beyond copying, for --ops */
};

static const struct mode modes[] = {
	{ "put",  "mmc_putv: reserve via ring, copy in, commit via ring",
	  KEYS_OWN_RANGE, BASE_WRITE, true, setup_put, op_put, check_put, NULL, 5000 },
	{ "get",  "mmc_get: local hit, copy into a private buffer",
	  KEYS_RANDOM, BASE_READ, true, NULL, op_get, NULL, control_get, 300 },
	{ "zget", "mmc_acquire + mmc_release: zero-copy local hit, value not read",
	  KEYS_RANDOM, BASE_NONE, false, NULL, op_zget, NULL, NULL, 300 },
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static const struct mode *mode_find(const char *name)
{
	for (size_t i = 0; i < NMODES; i++)
		if (!strcmp(modes[i].name, name))
			return &modes[i];
	return NULL;
}

/* Mode name -> the phases to run. */
static int plan_phases(const char *mode, const struct mode **plan)
{
	if (!strcmp(mode, "all")) {
		for (size_t i = 0; i < NMODES; i++)
			plan[i] = &modes[i];
		return (int)NMODES;
	}
	plan[0] = mode_find(mode);
	return plan[0] ? 1 : -EINVAL;
}

/* ------------------------------------------------------------------------ */
/* one client process */

static uint64_t minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
}

/* Untimed: make sure every key in this process's range exists. */
static void fill(struct worker *w)
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

static void run_phase(struct worker *w, const struct mode *m, int phase,
		      uint64_t ops, struct proc_result *r, struct proc_result *scratch)
{
	const struct bench *b = w->b;
	uint64_t lat, vns, f0, start, end;
	uint32_t every = b->verify_every;
	int ret;

	w->phase = m->name;
	if (m->setup)
		m->setup(w);
	/* Warm-up, untimed, counted into scratch: by default one pass over
	 * every key with full verification (also maps the arena pages this
	 * process will read, so the measured loop sees steady state). */
	if (m->keys == KEYS_RANDOM) {
		w->r = scratch;
		if (b->o.warmup == WARMUP_PASS) {
			for (uint32_t k = 0; k < b->o.count; k++)
				if ((ret = m->op(w, k, true, &lat, &vns)))
					die_worker(w, k, "warm-up %s: %s", m->name,
						   mmc_strerror(ret));
		} else {
			for (uint64_t i = 0; i < b->o.warmup_ops; i++) {
				uint32_t k = rng_below(&w->rng, b->o.count);

				if ((ret = m->op(w, k, i % every == 0, &lat, &vns)))
					die_worker(w, k, "warm-up %s: %s", m->name,
						   mmc_strerror(ret));
			}
		}
	}
	w->r = r;
	memset(r, 0, sizeof(*r));
	barrier();
	if (m->control) {   /* client 0 alone, the others wait */
		if (w->id == 0)
			sh->control_gbps[phase] = m->control(w);
		barrier();
	}

	f0 = minflt();
	start = now_ns();
	if (m->keys == KEYS_OWN_RANGE) {
		for (uint32_t k = w->key_lo; k < w->key_hi; k++) {
			if ((ret = m->op(w, k, false, &lat, &vns)))
				die_worker(w, k, "%s: %s", m->name, mmc_strerror(ret));
			h_add(&r->lat, lat);
			r->ops++;
		}
	} else {
		for (uint64_t i = 0; i < ops; i++) {
			uint32_t k = rng_below(&w->rng, b->o.count);

			if ((ret = m->op(w, k, i % every == every - 1, &lat, &vns)))
				die_worker(w, k, "%s: %s", m->name, mmc_strerror(ret));
			if (lat != UINT64_MAX)
				h_add(&r->lat, lat);
			r->verify_ns += vns;
			r->ops++;
			if (!(i & 1023) && atomic_load_explicit(&sh->abort,
								memory_order_relaxed))
				_exit(1);
		}
	}
	end = now_ns();
	r->faults = minflt() - f0;
	r->start_ns = start;
	r->end_ns = end;
	if (m->check)
		m->check(w);
	barrier();
	if (m->control) {   /* and again after, alone: the mean is reported */
		if (w->id == 0)
			sh->control_after[phase] = m->control(w);
		barrier();
	}
}

static int client_main(struct bench *b, int id, const struct mode **plan,
		       int nphases, const uint64_t *ops)
{
	struct worker w = { .b = b, .id = id, .phase = "connect" };
	struct proc_result *scratch = calloc(1, sizeof(*scratch));
	char msg[256];
	int ret;

	w.key_lo = (uint32_t)((uint64_t)b->o.count * (uint64_t)id / (uint64_t)b->o.procs);
	w.key_hi = (uint32_t)((uint64_t)b->o.count * (uint64_t)(id + 1) / (uint64_t)b->o.procs);
	w.rng = mix64(b->o.seed * 0x2545f4914f6cdd1dull + (uint64_t)id + 1);
	w.buf = aligned_alloc(4096, (b->o.size + 4095) & ~4095ull);
	if (!w.buf || !scratch) {
		snprintf(msg, sizeof(msg), "process %d: out of memory", id);
		client_failed(msg);
		return 1;
	}
	memset(w.buf, 0, b->o.size);     /* fault the private buffer in */
	ret = mmc_connect(b->socket_path, &w.c);
	if (ret) {
		snprintf(msg, sizeof(msg), "process %d: cannot connect to %s: %s", id,
			 b->socket_path, ret == -ENOENT ? "no such socket" : mmc_strerror(ret));
		client_failed(msg);
		return 1;
	}
	barrier();
	if (plan[0]->keys != KEYS_OWN_RANGE) {   /* get-only runs need the keys */
		fill(&w);
		barrier();
	}
	for (int p = 0; p < nphases; p++)
		run_phase(&w, plan[p], p, ops[p], &sh->res[p * sh->nprocs + id], scratch);
	mmc_disconnect(w.c);
	free(w.buf);
	free(scratch);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* measurements in the parent: clock cost and the memcpy baseline */

struct clock_info {
	char source[32];
	double overhead_ns_median, overhead_ns_min;
};

static void measure_clock(struct clock_info *ci)
{
	struct hist *h = calloc(1, sizeof(*h));
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

	snprintf(ci->source, sizeof(ci->source), "unknown");
	if (f) {
		if (fgets(ci->source, sizeof(ci->source), f))
			ci->source[strcspn(ci->source, "\n")] = '\0';
		fclose(f);
	}
	ci->overhead_ns_median = ci->overhead_ns_min = NAN;
	if (!h)
		return;
	for (int i = 0; i < 200000; i++) {
		uint64_t t0 = now_ns();

		h_add(h, now_ns() - t0);
	}
	ci->overhead_ns_median = h_quantile(h, 0.5);
	ci->overhead_ns_min = (double)h->min;
	free(h);
}

struct baseline {
	uint64_t ws_bytes;         /* working set copied from / into */
	uint64_t stride;           /* chunk spacing: the arena's 4 KiB units */
	bool hugepages;
	const char *memory;        /* what backs the working set */
	/* Measured before the clients start and again after they end: the
	 * ratios use the mean, and the spread says how much the machine's
	 * memory bandwidth moved while the run was on. */
	double read_gbps, write_gbps;
	double read_before, read_after, write_before, write_after;
	/* private */
	uint8_t *ws, *hot;
	uint64_t nchunks, hot_len;
};

/* Copies size-byte chunks at random among nchunks for at least min_ns. */
static double copy_loop(const struct baseline *bl, uint64_t size, bool to_ws,
			uint64_t min_ns, uint64_t seed)
{
	uint64_t rng = seed, n = 0, t0 = now_ns(), t;

	do {
		for (int i = 0; i < 16; i++) {
			uint8_t *chunk = bl->ws + rng_below(&rng, (uint32_t)bl->nchunks) *
				bl->stride;

			if (to_ws)
				memcpy(chunk, bl->hot, size);
			else
				memcpy(bl->hot, chunk, size);
		}
		n += 16;
		__asm__ volatile("" ::: "memory");
		t = now_ns();
	} while (t - t0 < min_ns);
	return (double)(n * size) / (double)(t - t0);   /* bytes/ns = GB/s */
}

static void baseline_free(struct baseline *bl)
{
	if (bl->ws)
		munmap(bl->ws, bl->ws_bytes);
	if (bl->hot)
		munmap(bl->hot, bl->hot_len);
	bl->ws = bl->hot = NULL;
}

/* A shared memfd mapping of len bytes, populated, or NULL. */
static void *map_memfd(uint64_t len, unsigned flags)
{
	int fd = memfd_create("mmc-bench-baseline", MFD_CLOEXEC | flags);
	void *p = MAP_FAILED;

	if (fd < 0)
		return NULL;
	if (!ftruncate(fd, (off_t)len) &&
	    ((flags & MFD_HUGETLB) || !fallocate(fd, 0, 0, (off_t)len)))
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* The working set is memory of the arena's kind (agent/arena.c): a shmem
 * memfd on 4 KiB pages, or a hugetlb memfd on 2 MiB pages when the arena
 * has them (transparent hugepages if no hugetlb pages are left).  Anonymous
 * 4 KiB memory copies measurably slower than shmem here, and the point is
 * that only the library differs. */
static int baseline_setup(const struct bench *b, struct baseline *bl)
{
	uint64_t size = b->o.size, stride = (size + 4095) & ~4095ull;
	uint64_t nchunks = b->o.count;
	void *hot;

	if (nchunks * stride > BASE_WS_CAP)
		nchunks = BASE_WS_CAP / stride ? BASE_WS_CAP / stride : 1;
	bl->nchunks = nchunks;
	bl->stride = stride;
	bl->ws_bytes = nchunks * stride;
	bl->hot_len = stride;
	bl->hugepages = b->hugepages;
	if (b->hugepages) {
		bl->ws_bytes = (bl->ws_bytes + (2u << 20) - 1) & ~((2ull << 20) - 1);
		bl->ws = map_memfd(bl->ws_bytes, MFD_HUGETLB | MFD_HUGE_2MB);
		bl->memory = "hugetlb";
		if (!bl->ws) {
			void *p = mmap(NULL, bl->ws_bytes, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			bl->ws = p == MAP_FAILED ? NULL : p;
			if (bl->ws)
				madvise(bl->ws, bl->ws_bytes, MADV_HUGEPAGE);
			bl->memory = "thp";
		}
	} else {
		bl->ws = map_memfd(bl->ws_bytes, 0);
		bl->memory = "shmem";
	}
	hot = mmap(NULL, bl->hot_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bl->hot = hot == MAP_FAILED ? NULL : hot;
	if (!bl->ws || !bl->hot) {
		baseline_free(bl);
		return -ENOMEM;
	}
	/* Not inherited by the clients (fork would copy its page tables). */
	madvise(bl->hot, bl->hot_len, MADV_NOHUGEPAGE);
	madvise(bl->ws, bl->ws_bytes, MADV_DONTFORK);
	madvise(bl->hot, bl->hot_len, MADV_DONTFORK);
	for (uint64_t i = 0; i < nchunks; i++)
		memcpy(bl->ws + i * stride, b->pool, size);   /* fault in, non-zero */
	memcpy(bl->hot, b->pool, size);
	copy_loop(bl, size, false, 50000000ull, b->o.seed);   /* untimed round */
	return 0;
}

/* One measurement: 0.3 s of each direction. */
static void baseline_measure(const struct bench *b, struct baseline *bl, bool after)
{
	double r = copy_loop(bl, b->o.size, false, 300000000ull, b->o.seed + 1 + after);
	double w = copy_loop(bl, b->o.size, true, 300000000ull, b->o.seed + 3 + after);

	if (!after) {
		bl->read_before = bl->read_gbps = r;
		bl->write_before = bl->write_gbps = w;
		bl->read_after = bl->write_after = NAN;
		return;
	}
	bl->read_after = r;
	bl->write_after = w;
	bl->read_gbps = (bl->read_before + r) / 2;
	bl->write_gbps = (bl->write_before + w) / 2;
}

static double spread(double a, double b)
{
	return fabs(a - b) / ((a + b) / 2);
}

/* ------------------------------------------------------------------------ */
/* aggregation and reports */

struct phase_report {
	const struct mode *mode;
	int procs;
	uint64_t ops, bytes, exists, verified, faults, lat_samples;
	double wall_s, ops_per_s, gbps, per_proc_gbps;
	double p50, p99, mean, min, max;     /* ns */
	double baseline_gbps, ratio;         /* NAN when not applicable */
	double control_gbps, control_ratio;  /* memcpy over arena pages */
};

struct report {
	const struct bench *b;
	struct clock_info clock;
	struct baseline base;
	int nphases;
	struct phase_report ph[MAX_PHASES];
	uint64_t ops_per_proc[MAX_PHASES];
	bool ok;
	char error[512];
};

static void aggregate(struct report *rep, int p, const struct mode *m,
		      const struct proc_result *res, int nprocs)
{
	struct phase_report *o = &rep->ph[p];
	struct hist *h = calloc(1, sizeof(*h));
	uint64_t first = UINT64_MAX, last = 0;
	double pp = 0;
	int active = 0;

	memset(o, 0, sizeof(*o));
	o->mode = m;
	o->procs = nprocs;
	for (int i = 0; i < nprocs; i++) {
		const struct proc_result *r = &res[i];
		uint64_t busy = r->end_ns - r->start_ns - r->verify_ns;

		o->ops += r->ops;
		o->bytes += r->bytes;
		o->exists += r->exists;
		o->verified += r->verified;
		o->faults += r->faults;
		if (h)
			h_merge(h, &r->lat);
		if (!r->ops)
			continue;
		if (r->start_ns < first)
			first = r->start_ns;
		if (r->end_ns - r->verify_ns > last)
			last = r->end_ns - r->verify_ns;
		if (busy) {
			pp += (double)r->bytes / (double)busy;
			active++;
		}
	}
	o->wall_s = last > first ? (double)(last - first) / 1e9 : NAN;
	o->ops_per_s = (double)o->ops / o->wall_s;
	o->gbps = (double)o->bytes / o->wall_s / 1e9;
	o->per_proc_gbps = active ? pp / active : NAN;
	o->p50 = o->p99 = o->mean = o->min = o->max = NAN;
	if (h && h->n) {
		o->lat_samples = h->n;
		o->p50 = h_quantile(h, 0.50);
		o->p99 = h_quantile(h, 0.99);
		o->mean = (double)h->sum / (double)h->n;
		o->min = (double)h->min;
		o->max = (double)h->max;
	}
	free(h);
	o->baseline_gbps = m->base == BASE_READ ? rep->base.read_gbps :
		m->base == BASE_WRITE ? rep->base.write_gbps : NAN;
	o->ratio = o->per_proc_gbps / o->baseline_gbps;
	o->control_gbps = m->control ?
		(sh->control_gbps[p] + sh->control_after[p]) / 2 : NAN;
	o->control_ratio = o->per_proc_gbps / o->control_gbps;
}

static const char *base_name(enum baseline_kind k)
{
	return k == BASE_READ ? "read" : k == BASE_WRITE ? "write" : NULL;
}

static void print_text(const struct report *rep)
{
	const struct bench *b = rep->b;
	char s1[32], s2[32], s3[32];

	printf("mmc-bench: agent %s, arena %s on %s pages\n", b->socket_path,
	       fmt_bytes(b->arena_bytes, s1, sizeof(s1)), b->hugepages ? "2 MiB" : "4 KiB");
	printf("  values %s x %u keys = %s, %d process%s, seed %" PRIu64 ", verify %s\n",
	       fmt_bytes(b->o.size, s1, sizeof(s1)), b->o.count,
	       fmt_bytes(b->o.size * b->o.count, s2, sizeof(s2)), b->o.procs,
	       b->o.procs == 1 ? "" : "es", b->o.seed,
	       b->o.verify_all ? "every op" : b->o.warmup == WARMUP_PASS ?
	       "every 64th op + a full warm-up pass" : "every 64th op");
	printf("  clock: %s, two back-to-back clock_gettime: median %.0f ns, min %.0f ns"
	       " (every latency below includes one)\n",
	       rep->clock.source, rep->clock.overhead_ns_median, rep->clock.overhead_ns_min);
	printf("  memcpy baseline, 1 core, %s working set%s, %s on %s pages, %s chunks"
	       " (before / after the clients):\n"
	       "    read  (random chunk -> one buffer, as a get)  %6.2f GB/s  (%.2f / %.2f)\n"
	       "    write (one buffer -> random chunk, as a put)  %6.2f GB/s  (%.2f / %.2f)\n",
	       fmt_bytes(rep->base.ws_bytes, s1, sizeof(s1)),
	       rep->base.ws_bytes < OUT_OF_CACHE ? " (< 64 MiB: may be cache-resident)" : "",
	       rep->base.memory, rep->base.hugepages ? "2 MiB" : "4 KiB",
	       fmt_bytes(b->o.size, s3, sizeof(s3)),
	       rep->base.read_gbps, rep->base.read_before, rep->base.read_after,
	       rep->base.write_gbps, rep->base.write_before, rep->base.write_after);
	if (spread(rep->base.read_before, rep->base.read_after) > 0.1 ||
	    spread(rep->base.write_before, rep->base.write_after) > 0.1)
		printf("  warning: the baseline moved by more than 10%% during the run:"
		       " the machine is busy, ratios are rough\n");
	printf("\n%-5s %5s %10s %12s %8s %10s %10s %10s %10s %10s %8s %8s\n",
	       "mode", "procs", "ops", "ops/s", "GB/s", "GB/s/proc", "p50 ns", "p99 ns",
	       "mean ns", "vs memcpy", "faults", "verified");
	for (int p = 0; p < rep->nphases; p++) {
		const struct phase_report *o = &rep->ph[p];
		char ratio[32];

		if (isnan(o->ratio))
			snprintf(ratio, sizeof(ratio), "-");
		else
			snprintf(ratio, sizeof(ratio), "%.0f%% %s", 100 * o->ratio,
				 base_name(o->mode->base));
		char gb[16] = "-", gbp[16] = "-";

		if (o->mode->copies) {
			snprintf(gb, sizeof(gb), "%.2f", o->gbps);
			snprintf(gbp, sizeof(gbp), "%.2f", o->per_proc_gbps);
		}
		printf("%-5s %5d %10" PRIu64 " %12.0f %8s %10s %10.0f %10.0f %10.0f %10s"
		       " %8" PRIu64 " %8" PRIu64 "%s\n",
		       o->mode->name, o->procs, o->ops, o->ops_per_s, gb, gbp,
		       o->p50, o->p99, o->mean, ratio, o->faults, o->verified,
		       o->exists ? " (some puts found the key present)" : "");
	}
	printf("\n");
	for (int p = 0; p < rep->nphases; p++)
		if (!isnan(rep->ph[p].control_gbps))
			printf("  %s control: memcpy from the arena's own pages through views held"
			       " outside the clock\n    (client 0 alone, before and after the phase)"
			       " %.2f GB/s; %s per process = %.0f%% of it\n\n",
			       rep->ph[p].mode->name, rep->ph[p].control_gbps,
			       rep->ph[p].mode->name, 100 * rep->ph[p].control_ratio);
	for (int p = 0; p < rep->nphases; p++)
		printf("  %-5s %s\n", rep->ph[p].mode->name, rep->ph[p].mode->what);
	printf("  GB/s = 1e9 bytes/s over the phase's wall time, verification excluded;"
	       " GB/s/proc and\n  'vs memcpy' compare one process with the one-core"
	       " baseline; faults = page faults\n  taken by clients during the"
	       " measured loop.\n");
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void json_num(const char *name, double v, bool comma)
{
	if (isnan(v) || isinf(v))
		printf("\"%s\":null", name);
	else
		printf("\"%s\":%.6g", name, v);
	if (comma)
		putchar(',');
}

static void print_json(const struct report *rep)
{
	const struct bench *b = rep->b;

	printf("{\"tool\":\"mmc-bench\",\"version\":1,\"ok\":%s,", rep->ok ? "true" : "false");
	if (!rep->ok) {
		printf("\"error\":");
		json_str(rep->error);
		printf(",\"errors\":1}\n");
		return;
	}
	printf("\"errors\":0,\"config\":{\"socket\":");
	json_str(b->socket_path);
	printf(",\"size\":%" PRIu64 ",\"count\":%u,\"procs\":%d,\"mode\":",
	       b->o.size, b->o.count, b->o.procs);
	json_str(b->o.mode);
	printf(",\"seed\":%" PRIu64 ",\"verify\":\"%s\",\"verify_every\":%u,\"warmup\":",
	       b->o.seed, b->o.verify_all ? "all" : "sample", b->verify_every);
	if (b->o.warmup == WARMUP_PASS)
		printf("\"pass\"");
	else
		printf("%" PRIu64, b->o.warmup_ops);
	printf(",\"key_len\":%zu},", KEY_LEN);
	printf("\"agent\":{\"arena_bytes\":%" PRIu64 ",\"hugepages\":%s,"
	       "\"high_watermark_pct\":%" PRIu64 ",\"max_objects\":%" PRIu64 "},",
	       b->arena_bytes, b->hugepages ? "true" : "false", b->high_pct, b->max_objects);
	printf("\"clock\":{\"source\":");
	json_str(rep->clock.source);
	putchar(',');
	json_num("overhead_ns_median", rep->clock.overhead_ns_median, true);
	json_num("overhead_ns_min", rep->clock.overhead_ns_min, false);
	printf("},\"baseline\":{\"working_set_bytes\":%" PRIu64 ",\"chunk_bytes\":%" PRIu64
	       ",\"stride_bytes\":%" PRIu64 ",\"hugepages\":%s,\"memory\":\"%s\",",
	       rep->base.ws_bytes, b->o.size, rep->base.stride,
	       rep->base.hugepages ? "true" : "false", rep->base.memory);
	json_num("read_gbps", rep->base.read_gbps, true);
	json_num("write_gbps", rep->base.write_gbps, true);
	json_num("read_gbps_before", rep->base.read_before, true);
	json_num("read_gbps_after", rep->base.read_after, true);
	json_num("write_gbps_before", rep->base.write_before, true);
	json_num("write_gbps_after", rep->base.write_after, false);
	printf("},\"results\":[");
	for (int p = 0; p < rep->nphases; p++) {
		const struct phase_report *o = &rep->ph[p];
		const char *bn = base_name(o->mode->base);

		printf("%s{\"mode\":\"%s\",\"procs\":%d,\"ops\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"errors\":0,\"exists\":%" PRIu64 ",\"verified\":%" PRIu64
		       ",\"faults\":%" PRIu64 ",\"copies\":%s,",
		       p ? "," : "", o->mode->name, o->procs, o->ops, o->bytes, o->exists,
		       o->verified, o->faults, o->mode->copies ? "true" : "false");
		json_num("wall_s", o->wall_s, true);
		json_num("ops_per_s", o->ops_per_s, true);
		/* A view moves no bytes: no GB/s for modes that do not copy. */
		json_num("gbps", o->mode->copies ? o->gbps : NAN, true);
		json_num("per_proc_gbps", o->mode->copies ? o->per_proc_gbps : NAN, true);
		printf("\"latency_ns\":{\"samples\":%" PRIu64 ",", o->lat_samples);
		json_num("p50", o->p50, true);
		json_num("p99", o->p99, true);
		json_num("mean", o->mean, true);
		json_num("min", o->min, true);
		json_num("max", o->max, false);
		printf("},\"baseline\":");
		if (bn)
			printf("\"%s\",", bn);
		else
			printf("null,");
		json_num("memcpy_ratio", o->ratio, true);
		json_num("arena_memcpy_gbps", o->control_gbps, true);
		json_num("arena_memcpy_ratio", o->control_ratio, false);
		putchar('}');
	}
	printf("]}\n");
}

/* A failure before or during the run: a sentence on stderr, and in --json
 * mode an {"ok":false} object on stdout for scripts. */
static int fail(struct report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct report *rep, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rep->error, sizeof(rep->error), fmt, ap);
	va_end(ap);
	rep->ok = false;
	fprintf(stderr, "mmc-bench: %s\n", rep->error);
	if (rep->b && rep->b->o.json)
		print_json(rep);
	return 1;
}

/* ------------------------------------------------------------------------ */
/* main */

static void usage(FILE *f)
{
	fprintf(f,
"usage: mmc-bench [options]\n"
"  --socket PATH        agent socket (default $MMC_SOCKET, else %s)\n"
"  -s, --size BYTES     value size, suffixes K M G (default 1M)\n"
"  -n, --count N        distinct keys, split among the processes for puts\n"
"                       (default %u)\n"
"      --ops N          measured get/zget operations per process (default:\n"
"                       about one second); a put phase puts each key once\n"
"  -p, --procs N        client processes, each with its own session (default 1)\n"
"  -m, --mode MODE      put | get | zget | all (put, then get, then zget)\n"
"      --warmup N|pass  untimed operations per process before each get phase;\n"
"                       'pass' (default) reads and verifies every key once\n"
"      --verify MODE    sample (every 64th op, default) | all\n"
"      --seed N         keys and values derive from it (default 1)\n"
"      --json           one JSON object on stdout\n"
"  -h, --help           this text\n",
		MMC_DEFAULT_SOCKET, DEFAULT_COUNT);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, 0, 'S' },
		{ "size", required_argument, 0, 's' },
		{ "count", required_argument, 0, 'n' },
		{ "ops", required_argument, 0, 'o' },
		{ "procs", required_argument, 0, 'p' },
		{ "mode", required_argument, 0, 'm' },
		{ "warmup", required_argument, 0, 'w' },
		{ "verify", required_argument, 0, 'v' },
		{ "seed", required_argument, 0, 'r' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const struct mode *plan[MAX_PHASES];
	uint64_t v;
	int c;

	*o = (struct opts){ .size = DEFAULT_SIZE, .count = DEFAULT_COUNT, .procs = 1,
			    .mode = "all", .warmup = WARMUP_PASS, .seed = 1 };
	while ((c = getopt_long(argc, argv, "s:n:p:m:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			o->socket = optarg;
			break;
		case 's':
			if (parse_u64(optarg, &o->size, true) || !o->size) {
				fprintf(stderr, "mmc-bench: bad size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'n':
			if (parse_u64(optarg, &v, true) || !v || v > UINT32_MAX) {
				fprintf(stderr, "mmc-bench: bad count '%s'\n", optarg);
				return 2;
			}
			o->count = (uint32_t)v;
			break;
		case 'o':
			if (parse_u64(optarg, &o->ops, true) || !o->ops) {
				fprintf(stderr, "mmc-bench: bad --ops '%s'\n", optarg);
				return 2;
			}
			break;
		case 'p':
			if (parse_u64(optarg, &v, false) || !v || v > MAX_PROCS) {
				fprintf(stderr, "mmc-bench: --procs must be 1..%d\n", MAX_PROCS);
				return 2;
			}
			o->procs = (int)v;
			break;
		case 'm':
			if (plan_phases(optarg, plan) < 0) {
				fprintf(stderr, "mmc-bench: unknown mode '%s' (put, get, "
					"zget, all)\n", optarg);
				return 2;
			}
			o->mode = optarg;
			break;
		case 'w':
			if (!strcmp(optarg, "pass")) {
				o->warmup = WARMUP_PASS;
			} else if (!parse_u64(optarg, &o->warmup_ops, true)) {
				o->warmup = WARMUP_OPS;
			} else {
				fprintf(stderr, "mmc-bench: bad --warmup '%s'\n", optarg);
				return 2;
			}
			break;
		case 'v':
			if (strcmp(optarg, "all") && strcmp(optarg, "sample")) {
				fprintf(stderr, "mmc-bench: --verify is sample or all\n");
				return 2;
			}
			o->verify_all = !strcmp(optarg, "all");
			break;
		case 'r':
			if (parse_u64(optarg, &o->seed, false)) {
				fprintf(stderr, "mmc-bench: bad seed '%s'\n", optarg);
				return 2;
			}
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mmc-bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (o->size > (1ull << 40)) {
		fprintf(stderr, "mmc-bench: value size too large\n");
		return 2;
	}
	return 0;
}

/* Connects once, reads the agent's geometry and checks the run fits. */
static int check_agent(struct bench *b, struct report *rep)
{
	mmc_client *c;
	struct mmc_stats st;
	uint64_t per_obj = (b->o.size + MMC_UNIT - 1) / MMC_UNIT * MMC_UNIT;
	uint64_t need = per_obj * b->o.count, room, mine = 0;
	char s1[32], s2[32], s3[32], s4[32], s5[32];
	int ret = mmc_connect(b->socket_path, &c);

	if (ret)
		return fail(rep, "cannot connect to the agent at %s: %s (is mmc-agent "
			    "running? set --socket or $MMC_SOCKET)", b->socket_path,
			    ret == -ENOENT ? "no such socket" : mmc_strerror(ret));
	ret = mmc_agent_stats(c, &st);
	/* Space this run's own keys hold already (a previous run) is reused. */
	for (uint32_t k = 0; !ret && k < b->o.count; k++)
		if (mmc_exists(c, key_of(b, k), KEY_LEN) == 1)
			mine += per_obj;
	mmc_disconnect(c);
	if (ret)
		return fail(rep, "agent at %s: cannot read its stats: %s",
			    b->socket_path, mmc_strerror(ret));
	b->arena_bytes = st.arena_bytes;
	b->used_bytes = st.used_bytes;
	b->max_objects = st.max_objects;
	b->high_pct = st.high_watermark_pct ? st.high_watermark_pct : 100;
	b->hugepages = st.hugepages;
	room = b->arena_bytes / 100 * b->high_pct;
	if (need > room)
		return fail(rep, "arena too small: %u keys x %s (%s in 4 KiB units) need "
			    "%s, but the agent's arena of %s starts evicting at %" PRIu64
			    "%% (%s); restart mmc-agent with a larger --arena-size or "
			    "lower -n/-s", b->o.count, fmt_bytes(b->o.size, s1, sizeof(s1)),
			    fmt_bytes(per_obj, s2, sizeof(s2)),
			    fmt_bytes(need, s3, sizeof(s3)),
			    fmt_bytes(b->arena_bytes, s4, sizeof(s4)), b->high_pct,
			    fmt_bytes(room, s5, sizeof(s5)));
	if (b->max_objects && b->o.count > b->max_objects)
		return fail(rep, "arena too small: %u keys, but the agent indexes at most "
			    "%" PRIu64 " objects (mmc-agent --max-objects)",
			    b->o.count, b->max_objects);
	if (b->used_bytes - (mine < b->used_bytes ? mine : b->used_bytes) + need > room)
		fprintf(stderr, "mmc-bench: warning: the arena already holds %s; this run "
			"will evict other objects\n", fmt_bytes(b->used_bytes, s1, sizeof(s1)));
	return 0;
}

/* --ops default: about one second of the phase on one core. */
static uint64_t default_ops(const struct bench *b, const struct mode *m,
			    const struct baseline *bl)
{
	double bw = bl->read_gbps > 0.1 ? bl->read_gbps : 1.0;   /* bytes/ns */
	double copy = (double)b->o.size / bw;
	double est = m->est_ns + (m->copies ? copy : 0) +
		(copy + (double)b->o.size / 4.0) / b->verify_every;  /* sampled checks */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double share = ncpu > 0 && b->o.procs > ncpu ? (double)b->o.procs / ncpu : 1;
	double n = 1e9 / (est * share);

	if (n < 1000)
		n = 1000;
	if (n > 50e6)
		n = 50e6;
	return (uint64_t)n;
}

int main(int argc, char **argv)
{
	static struct bench b;
	static struct report rep;
	const struct mode *plan[MAX_PHASES];
	size_t sh_len = 0;
	int nphases, ret, rc = 0, nchild = 0;
	const char *env;

	ret = parse_args(argc, argv, &b.o);
	if (ret)
		return ret < 0 ? 0 : ret;
	rep.b = &b;
	rep.ok = true;
	nphases = plan_phases(b.o.mode, plan);
	b.verify_every = b.o.verify_all ? 1 : DEFAULT_VERIFY_EVERY;
	env = getenv(MMC_SOCKET_ENV);
	snprintf(b.socket_path, sizeof(b.socket_path), "%s",
		 b.o.socket ? b.o.socket : env && *env ? env : MMC_DEFAULT_SOCKET);

	b.keys = malloc((size_t)b.o.count * KEY_LEN);
	b.pool_len = b.o.size + POOL_SLACK;
	b.pool = aligned_alloc(4096, (b.pool_len + 4095) & ~(size_t)4095);
	if (!b.keys || !b.pool) {
		rc = fail(&rep, "out of memory for %u keys of %" PRIu64 " bytes",
			  b.o.count, b.o.size);
		goto out;
	}
	build_keys(&b);
	build_pool(&b);
	if (check_agent(&b, &rep)) {
		rc = 1;
		goto out;
	}

	measure_clock(&rep.clock);
	if (baseline_setup(&b, &rep.base)) {
		rc = fail(&rep, "cannot allocate the memcpy baseline's working set");
		goto out;
	}
	baseline_measure(&b, &rep.base, false);
	rep.nphases = nphases;
	for (int p = 0; p < nphases; p++)
		rep.ops_per_proc[p] = b.o.ops ? b.o.ops : default_ops(&b, plan[p], &rep.base);

	sh_len = sizeof(*sh) + sizeof(struct proc_result) * (size_t)nphases * (size_t)b.o.procs;
	sh = mmap(NULL, sh_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		sh = NULL;
		rc = fail(&rep, "cannot map the shared result area: %s", strerror(errno));
		goto out;
	}
	sh->nprocs = b.o.procs;
	fflush(NULL);
	for (int i = 0; i < b.o.procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			atomic_store(&sh->abort, 1);
			fprintf(stderr, "mmc-bench: fork: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (!pid)
			_exit(client_main(&b, i, plan, nphases, rep.ops_per_proc));
		nchild++;
	}
	for (int left = nchild; left > 0; left--) {
		int status;
		pid_t pid = wait(&status);

		if (pid < 0)
			break;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			continue;
		if (WIFSIGNALED(status))
			fprintf(stderr, "mmc-bench: client process %d killed by signal %d\n",
				(int)pid, WTERMSIG(status));
		atomic_store(&sh->abort, 1);   /* the others stop at the next check */
		rc = 1;
	}
	if (rc) {
		rc = fail(&rep, "run failed, no results reported%s%s",
			  atomic_load(&sh->err_claimed) ? ": " : " (see the messages above)",
			  atomic_load(&sh->err_claimed) ? sh->err : "");
		goto out;
	}
	baseline_measure(&b, &rep.base, true);
	for (int p = 0; p < nphases; p++)
		aggregate(&rep, p, plan[p], &sh->res[p * b.o.procs], b.o.procs);
	if (b.o.json)
		print_json(&rep);
	else
		print_text(&rep);
out:
	baseline_free(&rep.base);
	if (sh)
		munmap(sh, sh_len);
	free(b.keys);
	free(b.pool);
	return rc;
}
