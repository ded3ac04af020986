/*
 * test_eviction.c - eviction against a real mmc-agent: LRU order, pins,
 * recency through the touch log, -ENOSPC when everything is pinned, and
 * watermarks read from a config file.
 *
 * Every value is 1 MiB, written with pattern_fill(seed = key number), and
 * every value read back is checked byte for byte.  A put is synchronous (the
 * reservation, and any eviction it triggers, completed before mmc_put
 * returns), so the index seen right after a put is the state to judge: no
 * sleeps anywhere.  Each check test runs in its own forked child; check kills
 * that child's process group afterwards, so a failing test leaves no agent.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

#define MIB        (1u << 20)
#define VAL        MIB
#define ARENA      "64M"
#define ARENA_B    (64ull * MIB)
#define NKEYS_MAX  400

/* Key i is evict-key-%05u (evict-key-00042 for 42); its value is VAL bytes
 * of pattern(seed i). */
static int key_of(char *k, int i)
{
	return (int)mkkey(k, 32, "evict-key-", 5, (unsigned)i);
}

static int put_i(mmc_client *c, int i)
{
	char k[32];

	key_of(k, i);
	return put_seeded(c, k, VAL, (uint64_t)i);
}

static int exists_i(mmc_client *c, int i)
{
	char k[32];
	int kl = key_of(k, i);

	return mmc_exists(c, k, (size_t)kl);
}

/* Copying get of key i, checked byte for byte; fails the test on a mismatch. */
static void get_check_i(mmc_client *c, int i)
{
	char k[32];

	key_of(k, i);
	get_seeded_ok(c, k, VAL, (uint64_t)i);
}

/* 200 x 1 MiB into 64 MiB: every put succeeds, used bytes never pass the
 * high watermark, and what is left is exactly the most recent suffix. */
START_TEST(test_lru_overfill)
{
	struct agent_proc a;
	struct mmc_stats st;
	mmc_client *c;
	const int n = 200;
	int first_present = -1, present = 0;

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	for (int i = 0; i < n; i++) {
		int ret = put_i(c, i);

		ck_assert_msg(ret == 0, "put %d: %s", i, mmc_strerror(ret));
		st = stats_ok(c);
		ck_assert_uint_eq(st.arena_bytes, ARENA_B);
		ck_assert_msg(st.used_bytes <= st.arena_bytes,
			      "put %d: used %llu > arena", i,
			      (unsigned long long)st.used_bytes);
		ck_assert_msg(st.used_bytes <= st.arena_bytes / 100 * st.high_watermark_pct,
			      "put %d: used %llu above the %llu%% high watermark", i,
			      (unsigned long long)st.used_bytes,
			      (unsigned long long)st.high_watermark_pct);
		ck_assert_uint_eq(st.reserved_bytes, 0);
	}
	ck_assert_uint_eq(st.high_watermark_pct, 90);
	ck_assert_uint_eq(st.low_watermark_pct, 88);
	for (int i = 0; i < n; i++) {
		int e = exists_i(c, i);

		ck_assert_msg(e == 0 || e == 1, "exists %d: %d", i, e);
		if (e && first_present < 0)
			first_present = i;
		/* LRU: once one key is present, every later one is too. */
		ck_assert_msg(!(first_present >= 0 && !e),
			      "key %d evicted although older key %d survived", i,
			      first_present);
		present += e;
	}
	/* The earliest keys went, the last (>= low watermark's worth, less the
	 * one being put) stayed: 55..57 of 1 MiB under 88..90 % of 64 MiB. */
	ck_assert_msg(present >= (int)(ARENA_B / 100 * 88 / VAL) - 1 &&
		      present <= (int)(ARENA_B / 100 * 90 / VAL),
		      "%d keys present", present);
	ck_assert_int_eq(exists_i(c, 0), 0);
	ck_assert_int_eq(exists_i(c, n - present - 1), 0);
	for (int i = first_present; i < n; i++)
		get_check_i(c, i);
	st = stats_ok(c);
	ck_assert_uint_eq(st.objects, (uint64_t)present);
	ck_assert_uint_eq(st.evictions, (uint64_t)(n - present));
	ck_assert_uint_gt(st.evictions, 0);
	ck_assert_uint_eq(st.evicted_bytes, (uint64_t)(n - present) * VAL);
	ck_assert_uint_eq(st.used_bytes, (uint64_t)present * VAL);
	ck_assert_uint_eq(st.puts, n);
	ck_assert_uint_eq(st.alloc_failures, 0);
	agent_finish(&a, c);
}
END_TEST

/* Views held on early keys keep them (and their bytes) through an overfill;
 * once released they are ordinary LRU victims again. */
START_TEST(test_pinned_survive)
{
	struct agent_proc a;
	struct mmc_stats st;
	struct mmc_view v[3];
	mmc_client *c;
	char k[32];
	int kl;

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(put_i(c, i), 0);
	for (int i = 0; i < 3; i++) {
		kl = key_of(k, i);
		ck_assert_int_eq(mmc_acquire(c, k, (size_t)kl, &v[i]), 0);
		ck_assert_uint_eq(v[i].len, VAL);
		ck_assert_uint_eq(pattern_check(v[i].data, VAL, (uint64_t)i), 0);
	}
	for (int i = 10; i < 200; i++) {
		int ret = put_i(c, i);

		ck_assert_msg(ret == 0, "put %d: %s", i, mmc_strerror(ret));
	}
	st = stats_ok(c);
	ck_assert_uint_gt(st.evictions, 0);
	ck_assert_uint_eq(st.pinned_objects, 3);
	ck_assert_uint_le(st.used_bytes, st.arena_bytes);
	for (int i = 0; i < 3; i++) {
		/* The view's bytes were never reused while it was held. */
		ck_assert_msg(pattern_check(v[i].data, VAL, (uint64_t)i) == 0,
			      "pinned view %d overwritten", i);
		ck_assert_int_eq(exists_i(c, i), 1);
		get_check_i(c, i);
	}
	for (int i = 3; i < 10; i++)
		ck_assert_msg(exists_i(c, i) == 0, "unpinned early key %d survived", i);
	for (int i = 190; i < 200; i++)
		get_check_i(c, i);

	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(mmc_release(c, &v[i]), 0);
		ck_assert_int_eq(mmc_release(c, &v[i]), -EINVAL);   /* spent */
	}
	st = stats_ok(c);
	ck_assert_uint_eq(st.pinned_objects, 0);
	/* Unpinned now: another overfill pushes them out like anything else. */
	for (int i = 200; i < 300; i++)
		ck_assert_int_eq(put_i(c, i), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(exists_i(c, i) == 0, "released key %d never evicted", i);
	for (int i = 290; i < 300; i++)
		get_check_i(c, i);
	agent_finish(&a, c);
}
END_TEST

/* Keys read by mmc_get move to the LRU head through the touch log: when the
 * oldest untouched key goes, every older-but-touched key is still there. */
START_TEST(test_recency)
{
	struct agent_proc a;
	struct mmc_client_stats cs;
	struct mmc_stats st;
	mmc_client *c;
	const int old = 40, touched = 10;
	int i, next = old;

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	for (i = 0; i < old; i++)
		ck_assert_int_eq(put_i(c, i), 0);
	for (int round = 0; round < 5; round++)
		for (i = 0; i < touched; i++)
			get_check_i(c, i);
	ck_assert_int_eq(mmc_client_stats(c, &cs), 0);
	ck_assert_uint_eq(cs.hits, 5 * touched);
	ck_assert_uint_eq(cs.touch_drops, 0);
	/* Overfill until the oldest untouched key (#touched) is evicted. */
	while (exists_i(c, touched) == 1) {
		ck_assert_msg(next < old + 100, "key %d never evicted", touched);
		ck_assert_int_eq(put_i(c, next), 0);
		next++;
	}
	st = stats_ok(c);
	ck_assert_uint_gt(st.evictions, 0);
	for (i = 0; i < touched; i++) {
		ck_assert_msg(exists_i(c, i) == 1,
			      "touched key %d evicted before untouched key %d", i,
			      touched);
		get_check_i(c, i);
	}
	/* Without the touches, keys 0..9 (older) would have gone first. */
	for (i = next - 10; i < next; i++)
		get_check_i(c, i);
	agent_finish(&a, c);
}
END_TEST

/* In a child: connect, read key i once (checked), disconnect, exit 0 (1
 * on a failed or wrong read).  Its one touch record is all the agent ever
 * hears of that read. */
static void read_once_in_child(int i)
{
	pid_t pid = fork();

	ck_assert(pid >= 0);
	if (pid == 0) {
		uint8_t *b = malloc(VAL);
		mmc_client *c = NULL;
		size_t got = 0;
		char k[32];
		int kl = key_of(k, i), bad;

		if (!b || mmc_connect(NULL, &c))
			_exit(1);
		bad = mmc_get(c, k, (size_t)kl, b, VAL, &got) || got != VAL ||
		      pattern_check(b, VAL, (uint64_t)i);
		mmc_disconnect(c);
		_exit(bad);
	}
	ck_assert_int_eq(wait_child(pid), 0);
}

/* A session's last touch records count after it closed: keys read once by
 * short-lived sessions (what `mmc get K` from the CLI does) are the most
 * recent, so an overfill evicts the untouched keys before them.  The agent
 * never spins (spin_us = 0), so nothing but the close can drain them. */
START_TEST(test_touch_at_close)
{
	char dir[] = "/tmp/mmc-evict-touch-XXXXXX", path[64];
	struct agent_proc a;
	mmc_client *c;
	const int old = 40, touched = 10;
	int i, next = old;
	FILE *f;

	ck_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mmc-agent.conf", dir);
	f = fopen(path, "w");
	ck_assert(f);
	fprintf(f, "[agent]\nspin_us = 0\n");
	ck_assert_int_eq(fclose(f), 0);
	agent_start(&a, ARENA, "--config", path, NULL);
	c = connect_ok(NULL);
	for (i = 0; i < old; i++)
		ck_assert_int_eq(put_i(c, i), 0);
	for (i = 0; i < touched; i++)
		read_once_in_child(i);
	/* Overfill until the oldest key nobody read (#touched) is evicted. */
	while (exists_i(c, touched) == 1) {
		ck_assert_msg(next < old + 100, "key %d never evicted", touched);
		ck_assert_int_eq(put_i(c, next), 0);
		next++;
	}
	for (i = 0; i < touched; i++) {
		ck_assert_msg(exists_i(c, i) == 1,
			      "key %d, read by a session that closed, evicted before "
			      "the unread key %d", i, touched);
		get_check_i(c, i);
	}
	agent_finish(&a, c);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* Everything pinned: a put fails fast with -ENOSPC, the agent keeps serving,
 * and releasing the views makes room again. */
START_TEST(test_all_pinned_enospc)
{
	static struct mmc_view v[NKEYS_MAX];
	static int held[NKEYS_MAX];
	char dir[] = "/tmp/mmc-evict-pins-XXXXXX", path[64];
	struct agent_proc a;
	struct mmc_stats st;
	mmc_client *c, *c2;
	int nheld = 0, next, ret = 0;
	double t0, dt = 0;
	char k[32];
	int kl;
	FILE *f;

	/* One session may pin the whole arena here ([limits] lifted): what
	 * is tested is the agent with nothing left to evict. */
	ck_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mmc-agent.conf", dir);
	f = fopen(path, "w");
	ck_assert(f);
	fprintf(f, "[limits]\npinned_bytes_per_session = 100%%\n");
	ck_assert_int_eq(fclose(f), 0);
	agent_start(&a, ARENA, "--config", path, NULL);
	unlink(path);
	rmdir(dir);
	c = connect_ok(NULL);
	for (next = 0; next < 80; next++)
		ck_assert_int_eq(put_i(c, next), 0);
	/* Pin every object there is. */
	for (int i = 0; i < next; i++) {
		kl = key_of(k, i);
		ret = mmc_acquire(c, k, (size_t)kl, &v[nheld]);
		if (ret == -ENOENT)
			continue;
		ck_assert_msg(ret == 0, "acquire %d: %s", i, mmc_strerror(ret));
		held[nheld++] = i;
	}
	ck_assert_int_gt(nheld, 0);
	/* Fill what is still free, pinning each new object too. */
	for (;; next++) {
		ck_assert_msg(next < 160, "no -ENOSPC with every object pinned");
		t0 = now_s();
		ret = put_i(c, next);
		dt = now_s() - t0;
		if (ret)
			break;
		kl = key_of(k, next);
		ck_assert_int_eq(mmc_acquire(c, k, (size_t)kl, &v[nheld]), 0);
		held[nheld++] = next;
	}
	ck_assert_msg(ret == -ENOSPC, "put with all pinned: %s", mmc_strerror(ret));
	ck_assert_msg(dt < 1.0, "-ENOSPC took %.3f s", dt);
	ck_assert_int_eq(exists_i(c, next), 0);   /* nothing half-made */
	ck_assert_int_eq(put_i(c, next), -ENOSPC); /* and again, still fast */

	/* The agent still serves: stats, other sessions, every pinned value. */
	st = stats_ok(c);
	ck_assert_uint_eq(st.pinned_objects, (uint64_t)nheld);
	ck_assert_uint_eq(st.objects, (uint64_t)nheld);
	ck_assert_uint_ge(st.alloc_failures, 2);
	ck_assert_uint_eq(st.reserved_bytes, 0);
	ck_assert_uint_eq(st.reservations, 0);
	ck_assert_uint_le(st.used_bytes, st.arena_bytes);
	c2 = connect_ok(NULL);
	for (int j = 0; j < nheld; j++) {
		ck_assert_uint_eq(pattern_check(v[j].data, VAL, (uint64_t)held[j]), 0);
		get_check_i(c2, held[j]);
	}
	mmc_disconnect(c2);

	for (int j = 0; j < nheld; j++)
		ck_assert_int_eq(mmc_release(c, &v[j]), 0);
	ret = put_i(c, next);
	ck_assert_msg(ret == 0, "put after release: %s", mmc_strerror(ret));
	get_check_i(c, next);
	for (int i = next + 1; i < next + 60; i++)
		ck_assert_int_eq(put_i(c, i), 0);
	get_check_i(c, next + 59);
	st = stats_ok(c);
	ck_assert_uint_eq(st.pinned_objects, 0);
	ck_assert_uint_gt(st.evictions, 0);
	agent_finish(&a, c);
}
END_TEST

/* [eviction] high 50 / low 30 from a config file. */
START_TEST(test_config_watermarks)
{
	char dir[] = "/tmp/mmc-evict-conf-XXXXXX", path[64];
	struct agent_proc a;
	struct mmc_stats st;
	mmc_client *c;
	FILE *f;
	int present = 0;

	ck_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mmc-agent.conf", dir);
	f = fopen(path, "w");
	ck_assert(f);
	fprintf(f, "# test_eviction\n[eviction]\nhigh_watermark = 50\n"
		"low_watermark = 30\n");
	ck_assert_int_eq(fclose(f), 0);
	agent_start(&a, ARENA, "--config", path, NULL);
	c = connect_ok(NULL);
	st = stats_ok(c);
	ck_assert_uint_eq(st.high_watermark_pct, 50);
	ck_assert_uint_eq(st.low_watermark_pct, 30);
	for (int i = 0; i < 100; i++) {
		int ret = put_i(c, i);

		ck_assert_msg(ret == 0, "put %d: %s", i, mmc_strerror(ret));
		st = stats_ok(c);
		ck_assert_msg(st.used_bytes <= st.arena_bytes / 2 + VAL,
			      "put %d: used %llu > 50%% + one value", i,
			      (unsigned long long)st.used_bytes);
	}
	ck_assert_uint_gt(st.evictions, 0);
	for (int i = 0; i < 100; i++) {
		int e = exists_i(c, i);

		if (e == 1) {
			present++;
			get_check_i(c, i);
		}
	}
	ck_assert_uint_eq(st.objects, (uint64_t)present);
	/* Evicting stops at the low watermark: about 30% stays. */
	ck_assert_msg(present >= 18 && present <= 33, "%d present", present);
	for (int i = 100 - 18; i < 100; i++)
		ck_assert_int_eq(exists_i(c, i), 1);
	agent_finish(&a, c);
	unlink(path);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("eviction");

	add_tests(add_tcase(s, "eviction", 60),
		  TESTS(test_lru_overfill, test_pinned_survive, test_recency,
			test_touch_at_close,
			test_all_pinned_enospc, test_config_watermarks));
	return run_suite(s);
}
