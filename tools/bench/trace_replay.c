/*
 * trace_replay.c - the processes that replay a trace against the agent.
 *
 * Request q goes to process q % procs; each process replays its requests in
 * trace order, as fast as it can or at the trace's timestamps (divided by a
 * speed-up).  One request is what an engine's L3 prefix cache does:
 *
 *   mmc_exists_batch(all block keys)   -> the present prefix (no syscall)
 *   mmc_get_batch(the prefix)          -> the hit, copied out, checked
 *   mmc_put_batch(the remaining keys)  -> the computed blocks, stored
 *
 * A block that exists reported but the get no longer found (another process
 * made room for its own puts in between) ends the hit there and is counted
 * as lost.  A put of a present key (-EEXIST) or of one another process is
 * writing (-EBUSY) is success for the engine; -ENOSPC (nothing evictable)
 * is counted as a failed put; any other error fails the run.
 *
 * Values are deterministic per block (a 64-byte header from the chain hash,
 * then a window of a seeded random pool), so every hit is checked byte for
 * byte, outside the clock.  Building the values to put is outside the clock
 * too: the latencies are the three library calls, and the time both take
 * (untimed_ns) is left out of the replay's rate.
 *
 * Start: every process connects and faults in its buffers, reports ready on
 * one pipe, and waits on another that the parent closes once all are ready,
 * so the clock of the run starts when every process can go.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trace.h"

struct replay_shared {
	_Atomic int err_claimed;
	_Atomic int abort;
	uint64_t start_ns;
	char err[400];
	struct replay_proc res[];
};

struct replayer {
	const struct replay_cfg *cfg;
	struct replay_shared *sh;
	struct replay_proc *r;
	mmc_client *c;
	int id;
	uint8_t *pool;             /* block + TRACE_VALUE_SLOTS * 64 bytes */
	uint8_t *getbuf, *putbuf;  /* max_blocks * block each */
	const void **kp;
	size_t *kl, *lens;
	void **bufs;
	const void **vals;
	int64_t *gres;
	int *pres;
};

static __attribute__((format(printf, 2, 3), noreturn))
void die(struct replayer *p, const char *fmt, ...)
{
	va_list ap;
	int expect = 0;

	if (atomic_compare_exchange_strong(&p->sh->err_claimed, &expect, 1)) {
		int n = snprintf(p->sh->err, sizeof(p->sh->err), "process %d: ", p->id);

		va_start(ap, fmt);
		vsnprintf(p->sh->err + n, sizeof(p->sh->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	atomic_store(&p->sh->abort, 1);
	_exit(1);
}

/* ------------------------------------------------------------------------ */
/* values */

static void value_hdr(const struct replay_cfg *cfg, uint32_t d, uint8_t hdr[HDR_BYTES])
{
	uint64_t h = cfg->t->chain[d];

	for (unsigned i = 0; i < HDR_BYTES / 8; i++) {
		uint64_t w = i ? mix64(h ^ cfg->seed ^ (i * 0x9e3779b97f4a7c15ull)) : h;

		memcpy(hdr + 8 * i, &w, 8);
	}
}

static const uint8_t *value_body(const struct replayer *p, uint32_t d)
{
	return p->pool + (mix64(p->cfg->t->chain[d]) % TRACE_VALUE_SLOTS) * 64;
}

static void value_build(const struct replayer *p, uint32_t d, uint8_t *dst)
{
	uint64_t size = p->cfg->block, h = size < HDR_BYTES ? size : HDR_BYTES;
	uint8_t hdr[HDR_BYTES];

	value_hdr(p->cfg, d, hdr);
	memcpy(dst, hdr, h);
	if (size > h)
		memcpy(dst + h, value_body(p, d), size - h);
}

/* Dies naming the first wrong byte. */
static void value_verify(struct replayer *p, uint32_t d, const uint8_t *got)
{
	uint64_t size = p->cfg->block, h = size < HDR_BYTES ? size : HDR_BYTES;
	uint8_t hdr[HDR_BYTES];
	const uint8_t *body = value_body(p, d);

	value_hdr(p->cfg, d, hdr);
	if (!memcmp(got, hdr, h) && (size == h || !memcmp(got + h, body, size - h))) {
		p->r->verified++;
		return;
	}
	for (uint64_t i = 0; i < size; i++)
		if (got[i] != (i < h ? hdr[i] : body[i - h]))
			die(p, "block %.*s: byte %" PRIu64 " of %" PRIu64
			    " is wrong (0x%02x, expected 0x%02x)", (int)KEY_LEN,
			    (const char *)p->cfg->t->keys + (size_t)d * KEY_LEN,
			    i, size, got[i], i < h ? hdr[i] : body[i - h]);
}

/* ------------------------------------------------------------------------ */
/* one request */

static void replay_request(struct replayer *p, const struct trace_req *q)
{
	const struct trace *t = p->cfg->t;
	const uint32_t *b = t->blocks + q->first;
	uint32_t nb = q->nblocks, hit = 0;
	uint64_t t0, t1, tsum, block = p->cfg->block;
	size_t prefix = 0;
	int ret;

	for (uint32_t i = 0; i < nb; i++)
		p->kp[i] = t->keys + (size_t)b[i] * KEY_LEN;
	if (!nb)                    /* a prompt shorter than one block */
		goto done;
	t0 = now_ns();
	ret = mmc_exists_batch(p->c, nb, p->kp, p->kl, NULL, &prefix);
	t1 = now_ns();
	if (ret < 0)
		die(p, "mmc_exists_batch: %s", mmc_strerror(ret));
	h_add(&p->r->h[RH_EXISTS], t1 - t0);
	tsum = t1 - t0;
	p->r->exists_prefix += prefix;

	if (prefix) {
		t0 = now_ns();
		ret = mmc_get_batch(p->c, prefix, p->kp, p->kl, p->bufs, p->lens, p->gres);
		t1 = now_ns();
		if (ret < 0)
			die(p, "mmc_get_batch: %s", mmc_strerror(ret));
		h_add(&p->r->h[RH_GET], t1 - t0);
		tsum += t1 - t0;
		while (hit < prefix && p->gres[hit] == (int64_t)block)
			hit++;
		if (hit < prefix && p->gres[hit] != -ENOENT)
			die(p, "get of a present block: %s (%" PRId64 ")",
			    p->gres[hit] < 0 ? mmc_strerror((int)p->gres[hit])
					     : "wrong length", p->gres[hit]);
		p->r->get_lost += prefix - hit;
		t0 = now_ns();
		for (uint32_t i = 0; i < hit; i++)
			value_verify(p, b[i], p->bufs[i]);
		p->r->untimed_ns += now_ns() - t0;
		p->r->bytes_read += hit * block;
	}

	if (hit < nb) {
		uint32_t n = nb - hit;

		t0 = now_ns();
		for (uint32_t i = 0; i < n; i++)
			value_build(p, b[hit + i], (uint8_t *)p->vals[i]);
		p->r->untimed_ns += now_ns() - t0;
		t0 = now_ns();
		ret = mmc_put_batch(p->c, n, p->kp + hit, p->kl, p->vals, p->lens, p->pres);
		t1 = now_ns();
		if (ret < 0)
			die(p, "mmc_put_batch: %s", mmc_strerror(ret));
		h_add(&p->r->h[RH_PUT], t1 - t0);
		tsum += t1 - t0;
		for (uint32_t i = 0; i < n; i++) {
			int r = p->pres[i];

			if (!r) {
				p->r->puts++;
				p->r->bytes_written += block;
			} else if (r == -EEXIST || r == -EBUSY) {
				p->r->put_exists++;
			} else if (r == -ENOSPC) {
				p->r->put_failed++;
			} else {
				die(p, "put: %s", mmc_strerror(r));
			}
		}
	}
	h_add(&p->r->h[RH_REQ], tsum);
done:
	p->r->reqs++;
	p->r->blocks += nb;
	p->r->hit_blocks += hit;
	p->r->tokens += q->input_tokens;
	p->r->hit_tokens += trace_hit_tokens(q, hit);
}

/* ------------------------------------------------------------------------ */
/* the process */

static void *alloc_or_die(struct replayer *p, size_t n)
{
	void *m = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (m == MAP_FAILED)
		die(p, "out of memory (%zu bytes)", n);
	return m;
}

static void setup(struct replayer *p)
{
	const struct replay_cfg *cfg = p->cfg;
	uint32_t m = cfg->t->max_blocks ? cfg->t->max_blocks : 1;
	uint64_t s = mix64(cfg->seed ^ 0x706f6f6cull);
	size_t plen = cfg->block + TRACE_VALUE_SLOTS * 64;
	int ret = mmc_connect(cfg->socket, &p->c);

	if (ret)
		die(p, "cannot connect to %s: %s", cfg->socket, mmc_strerror(ret));
	p->pool = alloc_or_die(p, plen);
	for (size_t i = 0; i + 8 <= plen; i += 8) {
		uint64_t v = rng_next(&s);

		memcpy(p->pool + i, &v, 8);
	}
	p->getbuf = alloc_or_die(p, (size_t)m * cfg->block);
	p->putbuf = alloc_or_die(p, (size_t)m * cfg->block);
	p->kp = alloc_or_die(p, m * sizeof(*p->kp));
	p->kl = alloc_or_die(p, m * sizeof(*p->kl));
	p->lens = alloc_or_die(p, m * sizeof(*p->lens));
	p->bufs = alloc_or_die(p, m * sizeof(*p->bufs));
	p->vals = alloc_or_die(p, m * sizeof(*p->vals));
	p->gres = alloc_or_die(p, m * sizeof(*p->gres));
	p->pres = alloc_or_die(p, m * sizeof(*p->pres));
	for (uint32_t i = 0; i < m; i++) {
		p->kl[i] = KEY_LEN;
		p->lens[i] = cfg->block;
		p->bufs[i] = p->getbuf + (size_t)i * cfg->block;
		p->vals[i] = p->putbuf + (size_t)i * cfg->block;
	}
}

static void run_child(const struct replay_cfg *cfg, struct replay_shared *sh,
		      int id, int ready_w, int gate_r)
{
	struct replayer p = { .cfg = cfg, .sh = sh, .r = &sh->res[id], .id = id };
	const struct trace *t = cfg->t;
	struct mmc_client_stats cs;
	char c = '1', g;

	setup(&p);
	if (write(ready_w, &c, 1) != 1)
		die(&p, "ready pipe: %s", strerror(errno));
	close(ready_w);
	while (read(gate_r, &g, 1) > 0)
		;
	if (atomic_load(&sh->abort))
		_exit(1);
	p.r->start_ns = now_ns();
	for (uint32_t q = (uint32_t)id; q < t->nreqs; q += (uint32_t)cfg->procs) {
		if (cfg->pace == PACE_TRACE) {
			uint64_t due = sh->start_ns +
				(uint64_t)((double)t->reqs[q].ts_ms * 1e6 / cfg->speedup);
			struct timespec ts = { .tv_sec = (time_t)(due / 1000000000ull),
					       .tv_nsec = (long)(due % 1000000000ull) };

			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
			h_add(&p.r->h[RH_LATE], now_ns() - due);
		}
		if (atomic_load_explicit(&sh->abort, memory_order_relaxed))
			_exit(1);
		replay_request(&p, &t->reqs[q]);
	}
	p.r->end_ns = now_ns();
	if (!mmc_client_stats(p.c, &cs))
		p.r->touch_drops = cs.touch_drops;
	mmc_disconnect(p.c);
	_exit(0);
}

int trace_replay(const struct replay_cfg *cfg, struct replay_proc *out,
		 char *err, size_t errlen)
{
	size_t shlen = sizeof(struct replay_shared) + (size_t)cfg->procs * sizeof(*out);
	struct replay_shared *sh = mmap(NULL, shlen, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int ready[2] = { -1, -1 }, gate[2] = { -1, -1 }, forked = 0, rc = 0;
	pid_t pids[TRACE_MAX_PROCS], parent = getpid();
	char c;

	if (sh == MAP_FAILED || pipe2(ready, O_CLOEXEC) || pipe2(gate, O_CLOEXEC)) {
		snprintf(err, errlen, "set-up: %s", strerror(errno));
		rc = 1;
		goto out;
	}
	for (; forked < cfg->procs; forked++) {
		pids[forked] = fork();
		if (pids[forked] < 0) {
			snprintf(err, errlen, "fork: %s", strerror(errno));
			atomic_store(&sh->abort, 1);
			rc = 1;
			break;
		}
		if (pids[forked] == 0) {
			/* a replayer never outlives mmc-bench (killed, or
			 * gone before the prctl took effect) */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(1);
			signal(SIGINT, SIG_DFL);    /* not the parent's clean-up */
			signal(SIGTERM, SIG_DFL);
			close(ready[0]);
			close(gate[1]);
			run_child(cfg, sh, forked, ready[1], gate[0]);
		}
	}
	close(ready[1]);
	ready[1] = -1;
	/* A process that fails before it is ready exits, and its end of the
	 * ready pipe goes with it: read() then ends early with 0. */
	for (int n = 0; n < forked && read(ready[0], &c, 1) == 1; n++)
		;
	sh->start_ns = now_ns();
	close(gate[1]);             /* everyone goes */
	gate[1] = -1;
	for (int i = 0; i < forked; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
			if (!rc && sh->err_claimed)
				snprintf(err, errlen, "%s", sh->err);
			else if (!rc)
				snprintf(err, errlen, "process %d died (status 0x%x)", i, st);
			rc = 1;
			atomic_store(&sh->abort, 1);
		}
	}
	memcpy(out, sh->res, (size_t)cfg->procs * sizeof(*out));
out:
	for (int i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (gate[i] >= 0)
			close(gate[i]);
	}
	if (sh != MAP_FAILED)
		munmap(sh, shlen);
	return rc;
}
