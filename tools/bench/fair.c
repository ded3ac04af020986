/*
 * fair.c - "mmc-bench fair": does one client's put latency hold while
 * other clients sit idle by the thousand and one floods the agent?
 *
 *   mmc-bench fair [--socket PATH] [--idle N] [--flood stat|ping|remove|none]
 *                  [--flood-threads T] [-s SIZE] [--ops N] [--json]
 *
 * One measuring client puts SIZE-byte values (4 KiB by default) one after
 * the other and times each put (the remove that follows each one, so the
 * arena never fills, is not timed).  It does so in four phases:
 *
 *   alone       nothing else connected
 *   flood       one flooding client: a process at nice 19 whose T threads
 *               each send one request after the other (mmc_agent_stats:
 *               the stat request the agent settles and refreshes for;
 *               mmc_ping; or mmc_remove_batch of 128 absent keys, 128
 *               requests in flight per call)
 *   idle        N sessions connected and idle, held by helper processes
 *               (1,000 sessions each), no flood
 *   idle+flood  both
 *
 * The flooder runs at nice 19 so that on a small machine it takes the
 * agent's time, which is what is measured, not the measuring client's
 * core.  The report gives p50, p99 and p99.9 per phase, the flood's rate,
 * and p99 of each phase over p99 alone.
 *
 * Only the public API is used, so this file also builds against an older
 * libmmc (bench/fairness.sh --before DIR does) to measure an older agent.
 * Exit status: 0, 1 failure (agent, sessions refused), 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PER_HOLDER 1000
#define FLOOD_BATCH 128

enum flood_kind { FLOOD_NONE, FLOOD_STAT, FLOOD_PING, FLOOD_REMOVE };
static const char *const flood_names[] = { "none", "stat", "ping", "remove" };

struct fair_opts {
	const char *socket;
	uint32_t idle;
	enum flood_kind flood;
	unsigned threads;
	uint64_t size, ops;
	bool json;
};

/* What the helper processes share with the parent. */
struct fair_shared {
	_Atomic uint64_t flood_ops;     /* requests the flooder had answered */
	_Atomic int stop;
	char err[256];
};

struct phase {
	const char *name;
	struct hist h;
	double seconds, flood_rate;
};

static int usage(FILE *f, int rc)
{
	fprintf(f,
"usage: mmc-bench fair [--socket PATH] [--idle N] [--flood stat|ping|remove|none]\n"
"                      [--flood-threads T] [-s SIZE] [--ops N] [--json]\n"
"  --idle N           idle sessions held during the idle phases (default 1000)\n"
"  --flood KIND       what the flooding client sends (default stat)\n"
"  --flood-threads T  its threads, each with one request in flight (default 8)\n"
"  -s, --size SIZE    value bytes of the measured puts (default 4K)\n"
"      --ops N        measured puts per phase (default 100000)\n");
	return rc;
}

static void put_key(char *k, size_t len, const char *phase, uint64_t i)
{
	snprintf(k, len, "fair/%s/%012" PRIu64, phase, i);
}

/* The flooder's answered requests, waiting up to 10 s for the count to
 * pass from: 0 when it did, -ETIMEDOUT when it never ran (or stopped). */
static int flood_passed(const struct fair_shared *sh, uint64_t from)
{
	uint64_t end = now_ns() + 10ull * 1000000000;

	while (atomic_load(&sh->flood_ops) <= from) {
		if (now_ns() > end || sh->err[0])
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

/* The measured phase: ops puts, each timed, each removed afterwards.  With
 * a flooder (flooding), it starts once the flood has begun and goes on past
 * ops until the flooder was answered during it: at nice 19 on two cores
 * the flooder may otherwise miss a short phase altogether. */
static int measure(mmc_client *c, const struct fair_opts *o, const void *val,
		   struct phase *p, const struct fair_shared *sh, bool flooding)
{
	char k[64];
	uint64_t t_start, f0;
	int r;

	memset(&p->h, 0, sizeof(p->h));
	for (uint64_t i = 0; i < 2000; i++) {          /* warm: the session is active */
		put_key(k, sizeof(k), "warm", i);
		if ((r = mmc_put(c, k, strlen(k), val, o->size)) && r != -EEXIST)
			return r;
		mmc_remove(c, k, strlen(k));
	}
	if (flooding && (r = flood_passed(sh, 0)))
		return r;
	f0 = atomic_load(&sh->flood_ops);
	t_start = now_ns();
	for (uint64_t i = 0; i < o->ops || (flooding && atomic_load(&sh->flood_ops) == f0 &&
					      now_ns() - t_start < 10ull * 1000000000); i++) {
		uint64_t t0, t1;

		put_key(k, sizeof(k), p->name, i);
		t0 = now_ns();
		r = mmc_put(c, k, strlen(k), val, o->size);
		t1 = now_ns();
		if (r)
			return r;
		h_add(&p->h, t1 - t0);
		if ((r = mmc_remove(c, k, strlen(k))))
			return r;
	}
	p->seconds = (double)(now_ns() - t_start) / 1e9;
	p->flood_rate = (double)(atomic_load(&sh->flood_ops) - f0) / p->seconds;
	return 0;
}

/* ---- idle sessions: helper processes that connect and wait ---- */

/* A holder: connects n sessions, writes how many it holds (or -errno of
 * the first refusal) to ready, and waits for its end. */
static void holder(const struct fair_opts *o, uint32_t n, int ready)
{
	mmc_client **cs = calloc(n, sizeof(*cs));
	struct rlimit rl;
	int32_t got = 0;
	sigset_t set;
	int sig;

	/* libshm keeps two descriptors per session (its socket, the
	 * watcher's eventfd); older versions four */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 4 * n + 64) {
		rl.rlim_cur = rl.rlim_max < 4 * n + 64 ? rl.rlim_max : 4 * n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (uint32_t i = 0; cs && i < n; i++) {
		int r = mmc_connect(o->socket, &cs[i]);

		if (r) {
			got = r;
			break;
		}
		got++;
	}
	(void)!write(ready, &got, sizeof(got));
	sigwait(&set, &sig);
	_exit(0);      /* the agent sees every socket close at once */
}

/* Starts holders for o->idle sessions; pids into *pids.  0, or -errno
 * (the first refusal) with the sessions held so far in *held. */
static int hold_idle(const struct fair_opts *o, pid_t **pids, uint32_t *nholders,
		     uint32_t *held)
{
	uint32_t n = (o->idle + PER_HOLDER - 1) / PER_HOLDER;
	int fd[2], ret = 0;

	*held = 0;
	*nholders = 0;
	*pids = calloc(n ? n : 1, sizeof(pid_t));
	if (!*pids || pipe(fd))
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t want = o->idle - i * PER_HOLDER;
		pid_t pid;

		if (want > PER_HOLDER)
			want = PER_HOLDER;
		pid = fork();
		if (pid < 0)
			return -errno;
		if (!pid) {
			close(fd[0]);
			holder(o, want, fd[1]);
		}
		(*pids)[(*nholders)++] = pid;
	}
	close(fd[1]);
	for (uint32_t i = 0; i < n; i++) {
		int32_t got;

		if (read(fd[0], &got, sizeof(got)) != sizeof(got))
			return -EPIPE;
		if (got < 0 && !ret)
			ret = got;
		else if (got > 0)
			*held += (uint32_t)got;
	}
	close(fd[0]);
	return ret;
}

static void stop_all(pid_t *pids, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	for (uint32_t i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
}

/* ---- the flooder ---- */

struct flood_thread {
	mmc_client *c;
	const struct fair_opts *o;
	struct fair_shared *sh;
	unsigned id;
};

static void *flood_loop(void *arg)
{
	struct flood_thread *t = arg;
	const void *keys[FLOOD_BATCH];
	size_t lens[FLOOD_BATCH];
	int results[FLOOD_BATCH];
	char kbuf[FLOOD_BATCH][32];
	struct mmc_stats st;

	for (int i = 0; i < FLOOD_BATCH; i++) {
		snprintf(kbuf[i], sizeof(kbuf[i]), "absent/%u/%d", t->id, i);
		keys[i] = kbuf[i];
		lens[i] = strlen(kbuf[i]);
	}
	while (!atomic_load_explicit(&t->sh->stop, memory_order_relaxed)) {
		int r;
		uint64_t n = 1;

		switch (t->o->flood) {
		case FLOOD_STAT:
			r = mmc_agent_stats(t->c, &st);
			break;
		case FLOOD_PING:
#ifndef FAIR_NO_PING      /* libmmc before issue 9 had no mmc_ping */
			r = mmc_ping(t->c, 0);
#else
			r = -EOPNOTSUPP;
#endif
			break;
		default:
			r = mmc_remove_batch(t->c, FLOOD_BATCH, keys, lens, results);
			n = FLOOD_BATCH;
			r = r < 0 ? r : 0;
			break;
		}
		if (r) {
			snprintf(t->sh->err, sizeof(t->sh->err), "flood: %s", mmc_strerror(r));
			break;
		}
		atomic_fetch_add_explicit(&t->sh->flood_ops, n, memory_order_relaxed);
	}
	return NULL;
}

/* The flooding process: one session, o->threads threads, nice 19. */
static pid_t start_flood(const struct fair_opts *o, struct fair_shared *sh)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	{
		struct flood_thread t[64];
		pthread_t th[64];
		mmc_client *c;
		unsigned n = o->threads < 64 ? o->threads : 64;
		int r = mmc_connect(o->socket, &c);

		(void)!nice(19);
		if (r) {
			snprintf(sh->err, sizeof(sh->err), "flood: connect: %s",
				 mmc_strerror(r));
			_exit(1);
		}
		for (unsigned i = 0; i < n; i++) {
			t[i] = (struct flood_thread){ c, o, sh, i };
			pthread_create(&th[i], NULL, flood_loop, &t[i]);
		}
		for (unsigned i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		mmc_disconnect(c);
		_exit(0);
	}
}

static void stop_flood(pid_t pid, struct fair_shared *sh)
{
	atomic_store(&sh->stop, 1);
	waitpid(pid, NULL, 0);
	atomic_store(&sh->stop, 0);
	atomic_store(&sh->flood_ops, 0);   /* the next flooder counts from 0 */
}

/* ---- the run ---- */

static void print_phases(const struct fair_opts *o, const struct phase *ph, int n,
			 uint32_t held)
{
	double base = h_quantile(&ph[0].h, 0.99);

	if (o->json) {
		printf("{\"ok\":true,\"size\":%" PRIu64 ",\"ops\":%" PRIu64
		       ",\"idle\":%u,\"flood\":\"%s\",\"flood_threads\":%u,\"phases\":[",
		       o->size, o->ops, held, flood_names[o->flood], o->threads);
		for (int i = 0; i < n; i++)
			printf("%s{\"name\":\"%s\",\"p50_ns\":%.0f,\"p99_ns\":%.0f,"
			       "\"p999_ns\":%.0f,\"mean_ns\":%.0f,\"max_ns\":%" PRIu64
			       ",\"p99_vs_alone\":%.3f,\"flood_per_s\":%.0f}", i ? "," : "",
			       ph[i].name, h_quantile(&ph[i].h, 0.5),
			       h_quantile(&ph[i].h, 0.99), h_quantile(&ph[i].h, 0.999),
			       (double)ph[i].h.sum / (double)ph[i].h.n, ph[i].h.max,
			       h_quantile(&ph[i].h, 0.99) / base, ph[i].flood_rate);
		printf("]}\n");
		return;
	}
	printf("mmc-bench fair: %" PRIu64 "-byte puts, %" PRIu64 " per phase; %u idle "
	       "sessions; flood: %s x %u threads at nice 19\n", o->size, o->ops, held,
	       flood_names[o->flood], o->threads);
	printf("%-12s %10s %10s %10s %10s %14s %12s\n", "phase", "p50 us", "p99 us",
	       "p99.9 us", "mean us", "flood req/s", "p99/alone");
	for (int i = 0; i < n; i++)
		printf("%-12s %10.2f %10.2f %10.2f %10.2f %14.0f %12.2f\n", ph[i].name,
		       h_quantile(&ph[i].h, 0.5) / 1e3, h_quantile(&ph[i].h, 0.99) / 1e3,
		       h_quantile(&ph[i].h, 0.999) / 1e3,
		       (double)ph[i].h.sum / (double)ph[i].h.n / 1e3, ph[i].flood_rate,
		       h_quantile(&ph[i].h, 0.99) / base);
}

static int parse(int argc, char **argv, struct fair_opts *o)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, 0, 'S' },
		{ "idle", required_argument, 0, 'i' },
		{ "flood", required_argument, 0, 'f' },
		{ "flood-threads", required_argument, 0, 't' },
		{ "size", required_argument, 0, 's' },
		{ "ops", required_argument, 0, 'o' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	char *end;
	int c;

	*o = (struct fair_opts){ .idle = 1000, .flood = FLOOD_STAT, .threads = 8,
				 .size = 4096, .ops = 100000 };
	while ((c = getopt_long(argc, argv, "s:h", lopts, NULL)) != -1) {
		unsigned long long v;

		switch (c) {
		case 'S': o->socket = optarg; break;
		case 'j': o->json = true; break;
		case 'h': return usage(stdout, -1);
		case 'f':
			o->flood = FLOOD_NONE;
			while (o->flood < 4 && strcmp(optarg, flood_names[o->flood]))
				o->flood++;
			if (o->flood == 4)
				return usage(stderr, 2);
			break;
		default:
			if (c == '?')
				return usage(stderr, 2);
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (c == 's' && (*end == 'K' || *end == 'k'))
				v <<= 10, end++;
			else if (c == 's' && (*end == 'M' || *end == 'm'))
				v <<= 20, end++;
			if (errno || end == optarg || *end || (!v && c != 'i') ||
			    v > (1ull << 30))
				return usage(stderr, 2);
			if (c == 'i') o->idle = (uint32_t)v;
			if (c == 't') o->threads = (unsigned)v;
			if (c == 's') o->size = v;
			if (c == 'o') o->ops = v;
		}
	}
	if (optind < argc)
		return usage(stderr, 2);
	return 0;
}

int fair_main(int argc, char **argv)
{
	struct fair_opts o;
	struct phase ph[4] = { { .name = "alone" }, { .name = "flood" },
			       { .name = "idle" }, { .name = "idle+flood" } };
	struct fair_shared *sh;
	pid_t *holders = NULL, flood = 0;
	uint32_t nholders = 0, held = 0;
	mmc_client *c;
	void *val;
	int r, n = 0, rc = 1;

	if ((r = parse(argc, argv, &o)))
		return r < 0 ? 0 : r;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	val = malloc(o.size);
	if (sh == MAP_FAILED || !val)
		return 1;
	memset(val, 0x5a, o.size);
	if ((r = mmc_connect(o.socket, &c))) {
		fprintf(stderr, "mmc-bench fair: connect: %s\n", mmc_strerror(r));
		return 1;
	}
	if ((r = measure(c, &o, val, &ph[n], sh, false)))
		goto failed;
	n++;
	if (o.flood != FLOOD_NONE) {
		flood = start_flood(&o, sh);
		r = measure(c, &o, val, &ph[n], sh, true);
		stop_flood(flood, sh);
		if (r)
			goto failed;
		n++;
	}
	if (o.idle) {
		r = hold_idle(&o, &holders, &nholders, &held);
		if (r) {
			fprintf(stderr, "mmc-bench fair: %u of %u idle sessions, then: %s\n",
				held, o.idle, mmc_strerror(r));
			stop_all(holders, nholders);
			goto out;
		}
		ph[n].name = "idle";
		if ((r = measure(c, &o, val, &ph[n], sh, false)))
			goto failed;
		n++;
		if (o.flood != FLOOD_NONE) {
			ph[n].name = "idle+flood";
			flood = start_flood(&o, sh);
			r = measure(c, &o, val, &ph[n], sh, true);
			stop_flood(flood, sh);
			if (r)
				goto failed;
			n++;
		}
		stop_all(holders, nholders);
	}
	if (sh->err[0]) {
		fprintf(stderr, "mmc-bench fair: %s\n", sh->err);
		goto out;
	}
	print_phases(&o, ph, n, held);
	rc = 0;
	goto out;
failed:
	fprintf(stderr, "mmc-bench fair: put in phase %s: %s\n", ph[n].name,
		mmc_strerror(r));
	if (nholders)
		stop_all(holders, nholders);
out:
	mmc_disconnect(c);
	free(holders);
	free(val);
	return rc;
}
