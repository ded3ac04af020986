/*
 * test_ssd_tier.c - the SSD tier engine alone (tier_ssd.c, ssd_recover.c,
 * ssd_index.c, blkio.c) over a real file on the root filesystem (ext4:
 * O_DIRECT alignment is checked there, unlike on tmpfs), with each I/O
 * engine (the loop index _i: 0 io_uring, 1 threads).
 *
 *   roundtrip        objects of 1 byte to 3 MiB written straight from
 *                    "arena" memory and read back byte-exact, keys checked
 *   corrupt          a byte flipped on the device: the read is a miss
 *                    (CORRUPT), counted, and the object leaves the index
 *   restart          close and open again: every sealed object comes back
 *                    and reads byte-exact; removed ones stay removed, a
 *                    clear stays cleared
 *   packed           objects written together share one request and its
 *                    padding; they read back, before and after a restart
 *   regions_wrap     writing more than the file holds evicts the oldest
 *                    regions whole; the newest objects stay readable
 *   bad_args         too large, empty key, stale slot
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-main.h"
#include "keyhash.h"
#include "tier_ssd.h"

#define ARENA (96ull << 20)
#define MIB (1ull << 20)

static char dir[64], path[96];
static unsigned char *arena, *tags;
static struct mmc_ssd *S;

static struct mmc_ssd_config config(int engine)
{
	return (struct mmc_ssd_config){
		.path = path, .size = 40 * MIB + 4096, .region_size = 4 * MIB,
		.max_objects = 4096, .queue_depth = 8, .engine = engine,
	};
}

static void open_tier(int engine)
{
	struct mmc_ssd_config cfg = config(engine);
	char err[256] = "";
	uint64_t seed;

	ck_assert_msg(mmc_ssd_open(&cfg, &seed, &S, err, sizeof(err)) == 0, "%s", err);
	free(tags);
	tags = calloc(1, mmc_ssd_shared_size(S));
	ck_assert_ptr_nonnull(tags);
	ck_assert_msg(mmc_ssd_attach(S, tags, arena, ARENA, err, sizeof(err)) == 0, "%s", err);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/mmc-ssd-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/tier", dir);
	ck_assert_int_eq(posix_memalign((void **)&arena, 2 * MIB, ARENA), 0);
	tags = NULL;
	S = NULL;
}

static void teardown(void)
{
	mmc_ssd_close(S);
	unlink(path);
	rmdir(dir);
	free(arena);
	free(tags);
}

/* Polls until n events came (5 s at most); returns them in ev.  n = 0:
 * until the tier has nothing in flight. */
static void wait_events(unsigned n, struct mmc_ssd_event *ev)
{
	unsigned got = 0;

	for (int rounds = 0; (n ? got < n : mmc_ssd_busy(S) > 0) && rounds < 500; ) {
		struct pollfd p = { .fd = mmc_ssd_event_fd(S), .events = POLLIN };
		unsigned k;
		uint64_t v;

		mmc_ssd_submit(S);
		k = n ? mmc_ssd_poll(S, ev + got, n - got) : mmc_ssd_poll(S, NULL, 0);
		got += k;
		if (!k && poll(&p, 1, 10) == 0)
			rounds++;
		else if (!k)
			(void)!read(p.fd, &v, sizeof(v));
	}
	ck_assert_uint_eq(got, n);
	if (!n)
		ck_assert_uint_eq(mmc_ssd_busy(S), 0);
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

static uint64_t H(const char *k)
{
	return mmc_key_hash(0x1234, k, strlen(k));
}

struct obj {
	char key[32];
	size_t len;
	uint64_t at;          /* its value in the arena */
	uint32_t slot, gen;
};

/* Takes n WRITTEN events, each OK, and notes slot and gen in o[cookie]. */
static void take_written(struct obj *o, unsigned n)
{
	static struct mmc_ssd_event ev[256];

	wait_events(n, ev);
	for (unsigned j = 0; j < n; j++) {
		struct obj *x = &o[ev[j].cookie];

		ck_assert_int_eq(ev[j].kind, MMC_SSD_WRITTEN);
		ck_assert_msg(ev[j].result == MMC_SSD_OK, "%s: %s", x->key,
			      mmc_ssd_result_str(ev[j].result));
		x->slot = ev[j].slot;
		x->gen = ev[j].gen;
	}
}

/* Writes n objects with lengths len(i) from arena offsets 4 MiB apart, as
 * many in flight as the tier takes (-EAGAIN: it wants completions taken
 * first, as object.c does). */
static void write_objs(struct obj *o, unsigned n, size_t (*len)(unsigned), unsigned base)
{
	unsigned inflight = 0;

	for (unsigned i = 0; i < n; i++) {
		int r;

		snprintf(o[i].key, sizeof(o[i].key), "obj-%u", base + i);
		o[i].len = len(i);
		o[i].at = (uint64_t)(i % 20) * 4 * MIB;
		if (inflight == 20) {       /* the arena slots get reused */
			take_written(o, inflight);
			inflight = 0;
		}
		fill(arena + o[i].at, o[i].len, base + i);
		while ((r = mmc_ssd_write(S, o[i].key, (uint16_t)strlen(o[i].key),
					  H(o[i].key), arena + o[i].at, o[i].len, NULL, i)) == -EAGAIN) {
			if (inflight) {
				take_written(o, inflight);
				inflight = 0;
			} else {          /* regions still being sealed */
				ck_assert_uint_gt(mmc_ssd_busy(S), 0);
				wait_events(0, NULL);
			}
		}
		ck_assert_int_eq(r, 0);
		inflight++;
	}
	take_written(o, inflight);
}

/* Reads o back into the arena's last 8 MiB and checks every byte. */
static enum mmc_ssd_result read_obj(const struct obj *o, unsigned seed)
{
	struct mmc_ssd_event ev;
	unsigned char *dst = arena + ARENA - 8 * MIB;
	uint32_t slot = mmc_ssd_find(S, H(o->key));

	if (slot == MMC_SSD_NONE)
		return MMC_SSD_GONE;
	memset(dst, 0, mmc_ssd_read_size(S, o->len));
	memset(dst + mmc_ssd_read_size(S, o->len), 0xa5, 4096);
	ck_assert_int_eq(mmc_ssd_read(S, slot, o->key, (uint16_t)strlen(o->key), dst, 77), 0);
	wait_events(1, &ev);
	for (size_t i = 0; i < 4096; i++)           /* nothing written past it */
		ck_assert_uint_eq(dst[mmc_ssd_read_size(S, o->len) + i], 0xa5);
	ck_assert_int_eq(ev.kind, MMC_SSD_READ);
	ck_assert_uint_eq(ev.cookie, 77);
	if (ev.result == MMC_SSD_OK) {
		unsigned char *v = dst + mmc_ssd_value_gap(S);

		for (size_t i = 0; i < o->len; i++)
			if (v[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 9)))
				ck_abort_msg("%s: byte %zu differs", o->key, i);
	}
	return ev.result;
}

/* The unit the tier lays objects out in: the file's direct I/O alignment,
 * at least 512 (4096 where statx does not say). */
static uint64_t unit(void)
{
	struct statx sx;
	uint64_t a = 4096;

	if (!statx(AT_FDCWD, path, 0, STATX_DIOALIGN, &sx) &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align)
		a = sx.stx_dio_offset_align > sx.stx_dio_mem_align ?
			sx.stx_dio_offset_align : sx.stx_dio_mem_align;
	return a < 512 ? 512 : a;
}

/* Closes the tier and opens it again: all n of o come back (recovered)
 * and read byte-exact (seed base + i). */
static void reopen_reads_back(int engine, const struct obj *o, unsigned n, unsigned base)
{
	struct mmc_ssd_stats st;

	mmc_ssd_close(S);
	S = NULL;
	open_tier(engine);
	mmc_ssd_get_stats(S, &st);
	ck_assert_uint_eq(st.recovered, n);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(read_obj(&o[i], base + i), MMC_SSD_OK);
}

static size_t sixty_four_k(unsigned i)
{
	(void)i;
	return 64 << 10;
}

/* Objects written together go as one request, padded to 4 KiB once: 16
 * values of 64 KiB cost 16 x (64 KiB + the header's unit), not 16 x 68
 * KiB; a lone one is padded to 4 KiB.  All read back byte-exact, and
 * again after a restart (the tables know where the packed ones are). */
START_TEST(packed)
{
	static struct obj o[17];
	struct mmc_ssd_stats st;
	uint64_t a;

	open_tier(_i);
	a = unit();
	write_objs(o, 16, sixty_four_k, 300);
	mmc_ssd_get_stats(S, &st);
	ck_assert_uint_eq(st.write_bytes, 16 * (a + 65536));
	write_objs(o + 16, 1, sixty_four_k, 316);
	mmc_ssd_get_stats(S, &st);
	ck_assert_uint_eq(st.write_bytes, 16 * (a + 65536) + (a + 65536 + 4095) / 4096 * 4096);
	for (unsigned i = 0; i < 17; i++)
		ck_assert_int_eq(read_obj(&o[i], 300 + i), MMC_SSD_OK);
	reopen_reads_back(_i, o, 17, 300);
}
END_TEST

static size_t mixed_len(unsigned i)
{
	static const size_t l[] = { 1, 511, 512, 513, 4096, 65536, 65537, 1 << 20, 3 << 20, 12345 };

	return l[i % 10];
}

START_TEST(roundtrip)
{
	static struct obj o[40];
	struct mmc_ssd_stats st;

	open_tier(_i);
	write_objs(o, 40, mixed_len, 0);
	for (unsigned i = 0; i < 40; i++)
		ck_assert_int_eq(read_obj(&o[i], i), MMC_SSD_OK);
	mmc_ssd_get_stats(S, &st);
	ck_assert_uint_eq(st.objects, 40);
	ck_assert_uint_eq(st.writes, 40);
	ck_assert_uint_eq(st.reads, 40);
	ck_assert_uint_eq(st.crc_failures, 0);
	/* A read fetches the header's 512 bytes and the value, at the device's
	 * direct-read alignment: not the header's whole 4 KiB sector. */
	{
		uint64_t want = 0, a = unit();

		for (unsigned i = 0; i < 40; i++)
			want += a + (o[i].len + a - 1) / a * a;
		ck_assert_uint_eq(st.read_bytes, want);
	}
	/* A key with the right hash but other bytes is not that object. */
	{
		struct obj fake = o[5];
		struct mmc_ssd_event ev;

		memcpy(fake.key, "obj-X", 6);
		ck_assert_int_eq(mmc_ssd_read(S, o[5].slot, fake.key, 5,
					      arena + ARENA - 8 * MIB, 1), 0);
		wait_events(1, &ev);
		ck_assert_int_eq(ev.result, MMC_SSD_CORRUPT);
	}
}
END_TEST

START_TEST(corrupt)
{
	static struct obj o[10];
	struct mmc_ssd_stats st;
	int fd;

	open_tier(_i);
	write_objs(o, 10, mixed_len, 100);
	mmc_ssd_close(S);          /* sealed: the table says where objects are */
	S = NULL;
	open_tier(_i);
	ck_assert_int_eq(read_obj(&o[7], 107), MMC_SSD_OK);
	/* Flip one byte in the middle of object 7's value on the device. */
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	{
		uint64_t len;
		uint32_t gen;
		uint32_t slot = mmc_ssd_find(S, H(o[7].key));
		/* its offset: read it back through a stale-proof route: scan */
		unsigned char b;
		off_t at;

		ck_assert_int_eq(mmc_ssd_get(S, slot, &len, &gen), 0);
		at = -1;
		for (off_t off = 4096; off < (off_t)(40 * MIB); off += 512) {
			char hdr[512];

			ck_assert_int_eq(pread(fd, hdr, 512, off), 512);
			if (!memcmp(hdr, "MOBJ", 4) && !memcmp(hdr + 40, o[7].key, strlen(o[7].key)) &&
			    hdr[40 + strlen(o[7].key)] == 0) {
				at = off + 512 + (off_t)o[7].len / 2;
				break;
			}
		}
		ck_assert_int_ge(at, 0);
		ck_assert_int_eq(pread(fd, &b, 1, at), 1);
		b ^= 0x40;
		ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
		ck_assert_int_eq(fsync(fd), 0);
	}
	close(fd);
	ck_assert_int_eq(read_obj(&o[7], 107), MMC_SSD_CORRUPT);
	mmc_ssd_get_stats(S, &st);
	ck_assert_uint_eq(st.crc_failures, 1);
	ck_assert_uint_eq(mmc_ssd_find(S, H(o[7].key)), MMC_SSD_NONE);
	ck_assert_int_eq(read_obj(&o[6], 106), MMC_SSD_OK);
}
END_TEST

START_TEST(restart)
{
	static struct obj o[30];
	struct mmc_ssd_stats st;

	open_tier(_i);
	write_objs(o, 30, mixed_len, 200);
	reopen_reads_back(_i, o, 30, 200);
	mmc_ssd_remove(S, mmc_ssd_find(S, H(o[3].key)));
	mmc_ssd_remove(S, mmc_ssd_find(S, H(o[29].key)));
	mmc_ssd_close(S);
	S = NULL;
	open_tier(_i);
	mmc_ssd_get_stats(S, &st);
	ck_assert_uint_eq(st.recovered, 28);
	ck_assert_int_eq(read_obj(&o[3], 203), MMC_SSD_GONE);
	ck_assert_int_eq(read_obj(&o[29], 229), MMC_SSD_GONE);
	ck_assert_int_eq(read_obj(&o[4], 204), MMC_SSD_OK);
	mmc_ssd_clear(S);
	ck_assert_int_eq(read_obj(&o[4], 204), MMC_SSD_GONE);
	mmc_ssd_close(S);
	S = NULL;
	open_tier(_i);
	mmc_ssd_get_stats(S, &st);
	ck_assert_uint_eq(st.recovered, 0);
	ck_assert_uint_eq(st.objects, 0);
}
END_TEST

static size_t one_mib(unsigned i)
{
	return MIB - 600;   /* three objects fill a 4 MiB region but for the table */
}

START_TEST(regions_wrap)
{
	static struct obj o[60];
	struct mmc_ssd_stats st;
	unsigned gone = 0;

	open_tier(_i);
	write_objs(o, 60, one_mib, 300);    /* 60 MiB into a 40 MiB file */
	mmc_ssd_get_stats(S, &st);
	ck_assert_uint_gt(st.evicted_regions, 0);
	for (unsigned i = 0; i < 60; i++) {
		enum mmc_ssd_result r = read_obj(&o[i], 300 + i);

		ck_assert(r == MMC_SSD_OK || r == MMC_SSD_GONE);
		if (r == MMC_SSD_GONE) {
			ck_assert_uint_eq(gone, i);   /* the oldest go first */
			gone++;
		}
	}
	ck_assert_uint_gt(gone, 0);
	ck_assert_uint_lt(gone, 40);
	ck_assert_uint_eq(st.objects, 60 - gone);

	/* The oldest survivor is next to go, the newest is not; written again
	 * it moves to the newest region, its old copy gone, its bytes kept. */
	ck_assert(mmc_ssd_aging(S, o[gone].slot));
	ck_assert(!mmc_ssd_aging(S, o[59].slot));
	write_objs(&o[gone], 1, one_mib, 300 + gone);
	ck_assert(!mmc_ssd_aging(S, o[gone].slot));
	ck_assert_int_eq(read_obj(&o[gone], 300 + gone), MMC_SSD_OK);
	ck_assert_uint_eq(mmc_ssd_find(S, H(o[gone].key)), o[gone].slot);
	mmc_ssd_get_stats(S, &st);     /* one copy (its region's mates may be gone) */
	ck_assert_uint_le(st.objects, 60 - gone);
}
END_TEST

START_TEST(bad_args)
{
	open_tier(_i);
	ck_assert_int_eq(mmc_ssd_write(S, "big", 3, H("big"), arena, 5 * MIB, NULL, 1), -E2BIG);
	ck_assert_int_eq(mmc_ssd_write(S, "", 0, 0, arena, 10, NULL, 1), -EINVAL);
	ck_assert_int_eq(mmc_ssd_read(S, 12345, "k", 1, arena, 1), -ENOENT);
	ck_assert_int_eq(mmc_ssd_valid(S, 12345, 1, 1), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ssd_tier");
	TCase *tc = add_tcase(s, "tier", 60);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, roundtrip, 0, 2);
	tcase_add_loop_test(tc, corrupt, 0, 2);
	tcase_add_loop_test(tc, restart, 0, 2);
	tcase_add_loop_test(tc, packed, 0, 2);
	tcase_add_loop_test(tc, regions_wrap, 0, 2);
	tcase_add_loop_test(tc, bad_args, 0, 2);
	return run_suite(s);
}
