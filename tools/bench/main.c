/*
 * main.c - mmc-bench's entry point: options, usage, and the order of a run.
 *
 * A run, all in the parent until the fork:
 *
 *   parse_args()      options into struct opts; bad usage exits 2
 *   resolve()         the store (built in or not), --server, the phase plan,
 *                     the write set of --mix
 *   build_keys/pool   the keys and the value pool, from the seed (workload.c)
 *   store->probe()    the store is reachable; for mmc: reads the arena's
 *                     geometry and refuses a run that would not fit below the
 *                     eviction watermark (mmc.c)
 *   measure_clock, baseline_setup, baseline_measure   (baseline.c)
 *   default_ops()     --ops when not given: about one second per phase
 *   shared_map, run_clients   fork the clients, wait for all (procs.c)
 *   baseline_measure  again, after the clients: the mean is used
 *   aggregate, print_text | print_json   (report.c)
 *
 * Any failure goes through fail(): one sentence on stderr, in --json mode an
 * {"ok":false} object on stdout, exit status 1.  No number is printed
 * unless every client succeeded.
 *
 * Exit status: 0 success, 1 a run-time failure (store unreachable or not
 * built in, arena too small, an operation failed, content mismatch), 2 bad
 * usage.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

/* ------------------------------------------------------------------------ */
/* options */

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

static void usage(FILE *f)
{
	bool built;

	fprintf(f,
"usage: mmc-bench [options]\n"
"      --store STORE    mmc (default: libshm and an mmc-agent), memcached or\n"
"                       redis (over TCP: bench/compare.sh runs all three)\n"
"      --server H:P     memcached / Redis address (default 127.0.0.1 and the\n"
"                       store's usual port, 11211 or 6379)\n"
"  --socket PATH        agent socket (default $MMC_SOCKET, else %s)\n"
"  -s, --size BYTES     value size, suffixes K M G (default 1M)\n"
"  -n, --count N        distinct keys, split among the processes for puts\n"
"                       (default %u)\n"
"      --ops N          measured get/zget/exists operations per process (default:\n"
"                       about one second); a put phase puts each key once\n"
"  -p, --procs N        client processes, each with its own session (default 1)\n"
"  -m, --mode MODES     put | get | zget | exists | all (each, in that order),\n"
"                       or a list: put,get; zget and exists are mmc's only\n"
"      --batch B        batched calls of B keys: mmc_*_batch, memcached\n"
"                       multi-get and buffered sets, Redis MGET and pipelined\n"
"                       SETs; ops count keys, latency is per call (default off)\n"
"      --mix PCT        get phases: PCT %% of calls are gets, the rest replace\n"
"                       keys of a private write set (mmc: remove + put)\n"
"                       (default 100)\n"
"      --warmup N|pass  untimed operations per process before each get phase;\n"
"                       'pass' (default) reads and verifies every key once\n"
"      --verify MODE    sample (every 64th op, default) | all\n"
"      --seed N         keys and values derive from it (default 1)\n"
"      --baseline-ms MS each memcpy baseline direction, before and after the\n"
"                       clients (default %u)\n"
"      --json           one JSON object on stdout\n"
"  -h, --help           this text\n",
		MMC_DEFAULT_SOCKET, DEFAULT_COUNT, DEFAULT_BASELINE_MS);
	fprintf(f, "stores built in:");
	for (const char *const *n = (const char *const[]){ "mmc", "memcached", "redis",
							   NULL }; *n; n++)
		if (store_find(*n, &built))
			fprintf(f, " %s", *n);
	fputc('\n', f);
}

/* Bad usage: "mmc-bench: " and the sentence on stderr; returns 2, the exit
 * status for it. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mmc-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/* Options into *o.  Returns 0 to run, -1 after --help (exit 0), or 2 after
 * a message on stderr (exit 2). */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "store", required_argument, 0, 'T' },
		{ "server", required_argument, 0, 'A' },
		{ "batch", required_argument, 0, 'B' },
		{ "mix", required_argument, 0, 'X' },
		{ "baseline-ms", required_argument, 0, 'L' },
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
	const struct store *st;
	uint64_t v;
	bool built;
	int c;

	*o = (struct opts){ .store = "mmc", .size = DEFAULT_SIZE, .count = DEFAULT_COUNT,
			    .procs = 1, .mode = "all", .warmup = WARMUP_PASS, .seed = 1,
			    .mix = 100, .baseline_ms = DEFAULT_BASELINE_MS };
	while ((c = getopt_long(argc, argv, "s:n:p:m:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'T':
			o->store = optarg;
			break;
		case 'A':
			o->server = optarg;
			break;
		case 'B':
			if (parse_u64(optarg, &v, false) || !v || v > MAX_BATCH)
				return usage_error("--batch must be 1..%u", MAX_BATCH);
			o->batch = (uint32_t)v;
			break;
		case 'X':
			if (parse_u64(optarg, &v, false) || v > 100)
				return usage_error("--mix must be 0..100 (%% gets)");
			o->mix = (unsigned)v;
			break;
		case 'L':
			if (parse_u64(optarg, &o->baseline_ms, false) || !o->baseline_ms ||
			    o->baseline_ms > 60000)
				return usage_error("--baseline-ms must be 1..60000");
			break;
		case 'S':
			o->socket = optarg;
			break;
		case 's':
			if (parse_u64(optarg, &o->size, true) || !o->size)
				return usage_error("bad size '%s'", optarg);
			break;
		case 'n':
			if (parse_u64(optarg, &v, true) || !v || v > UINT32_MAX)
				return usage_error("bad count '%s'", optarg);
			o->count = (uint32_t)v;
			break;
		case 'o':
			if (parse_u64(optarg, &o->ops, true) || !o->ops)
				return usage_error("bad --ops '%s'", optarg);
			break;
		case 'p':
			if (parse_u64(optarg, &v, false) || !v || v > MAX_PROCS)
				return usage_error("--procs must be 1..%d", MAX_PROCS);
			o->procs = (int)v;
			break;
		case 'm':
			o->mode = optarg;
			break;
		case 'w':
			if (!strcmp(optarg, "pass"))
				o->warmup = WARMUP_PASS;
			else if (!parse_u64(optarg, &o->warmup_ops, true))
				o->warmup = WARMUP_OPS;
			else
				return usage_error("bad --warmup '%s'", optarg);
			break;
		case 'v':
			if (strcmp(optarg, "all") && strcmp(optarg, "sample"))
				return usage_error("--verify is sample or all");
			o->verify_all = !strcmp(optarg, "all");
			break;
		case 'r':
			if (parse_u64(optarg, &o->seed, false))
				return usage_error("bad seed '%s'", optarg);
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
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->size > (1ull << 40))
		return usage_error("value size too large");
	if (strcmp(o->store, "mmc") && strcmp(o->store, "memcached") &&
	    strcmp(o->store, "redis"))
		return usage_error("unknown store '%s' (mmc, memcached, redis)", o->store);
	if (o->server && !strcmp(o->store, "mmc"))
		return usage_error("--server is for memcached and redis; mmc uses --socket");
	if (o->socket && strcmp(o->store, "mmc"))
		return usage_error("--socket is for the mmc store; use --server");
	st = store_find(o->store, &built);
	if (st && plan_phases(st, o->mode, o->batch, plan) < 0)
		return usage_error("unknown mode '%s' for store %s (put, get%s, all, or a "
				   "list)", o->mode, o->store,
				   strcmp(o->store, "mmc") ? "" : ", zget, exists");
	return 0;
}

/* --server HOST:PORT (or HOST, or :PORT) into b->host and b->port, with the
 * store's usual port.  Returns 0 or -EINVAL. */
static int parse_server(struct bench *b)
{
	const char *s = b->o.server ? b->o.server : "", *colon = strrchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	uint64_t port = !strcmp(b->o.store, "redis") ? 6379 : 11211;

	if (hl >= sizeof(b->host))
		return -EINVAL;
	if (colon && (parse_u64(colon + 1, &port, false) || !port || port > 65535))
		return -EINVAL;
	snprintf(b->host, sizeof(b->host), "%.*s", (int)hl, hl ? s : "127.0.0.1");
	b->port = (int)port;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* before the clients */

/* A failure before or during the run: a sentence on stderr, and in --json
 * mode an {"ok":false} object on stdout for scripts.  Returns 1. */
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

/* Rough ns per key of mode m: its own cost, moving the value (at the mode's
 * speed, or the memcpy baseline's), and the sampled checks. */
static double est_key_ns(const struct bench *b, const struct mode *m,
			 const struct baseline *bl)
{
	double bw = bl->read_gbps > 0.1 ? bl->read_gbps : 1.0;   /* bytes/ns */
	double copy = (double)b->o.size / bw;
	double move = m->est_gbps > 0 ? (double)b->o.size / m->est_gbps : copy;

	return m->est_ns + (m->copies || m->est_gbps > 0 ? move : 0) +
		(copy + (double)b->o.size / 4.0) / b->verify_every;
}

/* --ops default: about one second of the phase on one core; a --mix phase
 * counts its puts at the cost of the store's put. */
static uint64_t default_ops(const struct bench *b, const struct mode *m,
			    const struct baseline *bl)
{
	const struct mode *put;
	double est = est_key_ns(b, m, bl);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double share = ncpu > 0 && b->o.procs > ncpu ? (double)b->o.procs / ncpu : 1;
	double n;

	if (m->replace && b->o.mix < 100 &&
	    plan_phases(b->store, "put", m->batched, &put) == 1)
		est = (est * b->o.mix + est_key_ns(b, put, bl) * 1.5 * (100 - b->o.mix)) / 100;
	n = 1e9 / (est * share);
	if (n < 1000)
		n = 1000;
	if (n > 50e6)
		n = 50e6;
	if (m->batched)   /* whole calls */
		n = ceil(n / b->o.batch) * b->o.batch;
	return (uint64_t)n;
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	static struct bench b;
	static struct report rep;
	const struct mode *plan[MAX_PHASES];
	struct shared *sh;
	int nphases, ret, rc = 0;
	const char *env;
	char msg[512];
	bool built;

	if (argc > 1 && !strcmp(argv[1], "trace"))   /* trace.c */
		return trace_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "fair"))    /* fair.c */
		return fair_main(argc - 1, argv + 1);
	ret = parse_args(argc, argv, &b.o);
	if (ret)
		return ret < 0 ? 0 : ret;
	rep.b = &b;
	rep.ok = true;
	b.verify_every = b.o.verify_all ? 1 : DEFAULT_VERIFY_EVERY;
	env = getenv(MMC_SOCKET_ENV);
	snprintf(b.socket_path, sizeof(b.socket_path), "%s",
		 b.o.socket ? b.o.socket : env && *env ? env : MMC_DEFAULT_SOCKET);
	b.store = store_find(b.o.store, &built);
	if (!b.store) {
		rc = fail(&rep, "this mmc-bench was built without the %s store (install "
			  "%s, e.g. scripts/install-deps.sh, and rebuild)", b.o.store,
			  !strcmp(b.o.store, "redis") ? "libhiredis-dev" : "libmemcached-dev");
		goto out;
	}
	if (strcmp(b.o.store, "mmc") && parse_server(&b)) {
		rc = fail(&rep, "bad --server '%s' (HOST:PORT)", b.o.server);
		goto out;
	}
	nphases = plan_phases(b.store, b.o.mode, b.o.batch, plan);
	/* The write set of --mix: a few keys for single calls (a random one
	 * each time), one whole batch for batched calls. */
	for (int p = 0; p < nphases; p++)
		if (plan[p]->replace && b.o.mix < 100)
			b.wset = b.o.batch ? b.o.batch : WSET_SINGLE;
	b.nkeys = b.o.count + (uint32_t)b.o.procs * b.wset;
	if (b.nkeys < b.o.count) {
		rc = fail(&rep, "too many keys");
		goto out;
	}

	b.keys = malloc((size_t)b.nkeys * KEY_LEN);
	b.pool_len = b.o.size + POOL_SLACK;
	b.pool = aligned_alloc(4096, (b.pool_len + 4095) & ~(size_t)4095);
	if (!b.keys || !b.pool) {
		rc = fail(&rep, "out of memory for %u keys of %" PRIu64 " bytes",
			  b.o.count, b.o.size);
		goto out;
	}
	build_keys(&b);
	build_pool(&b);
	if (b.store->probe(&b, msg, sizeof(msg))) {
		rc = fail(&rep, "%s", msg);
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

	sh = shared_map(nphases, b.o.procs);
	if (!sh) {
		rc = fail(&rep, "cannot map the shared result area: %s", strerror(errno));
		goto out;
	}
	if (run_clients(&b, plan, nphases, rep.ops_per_proc)) {
		rc = fail(&rep, "run failed, no results reported%s%s",
			  atomic_load(&sh->err_claimed) ? ": " : " (see the messages above)",
			  atomic_load(&sh->err_claimed) ? sh->err : "");
		goto out;
	}
	baseline_measure(&b, &rep.base, true);
	for (int p = 0; p < nphases; p++)
		aggregate(&rep, p, plan[p], sh);
	if (b.o.json)
		print_json(&rep);
	else
		print_text(&rep);
out:
	baseline_free(&rep.base);
	shared_unmap();
	free(b.keys);
	free(b.pool);
	return rc;
}
