/*
 * test_alloc.c - unit tests of the data-region allocator (agent/alloc.c).
 *
 * The allocator is driven only through alloc.h.  Small hand-built layouts
 * pin down the contract (rounding, errors, exact fill, coalescing, refused
 * bad frees, reuse of a freed page, -ENOSPC only when nothing fits, the 16 TiB
 * limit); a seeded random stress keeps a shadow list of live blocks and checks
 * that no two overlap and that mmc_alloc_check() stays clean; a KV-like churn
 * of a few page sizes checks the fragmentation promises.  Everything is
 * deterministic (fixed seeds), nothing sleeps.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "layout-t.h"
#include "alloc.h"
#include "check-main.h"

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)

/*
 * Every ck_assert_*() records its location with a write(2) even when it
 * passes, which costs seconds over the stress loops: those use these, which
 * only call into check when the assertion fails.
 */
#define REQUIRE(c)							\
	do {								\
		if (__builtin_expect(!(c), 0))				\
			ck_abort_msg("Assertion '%s' failed", #c);	\
	} while (0)
#define REQUIRE_OP(x, op, y)						\
	do {								\
		unsigned long long x_ = (x), y_ = (y);			\
		if (__builtin_expect(!(x_ op y_), 0))			\
			ck_abort_msg("Assertion '%s %s %s' failed: "	\
				     "%llu vs %llu", #x, #op, #y, x_, y_); \
	} while (0)
#define REQUIRE_EQ(x, y) REQUIRE_OP(x, ==, y)
#define REQUIRE_RC(x, y)						\
	do {								\
		int x_ = (x), y_ = (y);					\
		if (__builtin_expect(x_ != y_, 0))			\
			ck_abort_msg("Assertion '%s == %s' failed: "	\
				     "%d vs %d", #x, #y, x_, y_);	\
	} while (0)

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
	rng_state = s;
}

/* splitmix64 */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t round_unit(uint64_t b)
{
	return (b + MMC_UNIT - 1) / MMC_UNIT * MMC_UNIT;
}

static struct mmc_alloc *new_alloc(uint64_t size)
{
	struct mmc_alloc *a = NULL;

	ck_assert_int_eq(mmc_alloc_create(size, &a), 0);
	ck_assert_ptr_nonnull(a);
	return a;
}

static uint64_t take_ok(struct mmc_alloc *a, uint64_t bytes)
{
	uint64_t off = UINT64_MAX;

	REQUIRE_RC(mmc_alloc_take(a, bytes, &off), 0);
	REQUIRE_EQ(off % MMC_UNIT, 0);
	REQUIRE_OP(off + round_unit(bytes), <=, mmc_alloc_capacity(a));
	REQUIRE_EQ(mmc_alloc_block_size(a, off), round_unit(bytes));
	return off;
}

/* ---- shadow list of live blocks ---- */

struct blk {
	uint64_t off, len;
};

struct shadow {
	struct blk *v;
	size_t n, cap;
	uint64_t bytes;
};

static void sh_add(struct shadow *s, uint64_t off, uint64_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (off < s->v[i].off + s->v[i].len && s->v[i].off < off + len)
			ck_abort_msg("block [%llu,+%llu) overlaps live [%llu,+%llu)",
				     (unsigned long long)off,
				     (unsigned long long)len,
				     (unsigned long long)s->v[i].off,
				     (unsigned long long)s->v[i].len);
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		REQUIRE(s->v);
	}
	s->v[s->n++] = (struct blk){ off, len };
	s->bytes += len;
}

/* Releases live block i (swap-remove) and checks the allocator agrees. */
static void sh_release(struct mmc_alloc *a, struct shadow *s, size_t i)
{
	struct blk b = s->v[i];

	REQUIRE_EQ(mmc_alloc_block_size(a, b.off), b.len);
	REQUIRE_RC(mmc_alloc_release(a, b.off), 0);
	REQUIRE_EQ(mmc_alloc_block_size(a, b.off), 0);
	s->v[i] = s->v[--s->n];
	s->bytes -= b.len;
}

static bool sh_is_start(const struct shadow *s, uint64_t off)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].off == off)
			return true;
	return false;
}

/* ---- contract ---- */

START_TEST(test_create_destroy)
{
	struct mmc_alloc *a = NULL;

	ck_assert_int_eq(mmc_alloc_create(0, &a), -EINVAL);
	ck_assert_int_eq(mmc_alloc_create(MMC_UNIT - 1, &a), -EINVAL);
	ck_assert_int_eq(mmc_alloc_create(GiB, NULL), -EINVAL);
	ck_assert_int_eq(mmc_alloc_create(16 * TiB + MMC_UNIT, &a), -EINVAL);
	ck_assert_int_eq(mmc_alloc_create(UINT64_MAX, &a), -EINVAL);
	ck_assert_ptr_null(a);
	mmc_alloc_destroy(NULL);

	a = new_alloc(MMC_UNIT);
	ck_assert_uint_eq(mmc_alloc_capacity(a), MMC_UNIT);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), MMC_UNIT);
	mmc_alloc_destroy(a);

	a = new_alloc(10 * MMC_UNIT + 123);     /* rounded down */
	ck_assert_uint_eq(mmc_alloc_capacity(a), 10 * MMC_UNIT);
	ck_assert_uint_eq(mmc_alloc_used(a), 0);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), 10 * MMC_UNIT);
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	mmc_alloc_destroy(a);

	a = new_alloc(GiB);
	ck_assert_uint_eq(mmc_alloc_capacity(a), GiB);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), GiB);
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	mmc_alloc_destroy(a);
}
END_TEST

START_TEST(test_take_rounding)
{
	static const uint64_t sizes[] = { 1, 4095, 4096, 4097, 8191, 8192,
					  65535, 65536, 65537, 3 * MiB + 1 };
	struct mmc_alloc *a = new_alloc(64 * MiB);
	uint64_t used = 0, off[sizeof(sizes) / sizeof(sizes[0])];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		off[i] = take_ok(a, sizes[i]);
		used += round_unit(sizes[i]);
		ck_assert_uint_eq(mmc_alloc_used(a), used);
		for (size_t j = 0; j < i; j++)
			ck_assert(off[i] + round_unit(sizes[i]) <= off[j] ||
				  off[j] + round_unit(sizes[j]) <= off[i]);
	}
	ck_assert_uint_eq(mmc_alloc_largest_free(a), 64 * MiB - used);
	/* block_size only answers for the start of a used block */
	ck_assert_uint_eq(mmc_alloc_block_size(a, off[9] + 1), 0);
	ck_assert_uint_eq(mmc_alloc_block_size(a, off[9] + MMC_UNIT), 0);
	ck_assert_uint_eq(mmc_alloc_block_size(a, 64 * MiB), 0);
	ck_assert_uint_eq(mmc_alloc_block_size(a, UINT64_MAX), 0);
	ck_assert_uint_eq(mmc_alloc_block_size(a, 63 * MiB), 0);   /* free */
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	mmc_alloc_destroy(a);
}
END_TEST

START_TEST(test_take_errors)
{
	struct mmc_alloc *a = new_alloc(16 * MiB);
	uint64_t off = 42, o2;

	ck_assert_int_eq(mmc_alloc_take(a, 0, &off), -EINVAL);
	ck_assert_int_eq(mmc_alloc_take(a, MMC_UNIT, NULL), -EINVAL);
	ck_assert_int_eq(mmc_alloc_take(NULL, MMC_UNIT, &off), -EINVAL);
	ck_assert_int_eq(mmc_alloc_take(a, 16 * MiB + 1, &off), -E2BIG);
	ck_assert_int_eq(mmc_alloc_take(a, UINT64_MAX, &off), -E2BIG);
	ck_assert_uint_eq(off, 42);
	ck_assert_uint_eq(mmc_alloc_used(a), 0);

	off = take_ok(a, 16 * MiB);             /* the whole region */
	ck_assert_uint_eq(off, 0);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), 0);
	ck_assert_int_eq(mmc_alloc_take(a, 1, &o2), -ENOSPC);
	ck_assert_int_eq(mmc_alloc_take(a, 16 * MiB + 1, &o2), -E2BIG);
	ck_assert_int_eq(mmc_alloc_release(a, off), 0);
	ck_assert_uint_eq(take_ok(a, 16 * MiB - MMC_UNIT + 1), 0);
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	mmc_alloc_destroy(a);
}
END_TEST

/* Equal blocks fill the region exactly; freeing all coalesces to one block. */
START_TEST(test_fill_and_coalesce)
{
	const uint64_t cap = 64 * MiB, bs = 64 * KiB, nb = cap / bs;
	struct mmc_alloc *a = new_alloc(cap);
	uint64_t *offs = malloc(nb * sizeof(*offs)), o;
	bool *seen = calloc(nb, sizeof(*seen));

	for (uint64_t i = 0; i < nb; i++) {
		offs[i] = take_ok(a, bs);
		REQUIRE_EQ(offs[i] % bs, 0);
		REQUIRE(!seen[offs[i] / bs]);
		seen[offs[i] / bs] = true;
	}
	ck_assert_uint_eq(mmc_alloc_used(a), cap);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), 0);
	ck_assert_int_eq(mmc_alloc_take(a, MMC_UNIT, &o), -ENOSPC);
	ck_assert_int_eq(mmc_alloc_check(a), 0);

	/* free every other block: nothing merges */
	for (uint64_t i = 0; i < nb; i++)
		if ((offs[i] / bs) % 2 == 0)
			ck_assert_int_eq(mmc_alloc_release(a, offs[i]), 0);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), bs);
	ck_assert_int_eq(mmc_alloc_take(a, bs + 1, &o), -ENOSPC);
	ck_assert_int_eq(mmc_alloc_check(a), 0);

	/* free the rest in a shuffled order: merges on both sides */
	rng_seed(7);
	for (uint64_t i = nb - 1; i > 0; i--) {
		uint64_t j = rng() % (i + 1), t = offs[i];

		offs[i] = offs[j];
		offs[j] = t;
	}
	for (uint64_t i = 0; i < nb; i++) {
		if ((offs[i] / bs) % 2 == 0)
			continue;
		ck_assert_int_eq(mmc_alloc_release(a, offs[i]), 0);
		if (i % 64 == 0)
			ck_assert_int_eq(mmc_alloc_check(a), 0);
	}
	ck_assert_uint_eq(mmc_alloc_used(a), 0);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), cap);
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	ck_assert_uint_eq(take_ok(a, cap), 0);
	free(seen);
	free(offs);
	mmc_alloc_destroy(a);
}
END_TEST

/* Merging with the left neighbour, the right one and both at once. */
START_TEST(test_coalesce_sides)
{
	struct mmc_alloc *a = new_alloc(5 * MMC_UNIT);
	uint64_t o[5];

	for (int i = 0; i < 5; i++)
		o[i] = take_ok(a, MMC_UNIT);
	ck_assert_int_eq(mmc_alloc_release(a, o[1]), 0);
	ck_assert_int_eq(mmc_alloc_release(a, o[2]), 0);   /* left */
	ck_assert_uint_eq(mmc_alloc_largest_free(a), 2 * MMC_UNIT);
	ck_assert_int_eq(mmc_alloc_release(a, o[0]), 0);   /* right */
	ck_assert_uint_eq(mmc_alloc_largest_free(a), 3 * MMC_UNIT);
	ck_assert_int_eq(mmc_alloc_release(a, o[4]), 0);
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	ck_assert_int_eq(mmc_alloc_release(a, o[3]), 0);   /* both */
	ck_assert_uint_eq(mmc_alloc_largest_free(a), 5 * MMC_UNIT);
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	ck_assert_uint_eq(take_ok(a, 5 * MMC_UNIT), 0);
	mmc_alloc_destroy(a);
}
END_TEST

START_TEST(test_bad_release)
{
	struct mmc_alloc *a = new_alloc(16 * MiB);
	uint64_t x = take_ok(a, 3 * MMC_UNIT);
	uint64_t y = take_ok(a, MMC_UNIT);
	uint64_t used = mmc_alloc_used(a), lf = mmc_alloc_largest_free(a);

	ck_assert_int_eq(mmc_alloc_release(a, x + 1), -EINVAL);
	ck_assert_int_eq(mmc_alloc_release(a, x + MMC_UNIT), -EINVAL);
	ck_assert_int_eq(mmc_alloc_release(a, x + 2 * MMC_UNIT), -EINVAL);
	ck_assert_int_eq(mmc_alloc_release(a, 16 * MiB), -EINVAL);
	ck_assert_int_eq(mmc_alloc_release(a, UINT64_MAX & ~(uint64_t)4095),
			 -EINVAL);
	ck_assert_int_eq(mmc_alloc_release(a, 8 * MiB), -EINVAL); /* free */
	ck_assert_int_eq(mmc_alloc_release(NULL, x), -EINVAL);
	ck_assert_uint_eq(mmc_alloc_used(a), used);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), lf);
	ck_assert_int_eq(mmc_alloc_check(a), 0);

	ck_assert_int_eq(mmc_alloc_release(a, x), 0);
	ck_assert_int_eq(mmc_alloc_release(a, x), -EINVAL);       /* double */
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	ck_assert_int_eq(mmc_alloc_release(a, y), 0);             /* merges */
	ck_assert_int_eq(mmc_alloc_release(a, y), -EINVAL);
	ck_assert_int_eq(mmc_alloc_release(a, x), -EINVAL);
	ck_assert_uint_eq(mmc_alloc_used(a), 0);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), 16 * MiB);
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	mmc_alloc_destroy(a);
}
END_TEST

/* KV pages: a freed page is reused whole, at the same offset. */
START_TEST(test_reuse_same_offset)
{
	/* power-of-two pages, and pages in the middle of a size class */
	static const uint64_t sizes[] = { 128 * KiB, 37 * MMC_UNIT, 3 * MMC_UNIT };

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct mmc_alloc *a = new_alloc(64 * MiB);
		uint64_t o[64];

		for (int i = 0; i < 64; i++)
			o[i] = take_ok(a, sizes[s]);
		for (int r = 0; r < 100; r++) {
			int i = 1 + (r * 7) % 62;   /* neighbours stay used */

			ck_assert_int_eq(mmc_alloc_release(a, o[i]), 0);
			ck_assert_uint_eq(take_ok(a, sizes[s]), o[i]);
		}
		/* two freed pages come back last-freed first */
		ck_assert_int_eq(mmc_alloc_release(a, o[10]), 0);
		ck_assert_int_eq(mmc_alloc_release(a, o[20]), 0);
		ck_assert_uint_eq(take_ok(a, sizes[s]), o[20]);
		ck_assert_uint_eq(take_ok(a, sizes[s]), o[10]);
		ck_assert_int_eq(mmc_alloc_check(a), 0);
		mmc_alloc_destroy(a);
	}
}
END_TEST

/*
 * -ENOSPC means no free block is large enough: a fitting block that is not
 * the head of its size class's list (and is below the rounded-up class) must
 * still be found.  Units 32 and 33 share a class; 33 is freed first, so 32
 * heads the list.
 */
START_TEST(test_enospc_only_when_nothing_fits)
{
	struct mmc_alloc *a = new_alloc(67 * MMC_UNIT);
	uint64_t p33 = take_ok(a, 33 * MMC_UNIT), o;

	take_ok(a, MMC_UNIT);
	uint64_t p32 = take_ok(a, 32 * MMC_UNIT);
	take_ok(a, MMC_UNIT);
	ck_assert_int_eq(mmc_alloc_take(a, 1, &o), -ENOSPC);
	ck_assert_int_eq(mmc_alloc_release(a, p33), 0);
	ck_assert_int_eq(mmc_alloc_release(a, p32), 0);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), 33 * MMC_UNIT);
	ck_assert_int_eq(mmc_alloc_take(a, 34 * MMC_UNIT, &o), -ENOSPC);
	ck_assert_uint_eq(take_ok(a, 33 * MMC_UNIT), p33);
	ck_assert_uint_eq(take_ok(a, 32 * MMC_UNIT), p32);
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	mmc_alloc_destroy(a);
}
END_TEST

/* The largest region: 2^32 units, blocks up to all of it, the last unit. */
START_TEST(test_16tib)
{
	const uint64_t cap = 16 * TiB;
	struct mmc_alloc *a = new_alloc(cap + MMC_UNIT - 1);
	uint64_t o, big, last;

	ck_assert_uint_eq(mmc_alloc_capacity(a), cap);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), cap);
	ck_assert_uint_eq(take_ok(a, cap), 0);
	ck_assert_uint_eq(mmc_alloc_used(a), cap);
	ck_assert_int_eq(mmc_alloc_take(a, 1, &o), -ENOSPC);
	ck_assert_int_eq(mmc_alloc_release(a, 0), 0);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), cap);

	big = take_ok(a, cap - MMC_UNIT);
	last = take_ok(a, MMC_UNIT);
	ck_assert_uint_eq(big, 0);
	ck_assert_uint_eq(last, cap - MMC_UNIT);   /* unit 2^32 - 1 */
	ck_assert_int_eq(mmc_alloc_take(a, 1, &o), -ENOSPC);
	ck_assert_int_eq(mmc_alloc_release(a, last), 0);
	ck_assert_uint_eq(take_ok(a, 1), last);
	ck_assert_int_eq(mmc_alloc_release(a, big), 0);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), cap - MMC_UNIT);
	ck_assert_int_eq(mmc_alloc_release(a, last), 0);   /* merges left */
	ck_assert_uint_eq(mmc_alloc_largest_free(a), cap);

	/* a few blocks scattered over the region */
	uint64_t h = take_ok(a, 8 * TiB), q = take_ok(a, 4 * TiB + 1);
	ck_assert_uint_eq(mmc_alloc_block_size(a, q), 4 * TiB + MMC_UNIT);
	ck_assert_int_eq(mmc_alloc_take(a, 4 * TiB, &o), -ENOSPC);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), 4 * TiB - MMC_UNIT);
	ck_assert_int_eq(mmc_alloc_check(a), 0);
	ck_assert_int_eq(mmc_alloc_release(a, h), 0);
	ck_assert_int_eq(mmc_alloc_release(a, q), 0);
	ck_assert_uint_eq(mmc_alloc_largest_free(a), cap);
	mmc_alloc_destroy(a);
}
END_TEST

/* ---- random stress ---- */

/* 4 KiB .. 64 MiB, log-uniform, not always a whole number of units. */
static uint64_t stress_size(void)
{
	unsigned k = (unsigned)(rng() % 15);       /* 2^0 .. 2^14 units */
	uint64_t units = (1ull << k) + rng() % (1ull << k);

	if (units > 16384)
		units = 16384;
	return units * MMC_UNIT - rng() % MMC_UNIT;
}

START_TEST(test_stress)
{
	const uint64_t cap = GiB;
	struct mmc_alloc *a = new_alloc(cap);
	struct shadow s = { 0 };
	uint64_t enospc = 0, takes = 0;

	rng_seed(0x6d6d63u + (uint64_t)_i);
	for (int op = 0; op < 200000; op++) {
		uint64_t r = rng() % 100, off;

		if (s.n == 0 || r < 55) {
			uint64_t b = stress_size();
			int rc = mmc_alloc_take(a, b, &off);

			takes++;
			if (rc == -ENOSPC) {
				/* only when nothing fits */
				REQUIRE_OP(mmc_alloc_largest_free(a), <,
						  round_unit(b));
				enospc++;
				sh_release(a, &s, rng() % s.n);
			} else {
				REQUIRE_RC(rc, 0);
				REQUIRE_EQ(off % MMC_UNIT, 0);
				REQUIRE_OP(off + round_unit(b), <=, cap);
				sh_add(&s, off, round_unit(b));
			}
		} else if (r < 97) {
			sh_release(a, &s, rng() % s.n);
		} else {
			/* bad frees: a random unit, or inside a live block */
			off = (rng() % (cap / MMC_UNIT)) * MMC_UNIT;
			if (r == 98 && s.n)
				off = s.v[rng() % s.n].off + MMC_UNIT;
			if (!sh_is_start(&s, off))
				REQUIRE_RC(mmc_alloc_release(a, off),
						 -EINVAL);
		}
		REQUIRE_EQ(mmc_alloc_used(a), s.bytes);
		if (op % 1000 == 0)
			REQUIRE_RC(mmc_alloc_check(a), 0);
	}
	/* the workload must really have run the region full */
	REQUIRE_OP(enospc, >, 100);
	REQUIRE_OP(takes - enospc, >, 50000);
	REQUIRE_RC(mmc_alloc_check(a), 0);
	for (size_t i = 0; i < s.n; i++)
		REQUIRE_EQ(mmc_alloc_block_size(a, s.v[i].off), s.v[i].len);
	while (s.n)
		sh_release(a, &s, rng() % s.n);
	REQUIRE_EQ(mmc_alloc_used(a), 0);
	REQUIRE_EQ(mmc_alloc_largest_free(a), cap);
	REQUIRE_RC(mmc_alloc_check(a), 0);
	free(s.v);
	mmc_alloc_destroy(a);
}
END_TEST

/* ---- fragmentation under a KV-like workload ---- */

static const uint64_t kv_sizes[] = { 64 * KiB, 128 * KiB, 1 * MiB };
#define KV_NSIZES (sizeof(kv_sizes) / sizeof(kv_sizes[0]))

/*
 * Takes a block of kv_sizes[c]; on -ENOSPC checks the promises and returns
 * false: nothing large enough is free, and a 64 KiB page fails only when the
 * region is full (every size is a multiple of 64 KiB, so is every hole).
 */
static bool kv_take(struct mmc_alloc *a, struct shadow *s, unsigned c)
{
	uint64_t off;
	int rc = mmc_alloc_take(a, kv_sizes[c], &off);

	if (rc == -ENOSPC) {
		REQUIRE_OP(mmc_alloc_largest_free(a), <, kv_sizes[c]);
		if (c == 0)
			REQUIRE_EQ(mmc_alloc_used(a),
					  mmc_alloc_capacity(a));
		return false;
	}
	REQUIRE_RC(rc, 0);
	REQUIRE_EQ(off % (64 * KiB), 0);
	sh_add(s, off, kv_sizes[c]);
	return true;
}

/*
 * Phase 0 keeps the region 90% full, phase 1 runs it full.  Every round frees
 * k random pages of one size and must take k pages of that size back at
 * once, whatever happened before: a freed page is either still a hole of its
 * size or merged into a larger one.  Then a few random pages go and random
 * sizes refill the region.  At 90% no refill may fail (measured bound for
 * this workload); when full, kv_take() checks every -ENOSPC is genuine.
 */
START_TEST(test_fragmentation)
{
	const uint64_t cap = GiB;
	const uint64_t fill[2] = { cap / 10 * 9, cap };
	const int rounds[2] = { 3000, 2000 };
	struct mmc_alloc *a = new_alloc(cap);
	struct shadow s = { 0 };
	uint64_t fails[2][KV_NSIZES] = { { 0 } }, tries[2][KV_NSIZES] = { { 0 } };
	uint64_t given_back = 0, worst_lf = cap;
	size_t pick[32];

	rng_seed(0xfa9u);
	while (s.bytes < fill[0])
		REQUIRE(kv_take(a, &s, (unsigned)(rng() % KV_NSIZES)));

	for (int ph = 0; ph < 2; ph++) {
		for (int round = 0; round < rounds[ph]; round++) {
			unsigned c = (unsigned)(rng() % KV_NSIZES);
			size_t k = 1 + rng() % 32, got = 0;

			/* free k random pages of size c ... */
			for (size_t i = 0; i < s.n && got < k; i++) {
				size_t j = i + rng() % (s.n - i);
				struct blk t = s.v[i];

				s.v[i] = s.v[j];
				s.v[j] = t;
				if (s.v[i].len == kv_sizes[c])
					pick[got++] = i;
			}
			for (size_t i = got; i-- > 0;)  /* highest first */
				sh_release(a, &s, pick[i]);
			/* ... and as many pages of size c fit again */
			for (size_t i = 0; i < got; i++)
				if (!kv_take(a, &s, c))
					ck_abort_msg("phase %d round %d: page "
						     "%zu of %zu (%llu B) failed",
						     ph, round, i, got,
						     (unsigned long long)kv_sizes[c]);
			given_back += got;

			/* mixed churn: drop a few pages, refill */
			for (size_t i = 1 + rng() % 16; i > 0 && s.n; i--)
				sh_release(a, &s, rng() % s.n);
			while (s.bytes < fill[ph]) {
				unsigned d = (unsigned)(rng() % KV_NSIZES);

				tries[ph][d]++;
				if (!kv_take(a, &s, d)) {
					fails[ph][d]++;
					break;
				}
			}
			REQUIRE_EQ(mmc_alloc_used(a), s.bytes);
			if (ph == 0 && mmc_alloc_largest_free(a) < worst_lf)
				worst_lf = mmc_alloc_largest_free(a);
			if (round % 100 == 0)
				REQUIRE_RC(mmc_alloc_check(a), 0);
		}
	}
	fprintf(stderr, "test_fragmentation: %llu pages freed and retaken; "
		"at 90%%: refill failures %llu/%llu/%llu of %llu/%llu/%llu "
		"(64K/128K/1M), worst largest free %llu KiB of %llu KiB; "
		"full: failures %llu/%llu/%llu of %llu/%llu/%llu\n",
		(unsigned long long)given_back,
		(unsigned long long)fails[0][0], (unsigned long long)fails[0][1],
		(unsigned long long)fails[0][2], (unsigned long long)tries[0][0],
		(unsigned long long)tries[0][1], (unsigned long long)tries[0][2],
		(unsigned long long)(worst_lf / KiB),
		(unsigned long long)((cap - fill[0]) / KiB),
		(unsigned long long)fails[1][0], (unsigned long long)fails[1][1],
		(unsigned long long)fails[1][2], (unsigned long long)tries[1][0],
		(unsigned long long)tries[1][1], (unsigned long long)tries[1][2]);
	REQUIRE_OP(given_back, >, 50000);
	for (unsigned d = 0; d < KV_NSIZES; d++)
		REQUIRE_EQ(fails[0][d], 0);
	REQUIRE_OP(fails[1][0] + fails[1][1] + fails[1][2], >, 100);
	REQUIRE_RC(mmc_alloc_check(a), 0);
	while (s.n)
		sh_release(a, &s, s.n - 1);
	REQUIRE_EQ(mmc_alloc_largest_free(a), cap);
	REQUIRE_RC(mmc_alloc_check(a), 0);
	free(s.v);
	mmc_alloc_destroy(a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("alloc");

	add_tests(add_tcase(s, "contract", 0),
		  TESTS(test_create_destroy, test_take_rounding, test_take_errors,
			test_fill_and_coalesce, test_coalesce_sides, test_bad_release,
			test_reuse_same_offset, test_enospc_only_when_nothing_fits));
	add_tests(add_tcase(s, "limits", 60), TESTS(test_16tib));
	add_tests(add_tcase(s, "stress", 120), TESTS(test_stress, test_fragmentation));
	return run_suite(s);
}
