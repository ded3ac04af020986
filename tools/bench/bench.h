/*
 * bench.h - the types and calls that the parts of mmc-bench share.
 *
 *   mmc-bench [--store mmc|memcached|redis] [--server HOST:PORT]
 *             [--socket PATH] [-s SIZE] [-n COUNT] [--ops N] [-p PROCS]
 *             [-m put|get|zget|exists|all|LIST] [--batch B] [--mix PCT]
 *             [--warmup N|pass] [--verify sample|all] [--seed N]
 *             [--baseline-ms MS] [--json]
 *
 * mmc-bench measures a key-value store from N client processes: puts,
 * copying gets and (mmc only) zero-copy gets of one value size, next to a
 * one-core memcpy baseline and the cost of reading the clock.  The store is
 * libshm against a running mmc-agent (the default), or memcached or Redis
 * over loopback TCP (bench/compare.sh runs all three side by side).  A run:
 *
 *   main.c      parses the options, builds keys and values, probes the store
 *               (for mmc: whether the run fits the arena), measures the clock
 *               and the baseline, runs the clients, hands the results to a
 *               printer.
 *   workload.c  what every store shares: keys, values and their verification,
 *               the store registry and the phase plan (mode names -> entries
 *               of the store's mode table).
 *   mmc.c       the mmc store: libshm's put/get/zget/exists, single and
 *               batched, the mixed put (remove + put), the arena check.
 *   memcached.c the memcached store (libmemcached; built when found).
 *   redis.c     the Redis store (hiredis; built when found).
 *   procs.c     the client processes: fork, the MAP_SHARED result area, the
 *               start barrier, and run_phase(), the measured loop of one mode
 *               in one process (single or batched calls, the --mix draw).
 *   baseline.c  what the parent measures (clock cost, memcpy baseline) and
 *               get's control (the same memcpy over the arena's own pages).
 *   hist.c      the log-linear latency histogram.
 *   report.c    merges the processes of a phase into a phase_report and owns
 *               the two output formats, text and --json.
 *   trace*.c    "mmc-bench trace": a program of its own (trace.h).
 *   fair.c      "mmc-bench fair": one client's put latency among idle
 *               sessions and a flooding client (bench/fairness.sh).
 *
 * A store is a struct store (connect, fill, read-back, a probe) and a table
 * of modes; a mode is a set of op/setup/check functions with the op_fn
 * contract below.  run_phase(), the barrier, the histogram and both printers
 * serve every store unchanged; a store keeps its per-process connection
 * next to w->c in struct worker.
 *
 * Exit status: 0 success, 1 a run-time failure (store unreachable or not
 * built in, arena too small, an operation failed, content mismatch), 2 bad
 * usage.
 */
#ifndef MMC_BENCH_H
#define MMC_BENCH_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "mmc/mmc.h"

#define KEY_HEX       64
#define KEY_SUFFIX    "_0_k"
#define KEY_LEN       (KEY_HEX + sizeof(KEY_SUFFIX) - 1)
#define HDR_BYTES     64u                   /* one cache line: keeps the body aligned */
#define POOL_ALIGN    64u                   /* value windows start at 64*slot */
#define POOL_SLOTS    1024u
#define POOL_SLACK    (POOL_SLOTS * POOL_ALIGN)
#define MAX_PROCS     256
#define MAX_PHASES    8
#define BASE_WS_CAP   (1ull << 30)          /* baseline working set cap */
#define OUT_OF_CACHE  (64ull << 20)
#define DEFAULT_SIZE  (1ull << 20)
#define DEFAULT_COUNT 256u
#define DEFAULT_VERIFY_EVERY 64u
#define MAX_BATCH     1024u                 /* --batch limit */
#define SWEEP_BATCH   32u                   /* keys per call of fills and read-backs */
#define WSET_SINGLE   8u                    /* write-set keys per process (--mix) */
#define DEFAULT_BASELINE_MS 300u

/* ------------------------------------------------------------------------ */
/* clock and random numbers (inline: they run inside the measured loops) */

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

/* ------------------------------------------------------------------------ */
/* latency histogram (hist.c): log-linear, <= 1/64 relative error (HDR-like) */

#define H_SUB_BITS 6u
#define H_SUB      (1u << H_SUB_BITS)
#define H_LINEAR   (2u * H_SUB)             /* values below are exact */
#define H_MIN_EXP  (H_SUB_BITS + 1u)        /* log2(H_LINEAR) */
#define H_MAX_EXP  47u                      /* ~39 hours in ns */
#define H_NB       (H_LINEAR + (H_MAX_EXP - H_MIN_EXP + 1u) * H_SUB)

/* A zeroed struct hist is an empty histogram. */
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

/* Records one sample v (ns).  Inline: it is on every measured op. */
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

/* Adds every sample of h to into. */
void h_merge(struct hist *into, const struct hist *h);
/* The q-quantile (0 < q <= 1) of h, clamped to [min, max]; NAN if empty. */
double h_quantile(const struct hist *h, double q);

/* ------------------------------------------------------------------------ */
/* configuration: options, and what the whole run shares read-only */

enum warmup_kind { WARMUP_PASS, WARMUP_OPS };

struct store;

struct opts {
	const char *store;         /* "mmc" (default), "memcached", "redis" */
	const char *server;        /* HOST:PORT of memcached / Redis */
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
	uint32_t batch;            /* 0: single calls; else keys per call */
	unsigned mix;              /* % of a get phase's calls that are gets */
	uint64_t baseline_ms;      /* each baseline direction, each time */
};

struct bench {
	struct opts o;
	const struct store *store;
	char socket_path[108];
	char host[256];            /* memcached / Redis: from --server */
	int port;
	uint32_t wset;             /* write-set keys per process (--mix < 100) */
	uint32_t nkeys;            /* count + procs * wset: the key table */
	uint8_t *keys;             /* nkeys * KEY_LEN, read-only after set-up */
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

/* ------------------------------------------------------------------------ */
/* per-process results, in the MAP_SHARED area the parent reads (procs.c) */

/* ops counts keys (a batched call of B keys is B ops), calls the calls;
 * lat has one sample per call.  In a --mix phase gets/puts count the keys
 * of each kind and lat_get / lat_put split lat by kind. */
struct proc_result {
	uint64_t ops, calls, bytes, exists, verified, verify_ns, faults;
	uint64_t gets, puts;
	uint64_t start_ns, end_ns;
	struct hist lat, lat_get, lat_put;
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

/* ------------------------------------------------------------------------ */
/* one client process's state, modes and stores (mmc.c, memcached.c, redis.c) */

struct mc_conn;                /* memcached.c */
struct redis_conn;             /* redis.c */

struct worker {
	const struct bench *b;
	mmc_client *c;             /* the mmc store's session */
	struct mc_conn *mc;        /* the memcached store's connections */
	struct redis_conn *rd;     /* the Redis store's connection */
	int id;
	uint32_t key_lo, key_hi;   /* this process's put range */
	uint32_t ws_lo, ws_hi;     /* this process's write set (--mix) */
	uint8_t *buf;              /* private get buffer, size bytes */
	uint8_t key[KEY_LEN];      /* the current key, hot in L1 */
	/* The current batched call (and fills, read-backs): keys bk[0..bn),
	 * their bytes copied to kp[i] (KEY_LEN each, kl[i] == KEY_LEN), and
	 * bv[i] whether to verify key i.  Room for bmax keys. */
	uint32_t bn, bmax;
	uint32_t *bk;
	uint8_t *bv;
	const void **kp;
	size_t *kl;
	uint8_t *kbuf;
	/* Contiguous value buffers, stage_n of stride bytes: batched puts build
	 * their values here before the clock, batched mmc gets copy into them. */
	uint8_t *stage;
	size_t stride;
	uint32_t stage_n;
	uint64_t rng;
	struct proc_result *r;     /* the current phase's slot */
	const char *phase;
	char err[240];             /* the last store error, as a sentence */
};

/* One timed call on key k.  *lat gets its latency in ns, or UINT64_MAX to
 * keep it out of the histogram; *vns the time spent verifying, or building
 * values to put before the clock (excluded from throughput).  Counts bytes, verified values and -EEXIST puts into
 * w->r.  Batched modes (mode.batched) work on w->bk[0..w->bn) (k is bk[0])
 * and verify the keys w->bv marks; *lat is the whole call's.  Returns 0 or
 * -errno (a store's own error also in w->err); a content mismatch or a miss
 * does not return (die_worker). */
typedef int (*op_fn)(struct worker *w, uint32_t k, bool verify,
		     uint64_t *lat, uint64_t *vns);

enum key_pattern {
	KEYS_OWN_RANGE,   /* each process walks its own slice once */
	KEYS_RANDOM,      /* uniform among all count keys, --ops times */
};

enum baseline_kind { BASE_NONE, BASE_READ, BASE_WRITE };

#define EXISTS_BATCH 128   /* keys per batch in the "exists" mode */

struct mode {
	const char *name;
	const char *what;
	bool batched;              /* a call covers up to --batch keys */
	enum key_pattern keys;
	enum baseline_kind base;   /* which memcpy baseline it compares to */
	bool copies;               /* moves value bytes (GB/s is real) */
	int (*setup)(struct worker *w);
	op_fn op;
	void (*check)(struct worker *w);
	/* Optional: a plain memcpy over the arena's own pages, measured by
	 * client 0 alone just before and just after the phase (GB/s). */
	double (*control)(struct worker *w);
	/* --mix: the put of a get phase, on a write-set key (batched: on the
	 * whole write set); NULL if the mode takes no mix. */
	op_fn replace;
	/* For the default --ops: rough ns per key beyond moving the value, and
	 * the speed the value moves at (0: the memcpy baseline's). */
	double est_ns, est_gbps;
};

/* A store: its mode table and what the untimed parts of a run need. */
struct store {
	const char *name;
	const struct mode *modes;
	size_t nmodes;
	bool warm_with_op;         /* warm-up pass with the measured op (mmc:
				    * it maps the pages); else with readback */
	/* In the parent, before anything is measured: the store is reachable
	 * (mmc: and the run fits its arena); may set b's store figures.  0, or
	 * -errno with one sentence in msg. */
	int (*probe)(struct bench *b, char *msg, size_t len);
	/* In a client: 0, or -errno with the reason in w->err. */
	int (*connect)(struct worker *w);
	void (*disconnect)(struct worker *w);
	/* Untimed: makes keys [lo, hi) hold their values; dies on failure. */
	void (*fill)(struct worker *w, uint32_t lo, uint32_t hi);
	/* Untimed: reads every step-th key of [lo, hi) and verifies it byte for
	 * byte; dies on a miss or a mismatch. */
	void (*readback)(struct worker *w, uint32_t lo, uint32_t hi, uint32_t step);
};

/* A caller has the key it asks for at hand (it just built it): copy it out
 * of the big key table before the clock starts, so that a cache miss on the
 * benchmark's own table is not charged to the library. */
static inline const uint8_t *hot_key(struct worker *w, uint32_t k)
{
	memcpy(w->key, key_of(w->b, k), KEY_LEN);
	__asm__ volatile("" ::: "memory");
	return w->key;
}

/* ------------------------------------------------------------------------ */
/* workload.c: keys, values, verification, stores and the phase plan */

/* Fill b->keys (nkeys keys) and b->pool (pool_len bytes) from the seed. */
void build_keys(struct bench *b);
void build_pool(struct bench *b);
/* The store named name, or NULL if there is none of that name; *built
 * false when the name is known but this binary was built without it. */
const struct store *store_find(const char *name, bool *built);
/* Mode list ("put", "get,zget", ..., or "all": the whole table) -> the
 * phases to run on store s, batched variants when batched and the store has
 * them, in plan[] (room for MAX_PHASES).  Returns their number, or -EINVAL
 * for a name the store does not have. */
int plan_phases(const struct store *s, const char *modes, bool batched,
		const struct mode **plan);

/* Key k's value as up to two pieces (64-byte header, pool window); returns
 * the number of pieces.  hdr is the caller's room for the header. */
int value_iov(const struct bench *b, uint32_t k, uint8_t hdr[HDR_BYTES],
	      struct iovec iov[2]);
/* Key k's value, contiguous, into dst (size bytes). */
void value_copy(const struct bench *b, uint32_t k, uint8_t *dst);
/* Checks p[0..len) is key k's value and counts it in w->r->verified; a
 * mismatch ends the run (die_worker). */
void verify_or_die(struct worker *w, uint32_t k, const uint8_t *p, size_t len);
/* Sets up w's call for keys k, k+1, ... (n of them, wrapping at the end of
 * [lo, hi)): bk, bn, hot key copies in kp, bv cleared. */
void batch_range(struct worker *w, uint32_t k, uint32_t n, uint32_t lo, uint32_t hi);
/* Copies the keys w->bk[0..bn) into w->kp (out of the clock). */
void batch_keys(struct worker *w);
/* mode.check of every store's put phase: reads back a sample (every
 * verify_every-th key) of this process's range through store->readback. */
void check_put_readback(struct worker *w);
/* store->fill and store->readback for stores with a batch set and a checked
 * batch get (memcached, Redis): keys [lo, hi) SWEEP_BATCH at a time. */
void sweep_fill(struct worker *w, uint32_t lo, uint32_t hi,
		int (*set_many)(struct worker *w, bool staged));
/* A batched put through set_many: the values are built in w->stage first,
 * outside the clock (that time goes to *vns); counts the bytes. */
int timed_set_many(struct worker *w, int (*set_many)(struct worker *w, bool staged),
		   uint64_t *lat, uint64_t *vns);
void sweep_readback(struct worker *w, uint32_t lo, uint32_t hi, uint32_t step,
		    int (*mget)(struct worker *w, bool check_all, uint64_t *vns));

/* ------------------------------------------------------------------------ */
/* procs.c: client processes */

/* Maps the zeroed MAP_SHARED result area for nphases x nprocs clients and
 * remembers it for the clients; NULL (errno set) on failure. */
struct shared *shared_map(int nphases, int nprocs);
void shared_unmap(void);
/* Forks o.procs clients that run the plan and waits for all of them.
 * Returns 0 if every one succeeded, else 1 (messages are on stderr, the
 * first client's failure in sh->err when sh->err_claimed). */
int run_clients(const struct bench *b, const struct mode **plan, int nphases,
		const uint64_t *ops);
/* In a client: all clients meet here; a failed run releases everyone
 * (they exit with status 1). */
void barrier(void);
/* In a client: reports the failure of key k's operation (process, phase,
 * key, then the message), stops every client, and exits with status 1. */
void die_worker(struct worker *w, uint32_t k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
/* The sentence for a store call's -errno: w->err if the store left one
 * (then cleared for the next call), else mmc_strerror(). */
const char *worker_strerror(struct worker *w, int err);

/* ------------------------------------------------------------------------ */
/* baseline.c: what the parent measures, and get's control */

struct clock_info {
	char source[32];
	double overhead_ns_median, overhead_ns_min;
};

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
	uint64_t nchunks, hot_len, nhot;   /* nhot: --batch buffers, or 1 */
};

/* The clock source and the cost of two back-to-back clock_gettime calls. */
void measure_clock(struct clock_info *ci);
/* Allocates and faults in the working set (memory of the arena's kind);
 * -ENOMEM if it cannot.  baseline_free() undoes it, also when it failed. */
int baseline_setup(const struct bench *b, struct baseline *bl);
void baseline_free(struct baseline *bl);
/* One measurement of both directions: the first sets the *_before figures,
 * the one after the clients (after = true) the *_after ones and the means. */
void baseline_measure(const struct bench *b, struct baseline *bl, bool after);
/* mode.control for get: GB/s of a memcpy from the arena through views held
 * outside the clock. */
double control_get(struct worker *w);

/* ------------------------------------------------------------------------ */
/* report.c: aggregation and the two output formats */

struct lat_summary {
	uint64_t samples;
	double p50, p99, mean, min, max;     /* ns; NAN when empty */
};

struct phase_report {
	const struct mode *mode;
	int procs;
	uint32_t batch;                      /* keys per call (1: single) */
	uint64_t ops, calls, bytes, exists, verified, faults, lat_samples;
	uint64_t gets, puts;                 /* --mix phases */
	double wall_s, ops_per_s, gbps, per_proc_gbps;
	double p50, p99, mean, min, max;     /* ns, per call */
	struct lat_summary get_lat, put_lat; /* --mix phases: by kind */
	double get_keys_per_s;               /* gets alone: sum over processes
					      * of keys / time inside get calls */
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

/* Merges phase p's nprocs results (sh->res of that phase) into rep->ph[p];
 * needs rep->base measured and sh's control figures. */
void aggregate(struct report *rep, int p, const struct mode *m,
	       const struct shared *sh);
/* The whole report on stdout; print_json also prints a failed one
 * (rep->ok false: {"ok":false,"error":...}). */
void print_text(const struct report *rep);
void print_json(const struct report *rep);
/* "1 MiB", "4 KiB", "1.5 MiB", "100 B" into buf; returns buf. */
const char *fmt_bytes(uint64_t b, char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* trace.c: "mmc-bench trace FILE ...", a program of its own (trace.h) */

int trace_main(int argc, char **argv);
/* fair.c: "mmc-bench fair", one client's put latency among idle sessions
 * and a flooding client. */
int fair_main(int argc, char **argv);

#endif
