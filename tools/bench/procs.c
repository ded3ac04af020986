/*
 * procs.c - mmc-bench's client processes: fork, a shared result area, a
 * start barrier, and the measured loop of one mode in one process.
 *
 * The parent maps one MAP_SHARED anonymous area (struct shared, bench.h)
 * before it forks: a barrier, an abort flag, the first failing client's
 * message, the controls' figures and one proc_result per phase and process.
 * Each client is a fork of the parent with its own libshm session; it
 * connects, meets the others at the barrier, puts the keys a get-only run
 * needs (fill), then runs every phase of the plan with run_phase():
 *
 *   set-up (untimed) -> warm-up (untimed, counted into scratch) -> barrier
 *   -> control, client 0 alone -> barrier -> the measured loop into its
 *   proc_result -> check (untimed) -> barrier -> control again -> barrier
 *
 * A failing client (die_worker) writes its message if it is the first,
 * raises abort and exits 1; the others leave at their next barrier or
 * abort check, the parent sees a non-zero status and reports no numbers.
 * The parent only forks and waits here; it reads the area afterwards
 * (report.c's aggregate()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "bench.h"

static struct shared *sh;      /* the area, inherited by every client */
static size_t sh_len;

struct shared *shared_map(int nphases, int nprocs)
{
	size_t len = sizeof(*sh) + sizeof(struct proc_result) * (size_t)nphases *
		(size_t)nprocs;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	sh = p;
	sh_len = len;
	sh->nprocs = nprocs;
	return sh;
}

void shared_unmap(void)
{
	if (sh)
		munmap(sh, sh_len);
	sh = NULL;
}

void barrier(void)
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

/* Records a client's failure (the first one wins the report) and stops
 * every client at its next check. */
static void client_failed(const char *msg)
{
	if (!atomic_exchange(&sh->err_claimed, 1))
		snprintf(sh->err, sizeof(sh->err), "%s", msg);
	atomic_store(&sh->abort, 1);
	fprintf(stderr, "mmc-bench: %s\n", msg);
}

void die_worker(struct worker *w, uint32_t k, const char *fmt, ...)
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

/* ------------------------------------------------------------------------ */
/* one client process */

static uint64_t minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
}

/* The mode's control, if it has one, by client 0 alone into *gbps; the
 * others wait at the barrier. */
static void run_control(struct worker *w, const struct mode *m, double *gbps)
{
	if (!m->control)
		return;
	if (w->id == 0)
		*gbps = m->control(w);
	barrier();
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
	run_control(w, m, &sh->control_gbps[phase]);

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
	/* and again after, alone: the mean is reported */
	run_control(w, m, &sh->control_after[phase]);
}

static int client_main(const struct bench *b, int id, const struct mode **plan,
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
/* the parent: fork and wait */

int run_clients(const struct bench *b, const struct mode **plan, int nphases,
		const uint64_t *ops)
{
	int rc = 0, nchild = 0;

	fflush(NULL);
	for (int i = 0; i < b->o.procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			atomic_store(&sh->abort, 1);
			fprintf(stderr, "mmc-bench: fork: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (!pid)
			_exit(client_main(b, i, plan, nphases, ops));
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
	return rc;
}
