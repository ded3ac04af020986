/*
 * test_ssd.c - the SSD tier through a real agent: objects leave DRAM for a
 * real file on the root filesystem (ext4: O_DIRECT alignment is real there)
 * and come back byte for byte.  Every case runs with each engine (the loop
 * index: 0 io_uring, 1 threads).
 *
 *   sizes            4 KiB .. 64 MiB: put, pushed out of DRAM by newer
 *                    puts (written down), got back byte-exact (promoted)
 *   batch_mixed      a batch get of keys some in DRAM and some only on SSD:
 *                    every value byte-exact; the batch prefix counts both
 *   batch_over_dram  a batch get of more bytes than DRAM holds, mostly on
 *                    SSD: every value byte-exact
 *   restart          a cleanly stopped agent writes what was only in DRAM
 *                    down; the next one on the same file finds every object
 *                    and reads it byte-exact
 *   kill_storm       kill -9 of the agent while a writer keeps it demoting:
 *                    after a restart every key reads back byte-exact or is
 *                    a miss, never other bytes, and some did survive
 *   flipped          a byte flipped in the file: the get is a miss, counted
 *                    (ssd_crc_failures), never wrong bytes
 *   scribbled        a value written into after its writer's checksum, then
 *                    written down (clean stop): the tier keeps the writer's
 *                    crc, so the read back after a restart is a miss
 *                    (ssd_crc_failures) even for a reader that checks
 *                    nothing itself
 *   remove_race      removes and re-puts of keys while other threads get
 *                    (promote) them: after a remove returned, a get gives
 *                    the new value or a miss, never the old one
 *   tiny_fs          (root) the file on a 8 MiB tmpfs: the agent refuses to
 *                    start with one line naming the path
 *   in_use           a second agent on a tier file another one uses refuses
 *                    to start, and the first one's objects are intact
 *
 * Values follow the key's own pattern (harness.h: put_pat/get_pat).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

#define MIB (1ull << 20)

static char dir[64], tier[96], conf[96];

static const char *const engines[] = { "io_uring", "threads" };

/* A private directory on the root filesystem with the tier file's config. */
static void write_conf(int engine, const char *size, const char *region)
{
	FILE *f;

	snprintf(dir, sizeof(dir), "/var/tmp/mmc-ssdt-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(tier, sizeof(tier), "%s/tier", dir);
	snprintf(conf, sizeof(conf), "%s/agent.conf", dir);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[ssd]\npath = %s\nsize = %s\nregion_size = %s\nengine = %s\n"
		"queue_depth = 16\n", tier, size, region, engines[engine]);
	/* The tiny arenas here hold 64 MiB values: one client may reserve and
	 * pin all of it (the defaults keep a quarter to a half for others). */
	fprintf(f, "[limits]\nreserved_bytes_per_session = 100%%\n"
		"pinned_bytes_per_session = 100%%\n");
	fclose(f);
}

static void remove_dir(void)
{
	unlink(tier);
	unlink(conf);
	rmdir(dir);
}

static void start(struct agent_proc *a, const char *arena)
{
	agent_start(a, arena, "--config", conf, NULL);
}

/* Puts keys prefix0000.. of len bytes until DRAM had to let older ones go:
 * n of them. */
static void fill(mmc_client *c, const char *prefix, unsigned n, size_t len)
{
	char key[64];

	for (unsigned i = 0; i < n; i++) {
		mkkey(key, sizeof(key), prefix, 4, i);
		put_pat_ok(c, key, len);
	}
}

START_TEST(sizes)
{
	static const size_t lens[] = { 4096, 4097, 65536, MIB, 4 * MIB + 17,
				       16 * MIB, 64 * MIB };
	struct agent_proc a;
	struct mmc_stats s0, s1;
	mmc_client *c;
	char key[32];

	write_conf(_i, "400M", "80M");
	start(&a, "96M");
	c = connect_ok(NULL);
	for (unsigned i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "size-%zu", lens[i]);
		put_pat_ok(c, key, lens[i]);
	}
	fill(c, "push-", 120, MIB);          /* DRAM holds 96 MiB: all out */
	s0 = stats_ok(c);
	ck_assert_uint_ge(s0.demotions, 7);
	ck_assert_uint_ge(s0.ssd_objects, 7);
	for (unsigned i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "size-%zu", lens[i]);
		ck_assert_int_eq(mmc_exists(c, key, strlen(key)), 1);
		get_pat_ok(c, key, lens[i]);
	}
	s1 = stats_ok(c);
	ck_assert_uint_ge(s1.promotions, s0.promotions + 7);
	ck_assert_uint_eq(s1.ssd_crc_failures, 0);
	ck_assert_uint_eq(s1.promotion_failures, 0);
	/* Promoted last: the next get is a DRAM hit, no new promotion. */
	snprintf(key, sizeof(key), "size-%zu", lens[6]);
	get_pat_ok(c, key, lens[6]);
	ck_assert_uint_eq(stats_ok(c).promotions, s1.promotions);
	agent_finish(&a, c);
	remove_dir();
}
END_TEST

START_TEST(batch_mixed)
{
	enum { N = 64, LEN = 300000 };
	static char keys[N][32];
	static uint64_t bufs[N][(LEN + 104) / 8];   /* pattern_check reads words */
	const void *kp[N];
	size_t kl[N], bl[N], prefix;
	void *bp[N];
	int64_t res[N];
	struct agent_proc a;
	struct mmc_stats s0;
	mmc_client *c;

	write_conf(_i, "128M", "8M");
	start(&a, "16M");
	c = connect_ok(NULL);
	for (int i = 0; i < N; i++) {
		mkkey(keys[i], sizeof(keys[i]), "mixed-", 3, (unsigned)i);
		put_pat_ok(c, keys[i], LEN + (size_t)i);
		kp[i] = keys[i];
		kl[i] = strlen(keys[i]);
		bp[i] = bufs[i];
		bl[i] = sizeof(bufs[i]);
	}
	/* 64 x 300 KB in a 16 MiB arena: the first ones went to SSD. */
	s0 = stats_ok(c);
	ck_assert_uint_gt(s0.demotions, 0);
	ck_assert_uint_lt(s0.objects, N);
	ck_assert_int_eq(mmc_exists_batch(c, N, kp, kl, NULL, &prefix), N);
	ck_assert_uint_eq(prefix, N);
	ck_assert_int_eq(mmc_get_batch(c, N, kp, kl, bp, bl, res), N);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(res[i], LEN + i);
		ck_assert_uint_eq(pattern_check(bufs[i], (size_t)res[i],
						key_seed(keys[i], strlen(keys[i]))), 0);
	}
	ck_assert_uint_gt(stats_ok(c).promotions, s0.promotions);
	agent_finish(&a, c);
	remove_dir();
}
END_TEST

START_TEST(batch_over_dram)
{
	enum { N = 40, LEN = 1 << 20 };
	static char keys[N][32];
	const void *kp[N];
	size_t kl[N], bl[N];
	void *bp[N];
	int64_t res[N];
	struct agent_proc a;
	mmc_client *c;

	write_conf(_i, "128M", "8M");
	start(&a, "16M");
	c = connect_ok(NULL);
	for (int i = 0; i < N; i++) {
		mkkey(keys[i], sizeof(keys[i]), "big-", 2, (unsigned)i);
		put_pat_ok(c, keys[i], LEN);
		kp[i] = keys[i];
		kl[i] = strlen(keys[i]);
		bl[i] = LEN + 64;            /* pattern_check reads words */
		bp[i] = malloc(bl[i]);
		ck_assert_ptr_nonnull(bp[i]);
	}
	/* 40 MiB asked at once of a 16 MiB arena, most of it on SSD: every
	 * value comes back, byte-exact (in groups that fit in DRAM). */
	ck_assert_int_eq(mmc_get_batch(c, N, kp, kl, bp, bl, res), N);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(res[i], LEN);
		ck_assert_uint_eq(pattern_check(bp[i], LEN, key_seed(keys[i], kl[i])), 0);
		free(bp[i]);
	}
	ck_assert_uint_gt(stats_ok(c).promotions, N / 2);
	agent_finish(&a, c);
	remove_dir();
}
END_TEST

START_TEST(restart)
{
	struct agent_proc a;
	mmc_client *c;
	char key[32];

	write_conf(_i, "256M", "8M");
	start(&a, "16M");
	c = connect_ok(NULL);
	fill(c, "keep-", 80, 300000);        /* 24 MB into 16 MiB of DRAM */
	mmc_disconnect(c);
	/* Writes the DRAM-only ones down (flush_on_stop_ms), seals. */
	agent_stop_ok(&a);
	start(&a, "16M");
	c = connect_ok(NULL);
	ck_assert_uint_eq(stats_ok(c).ssd_objects, 80);
	ck_assert_uint_eq(stats_ok(c).objects, 0);       /* DRAM starts empty */
	for (unsigned i = 0; i < 80; i++) {
		mkkey(key, sizeof(key), "keep-", 4, i);
		ck_assert_msg(get_pat(c, key, 300000) == 0, "%s", key);
	}
	ck_assert_uint_eq(stats_ok(c).ssd_crc_failures, 0);
	agent_finish(&a, c);
	remove_dir();
}
END_TEST

START_TEST(kill_storm)
{
	struct agent_proc a;
	int ready[2];
	unsigned n = 0, found = 0;
	char key[32];
	mmc_client *c;
	pid_t pid;

	write_conf(_i, "128M", "4M");
	start(&a, "16M");
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {           /* puts until killed, reporting each one done */
		mmc_client *w;

		close(ready[0]);
		if (mmc_connect(NULL, &w))
			_exit(1);
		for (unsigned i = 0;; i++) {
			mkkey(key, sizeof(key), "storm-", 5, i);
			if (put_pat(w, key, 131072 + i % 7 * 4096))
				_exit(0);   /* the agent is gone */
			if (write(ready[1], &i, sizeof(i)) != sizeof(i))
				_exit(2);
		}
	}
	close(ready[1]);
	/* 400 puts of ~150 KiB through 16 MiB of DRAM: demoting all along. */
	while (n < 400 && read(ready[0], &n, sizeof(n)) == sizeof(n))
		;
	agent_kill(&a);
	close(ready[0]);
	waitpid(pid, NULL, 0);
	n++;
	start(&a, "16M");
	c = connect_ok(NULL);
	for (unsigned i = 0; i < n + 10; i++) {
		int r;

		mkkey(key, sizeof(key), "storm-", 5, i);
		r = get_pat(c, key, 131072 + i % 7 * 4096);
		ck_assert_msg(r == 0 || r == -ENOENT, "%s: %d (wrong bytes or error)", key, r);
		found += r == 0;
	}
	ck_assert_uint_gt(found, 0);
	ck_assert_uint_eq(stats_ok(c).ssd_crc_failures, 0);
	agent_finish(&a, c);
	remove_dir();
}
END_TEST

/* Offset in the tier file of key's value, found by its header (4 KiB,
 * every object starts on a 4 KiB boundary: docs/tiers.md). */
static off_t value_offset(const char *key)
{
	int fd = open(tier, O_RDONLY);
	char hdr[512];
	off_t at = -1;

	ck_assert_int_ge(fd, 0);
	/* A header is the 512 bytes right before its value, at 512-byte steps. */
	for (off_t off = 4096; pread(fd, hdr, sizeof(hdr), off) == sizeof(hdr); off += 512)
		if (!memcmp(hdr, "MOBJ", 4) && !memcmp(hdr + 40, key, strlen(key) + 1)) {
			at = off + 512;
			break;
		}
	close(fd);
	return at;
}

START_TEST(flipped)
{
	struct agent_proc a;
	struct mmc_stats s;
	mmc_client *c;
	unsigned char b;
	off_t at;
	int fd;

	write_conf(_i, "64M", "4M");
	start(&a, "16M");
	c = connect_ok(NULL);
	put_pat_ok(c, "victim", 100000);
	put_pat_ok(c, "bystander", 100000);
	fill(c, "push-", 40, 500000);
	mmc_disconnect(c);
	agent_stop_ok(&a);
	at = value_offset("victim");
	ck_assert_int_gt(at, 0);
	fd = open(tier, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, at + 777), 1);
	b ^= 0x01;
	ck_assert_int_eq(pwrite(fd, &b, 1, at + 777), 1);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	start(&a, "16M");
	c = connect_ok(NULL);
	ck_assert_int_eq(get_pat(c, "victim", 100000), -ENOENT);
	get_pat_ok(c, "bystander", 100000);
	s = stats_ok(c);
	ck_assert_uint_eq(s.ssd_crc_failures, 1);
	ck_assert_int_eq(mmc_exists(c, "victim", 6), 0);   /* gone for good */
	agent_finish(&a, c);
	remove_dir();
}
END_TEST

/* One checksum end to end: the writer's crc goes to the SSD with the
 * bytes, so bytes changed in DRAM after the put fail the read back.  The
 * agent is stopped (its clean stop writes DRAM-only pages down) and
 * restarted on the file, so the get reads from the SSD whatever the
 * engine's pace: a demotion still in flight would leave the scribbled
 * DRAM copy to be read instead. */
START_TEST(scribbled)
{
	struct agent_proc a;
	struct mmc_view v;
	struct mmc_stats s;
	mmc_client *w, *r;

	write_conf(_i, "64M", "4M");
	start(&a, "16M");
	w = connect_ok(NULL);
	r = connect_ok(NULL);
	ck_assert_int_eq(mmc_set_verify(w, MMC_VERIFY_ALWAYS), 0);  /* puts carry a crc */
	put_pat_ok(w, "victim", 100000);
	put_pat_ok(w, "bystander", 100000);
	ck_assert_int_eq(mmc_acquire(r, "victim", 6, &v), 0);
	((unsigned char *)v.data)[777] ^= 0x01;          /* what any client can do */
	ck_assert_int_eq(mmc_release(r, &v), 0);
	mmc_disconnect(r);
	mmc_disconnect(w);
	agent_stop_ok(&a);
	start(&a, "16M");
	r = connect_ok(NULL);
	ck_assert_int_eq(mmc_set_verify(r, MMC_VERIFY_OFF), 0);     /* r checks nothing */
	ck_assert_int_eq(get_pat(r, "victim", 100000), -ENOENT);
	get_pat_ok(r, "bystander", 100000);
	s = stats_ok(r);
	ck_assert_uint_eq(s.ssd_crc_failures, 1);
	ck_assert_int_eq(mmc_exists(r, "victim", 6), 0);     /* gone for good */
	agent_finish(&a, r);
	remove_dir();
}
END_TEST

struct racer {
	_Atomic int stop;
	_Atomic unsigned long gets, bad;
	char why[128];
};

/* One get of key into a buffer larger than either version: 0 when the
 * bytes are the key's pattern for the length that came back (200000 or
 * 200001), -EILSEQ when they are not, else the get's error. */
static int get_either(mmc_client *c, const char *key, unsigned char *buf)
{
	size_t len = 0;
	int g = mmc_get(c, key, strlen(key), buf, 200002, &len);

	if (g)
		return g;
	if ((len != 200000 && len != 200001) ||
	    pattern_check(buf, len, key_seed(key, strlen(key))))
		return -EILSEQ;
	return 0;
}

static void *getter(void *arg)
{
	struct racer *r = arg;
	unsigned char *buf = malloc(200002);
	mmc_client *c;
	char key[32];

	if (!buf || mmc_connect(NULL, &c)) {
		free(buf);
		atomic_fetch_add(&r->bad, 1);
		return NULL;
	}
	for (unsigned i = 0; !atomic_load(&r->stop); i++) {
		int g;

		mkkey(key, sizeof(key), "race-", 3, i % 40);
		g = get_either(c, key, buf);
		if (g != 0 && g != -ENOENT && !atomic_fetch_add(&r->bad, 1))
			snprintf(r->why, sizeof(r->why), "%s: %d", key, g);
		atomic_fetch_add(&r->gets, 1);
	}
	mmc_disconnect(c);
	free(buf);
	return NULL;
}

START_TEST(remove_race)
{
	struct agent_proc a;
	struct racer r = { 0 };
	pthread_t t[2];
	mmc_client *c;
	char key[32];

	write_conf(_i, "512M", "8M");       /* all rounds fit: nothing evicted */
	start(&a, "16M");
	c = connect_ok(NULL);
	fill(c, "race-", 40, 200000);
	fill(c, "push0-", 60, 300000);      /* the race keys go to SSD */
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, getter, &r), 0);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 40; i++) {
			int ret;

			mkkey(key, sizeof(key), "race-", 3, i);
			ret = mmc_remove(c, key, strlen(key));
			ck_assert_msg(ret == 0 || ret == -ENOENT, "remove %s: %d", key, ret);
			/* Removed: the old bytes are gone for every reader. */
			ck_assert_int_ne(get_pat(c, key, 200000), 0);
			while ((ret = put_seeded(c, key, 200001, key_seed(key, strlen(key)))) == -EBUSY)
				;                   /* a promotion of it was in flight */
			ck_assert_msg(ret == 0, "put %s: %d", key, ret);
			get_pat_ok(c, key, 200001);
		}
		snprintf(key, sizeof(key), "push%u-", round + 1);
		fill(c, key, 60, 300000);       /* and down again */
		for (unsigned i = 0; i < 40; i++) {
			mkkey(key, sizeof(key), "race-", 3, i);
			int ret = mmc_remove(c, key, strlen(key));

			/* Gone only if the agent had to drop pages unwritten
			 * (a put waited 200 ms for room: a slow disk). */
			ck_assert_msg(ret == 0 || (ret == -ENOENT &&
				      stats_ok(c).demotion_skipped > 0), "remove %s: %d", key, ret);
			while (put_pat(c, key, 200000) == -EBUSY)
				;
		}
	}
	atomic_store(&r.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_msg(!r.bad, "%lu bad gets, first: %s", (unsigned long)r.bad, r.why);
	ck_assert_uint_gt(r.gets, 0);
	ck_assert_uint_eq(stats_ok(c).ssd_crc_failures, 0);
	agent_finish(&a, c);
	remove_dir();
}
END_TEST

/* Runs an agent on conf with its socket in sockdir that is expected not to
 * start; returns its output in log. */
static void agent_refuses(const char *sockdir, char *log, size_t len)
{
	char cmd[512];
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/mmc-agent --config %s --socket %s/a.sock "
		 "--arena-size 16M --hugepages off 2>&1", getenv("MMC_BIN") ?
		 getenv("MMC_BIN") : "./bin", conf, sockdir);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	log[0] = '\0';
	while (strlen(log) + 1 < len && fgets(log + strlen(log), (int)(len - strlen(log)), f))
		;
	st = pclose(f);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "agent started: %s", log);
}

START_TEST(tiny_fs)
{
	char mnt[64], path[96], log[256];
	FILE *f;

	if (geteuid() != 0) {
		fprintf(stderr, "tiny_fs: skipped: mounting a tmpfs needs root\n");
		return;
	}
	snprintf(mnt, sizeof(mnt), "/tmp/mmc-tinyfs-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(mnt));
	ck_assert_int_eq(mount("tmpfs", mnt, "tmpfs", 0, "size=8m"), 0);
	snprintf(path, sizeof(path), "%s/tier", mnt);
	snprintf(conf, sizeof(conf), "%s/agent.conf", mnt);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[ssd]\npath = %s\nsize = 64M\nregion_size = 4M\nengine = %s\n",
		path, engines[_i]);
	fclose(f);
	agent_refuses(mnt, log, sizeof(log));
	ck_assert_msg(strstr(log, path) && strstr(log, "No space left"),
		      "log does not name the path and the cause: %s", log);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
}
END_TEST

START_TEST(in_use)
{
	struct agent_proc a;
	char log[512];
	mmc_client *c;

	write_conf(_i, "64M", "4M");
	start(&a, "16M");
	c = connect_ok(NULL);
	fill(c, "mine-", 60, 300000);         /* some on SSD */
	agent_refuses(dir, log, sizeof(log));
	ck_assert_msg(strstr(log, tier) && strstr(log, "in use"),
		      "log does not name the path and the cause: %s", log);
	for (unsigned i = 0; i < 60; i++) {
		char key[32];

		mkkey(key, sizeof(key), "mine-", 4, i);
		get_pat_ok(c, key, 300000);
	}
	agent_finish(&a, c);
	remove_dir();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ssd");
	TCase *tc = add_tcase(s, "ssd", 120);

	tcase_add_loop_test(tc, sizes, 0, 2);
	tcase_add_loop_test(tc, batch_mixed, 0, 2);
	tcase_add_loop_test(tc, batch_over_dram, 0, 2);
	tcase_add_loop_test(tc, restart, 0, 2);
	tcase_add_loop_test(tc, kill_storm, 0, 2);
	tcase_add_loop_test(tc, flipped, 0, 2);
	tcase_add_loop_test(tc, scribbled, 0, 2);
	tcase_add_loop_test(tc, remove_race, 0, 2);
	tcase_add_loop_test(tc, tiny_fs, 0, 2);
	tcase_add_loop_test(tc, in_use, 0, 2);
	return run_suite(s);
}
