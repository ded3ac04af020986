/*
 * test_verify.c - integrity a reader can check: a hostile client scribbles
 * into another client's committed value, and a third client's get must
 * then be a miss (verify = always), be caught within the sample window
 * (sampled), or - documented - return the scribbled bytes (off).
 *
 * The scribbler is a separate process that does what any client can: the
 * data region is mapped read-write into every client (writers fill their
 * reservations in place), so a view's const pointer is one cast away from
 * a write into someone else's value.  Real agents, real processes; no
 * sleeps: every step is a call that returns when it is done.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

#define ARENA "64M"
#define VLEN  (64u << 10)
#define HURT  200u        /* bytes the scribbler changes */

/* In a child process (its own session), like a hostile client would:
 * acquires key, writes HURT bytes into the middle of the value through the
 * view, releases.  Returns once the child is gone. */
static void scribble(const char *key)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		mmc_client *h;
		struct mmc_view v;
		int ok = mmc_connect(NULL, &h) == 0 &&
			mmc_acquire(h, key, strlen(key), &v) == 0 && v.len >= 2 * HURT;

		if (ok) {
			uint8_t *p = (uint8_t *)v.data + v.len / 2;   /* const cast away */

			for (unsigned i = 0; i < HURT; i++)
				p[i] ^= 0x5a;
			mmc_release(h, &v);
		}
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(wait_child(pid), 0);
}

static uint64_t failures(mmc_client *c)
{
	struct mmc_client_stats cs;

	ck_assert_int_eq(mmc_client_stats(c, &cs), 0);
	return cs.verify_failures;
}

/* Gets key into a buffer pre-set to 0xee: 0 and byte-exact, -EILSEQ for
 * success with other bytes, or the get's error (then asserts the buffer
 * holds no byte of the value: untouched or zeroed). */
static int get_checked(mmc_client *c, const char *key)
{
	uint8_t *b = malloc(VLEN);
	size_t got = 0;
	int r;

	ck_assert_ptr_nonnull(b);
	memset(b, 0xee, VLEN);
	r = mmc_get(c, key, strlen(key), b, VLEN, &got);
	if (!r && (got != VLEN || pattern_check(b, VLEN, key_seed(key, strlen(key)))))
		r = -EILSEQ;
	if (r && r != -EILSEQ)
		for (size_t i = 0; i < VLEN; i++)
			ck_assert_msg(b[i] == 0xee || b[i] == 0,
				      "a failed get left value bytes at %zu", i);
	free(b);
	return r;
}

/* Writer, scribbler, reader; verify = always. */
START_TEST(test_always_is_a_miss)
{
	struct agent_proc a;
	mmc_client *w, *r;
	struct mmc_stats st;

	agent_start(&a, ARENA, "--verify", "always", NULL);
	w = connect_ok(NULL);
	r = connect_ok(NULL);
	put_pat_ok(w, "victim", VLEN);
	put_pat_ok(w, "bystander", VLEN);
	ck_assert_int_eq(get_checked(r, "victim"), 0);

	scribble("victim");
	ck_assert_int_eq(get_checked(r, "victim"), -ENOENT);
	ck_assert_uint_eq(failures(r), 1);
	/* The bad object is dropped: the writer can store good bytes again. */
	ck_assert_int_eq(mmc_exists(r, "victim", 6), 0);
	put_pat_ok(w, "victim", VLEN);
	ck_assert_int_eq(get_checked(r, "victim"), 0);
	ck_assert_int_eq(get_checked(r, "bystander"), 0);   /* others untouched */
	ck_assert_uint_eq(failures(r), 1);
	st = stats_ok(r);
	ck_assert_uint_eq(st.verify_failures, 1);
	mmc_disconnect(w);
	agent_finish(&a, r);
}
END_TEST

/* sampled: one copying get in MMC_VERIFY_SAMPLE of a thread is checked,
 * so a corrupted value is caught within that many gets. */
START_TEST(test_sampled_within_window)
{
	struct agent_proc a;
	mmc_client *w, *r;
	unsigned wrong = 0, i;
	int ret = 0;

	agent_start(&a, ARENA, "--verify", "sampled", NULL);
	w = connect_ok(NULL);
	r = connect_ok(NULL);
	put_pat_ok(w, "victim", VLEN);
	scribble("victim");
	for (i = 0; i < MMC_VERIFY_SAMPLE; i++) {
		ret = get_checked(r, "victim");
		if (ret != -EILSEQ)
			break;
		wrong++;          /* not sampled: the scribbled bytes (off's risk) */
	}
	ck_assert_int_eq(ret, -ENOENT);
	ck_assert_uint_lt(wrong, MMC_VERIFY_SAMPLE);
	ck_assert_uint_eq(failures(r), 1);
	ck_assert_int_eq(mmc_exists(r, "victim", 6), 0);
	mmc_disconnect(w);
	agent_finish(&a, r);
}
END_TEST

/* off: nothing is checked, and puts store no checksum: the scribbled bytes
 * come back as a success.  This is the documented cost of off. */
START_TEST(test_off_is_not_checked)
{
	struct agent_proc a;
	mmc_client *w, *r;

	agent_start(&a, ARENA, "--verify", "off", NULL);
	w = connect_ok(NULL);
	r = connect_ok(NULL);
	put_pat_ok(w, "unsummed", VLEN);
	scribble("unsummed");
	for (unsigned i = 0; i < 2 * MMC_VERIFY_SAMPLE; i++)
		ck_assert_int_eq(get_checked(r, "unsummed"), -EILSEQ);
	/* A reader that asks for checks cannot check a value stored without
	 * a checksum ... */
	ck_assert_int_eq(mmc_set_verify(r, MMC_VERIFY_ALWAYS), 0);
	ck_assert_int_eq(get_checked(r, "unsummed"), -EILSEQ);
	ck_assert_uint_eq(failures(r), 0);
	/* ... but one whose writer turned checks on, it can. */
	ck_assert_int_eq(mmc_set_verify(w, MMC_VERIFY_SAMPLED), 0);
	put_pat_ok(w, "summed", VLEN);
	scribble("summed");
	ck_assert_int_eq(get_checked(r, "summed"), -ENOENT);
	ck_assert_uint_eq(failures(r), 1);
	mmc_disconnect(w);
	agent_finish(&a, r);
}
END_TEST

/* A client overrides the agent's mode, and returns to it. */
START_TEST(test_client_override)
{
	struct agent_proc a;
	mmc_client *w, *r;

	agent_start(&a, ARENA, "--verify", "always", NULL);
	w = connect_ok(NULL);
	r = connect_ok(NULL);
	ck_assert_int_eq(mmc_set_verify(r, 4), -EINVAL);
	ck_assert_int_eq(mmc_set_verify(r, -1), -EINVAL);
	ck_assert_int_eq(mmc_set_verify(NULL, MMC_VERIFY_OFF), -EINVAL);
	put_pat_ok(w, "victim", VLEN);
	scribble("victim");
	ck_assert_int_eq(mmc_set_verify(r, MMC_VERIFY_OFF), 0);
	ck_assert_int_eq(get_checked(r, "victim"), -EILSEQ);
	ck_assert_int_eq(mmc_set_verify(r, MMC_VERIFY_AGENT), 0);   /* always */
	ck_assert_int_eq(get_checked(r, "victim"), -ENOENT);
	ck_assert_uint_eq(failures(r), 1);
	mmc_disconnect(w);
	agent_finish(&a, r);
}
END_TEST

/* Views are checked on demand; getv and batches check what they copied;
 * a zero-copy reservation is summed at commit. */
START_TEST(test_views_vectors_batches)
{
	struct agent_proc a;
	struct mmc_reservation res;
	struct mmc_view v;
	mmc_client *w, *r;
	const char *keys[3] = { "b0", "victim", "b2" };
	const void *kp[3] = { keys[0], keys[1], keys[2] };
	size_t klens[3] = { 2, 6, 2 }, lens[3] = { VLEN, VLEN, VLEN }, got = 0;
	void *bufs[3];
	int64_t res3[3];
	uint8_t *half = malloc(VLEN);
	struct iovec iov[2];

	agent_start(&a, ARENA, "--verify", "always", NULL);
	w = connect_ok(NULL);
	r = connect_ok(NULL);
	for (int i = 0; i < 3; i++) {
		put_pat_ok(w, keys[i], VLEN);
		bufs[i] = malloc(VLEN);
		ck_assert_ptr_nonnull(bufs[i]);
	}
	ck_assert_int_eq(mmc_acquire(r, "victim", 6, &v), 0);
	ck_assert_int_eq(mmc_view_verify(r, &v), 1);
	ck_assert_int_eq(mmc_release(r, &v), 0);
	ck_assert_int_eq(mmc_view_verify(r, &v), -EINVAL);   /* released */

	scribble("victim");
	ck_assert_int_eq(mmc_acquire(r, "victim", 6, &v), 0);   /* not checked */
	ck_assert_int_eq(mmc_view_verify(r, &v), -ENOENT);
	ck_assert_int_eq(mmc_release(r, &v), 0);
	ck_assert_int_eq(mmc_exists(r, "victim", 6), 0);

	put_pat_ok(w, "victim", VLEN);
	scribble("victim");
	ck_assert_int_eq(mmc_get_batch(r, 3, kp, klens, bufs, lens, res3), 2);
	ck_assert_int_eq(res3[0], VLEN);
	ck_assert_int_eq(res3[1], -ENOENT);
	ck_assert_int_eq(res3[2], VLEN);
	ck_assert_uint_eq(pattern_check(bufs[0], VLEN, key_seed("b0", 2)), 0);
	ck_assert_uint_eq(pattern_check(bufs[2], VLEN, key_seed("b2", 2)), 0);

	put_pat_ok(w, "victim", VLEN);
	scribble("victim");
	ck_assert_ptr_nonnull(half);
	iov[0] = (struct iovec){ .iov_base = half, .iov_len = VLEN / 2 };
	iov[1] = (struct iovec){ .iov_base = half + VLEN / 2, .iov_len = VLEN / 2 };
	ck_assert_int_eq(mmc_getv(r, "victim", 6, iov, 2, &got), -ENOENT);
	ck_assert_uint_eq(failures(r), 3);

	/* Zero copy in: filled in place, summed at commit. */
	ck_assert_int_eq(mmc_reserve(w, "zc", 2, VLEN, &res), 0);
	pattern_fill(res.data, VLEN, key_seed("zc", 2));
	ck_assert_int_eq(mmc_commit(w, &res), 0);
	ck_assert_int_eq(get_checked(r, "zc"), 0);
	scribble("zc");
	ck_assert_int_eq(get_checked(r, "zc"), -ENOENT);
	ck_assert_uint_eq(failures(r), 4);

	for (int i = 0; i < 3; i++)
		free(bufs[i]);
	free(half);
	mmc_disconnect(w);
	agent_finish(&a, r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("verify");
	TCase *tc = add_tcase(s, "verify", 60);

	add_tests(tc, TESTS(test_always_is_a_miss, test_sampled_within_window,
			    test_off_is_not_checked, test_client_override,
			    test_views_vectors_batches));
	return run_suite(s);
}
