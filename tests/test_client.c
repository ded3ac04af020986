/*
 * test_client.c - one test per behaviour of libshm's public API (mmc.h),
 * each against its own real mmc-agent (a checked fixture starts it and
 * connects C; the teardown disconnects and asserts the agent exits 0).
 * Every data path is checked byte for byte: a value is
 * pattern_fill(len, XXH3(key)), so any reader knows what it must see.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

#define KiB (1024ull)
#define MiB (1024ull * 1024)

static struct agent_proc A;
static mmc_client *C;

/* Checked fixture: an agent started with args (arena first), and C. */
static void setup(const char *const *args)
{
	agent_startv(&A, args[0], args + 1);
	C = connect_ok(NULL);
}
static void setup_64(void) { setup((const char *const[]){ "64M", NULL }); }
/* 64M, and one session may reserve all of it ([limits] lifted). */
static void setup_64_unlimited(void)
{
	char conf[64];
	FILE *f;

	snprintf(conf, sizeof(conf), "/tmp/mmc-client-%d.conf", (int)getpid());
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[limits]\nreserved_bytes_per_session = 100%%\n"
		"reserved_bytes_per_uid = 100%%\n");
	ck_assert_int_eq(fclose(f), 0);
	setup((const char *const[]){ "64M", "--config", conf, NULL });
	unlink(conf);
}
static void setup_256(void) { setup((const char *const[]){ "256M", NULL }); }
/* 16384 objects: more than the default index of a 128M arena (arena/32K) */
static void setup_batch(void)
{
	setup((const char *const[]){ "128M", "--max-objects", "32768", NULL });
}

static void teardown(void)
{
	agent_finish(&A, C);
	C = NULL;
}

/* Takes fresh stats into s and checks cond on them, printing them all. */
#define EXPECT(c, s, cond) do { \
	s = stats_ok(c); \
	ck_assert_msg(cond, "%s: objects %llu used %llu pinned %llu reservations %llu " \
		      "reserved %llu clients %llu", #cond, (unsigned long long)s.objects, \
		      (unsigned long long)s.used_bytes, (unsigned long long)s.pinned_objects, \
		      (unsigned long long)s.reservations, (unsigned long long)s.reserved_bytes, \
		      (unsigned long long)s.clients); \
} while (0)

/* EXPECT of what the agent does on its reap timer: a block whose last pin
 * went away (mmc_release makes no system call) is freed at the next stats
 * request only while the agent's pin scans are cheap, else at the next
 * tick (under TSan on a loaded machine).  Takes stats until cond holds,
 * for up to 5 s, then checks it. */
#define EXPECT_SOON(c, s, cond) do { \
	for (int t_ = 0; t_ < 500; t_++) { \
		s = stats_ok(c); \
		if (cond) \
			break; \
		poll(NULL, 0, 10); \
	} \
	EXPECT(c, s, cond); \
} while (0)

/* Keys PFX-00000000, PFX-00000001, ... */
#define KEY(k, pfx, i) mkkey(k, sizeof(k), pfx "-", 8, i)

#define CHECK_VIEW(v, k, n) do { \
	ck_assert_uint_eq((v).len, (n)); \
	ck_assert_uint_eq(pattern_check((v).data, (v).len, key_seed(k, strlen(k))), 0); \
} while (0)

START_TEST(connect_missing)
{
	char dir[] = "/tmp/mmc-tc-XXXXXX", path[96];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mmc_client *c = (mmc_client *)1;
	int fd, r;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none.sock", dir);
	r = mmc_connect(path, &c);
	ck_assert_msg(r == -ENOENT || r == -ECONNREFUSED, "got %d", r);
	ck_assert_ptr_null(c);
	/* a socket file nobody listens on any more: refused */
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	c = (mmc_client *)1;
	ck_assert_int_eq(mmc_connect(path, &c), -ECONNREFUSED);
	ck_assert_ptr_null(c);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(roundtrip_sizes)
{
	static const size_t sizes[] = { 1, 4 * KiB, 64 * KiB + 17, 1 * MiB, 64 * MiB };
	struct mmc_view v;
	char k[64];

	for (unsigned i = 0; i < 5; i++) {
		KEY(k, "size", i);
		put_pat_ok(C, k, sizes[i]);
		get_pat_ok(C, k, sizes[i]);
		ck_assert_int_eq(mmc_acquire(C, k, strlen(k), &v), 0);
		CHECK_VIEW(v, k, sizes[i]);
		ck_assert_int_eq(mmc_release(C, &v), 0);
	}
	ck_assert_uint_eq(stats_ok(C).objects, 5);
}
END_TEST

START_TEST(bad_arguments)
{
	char big[MMC_KEY_MAX + 1], buf[8];

	memset(big, 'k', sizeof(big));
	ck_assert_int_eq(mmc_put(C, "", 0, "v", 1), -EINVAL);
	ck_assert_int_eq(mmc_put(C, big, sizeof(big), "v", 1), -ENAMETOOLONG);
	ck_assert_int_eq(mmc_put(C, big, MMC_KEY_MAX, "v", 1), 0);   /* 256 is fine */
	ck_assert_int_eq(mmc_exists(C, big, MMC_KEY_MAX), 1);
	ck_assert_int_eq(mmc_put(C, "k", 1, "v", 0), -EINVAL);
	ck_assert_int_eq(mmc_get(C, "", 0, buf, sizeof(buf), NULL), -EINVAL);
	ck_assert_int_eq(mmc_get(C, big, sizeof(big), buf, sizeof(buf), NULL), -ENAMETOOLONG);
	ck_assert_int_eq(mmc_exists(C, big, sizeof(big)), -ENAMETOOLONG);
	ck_assert_int_eq(mmc_put(C, "huge", 4, buf, 65 * MiB), -E2BIG);
	ck_assert_int_eq(mmc_exists(C, "k", 1), 0);
	ck_assert_uint_eq(stats_ok(C).reservations, 0);
}
END_TEST

START_TEST(put_existing)
{
	uint8_t other[8192];

	put_pat_ok(C, "dup", 4096);
	pattern_fill(other, sizeof(other), 42);
	ck_assert_int_eq(mmc_put(C, "dup", 3, other, sizeof(other)), -EEXIST);
	ck_assert_int_eq(mmc_put(C, "dup", 3, other, 4096), -EEXIST);
	get_pat_ok(C, "dup", 4096);
	ck_assert_uint_eq(stats_ok(C).objects, 1);
}
END_TEST

START_TEST(get_small_buffer)
{
	uint8_t buf[1000];
	size_t len = 0;

	put_pat_ok(C, "small", 1001);
	ck_assert_int_eq(mmc_get(C, "small", 5, buf, sizeof(buf), &len), -EMSGSIZE);
	ck_assert_uint_eq(len, 1001);
	len = 0;   /* a size query: no buffer at all */
	ck_assert_int_eq(mmc_get(C, "small", 5, NULL, 0, &len), -EMSGSIZE);
	ck_assert_uint_eq(len, 1001);
	get_pat_ok(C, "small", 1001);
}
END_TEST

START_TEST(miss_exists_remove)
{
	uint8_t buf[64];

	ck_assert_int_eq(mmc_get(C, "nope", 4, buf, sizeof(buf), NULL), -ENOENT);
	ck_assert_int_eq(mmc_exists(C, "nope", 4), 0);
	put_pat_ok(C, "yes", 10);
	ck_assert_int_eq(mmc_exists(C, "yes", 3), 1);
	ck_assert_int_eq(mmc_exists(C, "ye", 2), 0);
	ck_assert_int_eq(mmc_remove(C, "yes", 3), 0);
	ck_assert_int_eq(mmc_exists(C, "yes", 3), 0);
	ck_assert_int_eq(mmc_get(C, "yes", 3, buf, sizeof(buf), NULL), -ENOENT);
	ck_assert_int_eq(mmc_remove(C, "yes", 3), -ENOENT);
	ck_assert_int_eq(mmc_remove(C, "nope", 4), -ENOENT);
	ck_assert_uint_eq(stats_ok(C).used_bytes, 0);
	put_pat_ok(C, "yes", 20);     /* the key can be put again */
	get_pat_ok(C, "yes", 20);
}
END_TEST

START_TEST(zero_copy)
{
	const size_t len = 3 * MiB + 5;
	struct mmc_reservation r;
	struct mmc_view v;

	ck_assert_int_eq(mmc_reserve(C, "zc", 2, len, &r), 0);
	ck_assert_ptr_nonnull(r.data);
	ck_assert_uint_eq(r.len, len);
	pattern_fill(r.data, len, key_seed("zc", 2));
	ck_assert_int_eq(mmc_commit(C, &r), 0);
	ck_assert_int_eq(mmc_acquire(C, "zc", 2, &v), 0);
	CHECK_VIEW(v, "zc", len);
	ck_assert_int_eq(mmc_release(C, &v), 0);
	get_pat_ok(C, "zc", len);
}
END_TEST

START_TEST(reserved_invisible)
{
	struct mmc_reservation r;
	mmc_client *d = connect_ok(NULL);
	uint8_t buf[16];

	ck_assert_int_eq(mmc_reserve(C, "res", 3, 8192, &r), 0);
	pattern_fill(r.data, 8192, key_seed("res", 3));
	ck_assert_int_eq(mmc_exists(C, "res", 3), 0);
	ck_assert_int_eq(mmc_exists(d, "res", 3), 0);
	ck_assert_int_eq(mmc_get(C, "res", 3, buf, sizeof(buf), NULL), -ENOENT);
	ck_assert_int_eq(mmc_get(d, "res", 3, buf, sizeof(buf), NULL), -ENOENT);
	ck_assert_int_eq(mmc_put(d, "res", 3, buf, sizeof(buf)), -EBUSY);
	ck_assert_int_eq(mmc_remove(d, "res", 3), -EBUSY);
	ck_assert_uint_eq(stats_ok(d).objects, 0);
	ck_assert_int_eq(mmc_commit(C, &r), 0);
	ck_assert_int_eq(mmc_exists(d, "res", 3), 1);
	get_pat_ok(d, "res", 8192);
	ck_assert_int_eq(mmc_put(d, "res", 3, buf, sizeof(buf)), -EEXIST);
	ck_assert_int_eq(mmc_commit(C, &r), -EINVAL);   /* spent */
	mmc_disconnect(d);
}
END_TEST

START_TEST(abort_frees)
{
	struct mmc_reservation r;
	struct mmc_stats s0, s;

	put_pat_ok(C, "base", 5000);
	s0 = stats_ok(C);
	ck_assert_int_eq(mmc_reserve(C, "ab", 2, 8 * MiB, &r), 0);
	EXPECT(C, s, s.used_bytes == s0.used_bytes + 8 * MiB && s.reservations == 1 &&
	       s.reserved_bytes == 8 * MiB);
	memset(r.data, 0xab, 8 * MiB);
	ck_assert_int_eq(mmc_abort(C, &r), 0);
	EXPECT(C, s, s.used_bytes == s0.used_bytes && s.reservations == 0 &&
	       s.reserved_bytes == 0 && s.objects == 1);
	ck_assert_int_eq(mmc_exists(C, "ab", 2), 0);
	put_pat_ok(C, "ab", 8 * MiB);
	get_pat_ok(C, "ab", 8 * MiB);
}
END_TEST

/* One session may hold half the arena in reservations, its uid three
 * quarters ([limits] defaults): past that a reservation gets -EDQUOT at
 * once, says so, and the session goes on; another session of the same
 * uid gets what is left of the uid's share. */
START_TEST(reservation_quota)
{
	struct mmc_reservation r1, r2, r3, r4;
	struct mmc_stats s;
	mmc_client *d;

	ck_assert_int_eq(mmc_reserve(C, "q1", 2, 20 * MiB, &r1), 0);
	ck_assert_int_eq(mmc_reserve(C, "q2", 2, 12 * MiB, &r2), 0);   /* 32 of 32 */
	ck_assert_int_eq(mmc_reserve(C, "q3", 2, 4096, &r3), -EDQUOT);
	ck_assert_ptr_nonnull(strstr(mmc_strerror(-EDQUOT), "[limits]"));
	ck_assert_int_eq(mmc_exists(C, "q3", 2), 0);
	d = connect_ok(NULL);
	ck_assert_int_eq(mmc_reserve(d, "q4", 2, 16 * MiB, &r4), 0);    /* uid: 48 of 48 */
	ck_assert_int_eq(mmc_reserve(d, "q5", 2, 4096, &r3), -EDQUOT);
	EXPECT(C, s, s.quota_refusals == 2 && s.reservations == 3 &&
	       s.reserved_bytes == 48 * MiB);
	ck_assert_int_eq(mmc_abort(C, &r2), 0);
	ck_assert_int_eq(mmc_reserve(d, "q5", 2, 4096, &r3), 0);
	pattern_fill(r3.data, r3.len, key_seed("q5", 2));
	ck_assert_int_eq(mmc_commit(d, &r3), 0);
	get_pat_ok(C, "q5", 4096);
	ck_assert_int_eq(mmc_abort(C, &r1), 0);
	ck_assert_int_eq(mmc_abort(d, &r4), 0);
	mmc_disconnect(d);
	/* Committed objects are not reservations: the arena fills past it. */
	for (unsigned i = 0; i < 40; i++) {
		char k[32];

		KEY(k, "qf", i);
		put_pat_ok(C, k, 1 * MiB);
	}
	EXPECT(C, s, s.objects == 41 && s.reservations == 0);
}
END_TEST

START_TEST(arena_full_enospc)
{
	struct mmc_reservation r1, r2;

	ck_assert_int_eq(mmc_reserve(C, "r1", 2, 40 * MiB, &r1), 0);
	ck_assert_int_eq(mmc_reserve(C, "r2", 2, 40 * MiB, &r2), -ENOSPC);
	ck_assert_int_eq(mmc_abort(C, &r1), 0);
	ck_assert_int_eq(mmc_reserve(C, "r2", 2, 40 * MiB, &r2), 0);
	ck_assert_int_eq(mmc_abort(C, &r2), 0);
}
END_TEST

START_TEST(acquire_pins)
{
	struct mmc_view v;

	put_pat_ok(C, "pin", 4096);
	ck_assert_uint_eq(stats_ok(C).pinned_objects, 0);
	ck_assert_int_eq(mmc_acquire(C, "pin", 3, &v), 0);
	ck_assert_uint_eq(stats_ok(C).pinned_objects, 1);
	CHECK_VIEW(v, "pin", 4096);
	ck_assert_int_eq(mmc_release(C, &v), 0);
	ck_assert_uint_eq(stats_ok(C).pinned_objects, 0);
	ck_assert_int_eq(mmc_release(C, &v), -EINVAL);
	ck_assert_int_eq(mmc_acquire(C, "nopin", 5, &v), -ENOENT);
}
END_TEST

/* mmc_acquire_batch: hits pinned in place byte-exact, a miss zeroed with
 * -ENOENT, per-key bad keys, the pin budget (-EDQUOT past 25 % of the
 * arena in large values) without losing the views already taken. */
START_TEST(acquire_batch)
{
	char keys[6][24];
	const void *kp[6];
	size_t kl[6];
	struct mmc_view v[6];
	int64_t res[6];

	for (unsigned i = 0; i < 6; i++) {
		kl[i] = KEY(keys[i], "ab", i);
		kp[i] = keys[i];
		if (i != 2)
			put_pat_ok(C, keys[i], 4 * MiB);   /* 20 MiB: over the 16 MiB cap */
	}
	ck_assert_int_eq(mmc_acquire_batch(C, 6, kp, kl, v, res), 4);
	for (unsigned i = 0; i < 6; i++) {
		if (i == 2 || i == 5) {
			ck_assert_int_eq(res[i], i == 2 ? -ENOENT : -EDQUOT);
			ck_assert_ptr_null(v[i].data);
			continue;
		}
		ck_assert_int_eq(res[i], 4 * MiB);
		CHECK_VIEW(v[i], keys[i], 4 * MiB);
	}
	ck_assert_uint_eq(stats_ok(C).pinned_objects, 4);
	for (unsigned i = 0; i < 5; i++)
		if (i != 2)
			ck_assert_int_eq(mmc_release(C, &v[i]), 0);
	ck_assert_uint_eq(stats_ok(C).pinned_objects, 0);
	/* released, the budget is back; a bad key fails alone */
	kl[0] = 0;
	ck_assert_int_eq(mmc_acquire_batch(C, 2, kp + 4, kl + 4, v, res), 2);
	CHECK_VIEW(v[1], keys[5], 4 * MiB);
	ck_assert_int_eq(mmc_release(C, &v[0]), 0);
	ck_assert_int_eq(mmc_release(C, &v[1]), 0);
	ck_assert_int_eq(mmc_acquire_batch(C, 2, kp, kl, v, res), 1);
	ck_assert_int_eq(res[0], -EINVAL);
	CHECK_VIEW(v[1], keys[1], 4 * MiB);
	ck_assert_int_eq(mmc_release(C, &v[1]), 0);
	ck_assert_int_eq(mmc_acquire_batch(C, 2, kp, kl, NULL, res), -EINVAL);
	ck_assert_int_eq(mmc_acquire_batch(C, MMC_BATCH_MAX + 1, kp, kl, v, res), -EINVAL);
}
END_TEST

START_TEST(pin_slots_enobufs)
{
	static struct mmc_view v[MMC_VIEWS_MAX + 1];

	put_pat_ok(C, "many", 100);
	for (unsigned i = 0; i < MMC_VIEWS_MAX; i++)
		ck_assert_int_eq(mmc_acquire(C, "many", 4, &v[i]), 0);
	ck_assert_int_eq(mmc_acquire(C, "many", 4, &v[MMC_VIEWS_MAX]), -ENOBUFS);
	ck_assert_uint_eq(stats_ok(C).pinned_objects, 1);
	for (unsigned i = 0; i < MMC_VIEWS_MAX; i++)
		ck_assert_int_eq(mmc_release(C, &v[i]), 0);
	ck_assert_uint_eq(stats_ok(C).pinned_objects, 0);
	get_pat_ok(C, "many", 100);
}
END_TEST

START_TEST(remove_pinned)
{
	struct mmc_view v, w;
	struct mmc_stats s0, s;
	mmc_client *d = connect_ok(NULL);
	uint8_t *nv = malloc(4 * MiB);

	put_pat_ok(C, "rp", 4 * MiB);
	s0 = stats_ok(C);
	ck_assert_int_eq(mmc_acquire(C, "rp", 2, &v), 0);
	ck_assert_int_eq(mmc_acquire(d, "rp", 2, &w), 0);
	ck_assert_int_eq(mmc_remove(C, "rp", 2), 0);
	/* new lookups miss at once */
	ck_assert_int_eq(mmc_exists(C, "rp", 2), 0);
	ck_assert_int_eq(mmc_exists(d, "rp", 2), 0);
	ck_assert_int_eq(mmc_get(d, "rp", 2, nv, 4 * MiB, NULL), -ENOENT);
	EXPECT(C, s, s.objects == 0 && s.pinned_objects == 1 &&
	       s.used_bytes == s0.used_bytes);   /* not freed yet */
	/* a new object of that key must not land in the pinned space */
	pattern_fill(nv, 4 * MiB, 7);
	ck_assert_int_eq(mmc_put(d, "rp", 2, nv, 4 * MiB), 0);
	CHECK_VIEW(v, "rp", 4 * MiB);
	CHECK_VIEW(w, "rp", 4 * MiB);
	ck_assert_int_eq(mmc_release(C, &v), 0);
	ck_assert_uint_eq(stats_ok(C).used_bytes, s0.used_bytes + 4 * MiB);
	CHECK_VIEW(w, "rp", 4 * MiB);
	ck_assert_int_eq(mmc_release(d, &w), 0);
	EXPECT(C, s, s.used_bytes == s0.used_bytes && s.pinned_objects == 0 &&
	       s.objects == 1);   /* the old space is freed */
	memset(nv, 0, 4 * MiB);
	ck_assert_int_eq(mmc_get(C, "rp", 2, nv, 4 * MiB, NULL), 0);
	ck_assert_uint_eq(pattern_check(nv, 4 * MiB, 7), 0);
	free(nv);
	mmc_disconnect(d);
}
END_TEST

START_TEST(iovecs)
{
	struct iovec iov[MMC_IOV_MAX + 1];
	size_t total = 0, got = 0, off = 0;
	uint8_t *src, *dst;

	for (unsigned i = 0; i < MMC_IOV_MAX; i++)
		total += 1 + (i * 37) % 1001;
	src = malloc(total);
	dst = malloc(total + 4096);
	pattern_fill(src, total, key_seed("iov", 3));
	for (unsigned i = 0; i < MMC_IOV_MAX; i++) {   /* gather odd pieces */
		iov[i].iov_base = src + off;
		iov[i].iov_len = 1 + (i * 37) % 1001;
		off += iov[i].iov_len;
	}
	ck_assert_int_eq(mmc_putv(C, "iov", 3, iov, MMC_IOV_MAX), 0);
	ck_assert_int_eq(mmc_get(C, "iov", 3, dst, total, &got), 0);
	ck_assert_uint_eq(got, total);
	ck_assert_mem_eq(dst, src, total);
	/* scatter into another split, a guard byte after every piece, the
	 * last piece roomier than what is left */
	off = 0;
	memset(dst, 0xee, total + 4096);
	for (unsigned i = 0, used = 0; i < MMC_IOV_MAX; i++) {
		size_t n = i < MMC_IOV_MAX - 1 ? 1 + (i * 53) % 331 : total - used + 255;

		iov[i].iov_base = dst + off;
		iov[i].iov_len = n;
		off += n + 1;
		used += n;
	}
	ck_assert_uint_le(off, total + 4096);
	got = 0;
	ck_assert_int_eq(mmc_getv(C, "iov", 3, iov, MMC_IOV_MAX, &got), 0);
	ck_assert_uint_eq(got, total);
	off = 0;
	for (unsigned i = 0; i < MMC_IOV_MAX; i++) {
		size_t n = iov[i].iov_len < total - off ? iov[i].iov_len : total - off;

		ck_assert_mem_eq(iov[i].iov_base, src + off, n);
		for (size_t j = n; j <= iov[i].iov_len; j++)   /* untouched past the value */
			ck_assert_uint_eq(((uint8_t *)iov[i].iov_base)[j], 0xee);
		off += n;
	}
	ck_assert_uint_eq(off, total);
	iov[MMC_IOV_MAX] = iov[0];
	ck_assert_int_eq(mmc_putv(C, "iov2", 4, iov, MMC_IOV_MAX + 1), -EINVAL);
	ck_assert_int_eq(mmc_exists(C, "iov2", 4), 0);
	ck_assert_int_eq(mmc_getv(C, "iov", 3, iov, MMC_IOV_MAX + 1, &got), -EINVAL);
	ck_assert_int_eq(mmc_getv(C, "iov", 3, iov, 0, &got), -EINVAL);
	free(src);
	free(dst);
}
END_TEST

#define NB MMC_BATCH_MAX
#define VB 4096

START_TEST(batch_all)
{
	static char keys[NB + 1][24];
	static const void *kp[NB + 1], *vp[NB + 1];
	static void *bp[NB + 1];
	static size_t kl[NB + 1], vl[NB + 1];
	static int res[NB + 1];
	static int64_t gr[NB + 1];
	static uint8_t pr[NB + 1];
	uint8_t *src = malloc((size_t)NB * VB), *dst = malloc((size_t)NB * VB);
	size_t prefix = 1;
	struct mmc_stats s;

	for (unsigned i = 0; i <= NB; i++) {
		kl[i] = KEY(keys[i], "batch", i);
		kp[i] = keys[i];
		vl[i] = VB;
		vp[i] = src + (size_t)(i % NB) * VB;
		bp[i] = dst + (size_t)(i % NB) * VB;
		if (i < NB)
			pattern_fill(src + (size_t)i * VB, VB, key_seed(keys[i], kl[i]));
	}
	ck_assert_int_eq(mmc_put_batch(C, NB, kp, kl, vp, vl, res), NB);
	for (unsigned i = 0; i < NB; i++)
		ck_assert_int_eq(res[i], 0);
	EXPECT(C, s, s.objects == NB && s.evictions == 0);
	ck_assert_int_eq(mmc_get_batch(C, NB, kp, kl, bp, vl, gr), NB);
	for (unsigned i = 0; i < NB; i++) {
		ck_assert_int_eq(gr[i], VB);
		ck_assert_uint_eq(pattern_check(bp[i], VB, key_seed(keys[i], kl[i])), 0);
	}
	ck_assert_int_eq(mmc_exists_batch(C, NB, kp, kl, pr, &prefix), NB);
	ck_assert_uint_eq(prefix, NB);
	for (unsigned i = 0; i < NB; i++)
		ck_assert_int_eq(pr[i], 1);
	/* again: every key exists; per-key errors for bad keys */
	kl[5] = 0;
	kl[6] = MMC_KEY_MAX + 1;
	ck_assert_int_eq(mmc_put_batch(C, NB, kp, kl, vp, vl, res), 0);
	for (unsigned i = 0; i < NB; i++)
		ck_assert_int_eq(res[i], i == 5 ? -EINVAL : i == 6 ? -ENAMETOOLONG : -EEXIST);
	kl[5] = kl[6] = strlen(keys[5]);
	ck_assert_int_eq(mmc_remove_batch(C, NB, kp, kl, res), NB);
	for (unsigned i = 0; i < NB; i++)
		ck_assert_int_eq(res[i], 0);
	EXPECT(C, s, s.objects == 0 && s.used_bytes == 0);
	ck_assert_int_eq(mmc_exists_batch(C, NB, kp, kl, pr, &prefix), 0);
	ck_assert_uint_eq(prefix, 0);
	ck_assert_int_eq(mmc_get_batch(C, NB, kp, kl, bp, vl, gr), 0);
	ck_assert_int_eq(mmc_remove_batch(C, NB, kp, kl, res), 0);
	for (unsigned i = 0; i < NB; i++) {
		ck_assert_int_eq(gr[i], -ENOENT);
		ck_assert_int_eq(res[i], -ENOENT);
		ck_assert_int_eq(pr[i], 0);
	}
	/* one more than the maximum: refused as a whole */
	ck_assert_int_eq(mmc_put_batch(C, NB + 1, kp, kl, vp, vl, res), -EINVAL);
	ck_assert_int_eq(mmc_get_batch(C, NB + 1, kp, kl, bp, vl, gr), -EINVAL);
	ck_assert_int_eq(mmc_exists_batch(C, NB + 1, kp, kl, pr, &prefix), -EINVAL);
	ck_assert_int_eq(mmc_remove_batch(C, NB + 1, kp, kl, res), -EINVAL);
	ck_assert_int_eq(mmc_exists(C, keys[0], kl[0]), 0);
	free(src);
	free(dst);
}
END_TEST

/* keys pfx-0..9, all present but 7 */
static void ten_keys(char keys[10][24], const void **kp, size_t *kl)
{
	for (unsigned i = 0; i < 10; i++) {
		kl[i] = KEY(keys[i], "pfx", i);
		kp[i] = keys[i];
		if (i != 7)
			put_pat_ok(C, keys[i], 100 + i);
	}
}

START_TEST(exists_prefix)
{
	char keys[10][24];
	const void *kp[10];
	size_t kl[10], prefix = 99;
	uint8_t present[10];

	ten_keys(keys, kp, kl);
	ck_assert_int_eq(mmc_exists_batch(C, 10, kp, kl, present, &prefix), 9);
	ck_assert_uint_eq(prefix, 7);
	for (unsigned i = 0; i < 10; i++)
		ck_assert_int_eq(present[i], i != 7);
}
END_TEST

/* mmc.h: present may be NULL, and the call "returns the number present". */
START_TEST(exists_prefix_no_present)
{
	char keys[10][24];
	const void *kp[10];
	size_t kl[10], prefix = 99;

	ten_keys(keys, kp, kl);
	/* Without present[] only the prefix is asked: the scan stops at the
	 * gap and the count is the prefix (mmc.h). */
	ck_assert_int_eq(mmc_exists_batch(C, 10, kp, kl, NULL, &prefix), 7);
	ck_assert_uint_eq(prefix, 7);
}
END_TEST

START_TEST(clear_all)
{
	struct mmc_view v;
	struct mmc_stats s;
	char k[64];

	for (unsigned i = 0; i < 100; i++) {
		KEY(k, "clr", i);
		put_pat_ok(C, k, 4096 + i);
	}
	ck_assert_uint_eq(stats_ok(C).objects, 100);
	ck_assert_int_eq(mmc_acquire(C, "clr-00000042", 12, &v), 0);
	ck_assert_int_eq(mmc_clear(C), 0);
	EXPECT(C, s, s.objects == 0 && s.used_bytes == 8192);   /* the pinned one */
	for (unsigned i = 0; i < 100; i++) {
		KEY(k, "clr", i);
		ck_assert_int_eq(mmc_exists(C, k, strlen(k)), 0);
	}
	CHECK_VIEW(v, "clr-00000042", 4096 + 42);
	ck_assert_int_eq(mmc_release(C, &v), 0);
	EXPECT_SOON(C, s, s.used_bytes == 0 && s.pinned_objects == 0);
	put_pat_ok(C, "clr-00000042", 10);
	get_pat_ok(C, "clr-00000042", 10);
}
END_TEST

START_TEST(client_counters)
{
	struct mmc_client_stats cs;
	struct mmc_stats s;
	struct mmc_view v;
	uint8_t buf[64];

	put_pat_ok(C, "c1", 10);
	put_pat_ok(C, "c2", 20);
	put_pat_ok(C, "c3", 30);
	ck_assert_int_eq(put_pat(C, "c1", 10), -EEXIST);
	get_pat_ok(C, "c1", 10);
	get_pat_ok(C, "c2", 20);
	ck_assert_int_eq(mmc_get(C, "c9", 2, buf, sizeof(buf), NULL), -ENOENT);
	ck_assert_int_eq(mmc_acquire(C, "c3", 2, &v), 0);
	ck_assert_int_eq(mmc_release(C, &v), 0);
	ck_assert_int_eq(mmc_exists(C, "c1", 2), 1);
	ck_assert_int_eq(mmc_exists(C, "c8", 2), 0);
	ck_assert_int_eq(mmc_remove(C, "c2", 2), 0);
	ck_assert_int_eq(mmc_client_stats(C, &cs), 0);
	ck_assert_msg(cs.puts == 3 && cs.put_bytes == 60 && cs.put_exists == 1 &&
		      cs.hits == 3 && cs.misses == 1 && cs.gets == 3 && cs.get_bytes == 60 &&
		      cs.exists == 2 && cs.removes == 1 && cs.errors == 0,
		      "puts %llu/%llu B put_exists %llu hits %llu misses %llu gets %llu/%llu B "
		      "exists %llu removes %llu errors %llu", (unsigned long long)cs.puts,
		      (unsigned long long)cs.put_bytes, (unsigned long long)cs.put_exists,
		      (unsigned long long)cs.hits, (unsigned long long)cs.misses,
		      (unsigned long long)cs.gets, (unsigned long long)cs.get_bytes,
		      (unsigned long long)cs.exists, (unsigned long long)cs.removes,
		      (unsigned long long)cs.errors);
	EXPECT(C, s, s.puts == 3 && s.hits == 3 && s.misses == 1 &&   /* the agent agrees */
	       s.put_exists == 1 && s.removes == 1 && s.errors == 0);
	ck_assert_int_eq(mmc_client_stats(NULL, &cs), -EINVAL);
}
END_TEST

START_TEST(strerror_codes)
{
	static const int codes[] = { ENOENT, EEXIST, EBUSY, EINVAL, ENAMETOOLONG,
		E2BIG, ENOSPC, EMSGSIZE, ENOBUFS, ENOTCONN, EACCES, EPROTO };
	const size_t n = sizeof(codes) / sizeof(codes[0]);

	for (size_t i = 0; i < n; i++) {
		const char *s = mmc_strerror(-codes[i]);

		ck_assert_ptr_nonnull(s);
		ck_assert_uint_gt(strlen(s), 0);
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(strcmp(s, mmc_strerror(-codes[j])),
				      "codes %d and %d share \"%s\"", codes[i], codes[j], s);
	}
}
END_TEST

struct thr { unsigned id; int bad; };

/* 400 keys of 1 B..64 KiB: put, get, acquire, all checked. */
static void *thr_main(void *arg)
{
	struct thr *t = arg;
	uint8_t *b = malloc(64 * KiB + 1);
	char k[64], pfx[8];

	snprintf(pfx, sizeof(pfx), "t%u-", t->id);
	for (unsigned i = 0; i < 400 && !t->bad; i++) {
		size_t len = 1 + (i * 977 + t->id * 131) % (64 * KiB), got = 0;
		size_t kl = mkkey(k, sizeof(k), pfx, 8, i);
		struct mmc_view v;

		pattern_fill(b, len, key_seed(k, kl));
		if (mmc_put(C, k, kl, b, len))
			t->bad = 1;
		memset(b, 0, len);
		if (mmc_get(C, k, kl, b, 64 * KiB + 1, &got) || got != len ||
		    pattern_check(b, len, key_seed(k, kl)))
			t->bad = 2;
		if (mmc_acquire(C, k, kl, &v) || v.len != len ||
		    pattern_check(v.data, len, key_seed(k, kl)) || mmc_release(C, &v))
			t->bad = 3;
	}
	free(b);
	return NULL;
}

START_TEST(threads_one_client)
{
	struct mmc_client_stats cs;
	struct thr t[4];
	pthread_t tid[4];

	for (unsigned i = 0; i < 4; i++) {
		t[i] = (struct thr){ i, 0 };
		ck_assert_int_eq(pthread_create(&tid[i], NULL, thr_main, &t[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		ck_assert_msg(!t[i].bad, "thread %u failed: %d", i, t[i].bad);
	}
	ck_assert_uint_eq(stats_ok(C).objects, 1600);
	ck_assert_int_eq(mmc_client_stats(C, &cs), 0);
	ck_assert_uint_eq(cs.puts, 1600);
	ck_assert_uint_eq(cs.hits, 3200);
	ck_assert_uint_eq(cs.errors, 0);
}
END_TEST

static TCase *tcase(Suite *s, const char *name, void (*setup_fn)(void))
{
	TCase *tc = add_tcase(s, name, 60);

	if (setup_fn)
		tcase_add_checked_fixture(tc, setup_fn, teardown);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("client");
	TCase *none = tcase(s, "no_agent", NULL), *a64 = tcase(s, "arena64", setup_64);
	TCase *a256 = tcase(s, "arena256", setup_256), *b = tcase(s, "batch", setup_batch);
	TCase *a64u = tcase(s, "arena64_unlimited", setup_64_unlimited);

	add_tests(none, TESTS(connect_missing, strerror_codes));
	add_tests(a256, TESTS(roundtrip_sizes, threads_one_client));
	add_tests(b, TESTS(batch_all));
	add_tests(a64, TESTS(bad_arguments, put_existing, get_small_buffer,
		miss_exists_remove, zero_copy, reserved_invisible, abort_frees,
		reservation_quota, acquire_pins, acquire_batch, pin_slots_enobufs, remove_pinned, iovecs,
		exists_prefix, exists_prefix_no_present, clear_all, client_counters));
	add_tests(a64u, TESTS(arena_full_enospc));
	return run_suite(s);
}
