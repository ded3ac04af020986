/*
 * trace.c - "mmc-bench trace FILE": options, the run, the report.
 *
 * A run: read the trace; settle the cache capacity in blocks (a private
 * agent sized for --blocks or --arena-size, or the agent at --socket); replay
 * the trace offline through an exact LRU of that capacity and through an
 * unbounded cache; replay it against the agent from N processes; read the
 * agent's eviction counter around the replay; print what the agent reached
 * next to what the offline caches reached, with bytes, latencies and the
 * gap to exact LRU.  --expect-lru PP turns that gap into the exit status.
 *
 * Capacity.  A private agent gets max_objects = the capacity (its index
 * bound evicts one least-recently-used object at a time) and an arena with
 * room for one more block than that under the 90 % watermark, so the byte
 * watermark, which evicts in batches down to the low one, never triggers: the
 * agent is an LRU of exactly that many blocks, as the offline one.  An
 * existing agent (--socket) holds min(max_objects, 90 % of the arena)
 * blocks; if the byte bound is the smaller, eviction runs in batches and the
 * agent holds between the low and the high watermark, below what the exact
 * LRU assumes - the report says which bound applies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "trace.h"

#define UNIT            4096ull       /* the agent's allocation unit */
#define HUGE_2M         (2ull << 20)
#define PRIVATE_HIGH    90ull         /* the private agent's watermark */
#define MAX_ARENA       (16ull << 40)

struct trace_opts {
	const char *file, *socket, *agent;
	uint64_t block, blocks, arena, requests, seed, ssd_blocks;
	int procs;
	enum trace_pace pace;
	double speedup, expect_pp;
	bool offline_only, json, quick, block_set, seed_set;
};

struct trace_run {
	struct trace_opts o;
	struct trace t;
	struct trace_agent ag;
	char socket[108];
	uint64_t capacity;            /* blocks */
	const char *bound;            /* what sets it */
	char boundbuf[160];
	struct mmc_stats before, after;
	struct sim_result lru, unbounded;
	struct sim_result lru_ssd, lru_pool;  /* with --ssd-blocks M: LRU(M), LRU(N+M) */
	struct replay_proc tot;
	double wall_s, store_s;     /* store_s: wall less checking and building */
	char err[700];
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: mmc-bench trace FILE [options]\n"
"Replays a Mooncake trace (JSON lines with timestamp, input_length, hash_ids)\n"
"as an engine's L3 prefix cache: per request batch-exists, get the present\n"
"prefix, put the rest; and the same trace offline through an exact LRU of\n"
"the same capacity and an unbounded cache.\n"
"  -s, --block-size BYTES  value bytes per 512-token block (default 64K; K M G)\n"
"      --blocks N          capacity in blocks of a private agent (default 10000)\n"
"      --arena-size SIZE   or: a private agent with this arena; capacity = 90 %%\n"
"      --socket PATH       or: replay against this running agent\n"
"      --ssd-blocks M      the private agent also gets an SSD tier (a file in\n"
"                          its directory) holding M blocks; judged against an\n"
"                          exact LRU of M blocks\n"
"      --agent PATH        the mmc-agent to start (default: next to mmc-bench)\n"
"  -p, --procs N           replaying processes; request i goes to i %% N (default 1)\n"
"      --pace max|trace    as fast as possible (default), or at the timestamps\n"
"      --speedup F         with --pace trace: timestamps divided by F (default 1)\n"
"      --requests N        only the first N requests\n"
"      --quick             4 KiB blocks unless -s is given (a CI-sized run)\n"
"      --offline-only      only the offline LRU and unbounded figures\n"
"      --expect-lru PP     exit 1 if the agent's block hit rate is more than PP\n"
"                          points below the offline LRU's\n"
"      --seed N            keys and values derive from it (default 1; with\n"
"                          --socket a new random one per run)\n"
"      --json              one JSON object on stdout\n");
}

static int parse_num(const char *s, uint64_t *out, bool suffixes)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (suffixes && *end) {
		const char *u = strchr("KMG", *end & ~0x20);

		if (!u || end[1])
			return -EINVAL;
		shift = 10 * (int)(u - "KMG" + 1);
		end++;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* 0, or the exit status (2 bad usage; -1 help printed). */
static int parse_args(int argc, char **argv, struct trace_opts *o)
{
	static const struct option lo[] = {
		{ "block-size", required_argument, 0, 's' },
		{ "procs", required_argument, 0, 'p' },
		{ "blocks", required_argument, 0, 1 },
		{ "arena-size", required_argument, 0, 2 },
		{ "socket", required_argument, 0, 3 },
		{ "agent", required_argument, 0, 4 },
		{ "pace", required_argument, 0, 5 },
		{ "speedup", required_argument, 0, 6 },
		{ "requests", required_argument, 0, 7 },
		{ "quick", no_argument, 0, 8 },
		{ "offline-only", no_argument, 0, 9 },
		{ "expect-lru", required_argument, 0, 10 },
		{ "seed", required_argument, 0, 11 },
		{ "json", no_argument, 0, 12 },
		{ "ssd-blocks", required_argument, 0, 13 },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint64_t v = 0;
	int c, bad = 0, where = 0;
	char *end;

	*o = (struct trace_opts){ .block = 64 << 10, .procs = 1, .pace = PACE_MAX,
				  .speedup = 1, .expect_pp = NAN, .seed = 1 };
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:p:h", lo, NULL)) != -1) {
		switch (c) {
		case 's': bad = parse_num(optarg, &o->block, true) || o->block < HDR_BYTES ||
				o->block > (1ull << 30);
			  o->block_set = true; break;
		case 'p': bad = parse_num(optarg, &v, false) || !v || v > TRACE_MAX_PROCS;
			  o->procs = (int)v; break;
		case 1: bad = parse_num(optarg, &o->blocks, false) || o->blocks < 1024 ||
				o->blocks > TRACE_MAX_BLOCKS;
			where++; break;
		case 2: bad = parse_num(optarg, &o->arena, true) || o->arena < (16ull << 20);
			where++; break;
		case 3: o->socket = optarg; where++; break;
		case 4: o->agent = optarg; break;
		case 5: bad = strcmp(optarg, "max") && strcmp(optarg, "trace");
			o->pace = !strcmp(optarg, "trace") ? PACE_TRACE : PACE_MAX; break;
		case 6: o->speedup = strtod(optarg, &end);
			bad = *end || !(o->speedup > 0); break;
		case 7: bad = parse_num(optarg, &o->requests, false) || !o->requests ||
				o->requests > UINT32_MAX; break;
		case 8: o->quick = true; break;
		case 9: o->offline_only = true; break;
		case 10: o->expect_pp = strtod(optarg, &end);
			 bad = *end || !(o->expect_pp >= 0); break;
		case 11: bad = parse_num(optarg, &o->seed, false);
			 o->seed_set = true; break;
		case 12: o->json = true; break;
		case 13: bad = parse_num(optarg, &o->ssd_blocks, false) ||
				o->ssd_blocks < 1024 || o->ssd_blocks > TRACE_MAX_BLOCKS; break;
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "mmc-bench trace: bad value '%s' for %s\n", optarg,
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc - 1 || where > 1 || (o->offline_only && o->socket) ||
	    (o->ssd_blocks && o->socket)) {
		fprintf(stderr, "mmc-bench trace: %s\n", where > 1 ?
			"--blocks, --arena-size and --socket exclude each other" :
			o->ssd_blocks && o->socket ?
			"--ssd-blocks starts a private agent: not with --socket" :
			o->offline_only && o->socket ?
			"--offline-only takes --blocks or --arena-size, not --socket" :
			"needs exactly one trace FILE");
		usage(stderr);
		return 2;
	}
	o->file = argv[optind];
	if (o->quick && !o->block_set)
		o->block = 4 << 10;
	if (!where)
		o->blocks = TRACE_DEFAULT_BLOCKS;
	/* An agent that outlives the run still holds the last run's blocks:
	 * fresh keys, or the replay would start warm and beat the offline LRU,
	 * which starts empty. */
	if (o->socket && !o->seed_set &&
	    getrandom(&o->seed, sizeof(o->seed), 0) != sizeof(o->seed))
		o->seed ^= (uint64_t)getpid() << 32 ^ now_ns();
	return 0;
}

static uint64_t unit_of(uint64_t block)
{
	return (block + UNIT - 1) / UNIT * UNIT;
}

static int agent_stats(const char *socket, struct mmc_stats *st, char *err, size_t len)
{
	mmc_client *c;
	int ret = mmc_connect(socket, &c);

	if (!ret) {
		ret = mmc_agent_stats(c, st);
		mmc_disconnect(c);
	}
	if (ret)
		snprintf(err, len, "agent at %s: %s", socket, mmc_strerror(ret));
	return ret;
}

/* A private agent's geometry: for --blocks the arena that holds that many
 * blocks and one more under the watermark; for --arena-size the blocks
 * that fit under it (minus one, for the same reason).  0, or -EINVAL with
 * the reason in err. */
static int private_geometry(const struct trace_opts *o, uint64_t *capacity,
			    uint64_t *arena, char *err, size_t errlen)
{
	uint64_t unit = unit_of(o->block);

	if (o->blocks) {
		uint64_t data = (o->blocks + 2) * unit;    /* <= 2^26+2 times 2^30 */

		if (data > MAX_ARENA) {
			snprintf(err, errlen, "%" PRIu64 " blocks of %" PRIu64 " bytes need "
				 "over 16 TiB", o->blocks, o->block);
			return -EINVAL;
		}
		*capacity = o->blocks;
		*arena = (data * 100 / PRIVATE_HIGH + 2 * HUGE_2M - 1) / HUGE_2M * HUGE_2M;
		if (*arena < (16ull << 20))                /* the agent's minimum */
			*arena = 16ull << 20;
		return 0;
	}
	*arena = o->arena;
	*capacity = o->arena / 100 * PRIVATE_HIGH / unit;
	*capacity = *capacity ? *capacity - 1 : 0;
	if (*capacity > TRACE_MAX_BLOCKS)
		*capacity = TRACE_MAX_BLOCKS;
	if (*capacity < 1024) {
		snprintf(err, errlen, "capacity %" PRIu64 " blocks: the agent's index "
			 "needs at least 1024 (a bigger arena or smaller blocks)", *capacity);
		return -EINVAL;
	}
	return 0;
}

/* Settles r->capacity and r->socket, starting a private agent if asked. */
static int settle_agent(struct trace_run *r)
{
	const struct trace_opts *o = &r->o;
	uint64_t unit = unit_of(o->block), arena, room;
	int ret;

	if (o->socket) {
		uint64_t bytes;

		snprintf(r->socket, sizeof(r->socket), "%s", o->socket);
		ret = agent_stats(r->socket, &r->before, r->err, sizeof(r->err));
		if (ret)
			return ret;
		bytes = r->before.arena_bytes / 100 * r->before.high_watermark_pct / unit;
		r->capacity = r->before.max_objects < bytes ? r->before.max_objects : bytes;
		if (!r->capacity) {
			snprintf(r->err, sizeof(r->err), "a block of %" PRIu64 " bytes does "
				 "not fit under the agent's watermark", o->block);
			return -EINVAL;
		}
		snprintf(r->boundbuf, sizeof(r->boundbuf), "%s%s",
			 r->before.max_objects < bytes ? "index (max_objects): exact LRU" :
			 "bytes (watermarks): evicts in batches, holds less than this",
			 r->before.objects ? "; the agent already holds other objects, "
			 "which take room" : "");
		r->bound = r->boundbuf;
		return 0;
	}
	ret = private_geometry(o, &r->capacity, &arena, r->err, sizeof(r->err));
	if (ret)
		return ret;
	r->bound = "index (max_objects): exact LRU";
	if (o->ssd_blocks)
		r->bound = "index (max_objects) in DRAM, then an SSD tier (FIFO regions)";
	ret = trace_agent_start(&r->ag, o->agent, arena, r->capacity, o->ssd_blocks,
				o->block, r->err, sizeof(r->err));
	if (ret)
		return ret;
	snprintf(r->socket, sizeof(r->socket), "%s", r->ag.sock);
	ret = agent_stats(r->socket, &r->before, r->err, sizeof(r->err));
	if (ret)
		return ret;
	/* What the comparison rests on: the index bound is the capacity, and
	 * one block more still fits under the byte watermark. */
	room = r->before.arena_bytes / 100 * r->before.high_watermark_pct;
	if (r->before.max_objects != r->capacity || (r->capacity + 1) * unit > room) {
		snprintf(r->err, sizeof(r->err), "the private agent has %" PRIu64
			 " index entries and %" PRIu64 " bytes under its watermark, not "
			 "room for exactly %" PRIu64 " blocks", r->before.max_objects, room,
			 r->capacity);
		return -EINVAL;
	}
	return 0;
}

static void sum_procs(struct trace_run *r, const struct replay_proc *p, int n)
{
	uint64_t first = UINT64_MAX, last = 0, busy;
	struct replay_proc *t = &r->tot;

	for (int i = 0; i < n; i++) {
		const uint64_t *src = &p[i].reqs;
		uint64_t *dst = &t->reqs;

		/* the counters are the leading run of uint64_t fields */
		for (size_t k = 0; k < offsetof(struct replay_proc, start_ns) / 8; k++)
			dst[k] += src[k];
		for (int h = 0; h < RH_N; h++)
			h_merge(&t->h[h], &p[i].h[h]);
		first = p[i].start_ns < first ? p[i].start_ns : first;
		last = p[i].end_ns > last ? p[i].end_ns : last;
		busy = p[i].end_ns - p[i].start_ns - p[i].untimed_ns;
		r->store_s = (double)busy / 1e9 > r->store_s ? (double)busy / 1e9 : r->store_s;
	}
	r->wall_s = last > first ? (double)(last - first) / 1e9 : 0;
}

/* ------------------------------------------------------------------------ */
/* report */

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0;
}

/* The reference the agent is judged against: an exact LRU of its capacity,
 * or with an SSD tier of the tier's (the DRAM copies of promoted blocks
 * are also on SSD: inclusive tiers). */
static const struct sim_result *reference(const struct trace_run *r)
{
	return r->o.ssd_blocks ? &r->lru_ssd : &r->lru;
}

static double gap_pp(const struct trace_run *r)
{
	const struct sim_result *ref = reference(r);

	return pct(r->tot.hit_blocks, r->tot.blocks) - pct(ref->hit_blocks, ref->blocks);
}

static void print_sim(const char *what, const struct sim_result *s)
{
	char name[48];

	snprintf(name, sizeof(name), "exact LRU (%" PRIu64 ")%s", s->capacity, what);
	printf("  %-32s %9.2f%% %9.2f%% %10" PRIu64 "\n", name,
	       pct(s->hit_blocks, s->blocks), pct(s->hit_tokens, s->tokens), s->evictions);
}

/* Bytes written to the device per byte put (headers and alignment count). */
static double write_amp(const struct trace_run *r)
{
	return r->tot.bytes_written ? (double)(r->after.ssd_write_bytes -
		r->before.ssd_write_bytes) / (double)r->tot.bytes_written : 0;
}

static const char *const hname[RH_N] = { "exists", "get", "put", "request", "late" };

static void trace_print_text(const struct trace_run *r)
{
	const struct trace_opts *o = &r->o;
	const struct trace *t = &r->t;
	char s1[32], s2[32];

	printf("mmc-bench trace %s\n", o->file);
	printf("  trace     %u requests, %" PRIu64 " block references, %u distinct "
	       "blocks (512 tokens each), %.0f s of arrivals\n", t->nreqs, t->nrefs,
	       t->ndistinct, (double)t->reqs[t->nreqs - 1].ts_ms / 1e3);
	printf("  capacity  %" PRIu64 " blocks of %s; bound: %s\n", r->capacity,
	       fmt_bytes(o->block, s1, sizeof(s1)), r->bound);
	if (!o->offline_only)
		printf("  agent     %s, arena %s on %s pages\n",
		       o->socket ? o->socket : "private",
		       fmt_bytes(r->before.arena_bytes, s2, sizeof(s2)),
		       r->before.hugepages ? "2 MiB" : "4 KiB");
	printf("\n  %-32s %10s %10s %10s\n", "", "block hit", "token hit", "evictions");
	if (!o->offline_only)
		printf("  %-32s %9.2f%% %9.2f%% %10" PRIu64 "\n",
		       o->ssd_blocks ? "agent (DRAM + SSD)" : "agent",
		       pct(r->tot.hit_blocks, r->tot.blocks),
		       pct(r->tot.hit_tokens, r->tot.tokens),
		       r->after.evictions - r->before.evictions);
	print_sim(o->ssd_blocks ? ": DRAM alone" : "", &r->lru);
	if (o->ssd_blocks) {
		print_sim(": SSD's size", &r->lru_ssd);
		print_sim(": both sizes", &r->lru_pool);
	}
	printf("  %-32s %9.2f%% %9.2f%% %10s\n", "unbounded",
	       pct(r->unbounded.hit_blocks, r->unbounded.blocks),
	       pct(r->unbounded.hit_tokens, r->unbounded.tokens), "-");
	if (o->offline_only)
		return;
	printf("\n  agent vs exact LRU (%" PRIu64 "): %+.2f points%s\n",
	       reference(r)->capacity, gap_pp(r),
	       gap_pp(r) >= -1.0 ? " (within 1 point, or better)" : " (MORE than 1 point below)");
	printf("  replay    %d process%s, %s, %.2f s; %.2f s without checking reads and "
	       "building values: %.0f requests/s\n", o->procs,
	       o->procs == 1 ? "" : "es", o->pace == PACE_MAX ? "as fast as possible" :
	       "at the timestamps", r->wall_s, r->store_s,
	       r->store_s > 0 ? (double)r->tot.reqs / r->store_s : 0);
	printf("  bytes     read %.2f GB (%" PRIu64 " blocks, every one checked), "
	       "written %.2f GB (%" PRIu64 " blocks)\n",
	       (double)r->tot.bytes_read / 1e9, r->tot.verified,
	       (double)r->tot.bytes_written / 1e9, r->tot.puts);
	printf("  puts      %" PRIu64 " already present or being written, %" PRIu64
	       " refused (arena full); %" PRIu64 " blocks gone between exists and get; "
	       "%" PRIu64 " touches dropped\n", r->tot.put_exists, r->tot.put_failed,
	       r->tot.get_lost, r->tot.touch_drops);
	if (o->ssd_blocks)
		printf("  ssd       %" PRIu64 " demotions, %" PRIu64 " promotions, %" PRIu64
		       " dropped without a copy; wrote %.2f GB = %.3f x the bytes put "
		       "(write amplification), read %.2f GB\n",
		       r->after.demotions - r->before.demotions,
		       r->after.promotions - r->before.promotions,
		       r->after.demotion_skipped - r->before.demotion_skipped,
		       (double)(r->after.ssd_write_bytes - r->before.ssd_write_bytes) / 1e9,
		       write_amp(r),
		       (double)(r->after.ssd_read_bytes - r->before.ssd_read_bytes) / 1e9);
	printf("\n  %-10s %8s %10s %10s %10s %10s\n", "latency", "calls", "p50 us",
	       "p99 us", "mean us", "max us");
	for (int h = 0; h < RH_N; h++) {
		const struct hist *x = &r->tot.h[h];

		if (!x->n)
			continue;
		printf("  %-10s %8" PRIu64 " %10.1f %10.1f %10.1f %10.1f\n", hname[h], x->n,
		       h_quantile(x, 0.5) / 1e3, h_quantile(x, 0.99) / 1e3,
		       (double)x->sum / (double)x->n / 1e3, (double)x->max / 1e3);
	}
	printf("  (per batch call; 'late' is how far behind its timestamp a request "
	       "started)\n");
}

static void json_sim(const char *name, const struct sim_result *s, bool comma)
{
	printf("\"%s\":{\"capacity\":%" PRIu64 ",\"block_hit_pct\":%.4f,"
	       "\"token_hit_pct\":%.4f,\"hit_blocks\":%" PRIu64 ",\"evictions\":%"
	       PRIu64 "}%s", name, s->capacity, pct(s->hit_blocks, s->blocks),
	       pct(s->hit_tokens, s->tokens), s->hit_blocks, s->evictions,
	       comma ? "," : "");
}

static void trace_print_json(const struct trace_run *r, bool ok)
{
	const struct replay_proc *p = &r->tot;

	if (!ok) {
		printf("{\"ok\":false,\"error\":\"");
		for (const char *c = r->err; *c; c++)
			printf(*c == '"' || *c == '\\' ? "\\%c" : (unsigned char)*c < 32 ?
			       " " : "%c", *c);
		printf("\"}\n");
		return;
	}
	printf("{\"ok\":true,\"requests\":%u,\"block_refs\":%" PRIu64 ",\"distinct_blocks\""
	       ":%u,\"block_bytes\":%" PRIu64 ",\"capacity_blocks\":%" PRIu64 ",",
	       r->t.nreqs, r->t.nrefs, r->t.ndistinct, r->o.block, r->capacity);
	json_sim("lru", &r->lru, true);
	if (r->o.ssd_blocks) {
		json_sim("lru_ssd", &r->lru_ssd, true);
		json_sim("lru_pool", &r->lru_pool, true);
	}
	json_sim("unbounded", &r->unbounded, !r->o.offline_only);
	if (r->o.offline_only) {
		printf("}\n");
		return;
	}
	printf("\"agent\":{\"block_hit_pct\":%.4f,\"token_hit_pct\":%.4f,\"hit_blocks\":%"
	       PRIu64 ",\"blocks\":%" PRIu64 ",\"evictions\":%" PRIu64 ",\"hugepages\":%s,"
	       "\"arena_bytes\":%" PRIu64 "},\"gap_to_lru_pp\":%.4f,\"procs\":%d,"
	       "\"pace\":\"%s\",\"wall_s\":%.4f,\"store_s\":%.4f,\"bytes_read\":%" PRIu64 ",\"bytes_written\":%"
	       PRIu64 ",\"verified\":%" PRIu64 ",\"puts\":%" PRIu64 ",\"put_exists\":%"
	       PRIu64 ",\"put_failed\":%" PRIu64 ",\"get_lost\":%" PRIu64
	       ",\"touch_drops\":%" PRIu64 ",\"latency_ns\":{",
	       pct(p->hit_blocks, p->blocks), pct(p->hit_tokens, p->tokens), p->hit_blocks,
	       p->blocks, r->after.evictions - r->before.evictions,
	       r->before.hugepages ? "true" : "false", r->before.arena_bytes, gap_pp(r),
	       r->o.procs, r->o.pace == PACE_MAX ? "max" : "trace", r->wall_s, r->store_s,
	       p->bytes_read, p->bytes_written, p->verified, p->puts, p->put_exists,
	       p->put_failed, p->get_lost, p->touch_drops);
	for (int h = 0; h < RH_N; h++)
		printf("%s\"%s\":{\"n\":%" PRIu64 ",\"p50\":%.0f,\"p99\":%.0f}", h ? "," : "",
		       hname[h], p->h[h].n, p->h[h].n ? h_quantile(&p->h[h], 0.5) : 0,
		       p->h[h].n ? h_quantile(&p->h[h], 0.99) : 0);
	printf("}");
	if (r->o.ssd_blocks)
		printf(",\"ssd\":{\"blocks\":%" PRIu64 ",\"demotions\":%" PRIu64
		       ",\"promotions\":%" PRIu64 ",\"demotion_skipped\":%" PRIu64
		       ",\"write_bytes\":%" PRIu64 ",\"read_bytes\":%" PRIu64
		       ",\"write_amplification\":%.4f}", r->o.ssd_blocks,
		       r->after.demotions - r->before.demotions,
		       r->after.promotions - r->before.promotions,
		       r->after.demotion_skipped - r->before.demotion_skipped,
		       r->after.ssd_write_bytes - r->before.ssd_write_bytes,
		       r->after.ssd_read_bytes - r->before.ssd_read_bytes, write_amp(r));
	printf("}\n");
}

/* ------------------------------------------------------------------------ */

/* SIGINT/SIGTERM: stop the private agent and remove its directory (the
 * replayers die with their parent: PR_SET_PDEATHSIG). */
static struct trace_agent *sig_agent;
static pid_t sig_owner;

static void on_signal(int sig)
{
	if (getpid() == sig_owner && sig_agent)
		trace_agent_stop(sig_agent);
	_exit(128 + sig);
}

int trace_main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	static struct trace_run r;
	static struct replay_proc procs[TRACE_MAX_PROCS];
	int rc = 1, ret;

	ret = parse_args(argc, argv, &r.o);
	if (ret)
		return ret < 0 ? 0 : ret;
	sig_agent = &r.ag;
	sig_owner = getpid();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ret = trace_load(r.o.file, (uint32_t)r.o.requests, r.o.seed, &r.t, r.err,
			 sizeof(r.err));
	if (ret)
		goto out;
	if (r.o.offline_only) {
		uint64_t arena;

		r.bound = "offline only";
		if (private_geometry(&r.o, &r.capacity, &arena, r.err, sizeof(r.err)))
			goto out;
	} else if (settle_agent(&r)) {
		goto out;
	}
	if (trace_simulate(&r.t, r.capacity, &r.lru) ||
	    trace_simulate(&r.t, 0, &r.unbounded) ||
	    (r.o.ssd_blocks && (trace_simulate(&r.t, r.o.ssd_blocks, &r.lru_ssd) ||
	     trace_simulate(&r.t, r.o.ssd_blocks + r.capacity, &r.lru_pool)))) {
		snprintf(r.err, sizeof(r.err), "out of memory for the offline caches");
		goto out;
	}
	if (!r.o.offline_only) {
		struct replay_cfg cfg = { .t = &r.t, .socket = r.socket, .block = r.o.block,
					  .procs = r.o.procs, .pace = r.o.pace,
					  .speedup = r.o.speedup, .seed = r.o.seed };

		if (trace_replay(&cfg, procs, r.err, sizeof(r.err)))
			goto out;
		sum_procs(&r, procs, r.o.procs);
		if (agent_stats(r.socket, &r.after, r.err, sizeof(r.err)))
			goto out;
	}
	rc = 0;
	if (!r.o.offline_only && !isnan(r.o.expect_pp) && gap_pp(&r) < -r.o.expect_pp) {
		rc = 1;
		fprintf(stderr, "mmc-bench trace: agent block hit rate is %.2f points below "
			"the exact LRU's of %" PRIu64 " blocks (allowed: %.2f)\n", -gap_pp(&r),
			reference(&r)->capacity, r.o.expect_pp);
	}
out:
	trace_agent_stop(&r.ag);
	if (r.o.json)
		trace_print_json(&r, r.err[0] == '\0');
	else if (r.err[0])
		fprintf(stderr, "mmc-bench trace: %s\n", r.err);
	else
		trace_print_text(&r);
	trace_free(&r.t);
	return r.err[0] ? 1 : rc;
}
