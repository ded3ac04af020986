/*
 * bench.h - the types and calls that the parts of mmc-bench share.
 *
 *   mmc-bench [--socket PATH] [-s SIZE] [-n COUNT] [--ops N] [-p PROCS]
 *             [-m put|get|zget|all] [--warmup N|pass] [--verify sample|all]
 *             [--seed N] [--json]
 *
 * mmc-bench measures libshm against a running mmc-agent: puts, copying gets
 * and zero-copy gets of one value size from N client processes, next to a
 * one-core memcpy baseline and the cost of reading the clock.  A run goes:
 *
 *   main.c      parses the options, builds keys and values, asks the agent
 *               whether the run fits, measures the clock and the baseline,
 *               runs the clients, then hands the results to a printer.
 *   workload.c  the workloads: the mode table (a name, how keys are chosen,
 *               an optional untimed set-up, one timed operation, an optional
 *               check and control), key and value generation, verification.
 *   procs.c     the client processes: fork, the MAP_SHARED result area, the
 *               start barrier, and run_phase(), the measured loop of one mode
 *               in one process.
 *   baseline.c  what the parent measures (clock cost, memcpy baseline) and
 *               get's control (the same memcpy over the arena's own pages).
 *   hist.c      the log-linear latency histogram.
 *   report.c    merges the processes of a phase into a phase_report and owns
 *               the two output formats, text and --json.
 *
 * A new workload (a memcached or Redis client, a trace replay) is a set of
 * op/setup/check functions with the op_fn contract below, in a file of its
 * own, plus one entry in modes[] (workload.c): run_phase(), the barrier,
 * the histogram and both printers serve it unchanged.  A mode that times a
 * different client keeps that client's handle next to w->c in struct worker.
 *
 * Exit status: 0 success, 1 a run-time failure (agent unreachable, arena too
 * small, an operation failed, content mismatch), 2 bad usage.
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
#define MAX_PHASES    4
#define BASE_WS_CAP   (1ull << 30)          /* baseline working set cap */
#define OUT_OF_CACHE  (64ull << 20)
#define DEFAULT_SIZE  (1ull << 20)
#define DEFAULT_COUNT 256u
#define DEFAULT_VERIFY_EVERY 64u

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

/* ------------------------------------------------------------------------ */
/* per-process results, in the MAP_SHARED area the parent reads (procs.c) */

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

/* ------------------------------------------------------------------------ */
/* one client process's state, and the mode table entry (workload.c) */

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

/* One timed operation on key k.  *lat gets its latency in ns, or
 * UINT64_MAX to keep it out of the histogram; *vns the time spent
 * verifying (excluded from throughput).  Counts bytes, verified values and
 * -EEXIST puts into w->r.  Returns 0 or -errno; a content mismatch does not
 * return (die_worker). */
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
/* workload.c: keys, values, modes */

/* Fill b->keys (count keys) and b->pool (pool_len bytes) from the seed. */
void build_keys(struct bench *b);
void build_pool(struct bench *b);
/* Mode name ("put", ..., or "all") -> the phases to run, in plan[] (room
 * for MAX_PHASES).  Returns their number, or -EINVAL for an unknown name. */
int plan_phases(const char *mode, const struct mode **plan);
/* Untimed: puts every key of w's range that is missing; dies on failure. */
void fill(struct worker *w);

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
	uint64_t nchunks, hot_len;
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

#endif
