/*
 * test_limits.c - one client against the others, as an attacker on a
 * shared node would try it, against a real agent with the default [limits]
 * (or a few lowered in a config file):
 *
 *   index_hoard         reserving without committing takes a quarter of
 *                       the index, not all of it: -EDQUOT, and another
 *                       client of the same uid still puts 2,000 objects
 *   pin_hoard           a client that writes pins past its cap into its
 *                       own table loses the excess after a second; others
 *                       still put (eviction goes on); libshm refuses a view
 *                       past the cap with -EDQUOT
 *   silent_connections  1,100 connections that never say hello lock
 *                       nobody out: the oldest are dropped, the rest time out
 *   out_of_descriptors  an agent out of descriptors refuses new clients at
 *                       once with -EMFILE and serves the established ones;
 *                       when silent connections took the descriptors, a
 *                       client that says hello gets in
 *   uid_caps            sessions_per_uid and max_sessions: -EDQUOT for the
 *                       uid at its cap, -EMFILE when the agent is full,
 *                       other uids and established sessions unaffected
 *   quiet_sessions      300 sessions go quiet (the loop stops polling
 *                       them) and are served again on their next request
 *
 * Every value read back is checked byte for byte; waits are on observable
 * state (stats, a socket's EOF), bounded.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"
#include "raw-session.h"

#define MiB (1024ull * 1024)

/* A config file with text, for agent_start(..., "--config", path). */
static const char *write_conf(char *path, size_t len, const char *text)
{
	FILE *f;

	snprintf(path, len, "/tmp/mmc-limits-%d-%u.conf", (int)getpid(),
		 (unsigned)rand());
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* Raises the soft descriptor limit to want (root: the hard one too). */
static void want_fds(rlim_t want)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < want && geteuid() == 0)
		rl.rlim_max = want;
	if (rl.rlim_cur < want)
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Queues RESERVE key of len bytes on rs. */
static void q_reserve(struct raw_session *rs, uint32_t tag, const char *key, uint64_t len)
{
	struct mmc_sqe q = { .op = MMC_OP_RESERVE, .tag = tag, .arg = len };

	q.key_len = (uint16_t)strlen(key);
	memcpy(q.key, key, q.key_len);
	raw_queue(rs, &q);
}

/* ---- the index ---- */

START_TEST(index_hoard)
{
	struct agent_proc a;
	struct raw_session rs;
	struct mmc_cqe cqe[128];
	struct mmc_stats st;
	mmc_client *c;
	uint32_t granted = 0, tag = 0;
	int first_refusal = 0;
	char k[48];

	agent_start(&a, "64M", NULL);              /* 4,096 index entries */
	c = connect_ok(NULL);
	raw_handshake(&rs, a.sock);
	/* Reserve and never commit, 128 at a time, until the agent says no. */
	for (int round = 0; round < 40 && !first_refusal; round++) {
		for (int i = 0; i < 128; i++) {
			snprintf(k, sizeof(k), "hoard-%05u", tag);
			q_reserve(&rs, tag++, k, 4096);
		}
		raw_submit_wait(&rs, cqe, 128);
		for (int i = 0; i < 128; i++) {
			if (!cqe[i].res)
				granted++;
			else if (!first_refusal)
				first_refusal = cqe[i].res;
		}
	}
	ck_assert_msg(first_refusal == -EDQUOT, "hoarder stopped by %d (%s) after %u",
		      first_refusal, mmc_strerror(first_refusal), granted);
	ck_assert_uint_eq(granted, 4096 / 4);      /* reservations_per_session = 25% */
	/* Everyone else: 2,000 puts, all there byte for byte. */
	for (unsigned i = 0; i < 2000; i++) {
		mkkey(k, sizeof(k), "honest-", 5, i);
		put_pat_ok(c, k, 4096);
	}
	for (unsigned i = 0; i < 2000; i += 97) {
		mkkey(k, sizeof(k), "honest-", 5, i);
		get_pat_ok(c, k, 4096);
	}
	st = stats_ok(c);
	ck_assert_uint_eq(st.reservations, granted);
	ck_assert_uint_ge(st.quota_refusals, 1);
	ck_assert_uint_eq(st.alloc_failures, 0);
	raw_close(&rs);
	wait_closed_by_stats(c, 1);
	st = stats_ok(c);
	ck_assert_uint_eq(st.reservations, 0);
	ck_assert_uint_eq(st.reserved_bytes, 0);
	agent_finish(&a, c);
}
END_TEST

/* ---- pins ---- */

/* RESERVE + COMMIT of key (len bytes, contents left as they are) on rs;
 * the pin word of the committed object. */
static uint64_t raw_put(struct raw_session *rs, const char *key, uint64_t len)
{
	struct mmc_sqe q = { .op = MMC_OP_COMMIT };
	struct mmc_cqe c;

	q_reserve(rs, 1, key, len);
	raw_submit_wait(rs, &c, 1);
	ck_assert_msg(c.res == 0, "raw reserve %s: %s", key, mmc_strerror(c.res));
	q.idx = c.idx;
	q.gen = c.gen;
	raw_queue(rs, &q);
	raw_submit_wait(rs, &c, 1);
	ck_assert_int_eq(c.res, 0);
	return MMC_OBJ_WORD(q.idx, q.gen);
}

START_TEST(pin_hoard)
{
	struct agent_proc a;
	struct raw_session rs;
	struct mmc_stats st;
	struct mmc_view v[20];
	_Atomic uint64_t *pins;
	mmc_client *c;
	double deadline;
	int nview;
	char k[48];

	agent_start(&a, "64M", NULL);   /* pinned_bytes_per_session = 25%: 16 MiB */
	c = connect_ok(NULL);
	raw_handshake(&rs, a.sock);
	pins = (_Atomic uint64_t *)((char *)rs.ring + rs.ring->pins_off);
	ck_assert_uint_eq(rs.ring->pin_bytes_max, 16 * MiB);
	/* 48 MiB of objects, every one pinned by hand in the hoarder's table. */
	for (int i = 0; i < 48; i++) {
		snprintf(k, sizeof(k), "pinned-%02d", i);
		atomic_store(&pins[i], raw_put(&rs, k, 1 * MiB));
	}
	atomic_store(&rs.ring->pin_hwm, 48);
	st = stats_ok(c);
	ck_assert_uint_eq(st.pinned_objects, 48);
	/* Over its cap: after a second, the agent stops believing it. */
	deadline = now_s() + 10;
	while ((st = stats_ok(c)).pins_ignored == 0)
		ck_assert_msg(now_s() < deadline, "pins past the cap still honoured");
	ck_assert_uint_eq(st.pinned_objects, 17);   /* 16 MiB, and the one that crossed */
	/* Others put 40 MiB into an arena the hoarder "pinned" full. */
	for (unsigned i = 0; i < 40; i++) {
		int r;

		mkkey(k, sizeof(k), "after-", 3, i);
		r = put_pat(c, k, 1 * MiB);
		ck_assert_msg(r == 0, "put %u: %s", i, mmc_strerror(r));
	}
	/* The newest are all there (the oldest of them went: the arena holds
	 * 17 pinned and about 39 more). */
	for (unsigned i = 20; i < 40; i++) {
		mkkey(k, sizeof(k), "after-", 3, i);
		get_pat_ok(c, k, 1 * MiB);
	}
	/* What the hoarder may pin, it keeps. */
	for (int i = 0; i < 17; i++) {
		snprintf(k, sizeof(k), "pinned-%02d", i);
		ck_assert_msg(mmc_exists(c, k, strlen(k)) == 1, "%s evicted", k);
	}
	st = stats_ok(c);
	ck_assert_uint_gt(st.evictions, 20);
	raw_close(&rs);

	/* libshm says no before the agent has to: views of 1 MiB up to 16 MiB. */
	put_pat_ok(c, "small", 4096);
	for (nview = 0; nview < 20; nview++) {
		int r;

		mkkey(k, sizeof(k), "after-", 3, (unsigned)(39 - nview));
		r = mmc_acquire(c, k, strlen(k), &v[nview]);
		if (r == -EDQUOT)
			break;
		ck_assert_msg(r == 0, "acquire %s: %s", k, mmc_strerror(r));
		ck_assert_uint_eq(pattern_check(v[nview].data, v[nview].len,
						key_seed(k, strlen(k))), 0);
	}
	ck_assert_int_eq(nview, 16);
	mkkey(k, sizeof(k), "after-", 3, 23);
	ck_assert_int_eq(get_pat(c, k, 1 * MiB), -EDQUOT);   /* a copy pins too */
	get_pat_ok(c, "small", 4096);                        /* ... unless it is small */
	ck_assert_int_eq(mmc_release(c, &v[0]), 0);
	get_pat_ok(c, k, 1 * MiB);
	for (int i = 1; i < nview; i++)
		ck_assert_int_eq(mmc_release(c, &v[i]), 0);
	agent_finish(&a, c);
}
END_TEST

/* ---- connections ---- */

/* Waits (bounded) until the agent has closed fd: EOF or a reset. */
static bool closed_by_agent(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char b[sizeof(struct mmc_welcome)];

	if (poll(&p, 1, ms) != 1)
		return false;
	while (recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
	return recv(fd, b, sizeof(b), MSG_DONTWAIT) == 0 || errno == ECONNRESET;
}

#define SILENT 1100
START_TEST(silent_connections)
{
	static int fd[SILENT];
	char conf[96];
	struct agent_proc a;
	struct mmc_stats st;
	mmc_client *c;
	int dropped = 0, left = 0;
	double t0;

	want_fds(SILENT + 256);
	agent_start(&a, "64M", "--config", write_conf(conf, sizeof(conf),
		    "[limits]\nhandshake_timeout_ms = 1500\n"), NULL);
	unlink(conf);
	for (int i = 0; i < SILENT; i++)
		fd[i] = raw_connect(a.sock);
	/* A real client is in at once, and served. */
	t0 = now_s();
	c = connect_ok(NULL);
	ck_assert_msg(now_s() - t0 < 2, "connect took %.2f s", now_s() - t0);
	roundtrip_ok(c, "through-the-crowd", 65536, 7);
	st = stats_ok(c);
	ck_assert_uint_eq(st.clients, 1);
	/* The oldest silent ones were dropped to make room, the rest wait. */
	for (int i = 0; i < SILENT; i++)
		dropped += closed_by_agent(fd[i], 0);
	ck_assert_msg(dropped >= SILENT - 256, "%d of %d dropped", dropped, SILENT);
	/* ... until their deadline. */
	for (int i = 0; i < SILENT; i++) {
		left += !closed_by_agent(fd[i], 5000);
		close(fd[i]);
	}
	ck_assert_int_eq(left, 0);
	roundtrip_ok(c, "after-the-crowd", 4096, 8);
	agent_finish(&a, c);
}
END_TEST

START_TEST(out_of_descriptors)
{
	static mmc_client *cs[64];
	static int silent[70];
	const struct rlimit low = { 64, 64 };
	struct agent_proc a;
	int n = 0, r = 0;
	double t0, dt = 0;

	agent_start(&a, "64M", NULL);
	/* Now it cannot have more than 64 descriptors (a dozen are its own). */
	ck_assert_int_eq(prlimit(a.pid, RLIMIT_NOFILE, &low, NULL), 0);
	while (n < 64) {
		mmc_client *c = NULL;

		t0 = now_s();
		r = mmc_connect(NULL, &c);
		dt = now_s() - t0;
		if (r)
			break;
		cs[n++] = c;
	}
	ck_assert_msg(r == -EMFILE, "connect %d: %s after %.2f s", n, mmc_strerror(r), dt);
	ck_assert_msg(dt < 2, "refusal took %.2f s", dt);
	ck_assert_int_gt(n, 4);
	/* Established sessions notice nothing; refusals go on being quick. */
	for (int i = 0; i < n; i++) {
		char k[32];

		mkkey(k, sizeof(k), "fd-", 3, (unsigned)i);
		roundtrip_ok(cs[i], k, 8192, (uint64_t)i);
	}
	for (int i = 0; i < 3; i++) {
		mmc_client *c = NULL;

		t0 = now_s();
		ck_assert_int_eq(mmc_connect(NULL, &c), -EMFILE);
		ck_assert(now_s() - t0 < 2);
	}
	/* A session that ends makes room for a new one. */
	mmc_disconnect(cs[--n]);
	ck_assert_uint_eq(stats_ok(cs[0]).clients, (uint64_t)n);
	cs[n] = connect_ok(NULL);
	get_seeded_ok(cs[n], "fd-000", 8192, 0);
	n++;
	ck_assert_uint_ge(stats_ok(cs[0]).clients_rejected, 4);
	while (n > 1)
		mmc_disconnect(cs[--n]);
	/* Silent connections take every descriptor left: a client that
	 * says hello gets in at once, one of them makes room. */
	for (int i = 0; i < 70; i++)
		silent[i] = raw_connect(a.sock);
	t0 = now_s();
	cs[1] = connect_ok(NULL);
	ck_assert_msg(now_s() - t0 < 2, "connect took %.2f s", now_s() - t0);
	get_seeded_ok(cs[1], "fd-001", 8192, 1);
	mmc_disconnect(cs[1]);
	for (int i = 0; i < 70; i++)
		close(silent[i]);
	agent_finish(&a, cs[0]);
}
END_TEST

/* What the uid_client wrote. */
static int uid_result(int ready)
{
	struct pollfd p = { .fd = ready, .events = POLLIN };
	int r = 1;

	ck_assert_msg(poll(&p, 1, 10000) == 1, "no word from the uid client");
	ck_assert_int_eq(read(ready, &r, sizeof(r)), sizeof(r));
	return r;
}

/* In a child as uid: wait for a byte on go, connect, round-trip a value if
 * admitted, write what mmc_connect returned (an int) to ready, then hold
 * the session until hold is closed.  Exit 0 unless the round trip failed;
 * 2 if hold brought anything but end-of-file, 3 if go never came.
 *
 * Forked before the test connects anything: a fork() while other threads
 * run (each session has a watcher thread) can copy a lock one of them
 * holds inside the ASan runtime (gcc 12's libasan has no fork handlers),
 * and the child's own watcher thread then waits for it forever - which
 * CI saw twice as this test hanging in its ASan pass. */
static pid_t uid_client(uid_t uid, const int go[2], const int ready[2], const int hold[2])
{
	pid_t pid = fork();

	ck_assert(pid >= 0);
	if (pid == 0) {
		mmc_client *c = NULL;
		char b, k[32];
		int r = -EPERM;

		close(go[1]);
		close(ready[0]);
		close(hold[1]);     /* else our own copy would keep us waiting */
		if (read(go[0], &b, 1) != 1)
			_exit(3);
		if (!setgroups(0, NULL) && !setgid(uid) && !setuid(uid))
			r = mmc_connect(NULL, &c);
		snprintf(k, sizeof(k), "uid-%u", (unsigned)uid);
		if (!r && (put_pat(c, k, 5000) || get_pat(c, k, 5000)))
			r = -EILSEQ;
		(void)!write(ready[1], &r, sizeof(r));
		if (read(hold[0], &b, 1) != 0)     /* only the parent's close */
			_exit(2);
		mmc_disconnect(c);
		_exit(0);
	}
	return pid;
}

/* Lets a uid_client go and returns what it wrote to ready. */
static int uid_go(const int go[2], int ready)
{
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	return uid_result(ready);
}

START_TEST(uid_caps)
{
	char conf[96];
	struct agent_proc a;
	mmc_client *c[4], *extra = NULL;
	int rd[2], hold[2], go_a[2], go_b[2], r;
	pid_t pa, pb;

	require_root("switches uids");
	agent_start(&a, "64M", "--config", write_conf(conf, sizeof(conf),
		    "[agent]\nsocket_mode = 0666\n[access]\nallow_uids = 65533 65532\n"
		    "[limits]\nsessions_per_uid = 4\nmax_sessions = 5\n"), NULL);
	unlink(conf);
	ck_assert_int_eq(chmod(a.dir, 0755), 0);
	ck_assert_int_eq(pipe(rd), 0);
	ck_assert_int_eq(pipe(hold), 0);
	ck_assert_int_eq(pipe(go_a), 0);
	pa = uid_client(65533, go_a, rd, hold);     /* forked while single-threaded */
	ck_assert_int_eq(pipe(go_b), 0);            /* pa must not hold it open */
	pb = uid_client(65532, go_b, rd, hold);
	for (int i = 0; i < 4; i++)
		c[i] = connect_ok(NULL);
	ck_assert_int_eq(mmc_connect(NULL, &extra), -EDQUOT);   /* root's fifth */
	r = uid_go(go_a, rd[0]);                                /* the agent's fifth */
	ck_assert_msg(r == 0, "uid 65533: %s", mmc_strerror(r));
	r = uid_go(go_b, rd[0]);                                /* a sixth: full */
	ck_assert_msg(r == -EMFILE, "uid 65532: %s", mmc_strerror(r));
	close(hold[1]);
	ck_assert_int_eq(wait_child(pa), 0);
	ck_assert_int_eq(wait_child(pb), 0);
	for (int i = 0; i < 4; i++) {
		char k[32];

		mkkey(k, sizeof(k), "still-served-", 1, (unsigned)i);
		roundtrip_ok(c[i], k, 4096 + (size_t)i, (uint64_t)i);
	}
	ck_assert_uint_ge(stats_ok(c[0]).clients_rejected, 2);
	mmc_disconnect(c[3]);
	c[3] = connect_ok(NULL);                                  /* room again */
	get_pat_ok(c[3], "uid-65533", 5000);
	for (int i = 1; i < 4; i++)
		mmc_disconnect(c[i]);
	close(rd[0]);
	close(rd[1]);
	close(hold[0]);
	for (int i = 0; i < 2; i++) {
		close(go_a[i]);
		close(go_b[i]);
	}
	agent_finish(&a, c[0]);
}
END_TEST

/* ---- the loop's round ---- */

#define QUIET 300
START_TEST(quiet_sessions)
{
	static mmc_client *cs[QUIET];
	struct agent_proc a;
	struct mmc_stats st;
	double deadline;
	char k[32];

	want_fds(QUIET * 5 + 256);
	agent_start(&a, "64M", NULL);
	for (int i = 0; i < QUIET; i++) {
		cs[i] = connect_ok(NULL);
		mkkey(k, sizeof(k), "quiet-", 3, (unsigned)i);
		put_pat_ok(cs[i], k, 4096);
	}
	/* Idle sessions go quiet: the loop no longer polls them. */
	deadline = now_s() + 10;
	while ((st = stats_ok(cs[0])).active_sessions > 1)
		ck_assert_msg(now_s() < deadline, "%llu sessions still active",
			      (unsigned long long)st.active_sessions);
	ck_assert_uint_eq(st.clients, QUIET);
	/* A quiet session's next request rings and is served. */
	for (int i = QUIET - 1; i >= 0; i--) {
		double t0 = now_s();

		mkkey(k, sizeof(k), "quiet-", 3, (unsigned)i);
		get_pat_ok(cs[i], k, 4096);
		mkkey(k, sizeof(k), "again-", 3, (unsigned)i);
		put_pat_ok(cs[i], k, 4096);
		ck_assert_msg(now_s() - t0 < 1, "session %d waited %.3f s", i, now_s() - t0);
	}
	st = stats_ok(cs[0]);
	ck_assert_uint_eq(st.objects, 2 * QUIET);
	ck_assert_uint_ge(st.active_sessions, 1);
	for (int i = 1; i < QUIET; i++)
		mmc_disconnect(cs[i]);
	agent_finish(&a, cs[0]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = add_tcase(s, "limits", 120);

	add_tests(tc, TESTS(index_hoard, pin_hoard, silent_connections,
			    out_of_descriptors, uid_caps, quiet_sessions));
	return run_suite(s);
}
