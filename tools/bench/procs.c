/*
 * procs.c - mmc-bench's client processes: fork, a shared result area, a
 * start barrier, and the measured loop of one mode in one process.
 *
 * The parent maps one MAP_SHARED anonymous area (struct shared, bench.h)
 * before it forks: a barrier, an abort flag, the first failing client's
 * message, the controls' figures and one proc_result per phase and process.
 * Each client is a fork of the parent with its own connection to the store
 * (a libshm session, or a TCP connection to memcached or Redis); it
 * connects, meets the others at the barrier, puts the keys a get-only run
 * needs (the store's fill), then runs every phase of the plan with
 * run_phase():
 *
 *   set-up (untimed; with --mix also the write set's first values) ->
 *   warm-up (untimed, counted into scratch) -> barrier -> control, client 0
 *   alone -> barrier -> the measured loop into its proc_result -> check
 *   (untimed; with --mix the write set read back) -> barrier -> control
 *   again -> barrier
 *
 * A call of the measured loop is one op: one key, or with a batched mode
 * up to --batch keys (random ones for gets, the next ones of the process's
 * range for puts).  With --mix P a get phase's call is a get with
 * probability P %, else the mode's replace on the process's write set.
 * Counts are in keys, latency samples per call.
 *
 * A failing client (die_worker) writes its message if it is the first,
 * raises abort and exits 1; the others leave at their next barrier or
 * abort check, the parent sees a non-zero status and reports no numbers.
 * The parent only forks and waits here; it reads the area afterwards
 * (report.c's aggregate()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
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
		if (++spins >= 256)   /* a short spin, then let the others run */
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
	if (w->b->store)
		w->b->store->disconnect(w);
	_exit(1);
}

const char *worker_strerror(struct worker *w, int err)
{
	static char last[sizeof(w->err)];

	if (!w->err[0])
		return mmc_strerror(err);
	memcpy(last, w->err, sizeof(last));
	w->err[0] = '\0';
	return last;
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

/* One get call of a KEYS_RANDOM phase: a random key, or w->bn random keys
 * with w->bv marking those of the sample (every every-th key, counted by
 * *seq).  Returns op's result. */
static int get_call(struct worker *w, const struct mode *m, uint32_t n,
		    uint32_t every, uint64_t *seq, uint64_t *lat, uint64_t *vns,
		    uint32_t *k)
{
	const struct bench *b = w->b;
	bool verify = false;

	if (!m->batched) {
		*k = rng_below(&w->rng, b->o.count);
		verify = (*seq)++ % every == every - 1;
		return m->op(w, *k, verify, lat, vns);
	}
	w->bn = n;
	for (uint32_t i = 0; i < n; i++) {
		w->bk[i] = rng_below(&w->rng, b->o.count);
		w->bv[i] = (*seq)++ % every == every - 1;
		verify |= w->bv[i];
	}
	batch_keys(w);
	*k = w->bk[0];
	return m->op(w, *k, verify, lat, vns);
}

/* One mixed put: the replace op on a random key of the write set, or
 * batched on the whole write set. */
static int put_call(struct worker *w, const struct mode *m, uint64_t *lat,
		    uint64_t *vns, uint32_t *k)
{
	if (!m->batched) {
		*k = w->ws_lo + rng_below(&w->rng, w->ws_hi - w->ws_lo);
		return m->replace(w, *k, false, lat, vns);
	}
	batch_range(w, w->ws_lo, w->ws_hi - w->ws_lo, w->ws_lo, w->ws_hi);
	*k = w->bk[0];
	return m->replace(w, *k, false, lat, vns);
}

/* The untimed warm-up of a get phase, counted into w->r (scratch): by
 * default one pass over every key with full verification (with mmc the
 * measured op itself, which also maps the arena pages this process will
 * read; other stores read back with their batch form), or --warmup N
 * calls like the measured ones. */
static void warm_up(struct worker *w, const struct mode *m, uint32_t n)
{
	const struct bench *b = w->b;
	uint64_t lat, vns, seq = 0;
	uint32_t k;
	int ret;

	if (b->o.warmup == WARMUP_OPS) {
		for (uint64_t i = 0; i < b->o.warmup_ops; i += m->batched ? n : 1)
			if ((ret = get_call(w, m, n, b->verify_every, &seq, &lat, &vns, &k)))
				die_worker(w, k, "warm-up %s: %s", m->name,
					   worker_strerror(w, ret));
		return;
	}
	if (!b->store->warm_with_op) {
		b->store->readback(w, 0, b->o.count, 1);
		return;
	}
	for (k = 0; k < b->o.count; k += m->batched ? n : 1) {
		if (m->batched) {
			batch_range(w, k, b->o.count - k < n ? b->o.count - k : n, 0,
				    b->o.count);
			memset(w->bv, 1, w->bn);
		}
		if ((ret = m->op(w, k, true, &lat, &vns)))
			die_worker(w, k, "warm-up %s: %s", m->name, worker_strerror(w, ret));
	}
}

static void run_phase(struct worker *w, const struct mode *m, int phase,
		      uint64_t ops, struct proc_result *r, struct proc_result *scratch)
{
	const struct bench *b = w->b;
	uint64_t lat, vns, f0, start, end, seq = 0;
	uint32_t every = b->verify_every, n = m->batched ? b->o.batch : 1, k;
	bool mixing = m->replace && b->o.mix < 100 && m->keys == KEYS_RANDOM;
	int ret;

	w->phase = m->name;
	w->r = scratch;
	if (m->setup)
		m->setup(w);
	if (mixing)
		b->store->fill(w, w->ws_lo, w->ws_hi);
	if (m->keys == KEYS_RANDOM)
		warm_up(w, m, n);
	w->r = r;
	memset(r, 0, sizeof(*r));
	barrier();
	run_control(w, m, &sh->control_gbps[phase]);

	f0 = minflt();
	start = now_ns();
	if (m->keys == KEYS_OWN_RANGE) {
		for (k = w->key_lo; k < w->key_hi; k += n) {
			uint32_t nk = w->key_hi - k < n ? w->key_hi - k : n;

			if (m->batched)
				batch_range(w, k, nk, w->key_lo, w->key_hi);
			if ((ret = m->op(w, k, false, &lat, &vns)))
				die_worker(w, k, "%s: %s", m->name, worker_strerror(w, ret));
			h_add(&r->lat, lat);
			r->verify_ns += vns;
			r->ops += nk;
			r->calls++;
		}
	} else {
		for (uint64_t i = 0; i < ops; ) {
			bool put = mixing && rng_below(&w->rng, 100) >= b->o.mix;
			uint32_t nk = put ? (m->batched ? w->ws_hi - w->ws_lo : 1) : n;

			ret = put ? put_call(w, m, &lat, &vns, &k) :
				get_call(w, m, n, every, &seq, &lat, &vns, &k);
			if (ret)
				die_worker(w, k, "%s%s: %s", put ? "mixed put in " : "",
					   m->name, worker_strerror(w, ret));
			if (lat != UINT64_MAX) {
				h_add(&r->lat, lat);
				if (mixing)
					h_add(put ? &r->lat_put : &r->lat_get, lat);
			}
			if (put)
				r->puts += nk;
			else
				r->gets += nk;
			r->verify_ns += vns;
			r->ops += nk;
			r->calls++;
			i += nk;
			if (!(r->calls & 1023) && atomic_load_explicit(&sh->abort,
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
	if (mixing)
		b->store->readback(w, w->ws_lo, w->ws_hi, 1);
	barrier();
	/* and again after, alone: the mean is reported */
	run_control(w, m, &sh->control_after[phase]);
}

/* The per-process buffers: the get buffer, the call arrays (room for the
 * batch and for the SWEEP_BATCH keys of fills and read-backs) and the value
 * stage (one value per key of a batch, or one).  All faulted in here, out
 * of every clock.  Returns 0 or -ENOMEM.
 *
 * The client libraries of memcached and Redis allocate every value they
 * return; glibc would hand a large one back to the kernel on free (mmap
 * above 128 KiB, heap trimming) and fault it in again on the next call,
 * up to some 1000 page faults per 4 MiB value.  Freed memory stays in the process
 * instead, as a long-running client's would.  libshm allocates nothing. */
static int worker_alloc(struct worker *w)
{
	const struct bench *b = w->b;
	uint32_t bmax = b->o.batch > SWEEP_BATCH ? b->o.batch : SWEEP_BATCH;

	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, INT_MAX);

	w->bmax = bmax;
	w->stride = (b->o.size + 63) & ~(size_t)63;
	w->stage_n = b->o.batch ? b->o.batch : 1;
	w->buf = aligned_alloc(4096, (b->o.size + 4095) & ~4095ull);
	w->stage = aligned_alloc(4096, (w->stride * w->stage_n + 4095) & ~(size_t)4095);
	w->bk = calloc(bmax, sizeof(*w->bk));
	w->bv = calloc(bmax, sizeof(*w->bv));
	w->kp = calloc(bmax, sizeof(*w->kp));
	w->kl = calloc(bmax, sizeof(*w->kl));
	w->kbuf = malloc((size_t)bmax * KEY_LEN);
	if (!w->buf || !w->stage || !w->bk || !w->bv || !w->kp || !w->kl || !w->kbuf)
		return -ENOMEM;
	for (uint32_t i = 0; i < bmax; i++) {
		w->kp[i] = w->kbuf + (size_t)i * KEY_LEN;
		w->kl[i] = KEY_LEN;
	}
	memset(w->buf, 0, b->o.size);
	memset(w->stage, 0, w->stride * w->stage_n);
	return 0;
}

static void worker_free(struct worker *w)
{
	free(w->buf);
	free(w->stage);
	free(w->bk);
	free(w->bv);
	free(w->kp);
	free(w->kl);
	free(w->kbuf);
}

static int client_main(const struct bench *b, int id, const struct mode **plan,
		       int nphases, const uint64_t *ops)
{
	struct worker w = { .b = b, .id = id, .phase = "connect" };
	struct proc_result *scratch = calloc(1, sizeof(*scratch));
	char msg[sizeof(w.err) + 64];
	int ret;

	w.key_lo = (uint32_t)((uint64_t)b->o.count * (uint64_t)id / (uint64_t)b->o.procs);
	w.key_hi = (uint32_t)((uint64_t)b->o.count * (uint64_t)(id + 1) / (uint64_t)b->o.procs);
	w.ws_lo = b->o.count + (uint32_t)id * b->wset;
	w.ws_hi = w.ws_lo + b->wset;
	w.rng = mix64(b->o.seed * 0x2545f4914f6cdd1dull + (uint64_t)id + 1);
	if (!scratch || worker_alloc(&w)) {
		snprintf(msg, sizeof(msg), "process %d: out of memory", id);
		client_failed(msg);
		return 1;
	}
	w.r = scratch;
	ret = b->store->connect(&w);
	if (ret) {
		snprintf(msg, sizeof(msg), "process %d: %s", id, w.err);
		client_failed(msg);
		return 1;
	}
	barrier();
	if (plan[0]->keys != KEYS_OWN_RANGE) {   /* get-only runs need the keys */
		w.phase = "fill";
		b->store->fill(&w, w.key_lo, w.key_hi);
		barrier();
	}
	for (int p = 0; p < nphases; p++)
		run_phase(&w, plan[p], p, ops[p], &sh->res[p * sh->nprocs + id], scratch);
	b->store->disconnect(&w);
	worker_free(&w);
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
