/*
 * main.c - mmc-bench's entry point: options, usage, and the order of a run.
 *
 * A run, all in the parent until the fork:
 *
 *   parse_args()      options into struct opts; bad usage exits 2
 *   build_keys/pool   the keys and the value pool, from the seed (workload.c)
 *   check_agent()     connects once, reads the arena's geometry and refuses
 *                     a run that would not fit below the eviction watermark
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
 * Exit status: 0 success, 1 a run-time failure (agent unreachable, arena too
 * small, an operation failed, content mismatch), 2 bad usage.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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
	fprintf(f,
"usage: mmc-bench [options]\n"
"  --socket PATH        agent socket (default $MMC_SOCKET, else %s)\n"
"  -s, --size BYTES     value size, suffixes K M G (default 1M)\n"
"  -n, --count N        distinct keys, split among the processes for puts\n"
"                       (default %u)\n"
"      --ops N          measured get/zget/exists operations per process (default:\n"
"                       about one second); a put phase puts each key once\n"
"  -p, --procs N        client processes, each with its own session (default 1)\n"
"  -m, --mode MODE      put | get | zget | exists | all (each, in that order)\n"
"      --warmup N|pass  untimed operations per process before each get phase;\n"
"                       'pass' (default) reads and verifies every key once\n"
"      --verify MODE    sample (every 64th op, default) | all\n"
"      --seed N         keys and values derive from it (default 1)\n"
"      --json           one JSON object on stdout\n"
"  -h, --help           this text\n",
		MMC_DEFAULT_SOCKET, DEFAULT_COUNT);
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
			if (plan_phases(optarg, plan) < 0)
				return usage_error("unknown mode '%s' (put, get, zget, exists, all)",
						   optarg);
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

/* Connects once, reads the agent's geometry and checks the run fits.
 * Returns 0, or 1 after fail(). */
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

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	static struct bench b;
	static struct report rep;
	const struct mode *plan[MAX_PHASES];
	struct shared *sh;
	int nphases, ret, rc = 0;
	const char *env;

	if (argc > 1 && !strcmp(argv[1], "trace"))   /* trace.c */
		return trace_main(argc - 1, argv + 1);
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
