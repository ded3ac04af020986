/*
 * test_reconnect.c - the agent goes away under connected clients.
 *
 *   agent_sigkill   every call fails with -ENOTCONN and none hangs; the dead
 *                   session stays dead when a new agent takes over the same
 *                   socket path; disconnect + connect reaches the new agent
 *   local_hits_stop a session that only hits locally fails with -ENOTCONN
 *                   soon after the agent's death (libshm's watcher)
 *   agent_sigterm   clean exit (status 0) with pins and reservations held;
 *                   every call fails with -ENOTCONN at once
 *   blocked_waiter  threads blocked waiting for the agent's answer (the agent
 *                   is stopped, then killed) get -ENOTCONN
 *
 * Each test arms alarm(30): a call that hangs kills the test.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

#define KiB (1024ull)

/* A hung call: say so, take the agents down, die of SIGALRM. */
static void on_alarm(int sig)
{
	static const char msg[] = "test_reconnect: a call hung for 30 s\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	agents_sigkill();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void arm_alarm(void)
{
	signal(SIGALRM, on_alarm);
	alarm(30);
}

/* Every call of the API on a session whose agent is gone: -ENOTCONN. */
static void all_notconn(mmc_client *c)
{
	const void *kp[2] = { "k1", "k2" }, *vp[2] = { "v1", "v2" };
	size_t kl[2] = { 2, 2 }, vl[2] = { 2, 2 }, prefix, len;
	void *bp[2];
	uint8_t buf[2][16], present[2];
	struct iovec iov = { buf[0], 16 };
	struct mmc_reservation r;
	struct mmc_view v;
	struct mmc_stats s;
	int64_t gr[2];
	int res[2];

	bp[0] = buf[0];
	bp[1] = buf[1];
	ck_assert_int_eq(mmc_put(c, "k1", 2, "v", 1), -ENOTCONN);
	ck_assert_int_eq(mmc_get(c, "before", 6, buf[0], 16, &len), -ENOTCONN);
	ck_assert_int_eq(mmc_exists(c, "before", 6), -ENOTCONN);
	ck_assert_int_eq(mmc_acquire(c, "before", 6, &v), -ENOTCONN);
	ck_assert_int_eq(mmc_remove(c, "before", 6), -ENOTCONN);
	ck_assert_int_eq(mmc_reserve(c, "k3", 2, 100, &r), -ENOTCONN);
	ck_assert_int_eq(mmc_putv(c, "k4", 2, &iov, 1), -ENOTCONN);
	ck_assert_int_eq(mmc_getv(c, "before", 6, &iov, 1, &len), -ENOTCONN);
	ck_assert_int_eq(mmc_put_batch(c, 2, kp, kl, vp, vl, res), -ENOTCONN);
	ck_assert_int_eq(mmc_get_batch(c, 2, kp, kl, bp, vl, gr), -ENOTCONN);
	ck_assert_int_eq(mmc_exists_batch(c, 2, kp, kl, present, &prefix), -ENOTCONN);
	ck_assert_int_eq(mmc_remove_batch(c, 2, kp, kl, res), -ENOTCONN);
	ck_assert_int_eq(mmc_clear(c), -ENOTCONN);
	ck_assert_int_eq(mmc_agent_stats(c, &s), -ENOTCONN);
}

START_TEST(agent_sigkill)
{
	struct agent_proc a, b;
	struct mmc_view v;
	mmc_client *c;

	arm_alarm();
	agent_start(&a, "64M", NULL);
	c = connect_ok(NULL);
	put_pat_ok(c, "before", 4096);
	ck_assert_int_eq(mmc_acquire(c, "before", 6, &v), 0);
	agent_kill(&a);
	/* The first call talks to the agent, so it finds it gone itself; the
	 * local-only calls after it must then fail too, never serve stale data. */
	all_notconn(c);

	/* A new agent on the very same path (the dead one's socket is stale). */
	agent_start(&b, "64M", "--socket", a.sock, NULL);
	snprintf(b.sock, sizeof(b.sock), "%s", a.sock);
	snprintf(b.stats, sizeof(b.stats), "%s", a.stats);
	setenv("MMC_SOCKET", a.sock, 1);
	all_notconn(c);            /* the old session does not come back to life */
	mmc_disconnect(c);
	c = connect_ok(NULL);
	ck_assert_int_eq(mmc_exists(c, "before", 6), 0);   /* a new, empty arena */
	put_pat_ok(c, "after", 64 * KiB + 1);
	get_pat_ok(c, "after", 64 * KiB + 1);
	put_pat_ok(c, "before", 100);
	get_pat_ok(c, "before", 100);
	agent_finish(&b, c);
	agent_clean_dir(&a);
	alarm(0);
}
END_TEST

/* A session that only ever hits locally learns of the agent's death from
 * libshm's watcher, not from a reply: its gets may serve a little longer
 * (always the exact bytes), then fail with -ENOTCONN and keep failing.
 * Nothing the test can wait on marks that moment: bounded loop, 10 s. */
START_TEST(local_hits_stop)
{
	struct agent_proc a;
	uint8_t buf[4096];
	mmc_client *c;
	double end;
	int r;

	arm_alarm();
	agent_start(&a, "64M", NULL);
	c = connect_ok(NULL);
	put_pat_ok(c, "local", sizeof(buf));
	agent_kill(&a);
	end = now_s() + 10;
	while ((r = mmc_get(c, "local", 5, buf, sizeof(buf), NULL)) == 0) {
		ck_assert_uint_eq(pattern_check(buf, sizeof(buf), key_seed("local", 5)), 0);
		ck_assert_msg(now_s() < end, "local gets still served 10 s after the agent died");
		sched_yield();
	}
	ck_assert_int_eq(r, -ENOTCONN);
	ck_assert_int_eq(mmc_exists(c, "local", 5), -ENOTCONN);
	ck_assert_int_eq(mmc_get(c, "local", 5, buf, sizeof(buf), NULL), -ENOTCONN);
	mmc_disconnect(c);
	agent_clean_dir(&a);
	alarm(0);
}
END_TEST

START_TEST(agent_sigterm)
{
	struct agent_proc a;
	struct mmc_reservation r;
	struct mmc_view v;
	mmc_client *c, *d, *e;
	int st;

	arm_alarm();
	agent_start(&a, "64M", NULL);
	c = connect_ok(NULL);
	d = connect_ok(NULL);
	put_pat_ok(c, "before", 8192);
	ck_assert_int_eq(mmc_acquire(d, "before", 6, &v), 0);
	ck_assert_int_eq(mmc_reserve(d, "half", 4, 1 << 20, &r), 0);
	memset(r.data, 1, 1 << 19);
	agent_stop_ok(&a);    /* exit status 0 with a pin and a reservation held */
	all_notconn(c);
	all_notconn(d);
	ck_assert_int_eq(mmc_commit(d, &r), -ENOTCONN);
	e = (mmc_client *)1;
	st = mmc_connect(a.sock, &e);   /* the socket was removed */
	ck_assert_msg(st == -ECONNREFUSED || st == -ENOENT, "connect: %d", st);
	ck_assert_ptr_null(e);
	mmc_disconnect(d);
	mmc_disconnect(c);
	alarm(0);
}
END_TEST

/* ---- blocked_waiter ---- */

#define NB 1024

struct waiter {
	mmc_client *c;
	int tid_pipe;
	int batch;        /* 1: a big batch put; 0: a stats call */
	int ret;
};

static void *waiter_main(void *arg)
{
	static char keys[NB][24];
	static const void *kp[NB], *vp[NB];
	static size_t kl[NB], vl[NB];
	static int res[NB];
	static uint8_t val[64 * KiB];
	struct waiter *w = arg;
	pid_t tid = gettid();

	for (unsigned i = 0; w->batch && i < NB; i++) {
		kl[i] = mkkey(keys[i], sizeof(keys[i]), "w", 5, i);
		kp[i] = keys[i];
		vp[i] = val;
		vl[i] = sizeof(val);
	}
	if (write(w->tid_pipe, &tid, sizeof(tid)) != sizeof(tid))
		return NULL;
	if (w->batch) {
		w->ret = mmc_put_batch(w->c, NB, kp, kl, vp, vl, res);
	} else {
		struct mmc_stats s;

		w->ret = mmc_agent_stats(w->c, &s);
	}
	return NULL;
}

/* The system call thread tid is blocked in, or -1 (running / unknown). */
static long blocked_in(pid_t tid)
{
	char path[64], buf[64];
	FILE *f;
	long nr = -1;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return -2;
	if (fgets(buf, sizeof(buf), f) && strncmp(buf, "running", 7))
		nr = strtol(buf, NULL, 10);
	fclose(f);
	return nr;
}

/* No event tells that another thread sleeps in a system call: look at
 * /proc, yielding, for at most 10 s. */
static void wait_blocked(pid_t tid, long nr1, long nr2)
{
	double end = now_s() + 10;
	long nr;

	while ((nr = blocked_in(tid)) != nr1 && nr != nr2) {
		ck_assert_msg(nr != -2, "cannot read the state of thread %d", (int)tid);
		ck_assert_msg(now_s() < end, "thread %d not blocked (syscall %ld)",
			      (int)tid, nr);
		sched_yield();
	}
}

START_TEST(blocked_waiter)
{
	struct agent_proc a, b;
	struct waiter w[2];
	pthread_t th[2];
	mmc_client *c;
	pid_t tid[2];
	int tp[2], st;

	arm_alarm();
	agent_start(&a, "256M", NULL);
	c = connect_ok(NULL);
	put_pat_ok(c, "before", 4096);
	/* Stop the agent so no answer can come, and be sure it is stopped. */
	ck_assert_int_eq(kill(a.pid, SIGSTOP), 0);
	ck_assert_int_eq(waitpid(a.pid, &st, WUNTRACED), a.pid);
	ck_assert(WIFSTOPPED(st));
	ck_assert_int_eq(pipe(tp), 0);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct waiter){ .c = c, .tid_pipe = tp[1], .batch = i == 0,
					.ret = 1 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, waiter_main, &w[i]), 0);
		ck_assert_int_eq(read(tp[0], &tid[i], sizeof(tid[i])), sizeof(tid[i]));
		/* the batch sleeps in poll() for its answers; the stats call
		 * behind it, on the ring lock or in poll() */
		if (i == 0)
			wait_blocked(tid[i], 7 /* poll */, 271 /* ppoll */);
		else
			wait_blocked(tid[i], 202 /* futex */, 7);
	}
	agent_kill(&a);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_msg(w[i].ret == -ENOTCONN, "waiter %d: %d", i, w[i].ret);
	}
	ck_assert_int_eq(mmc_exists(c, "before", 6), -ENOTCONN);
	mmc_disconnect(c);
	close(tp[0]);
	close(tp[1]);

	agent_start(&b, "256M", NULL);
	c = connect_ok(NULL);
	ck_assert_int_eq(mmc_exists(c, "before", 6), 0);
	put_pat_ok(c, "before", 4096);
	get_pat_ok(c, "before", 4096);
	agent_finish(&b, c);
	agent_clean_dir(&a);
	alarm(0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reconnect");

	add_tests(add_tcase(s, "agent_gone", 60),
		  TESTS(agent_sigkill, local_hits_stop, agent_sigterm, blocked_waiter));
	return run_suite(s);
}
