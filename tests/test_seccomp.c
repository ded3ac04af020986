/*
 * test_seccomp.c - the kernel-bypass proof: local hits make no system call.
 *
 * A child process connects, warms up (page faults are not system calls, but
 * the warm-up populates its mappings and binds every PLT slot the loop needs),
 * then installs a seccomp filter whose default action is SCMP_ACT_KILL_PROCESS
 * and which allows exit_group alone.  It then runs 100,000 local hits,
 * alternating a zero-copy mmc_acquire + byte check + mmc_release and a copying
 * mmc_get into a preallocated buffer + byte check, then 1,000 rounds of the
 * batch forms SGLang calls (batch exists with the prefix count over 64 keys,
 * batch get of 8, with their cache prefetching), and records the outcome in
 * a MAP_SHARED page mapped before the filter.  Any system call on that path
 * (a doorbell write, a futex, a clock read that is not vDSO, a stdio flush)
 * would kill it with SIGSYS; it ends with a raw exit_group.
 *
 * Threads: libshm starts a watcher thread per client that sits in poll() on
 * the socket.  A filter installed without SECCOMP_FILTER_FLAG_TSYNC (libseccomp
 * leaves SCMP_FLTATR_CTL_TSYNC off by default) applies to the calling thread
 * only, so the watcher keeps its poll() and the proof covers exactly the
 * thread that runs the hits.  exit_group then ends the whole process.
 *
 * Negative controls in the same file show the filter really kills: a child
 * that installs it and calls getpid() dies by SIGSYS, while a child that
 * installs it and only exits reports 0.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

/* exit_group without libc: sanitizer runtimes intercept _exit() to run their
 * leak check, which makes system calls the filter would punish. */
static void raw_exit(int code)
{
	for (;;)
		syscall(SYS_exit_group, code);
}

#define NKEYS  64
#define ITERS  100000
#define BATCH_ROUNDS 1000   /* after the hits: batch exists + batch get */
#define BATCH_GETS   8
#define SMALL  4096u
#define LARGE  65536u

struct result {           /* lives in a MAP_SHARED page */
	volatile uint64_t started, done, mismatches, errors;
	volatile int64_t first_err;
	volatile uint64_t filter_loaded;
	volatile uint64_t batches, batch_bad;
};

static char keys[NKEYS][32];
static size_t klen[NKEYS];

static size_t val_len(int i)
{
	return i % 2 ? LARGE : SMALL;
}

static uint64_t seed_of(int i)
{
	return 0x5eccull * 1000 + (uint64_t)i;
}

/* Builds (but does not load) the filter: kill the process on everything
 * except exit_group.  0 or -errno. */
static int build_filter(scmp_filter_ctx *out)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int ret;

	if (!ctx)
		return -ENOMEM;
	ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(exit_group), 0);
	if (ret) {
		seccomp_release(ctx);
		return ret;
	}
	*out = ctx;
	return 0;
}

static struct result *shared_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ck_assert(p != MAP_FAILED);
	memset(p, 0, 4096);
	return p;
}

/* One hit, checked byte for byte; 0 ok, 1 mismatch, <0 -errno. */
static int hit(mmc_client *c, int i, int zero_copy, uint8_t *buf)
{
	size_t got = 0;
	int ret;

	if (zero_copy) {
		struct mmc_view v;

		ret = mmc_acquire(c, keys[i], klen[i], &v);
		if (ret)
			return ret;
		ret = v.len != val_len(i) ||
		      pattern_check(v.data, v.len, seed_of(i)) != 0;
		if (mmc_release(c, &v))
			return -EBADSLT;
		return ret;
	}
	ret = mmc_get(c, keys[i], klen[i], buf, LARGE, &got);
	if (ret)
		return ret;
	return got != val_len(i) || pattern_check(buf, got, seed_of(i)) != 0;
}

/* One round of the batch forms SGLang uses: exists over every key (the
 * whole prefix must be present) and a get of BATCH_GETS keys, each checked
 * byte for byte.  0 ok, 1 wrong answer or bytes. */
static int batch_round(mmc_client *c, int first, void *const *bufs)
{
	const void *kp[NKEYS];
	size_t kl[NKEYS], bl[BATCH_GETS], prefix = 0;
	int64_t res[BATCH_GETS];

	for (int i = 0; i < NKEYS; i++) {
		kp[i] = keys[i];
		kl[i] = klen[i];
	}
	if (mmc_exists_batch(c, NKEYS, kp, kl, NULL, &prefix) != NKEYS || prefix != NKEYS)
		return 1;
	for (int j = 0; j < BATCH_GETS; j++)
		bl[j] = LARGE;
	if (mmc_get_batch(c, BATCH_GETS, kp + first, kl + first, bufs, bl, res) !=
	    BATCH_GETS)
		return 1;
	for (int j = 0; j < BATCH_GETS; j++)
		if ((size_t)res[j] != val_len(first + j) ||
		    pattern_check(bufs[j], (size_t)res[j], seed_of(first + j)))
			return 1;
	return 0;
}

static void child_hits(struct result *res)
{
	scmp_filter_ctx ctx;
	mmc_client *c = NULL;
	uint8_t *buf = malloc(LARGE);
	void *bufs[BATCH_GETS];
	int ret;

	for (int j = 0; j < BATCH_GETS; j++)
		if (!(bufs[j] = malloc(LARGE)))
			_exit(2);

	/* Not the parent's client: a client must not cross fork(). */
	if (!buf || mmc_connect(NULL, &c))
		_exit(2);
	for (int pass = 0; pass < 2; pass++)      /* warm-up, both paths */
		for (int i = 0; i < NKEYS; i++)
			if (hit(c, i, pass, buf))
				_exit(3);
	if (build_filter(&ctx))
		_exit(4);
	res->started = 1;
	if (seccomp_load(ctx))
		_exit(5);
	/* From here on: no system call but exit_group.  ctx is not released
	 * (free() could return memory to the kernel). */
	res->filter_loaded = 1;
	for (uint64_t n = 0; n < ITERS; n++) {
		ret = hit(c, (int)(n % NKEYS), (int)(n & 1), buf);
		if (ret < 0) {
			if (!res->errors)
				res->first_err = ret;
			res->errors++;
		} else if (ret) {
			res->mismatches++;
		}
		res->done = n + 1;
	}
	for (int r = 0; r < BATCH_ROUNDS; r++) {
		res->batch_bad += batch_round(c, (r * BATCH_GETS) % NKEYS, bufs);
		res->batches = r + 1;
	}
	raw_exit(0);
}

START_TEST(test_hits_without_syscalls)
{
	struct agent_proc a;
	struct mmc_stats st0, st;
	struct result *res = shared_page();
	mmc_client *c;
	uint8_t *v = malloc(LARGE);
	pid_t pid;
	int status;

	ck_assert(v);
	agent_start(&a, "64M", NULL);
	c = connect_ok(NULL);
	for (int i = 0; i < NKEYS; i++) {
		klen[i] = mkkey(keys[i], sizeof(keys[i]), "seccomp/", 2, (unsigned)i);
		pattern_fill(v, val_len(i), seed_of(i));
		ck_assert_int_eq(mmc_put(c, keys[i], klen[i], v, val_len(i)), 0);
	}
	st0 = stats_ok(c);
	ck_assert_uint_eq(st0.objects, NKEYS);

	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0)
		child_hits(res);
	status = wait_child(pid);
	ck_assert_msg(!WIFSIGNALED(status),
		      "child killed by signal %d (%s) after %llu hits: a system call "
		      "on the hit path", WTERMSIG(status), strsignal(WTERMSIG(status)),
		      (unsigned long long)res->done);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child exit status %d", WEXITSTATUS(status));
	ck_assert_uint_eq(res->filter_loaded, 1);
	ck_assert_msg(res->errors == 0, "%llu errors, first %s",
		      (unsigned long long)res->errors, mmc_strerror((int)res->first_err));
	ck_assert_uint_eq(res->mismatches, 0);
	ck_assert_uint_eq(res->done, ITERS);
	ck_assert_uint_eq(res->batches, BATCH_ROUNDS);
	ck_assert_uint_eq(res->batch_bad, 0);

	/* The agent saw them too: the child's own counters, summed at its end. */
	st = stats_ok(c);
	ck_assert_uint_eq(st.hits - st0.hits,
			  ITERS + 2 * NKEYS + BATCH_ROUNDS * BATCH_GETS);
	ck_assert_uint_eq(st.misses, st0.misses);
	ck_assert_uint_eq(st.clients, 1);
	ck_assert_uint_eq(st.pinned_objects, 0);
	ck_assert_uint_eq(st.objects, NKEYS);
	for (int i = 0; i < NKEYS; i++) {
		size_t got = 0;

		memset(v, 0, LARGE);
		ck_assert_int_eq(mmc_get(c, keys[i], klen[i], v, LARGE, &got), 0);
		ck_assert_uint_eq(got, val_len(i));
		ck_assert_uint_eq(pattern_check(v, got, seed_of(i)), 0);
	}
	agent_finish(&a, c);
	free(v);
}
END_TEST

/* fork(); the child returns 0 with the filter loaded (or exits 5), the
 * parent its pid. */
static pid_t fork_filtered(void)
{
	scmp_filter_ctx ctx;
	pid_t pid = fork();

	ck_assert(pid >= 0);
	if (pid == 0 && (build_filter(&ctx) || seccomp_load(ctx)))
		_exit(5);
	return pid;
}

/* The filter kills: getpid() after loading it is fatal (SIGSYS). */
START_TEST(test_filter_kills_getpid)
{
	struct result *res = shared_page();
	pid_t pid;
	int status;

	pid = fork_filtered();
	if (pid == 0) {
		res->filter_loaded = 1;
		syscall(SYS_getpid);
		res->done = 1;          /* must never get here */
		raw_exit(0);
	}
	status = wait_child(pid);
	ck_assert_uint_eq(res->filter_loaded, 1);
	ck_assert_uint_eq(res->done, 0);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		      "child not killed by SIGSYS (status 0x%x)", status);
}
END_TEST

/* ...and lets exit_group through, so exit status 0 above means something. */
START_TEST(test_filter_allows_exit)
{
	pid_t pid;
	int status;

	pid = fork_filtered();
	if (pid == 0)
		raw_exit(0);
	status = wait_child(pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "filtered child status 0x%x", status);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("seccomp");

	add_tests(add_tcase(s, "seccomp", 60),
		  TESTS(test_filter_kills_getpid, test_filter_allows_exit,
			test_hits_without_syscalls));
	return run_suite(s);
}
