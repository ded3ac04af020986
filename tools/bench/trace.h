/*
 * trace.h - "mmc-bench trace": replaying a Mooncake request trace against an
 * agent the way an inference engine uses an L3 prefix cache.
 *
 *   mmc-bench trace FILE [-s BLOCK] [--blocks N | --arena-size SIZE |
 *                         --socket PATH] [-p PROCS] [--pace max|trace]
 *                        [--speedup F] [--requests N] [--quick]
 *                        [--ssd-blocks M] [--offline-only] [--expect-lru PP]
 *                        [--json]
 *
 * A trace (../shared/traces/README.md) is one JSON object per request with
 * the prompt's blocks of 512 tokens as anonymised prefix hashes.  Per
 * request the replay does what SGLang's HiCache does with its L3:
 * batch-exists over the request's block keys, a batch get of the leading
 * run that is present (the prefix hit), a batch put of the rest (computed
 * blocks stored).  Block keys form a chain: block i's key is a hash of block
 * i-1's key and block i's hash id, as engines derive them.  Every value read
 * back is checked byte for byte.
 *
 * The same run also replays the trace offline through an exact LRU of the
 * agent's capacity (in blocks) and through an unbounded cache, so the
 * agent's eviction is judged against the figure it should reach.
 *
 *   trace.c        options, the run, the report (text and --json).
 *   trace_load.c   reading the JSON lines (json-c) into requests and a
 *                  dense block table with chain keys.
 *   trace_lru.c    the offline caches: exact LRU and unbounded.
 *   trace_agent.c  a private mmc-agent for the run (sd_notify readiness).
 *   trace_replay.c the replaying processes.
 */
#ifndef MMC_TRACE_H
#define MMC_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "bench.h"

#define TRACE_TOKENS_PER_BLOCK 512u
#define TRACE_MAX_PROCS        64
#define TRACE_DEFAULT_BLOCKS   10000u
#define TRACE_MAX_BLOCKS       (1ull << 26)   /* the agent's largest index */
#define TRACE_VALUE_SLOTS      1024u    /* distinct pool windows */

struct trace_req {
	uint64_t ts_ms;            /* arrival, relative to the trace start */
	uint32_t input_tokens;
	uint32_t first;            /* index into trace.blocks[] */
	uint32_t nblocks;
};

/* The whole trace, read-only after trace_load(). */
struct trace {
	struct trace_req *reqs;
	uint32_t nreqs;
	uint32_t *blocks;          /* per reference: dense block id */
	uint64_t nrefs;
	uint64_t *chain;           /* per dense id: the chain hash */
	uint8_t *keys;             /* per dense id: KEY_LEN bytes */
	uint32_t ndistinct;
	uint32_t max_blocks;       /* longest request */
};

/* trace_load.c: reads at most max_reqs requests (0: all) of path.  Returns
 * 0, or -errno with a message in err (a bad line names its number). */
int trace_load(const char *path, uint32_t max_reqs, uint64_t seed,
	       struct trace *t, char *err, size_t errlen);
/* The same from an open stream (path names it in messages): the parser
 * the fuzzer drives (tests/fuzz/fuzz_trace.c). */
int trace_load_stream(FILE *f, const char *path, uint32_t max_reqs, uint64_t seed,
		      struct trace *t, char *err, size_t errlen);
void trace_free(struct trace *t);

/* trace_lru.c: hit counts of the prefix-cache replay, offline. */
struct sim_result {
	uint64_t capacity;         /* blocks; 0 = unbounded */
	uint64_t hit_blocks, blocks, hit_tokens, tokens, evictions;
};

/* Replays t in order through an exact LRU holding capacity blocks (0:
 * unbounded).  -ENOMEM or 0. */
int trace_simulate(const struct trace *t, uint64_t capacity,
		   struct sim_result *out);
/* Tokens of request r covered by its first hit blocks. */
static inline uint64_t trace_hit_tokens(const struct trace_req *r, uint64_t hit)
{
	uint64_t tok = hit * TRACE_TOKENS_PER_BLOCK;

	return tok < r->input_tokens ? tok : r->input_tokens;
}

/* trace_agent.c: a private agent in a temporary directory. */
struct trace_agent {
	pid_t pid;
	/* every path, made at start, so that stopping (also from a signal
	 * handler) only calls kill, waitpid, unlink and rmdir */
	char dir[32], sock[64], log[64], conf[64], notify[64], stats[80], tier[64];
};

/* Starts exe (NULL: mmc-agent next to this program) with the given arena
 * and index sizes and, when ssd_blocks is not 0, an SSD tier file in its
 * directory indexing that many blocks of block bytes; waits for its
 * READY=1 (30 s at most).  0 or -errno, with the reason (and the agent's
 * log) in err. */
int trace_agent_start(struct trace_agent *a, const char *exe, uint64_t arena,
		      uint64_t max_objects, uint64_t ssd_blocks, uint64_t block,
		      char *err, size_t errlen);
/* SIGTERM, wait, remove the directory.  Safe on a never-started agent, and
 * async-signal-safe. */
void trace_agent_stop(struct trace_agent *a);

/* trace_replay.c */
enum trace_pace { PACE_MAX, PACE_TRACE };

struct replay_cfg {
	const struct trace *t;
	const char *socket;
	uint64_t block;            /* value bytes */
	int procs;
	enum trace_pace pace;
	double speedup;
	uint64_t seed;
};

enum { RH_EXISTS, RH_GET, RH_PUT, RH_REQ, RH_LATE, RH_N };

/* Counters first, all uint64_t up to start_ns: trace.c sums them as an array. */
struct replay_proc {
	uint64_t reqs, blocks, hit_blocks, tokens, hit_tokens;
	uint64_t exists_prefix;    /* blocks the exists calls said were there */
	uint64_t get_lost;         /* present at exists, gone at get */
	uint64_t bytes_read, bytes_written, puts, put_exists, put_failed;
	uint64_t verified, touch_drops;
	uint64_t untimed_ns;       /* checking reads, building values to put */
	uint64_t start_ns, end_ns;
	struct hist h[RH_N];       /* ns: exists, get, put calls; request; lateness */
};

/* Runs cfg->procs replaying processes (request i goes to process i % procs)
 * and fills out[0..procs).  0 if all succeeded; else 1 with the first
 * failure in err. */
int trace_replay(const struct replay_cfg *cfg, struct replay_proc *out,
		 char *err, size_t errlen);

#endif
