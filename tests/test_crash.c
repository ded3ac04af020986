/*
 * test_crash.c - worker processes that exit or die while they hold things.
 *
 *   exit_then_read    a child puts and exits; the parent reads byte-exact
 *   kill_with_pins    a child holding 3 views and 2 half-filled reservations
 *                     is killed with SIGKILL: one stats call after waitpid()
 *                     already shows its pins and reservations gone, the space
 *                     is reusable to the brim and the keys are puttable
 *   kill_mid_batch    a child killed inside mmc_put_batch, in the middle of
 *                     copying a value (it faults on a guard page and tells
 *                     the parent from its SIGSEGV handler), leaves no
 *                     partially written value visible and nothing leaked
 *   disconnect_ends_session[_forked]
 *                     mmc_disconnect() drops the session's pins and
 *                     reservations at once, also after a fork()
 *   forked_child_refused
 *                     a child after fork() gets -ECHILD from every call on
 *                     the parent's client (its disconnect leaves the
 *                     parent's session, view and pin as they were), and a
 *                     client of its own works
 *
 * Children never call ck_assert: they report through pipes and exit codes.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

#define KiB (1024ull)
#define MiB (1024ull * 1024)

START_TEST(exit_then_read)
{
	struct agent_proc a;
	mmc_client *c;
	pid_t pid;
	int st;

	agent_start(&a, "64M", NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct mmc_reservation r;

		if (mmc_connect(NULL, &c) || put_pat(c, "page", 4096) ||
		    mmc_reserve(c, "big", 3, 1 * MiB + 3, &r))
			_exit(1);
		pattern_fill(r.data, r.len, key_seed("big", 3));
		_exit(mmc_commit(c, &r) ? 2 : 0);   /* no disconnect: just gone */
	}
	st = wait_child(pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
	c = connect_ok(NULL);
	ck_assert_int_eq(get_pat(c, "page", 4096), 0);
	ck_assert_int_eq(get_pat(c, "big", 1 * MiB + 3), 0);
	ck_assert_uint_eq(stats_ok(c).objects, 2);
	ck_assert_uint_eq(stats_ok(c).clients, 1);
	agent_finish(&a, c);
}
END_TEST

#define RES_LEN (15 * MiB)   /* two fit one session's [limits] share of 64M */

/* Child of kill_with_pins: 3 views, 2 half-filled reservations, then waits
 * to be killed.  Exit codes say what went wrong. */
static int pin_child(int ready, int hold)
{
	static const char *const keys[3] = { "held0", "held1", "held2" };
	struct mmc_reservation r[2];
	struct mmc_view v[3];
	mmc_client *c;
	char b;

	if (mmc_connect(NULL, &c))
		return 10;
	for (int i = 0; i < 3; i++)
		if (mmc_acquire(c, keys[i], 5, &v[i]) || v[i].len != 1 * MiB ||
		    pattern_check(v[i].data, v[i].len, key_seed(keys[i], 5)))
			return 11 + i;
	if (mmc_reserve(c, "resv0", 5, RES_LEN, &r[0]) ||
	    mmc_reserve(c, "resv1", 5, RES_LEN, &r[1]))
		return 14;
	memset(r[0].data, 0x5a, RES_LEN / 2);
	memset(r[1].data, 0xa5, RES_LEN / 2);
	if (write(ready, "r", 1) != 1)
		return 15;
	(void)!read(hold, &b, 1);   /* never written: we are killed here */
	return 16;
}

START_TEST(kill_with_pins)
{
	struct agent_proc a;
	struct mmc_stats s;
	mmc_client *c;
	int ready[2], hold[2];
	char b;
	pid_t pid;

	agent_start(&a, "64M", NULL);
	c = connect_ok(NULL);
	ck_assert_int_eq(put_pat(c, "held0", 1 * MiB), 0);
	ck_assert_int_eq(put_pat(c, "held1", 1 * MiB), 0);
	ck_assert_int_eq(put_pat(c, "held2", 1 * MiB), 0);
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(hold), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		_exit(pin_child(ready[1], hold[0]));
	}
	close(ready[1]);
	close(hold[0]);
	if (read(ready[0], &b, 1) != 1) {
		int st;

		waitpid(pid, &st, 0);
		ck_abort_msg("child failed before it was ready: status 0x%x", st);
	}
	s = stats_ok(c);
	ck_assert_uint_eq(s.clients, 2);
	ck_assert_uint_eq(s.pinned_objects, 3);
	ck_assert_uint_eq(s.reservations, 2);
	ck_assert_uint_eq(s.reserved_bytes, 2 * RES_LEN);
	ck_assert_uint_eq(s.used_bytes, 3 * MiB + 2 * RES_LEN);
	ck_assert_uint_eq(s.objects, 3);
	/* the reserved keys belong to the child for now */
	ck_assert_int_eq(put_pat(c, "resv0", 4096), -EBUSY);
	ck_assert_int_eq(mmc_exists(c, "resv1", 5), 0);
	/* removed while the child pins it: gone for readers, space kept */
	ck_assert_int_eq(mmc_remove(c, "held1", 5), 0);
	s = stats_ok(c);
	ck_assert_uint_eq(s.objects, 2);
	ck_assert_uint_eq(s.pinned_objects, 3);
	ck_assert_uint_eq(s.used_bytes, 3 * MiB + 2 * RES_LEN);

	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	wait_killed(pid, SIGKILL);
	s = stats_ok(c);   /* one call, no polling: the agent settles dead sessions first */
	ck_assert_uint_eq(s.pinned_objects, 0);
	ck_assert_uint_eq(s.reservations, 0);
	ck_assert_uint_eq(s.reserved_bytes, 0);
	ck_assert_uint_eq(s.clients, 1);
	ck_assert_uint_eq(s.used_bytes, 2 * MiB);   /* held1's space came back too */
	ck_assert_uint_eq(s.objects, 2);

	/* the space is reusable, and the keys are free */
	ck_assert_int_eq(put_pat(c, "resv0", RES_LEN), 0);
	ck_assert_int_eq(put_pat(c, "resv1", RES_LEN), 0);
	ck_assert_int_eq(put_pat(c, "held1", 1 * MiB), 0);
	s = stats_ok(c);
	ck_assert_uint_eq(s.used_bytes, 3 * MiB + 2 * RES_LEN);
	ck_assert_uint_eq(s.evictions, 0);
	ck_assert_uint_eq(s.objects, 5);
	ck_assert_int_eq(get_pat(c, "resv0", RES_LEN), 0);
	ck_assert_int_eq(get_pat(c, "resv1", RES_LEN), 0);
	ck_assert_int_eq(get_pat(c, "held0", 1 * MiB), 0);
	ck_assert_int_eq(get_pat(c, "held1", 1 * MiB), 0);
	ck_assert_int_eq(get_pat(c, "held2", 1 * MiB), 0);
	/* the objects it pinned are removable and their space comes back */
	ck_assert_int_eq(mmc_remove(c, "held2", 5), 0);
	ck_assert_uint_eq(stats_ok(c).used_bytes, 2 * MiB + 2 * RES_LEN);
	close(ready[0]);
	close(hold[1]);
	agent_finish(&a, c);
}
END_TEST

#define BATCH 64
#define VLEN (256 * KiB)
#define TRAP 40           /* batch 1 faults while copying this key's value */

/* Keys crash/000000, crash/000001, ... */
#define KEY(k, i) mkkey(k, sizeof(k), "crash/", 6, i)

static uint8_t *trap_lo, *trap_hi;
static int trap_fd;

/* The batch copy reached the guard page: tell the parent, wait for death. */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
	if ((uint8_t *)si->si_addr < trap_lo || (uint8_t *)si->si_addr >= trap_hi) {
		signal(SIGSEGV, SIG_DFL);   /* a real crash: let it happen */
		return;
	}
	(void)!write(trap_fd, "m", 1);
	for (;;)
		pause();
}

/* Child of kill_mid_batch: one whole batch, then a batch whose value TRAP
 * has an inaccessible second half, so the child is caught inside
 * mmc_put_batch, mid-copy, deterministically. */
static int batch_child(int ready)
{
	static char keys[BATCH][32];
	const void *kp[BATCH], *vp[BATCH];
	size_t kl[BATCH], vl[BATCH];
	int res[BATCH];
	uint8_t *vals = malloc((size_t)BATCH * VLEN), *trap;
	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };
	mmc_client *c;

	trap = mmap(NULL, VLEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!vals || trap == MAP_FAILED || mmc_connect(NULL, &c))
		return 10;
	for (unsigned b = 0; b < 2; b++) {
		for (unsigned j = 0; j < BATCH; j++) {
			kl[j] = KEY(keys[j], b * BATCH + j);
			kp[j] = keys[j];
			vp[j] = vals + (size_t)j * VLEN;
			vl[j] = VLEN;
			pattern_fill(vals + (size_t)j * VLEN, VLEN, key_seed(keys[j], kl[j]));
		}
		if (b == 1) {
			memcpy(trap, vp[TRAP], VLEN);
			if (mprotect(trap + VLEN / 2, VLEN / 2, PROT_NONE))
				return 11;
			trap_lo = trap + VLEN / 2;
			trap_hi = trap + VLEN;
			trap_fd = ready;
			vp[TRAP] = trap;
			sigaction(SIGSEGV, &sa, NULL);
		}
		if (mmc_put_batch(c, BATCH, kp, kl, vp, vl, res) != BATCH)
			return 12;
	}
	return 13;   /* the trap did not fire */
}

START_TEST(kill_mid_batch)
{
	struct agent_proc a;
	struct mmc_stats s;
	mmc_client *c;
	uint8_t *buf = malloc(VLEN + 1);
	unsigned present = 0;
	int ready[2], st;
	char b, k[32];
	pid_t pid;

	agent_start(&a, "256M", NULL);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(ready[0]);
		_exit(batch_child(ready[1]));
	}
	close(ready[1]);
	if (read(ready[0], &b, 1) != 1) {
		waitpid(pid, &st, 0);
		ck_abort_msg("child never reached the trap: status 0x%x", st);
	}
	c = connect_ok(NULL);
	s = stats_ok(c);   /* the child sits inside mmc_put_batch, mid-copy */
	ck_assert_uint_gt(s.reservations, 0);
	ck_assert_uint_gt(s.reserved_bytes, 0);
	ck_assert_uint_ge(s.objects, BATCH);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	wait_killed(pid, SIGKILL);
	s = stats_ok(c);
	ck_assert_uint_eq(s.reservations, 0);
	ck_assert_uint_eq(s.reserved_bytes, 0);
	ck_assert_uint_eq(s.clients, 1);
	for (unsigned i = 0; i < 2 * BATCH; i++) {
		size_t kl = KEY(k, i), got = 0;
		int r = mmc_get(c, k, kl, buf, VLEN + 1, &got);

		if (r == -ENOENT && i >= BATCH)
			continue;
		ck_assert_msg(r == 0, "key %u: %s", i, mmc_strerror(r));
		ck_assert_uint_eq(got, VLEN);
		ck_assert_msg(pattern_check(buf, VLEN, key_seed(k, kl)) == 0,
			      "key %u visible but not the value written", i);
		present++;
	}
	KEY(k, BATCH + TRAP);   /* never fully copied: must not be visible */
	ck_assert_int_eq(mmc_exists(c, k, strlen(k)), 0);
	s = stats_ok(c);
	ck_assert_uint_eq(s.objects, present);
	ck_assert_uint_eq(s.used_bytes, (uint64_t)present * VLEN);   /* nothing leaked */
	/* every key of the broken batch can be written now: none is -EBUSY */
	for (unsigned i = BATCH; i < 2 * BATCH; i++) {
		int r;

		KEY(k, i);
		r = put_pat(c, k, VLEN);
		ck_assert_msg(r == 0 || r == -EEXIST, "key %u: %s", i, mmc_strerror(r));
		ck_assert_int_eq(get_pat(c, k, VLEN), 0);
	}
	ck_assert_uint_eq(stats_ok(c).objects, 2 * BATCH);
	free(buf);
	close(ready[0]);
	agent_finish(&a, c);
}
END_TEST

/* mmc_disconnect() ends the session at once: its pin and reservation go,
 * as one stats call (which settles closed sessions first) shows.  forked:
 * the process forked after connecting; mmc.h says a child must connect
 * anew, but it holds copies of the session's descriptors. */
static void disconnect_case(bool forked)
{
	struct agent_proc a;
	struct mmc_reservation r;
	struct mmc_view v;
	struct mmc_stats s;
	mmc_client *c, *d;
	int hold[2];
	pid_t pid = -1;

	agent_start(&a, "64M", NULL);
	c = connect_ok(NULL);
	d = connect_ok(NULL);
	ck_assert_int_eq(put_pat(c, "dc", 4096), 0);
	ck_assert_int_eq(mmc_acquire(c, "dc", 2, &v), 0);
	ck_assert_int_eq(mmc_reserve(c, "dr", 2, 4096, &r), 0);
	ck_assert_int_eq(pipe(hold), 0);
	if (forked) {   /* a child that only inherited the descriptors */
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			char b;

			close(hold[1]);
			_exit(read(hold[0], &b, 1) == 0 ? 0 : 1);
		}
	}
	close(hold[0]);
	s = stats_ok(d);
	ck_assert_uint_eq(s.clients, 2);
	ck_assert_uint_eq(s.pinned_objects, 1);
	mmc_disconnect(c);
	s = stats_ok(d);
	ck_assert_uint_eq(s.clients, 1);
	ck_assert_uint_eq(s.pinned_objects, 0);
	ck_assert_uint_eq(s.reservations, 0);
	ck_assert_int_eq(mmc_put(d, "dr", 2, "x", 1), 0);
	close(hold[1]);
	if (pid > 0)
		ck_assert_int_eq(wait_child(pid), 0);
	agent_finish(&a, d);
}

START_TEST(disconnect_ends_session)
{
	disconnect_case(false);
}
END_TEST

START_TEST(disconnect_ends_session_forked)
{
	disconnect_case(true);
}
END_TEST

/* What a child does with its parent's client c, which holds view v of
 * "fk": every call refused, disconnect harmless, a new client fine.
 * Returns the exit code: 0, or the number of the first check that failed. */
static int forked_child(mmc_client *c, struct mmc_view *v)
{
	struct mmc_reservation r;
	struct mmc_client_stats cs;
	char buf[64];
	size_t len;
	mmc_client *own;

	if (mmc_get(c, "fk", 2, buf, sizeof(buf), &len) != -ECHILD)
		return 1;
	if (mmc_exists(c, "fk", 2) != -ECHILD || mmc_put(c, "x", 1, "y", 1) != -ECHILD)
		return 2;
	if (mmc_reserve(c, "x", 1, 10, &r) != -ECHILD || mmc_remove(c, "fk", 2) != -ECHILD)
		return 3;
	if (mmc_release(c, v) != -ECHILD || mmc_client_stats(c, &cs) != -ECHILD)
		return 4;
	mmc_disconnect(c);
	if (mmc_connect(NULL, &own) || get_pat(own, "fk", 4096))
		return 5;
	mmc_disconnect(own);
	return 0;
}

START_TEST(forked_child_refused)
{
	struct agent_proc a;
	struct mmc_view v;
	struct mmc_stats s;
	mmc_client *c;
	pid_t pid;
	int st;

	agent_start(&a, "64M", NULL);
	c = connect_ok(NULL);
	put_pat_ok(c, "fk", 4096);
	ck_assert_int_eq(mmc_acquire(c, "fk", 2, &v), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(forked_child(c, &v));
	st = wait_child(pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
	s = stats_ok(c);
	ck_assert_uint_eq(s.clients, 1);
	ck_assert_uint_eq(s.pinned_objects, 1);     /* the child released nothing */
	ck_assert_int_eq(mmc_release(c, &v), 0);
	get_pat_ok(c, "fk", 4096);
	ck_assert_uint_eq(stats_ok(c).pinned_objects, 0);
	agent_finish(&a, c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crash");

	add_tests(add_tcase(s, "crash", 60),
		  TESTS(exit_then_read, kill_with_pins, kill_mid_batch,
			disconnect_ends_session, disconnect_ends_session_forked,
			forked_child_refused));
	return run_suite(s);
}
