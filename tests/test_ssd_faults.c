/*
 * test_ssd_faults.c - the SSD tier on a disk that fails while the agent
 * runs.  The tier file lives on faultfs (tests/faultfs.c, FUSE), which
 * answers -EIO to reads or writes on command: a dying drive, where this
 * machine has no device-mapper for dm-error.  Each case runs with each
 * engine (the loop index: 0 io_uring, 1 threads).
 *
 *   write_errors  writes fail: every put still succeeds (demotion is
 *                 counted as failed, the page stays in DRAM or is dropped),
 *                 every get is byte-exact or a miss, and once the disk
 *                 heals demotions work again
 *   read_errors   reads fail: a get of a page only on SSD is a miss
 *                 (ssd_io_errors, promotion_failures), never other bytes,
 *                 the agent keeps serving; once the disk heals the same
 *                 pages are read back byte-exact
 *
 * Needs root (a FUSE mount: /dev/fuse is root's here); without it, or
 * without /dev/fuse, the test is skipped (77) and says why.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

#define VAL 300000          /* 4 MiB regions hold a dozen */
#define N   80              /* 24 MiB of values: a 16 MiB arena demotes */

static char dir[64], mnt[80], disk[96], conf[96], backing[96];

static const char *const engines[] = { "io_uring", "threads" };

static const char *bin(void)
{
	const char *b = getenv("MMC_BIN");

	return b && *b ? b : "build/bin";
}

/* Mounts faultfs over a backing file in a private directory and writes the
 * agent's config, its tier file on the mount. */
static void mount_faultfs(int engine)
{
	char exe[256];
	pid_t pid;
	int st;
	FILE *f;

	snprintf(dir, sizeof(dir), "/var/tmp/mmc-faults-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	snprintf(backing, sizeof(backing), "%s/backing", dir);
	snprintf(disk, sizeof(disk), "%s/disk", mnt);
	snprintf(conf, sizeof(conf), "%s/agent.conf", dir);
	snprintf(exe, sizeof(exe), "%s/faultfs", bin());
	ck_assert_int_eq(mkdir(mnt, 0700), 0);
	pid = fork();
	if (pid == 0) {
		execl(exe, exe, backing, mnt, (char *)NULL);
		_exit(127);
	}
	/* faultfs detaches once the mount is there. */
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "faultfs: status 0x%x", st);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[ssd]\npath = %s\nsize = 64M\nregion_size = 4M\nengine = %s\n"
		"queue_depth = 16\n", disk, engines[engine]);
	fclose(f);
}

/* Detached lazily: an io_uring's registered file outlives the agent's exit
 * for a moment (the ring is torn down by a kernel worker); faultfs exits
 * once the last reference is gone. */
static void unmount_faultfs(void)
{
	ck_assert_int_eq(umount2(mnt, MNT_DETACH), 0);
	unlink(backing);
	unlink(conf);
	rmdir(mnt);
	rmdir(dir);
}

/* "r", "w", "rw" or "-": what the disk fails from now on. */
static void disk_fails(const char *what)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/fail", mnt);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, what, strlen(what)), (ssize_t)strlen(what));
	close(fd);
}

static void fill(mmc_client *c, const char *prefix, unsigned n)
{
	char key[32];

	for (unsigned i = 0; i < n; i++) {
		mkkey(key, sizeof(key), prefix, 3, i);
		put_pat_ok(c, key, VAL);   /* a put never fails for the disk */
	}
}

/* Gets every key of prefix: each byte-exact or a miss, never other bytes
 * (get_pat's -EILSEQ) nor another error.  Returns the hits. */
static unsigned read_all(mmc_client *c, const char *prefix, unsigned n)
{
	unsigned hits = 0;
	char key[32];

	for (unsigned i = 0; i < n; i++) {
		int r;

		mkkey(key, sizeof(key), prefix, 3, i);
		r = get_pat(c, key, VAL);
		ck_assert_msg(r == 0 || r == -ENOENT, "%s: %s", key, mmc_strerror(r));
		hits += !r;
	}
	return hits;
}

START_TEST(write_errors)
{
	struct agent_proc a;
	struct mmc_stats s0, s1;
	mmc_client *c;

	mount_faultfs(_i);
	agent_start(&a, "16M", "--config", conf, NULL);
	c = connect_ok(NULL);
	fill(c, "ok-", N);
	s0 = stats_ok(c);
	ck_assert_uint_gt(s0.demotions, 0);
	ck_assert_uint_eq(s0.ssd_io_errors, 0);
	disk_fails("w");
	/* Each of these waits for room (up to 200 ms) while demotions fail,
	 * then the oldest page is dropped: a few are enough. */
	fill(c, "bad-", 12);
	s1 = stats_ok(c);
	ck_assert_uint_gt(s1.ssd_io_errors, 0);
	ck_assert_uint_gt(s1.demotion_failures, s0.demotion_failures);
	read_all(c, "ok-", N);
	ck_assert_uint_gt(read_all(c, "bad-", 12), 0);   /* the newest stayed in DRAM */
	disk_fails("-");
	fill(c, "healed-", N);
	ck_assert_uint_gt(stats_ok(c).demotions, s1.demotions);
	read_all(c, "healed-", N);
	agent_finish(&a, c);
	unmount_faultfs();
}
END_TEST

START_TEST(read_errors)
{
	struct agent_proc a;
	struct mmc_stats s0, s1;
	unsigned during, after;
	mmc_client *c;

	mount_faultfs(_i);
	agent_start(&a, "16M", "--config", conf, NULL);
	c = connect_ok(NULL);
	fill(c, "old-", N);                 /* the first ones are only on SSD now */
	s0 = stats_ok(c);
	ck_assert_uint_gt(s0.demotions, 0);
	disk_fails("r");
	during = read_all(c, "old-", N);    /* hits: the ones still in DRAM */
	s1 = stats_ok(c);
	ck_assert_uint_lt(during, N);
	ck_assert_uint_gt(s1.ssd_io_errors, 0);
	ck_assert_uint_gt(s1.promotion_failures, s0.promotion_failures);
	ck_assert_uint_eq(s1.ssd_crc_failures, 0);
	ck_assert_int_eq(mmc_ping(c, 0), 0);
	disk_fails("-");
	after = read_all(c, "old-", N);
	ck_assert_uint_gt(after, during);  /* the SSD copies were kept */
	ck_assert_uint_gt(stats_ok(c).promotions, s1.promotions);
	agent_finish(&a, c);
	unmount_faultfs();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ssd_faults");
	TCase *tc = add_tcase(s, "ssd_faults", 120);

	if (access("/dev/fuse", R_OK | W_OK)) {
		printf("SKIP: no usable /dev/fuse (%s): faultfs is a FUSE filesystem\n",
		       strerror(errno));
		return 77;
	}
	require_root("mounting faultfs (FUSE)");
	tcase_add_loop_test(tc, write_errors, 0, 2);
	tcase_add_loop_test(tc, read_errors, 0, 2);
	return run_suite(s);
}
