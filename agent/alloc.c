/*
 * alloc.c - the data-region allocator: TLSF over 4 KiB units.
 *
 * The region is counted in units of MMC_UNIT; a block is a run of units and
 * the blocks always tile the region, each either used or free.  The allocator
 * never touches the region: everything it knows sits in four agent-private
 * arrays indexed by unit number, mapped with MAP_NORESERVE so that a huge
 * region costs only the pages that block boundaries actually touch:
 *
 *   len[u]    units - 1 of the block, stored at its first unit and again at its
 *             last one (boundary tag), so that a block finds the size of the
 *             block before it in O(1).  Storing units - 1 lets a block of 2^32
 *             units (16 TiB, the largest region) fit in 32 bits.
 *   state[u]  BLK_USED or BLK_FREE at a block's first unit, BLK_NONE on every
 *             other unit.  release() trusts nothing but this byte, so a bad or
 *             double free is refused, never followed.
 *   next[u], prev[u]  links of a free block in its size class's list.  The
 *             lists are circular, so no index is reserved as "none": a class
 *             is empty when its bit in the bitmap is clear.
 *
 * Size classes (TLSF, SLI = 4): a block of n units with n < 16 goes in class
 * (0, n), one per size; otherwise with t = floor(log2 n) it goes in class
 * (t - 3, the 4 bits of n below its top bit), so each power of two is split in
 * 16 sub-classes.  fl_map has bit fl set when sl_map[fl] is non-zero, and
 * sl_map[fl] has bit sl set when list (fl, sl) is non-empty; finding the
 * smallest non-empty class at or above some class is two ctz.
 *
 * take(n) looks, in order, at: the head of n's own class (a freed KV page of
 * the same size is found here and reused whole); the first non-empty class
 * whose every block is >= n (n rounded up to the next class, the usual TLSF
 * good fit, O(1)); and, only when both fail, every block of n's own class,
 * so that -ENOSPC means what the contract says: no free block is large
 * enough.  The chosen block is split to exactly n units, the rest goes back
 * on a list.  release() merges the block with a free neighbour on either
 * side, so no two free blocks are ever adjacent.  Lists are LIFO: the block
 * freed last is the first one reused.
 *
 * Single-threaded by contract: the agent's event loop is the only caller.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "layout-t.h"
#include "alloc.h"

#define SLI		4
#define SL_COUNT	(1u << SLI)
#define FL_COUNT	30u		/* t = 32 (n = 2^32, rounded up) -> fl 29 */
#define MAX_UNITS	(1ull << 32)

enum { BLK_NONE = 0, BLK_USED = 1, BLK_FREE = 2 };

struct mmc_alloc {
	uint64_t nunits;
	uint64_t used;			/* units in used blocks */
	uint64_t nfree;			/* free blocks */
	uint32_t fl_map;
	uint32_t sl_map[FL_COUNT];
	uint32_t head[FL_COUNT][SL_COUNT];
	uint32_t *len;
	uint32_t *next;
	uint32_t *prev;
	uint8_t *state;
	void *map;
	size_t map_len;
};

static inline unsigned ilog2(uint64_t n)
{
	return 63u - (unsigned)__builtin_clzll(n);
}

/* The class a block of n units (1 <= n < 2^33) belongs to. */
static void mapping(uint64_t n, unsigned *fl, unsigned *sl)
{
	unsigned t;

	if (n < SL_COUNT) {
		*fl = 0;
		*sl = (unsigned)n;
		return;
	}
	t = ilog2(n);
	*fl = t - (SLI - 1);
	*sl = (unsigned)(n >> (t - SLI)) ^ SL_COUNT;
}

static inline uint64_t blk_units(const struct mmc_alloc *a, uint64_t u)
{
	return (uint64_t)a->len[u] + 1;
}

/* Marks [u, u + n) as one block: size at both ends, state at the first unit. */
static void set_block(struct mmc_alloc *a, uint64_t u, uint64_t n, uint8_t st)
{
	a->len[u] = (uint32_t)(n - 1);
	a->len[u + n - 1] = (uint32_t)(n - 1);
	a->state[u] = st;
}

/* Makes [u, u + n) a free block and pushes it on its class list. */
static void insert_free(struct mmc_alloc *a, uint64_t u, uint64_t n)
{
	unsigned fl, sl;
	uint32_t h, x = (uint32_t)u;

	set_block(a, u, n, BLK_FREE);
	mapping(n, &fl, &sl);
	if (a->sl_map[fl] & (1u << sl)) {
		h = a->head[fl][sl];
		a->next[x] = h;
		a->prev[x] = a->prev[h];
		a->next[a->prev[h]] = x;
		a->prev[h] = x;
	} else {
		a->next[x] = x;
		a->prev[x] = x;
		a->sl_map[fl] |= 1u << sl;
		a->fl_map |= 1u << fl;
	}
	a->head[fl][sl] = x;
	a->nfree++;
}

/* Takes the free block at u off its list; its state becomes BLK_NONE. */
static void remove_free(struct mmc_alloc *a, uint64_t u)
{
	unsigned fl, sl;
	uint32_t x = (uint32_t)u;

	mapping(blk_units(a, u), &fl, &sl);
	if (a->next[x] == x) {
		a->sl_map[fl] &= ~(1u << sl);
		if (!a->sl_map[fl])
			a->fl_map &= ~(1u << fl);
	} else {
		a->next[a->prev[x]] = a->next[x];
		a->prev[a->next[x]] = a->prev[x];
		if (a->head[fl][sl] == x)
			a->head[fl][sl] = a->next[x];
	}
	a->state[u] = BLK_NONE;
	a->nfree--;
}

/*
 * Finds a free block of at least n units (1 <= n <= nunits) and sets *u to
 * its first unit.  O(1) but for the last-resort scan of n's own class.
 */
static bool find_free(const struct mmc_alloc *a, uint64_t n, uint64_t *u)
{
	unsigned fl, sl, rfl, rsl;
	uint32_t m, x, h;

	mapping(n, &fl, &sl);
	if ((a->sl_map[fl] & (1u << sl)) &&
	    blk_units(a, a->head[fl][sl]) >= n) {
		*u = a->head[fl][sl];
		return true;
	}
	if (n < SL_COUNT)	/* class (0, n) holds size n only */
		mapping(n, &rfl, &rsl);
	else
		mapping(n + (1ull << (ilog2(n) - SLI)) - 1, &rfl, &rsl);
	m = a->sl_map[rfl] & (~0u << rsl);
	if (!m) {
		m = a->fl_map & (~0u << (rfl + 1));
		if (m) {
			rfl = (unsigned)__builtin_ctz(m);
			m = a->sl_map[rfl];
		}
	}
	if (m) {
		*u = a->head[rfl][__builtin_ctz(m)];
		return true;
	}
	if (!(a->sl_map[fl] & (1u << sl)))
		return false;
	h = a->head[fl][sl];
	x = h;
	do {
		if (blk_units(a, x) >= n) {
			*u = x;
			return true;
		}
		x = a->next[x];
	} while (x != h);
	return false;
}

/*
 * Unit number of the used block that starts at byte offset off, or -1 when
 * off is unaligned, out of the region, or not the start of a used block.
 */
static int64_t used_unit(const struct mmc_alloc *a, uint64_t off)
{
	uint64_t u;

	if (!a || off % MMC_UNIT)
		return -1;
	u = off / MMC_UNIT;
	if (u >= a->nunits || a->state[u] != BLK_USED)
		return -1;
	return (int64_t)u;
}

/*
 * 1 .. 2^32 units (16 TiB); anything else is -EINVAL.  The per-unit arrays
 * take 13 bytes a unit of address space but only the pages that block
 * boundaries touch.
 */
int mmc_alloc_create(uint64_t size, struct mmc_alloc **out)
{
	struct mmc_alloc *a;
	uint64_t n = size / MMC_UNIT;
	void *p;

	if (!out || n == 0 || n > MAX_UNITS)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->nunits = n;
	a->map_len = (size_t)n * (3 * sizeof(uint32_t) + 1);
	p = mmap(NULL, a->map_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		free(a);
		return -ENOMEM;
	}
	a->map = p;
	a->len = p;
	a->next = a->len + n;
	a->prev = a->next + n;
	a->state = (uint8_t *)(a->prev + n);
	insert_free(a, 0, n);
	*out = a;
	return 0;
}

void mmc_alloc_destroy(struct mmc_alloc *a)
{
	if (!a)
		return;
	munmap(a->map, a->map_len);
	free(a);
}

/* O(1) unless nothing fits at once (see find_free).  NULL a or off: -EINVAL. */
int mmc_alloc_take(struct mmc_alloc *a, uint64_t bytes, uint64_t *off)
{
	uint64_t n, m, u;

	if (!a || !off || bytes == 0)
		return -EINVAL;
	if (bytes > a->nunits * MMC_UNIT)
		return -E2BIG;
	n = (bytes + MMC_UNIT - 1) / MMC_UNIT;
	if (!find_free(a, n, &u))
		return -ENOSPC;
	m = blk_units(a, u);
	remove_free(a, u);
	if (m > n)
		insert_free(a, u + n, m - n);
	set_block(a, u, n, BLK_USED);
	a->used += n;
	*off = u * MMC_UNIT;
	return 0;
}

/* O(1).  Looks at nothing but state[] before it has a used block's start. */
int mmc_alloc_release(struct mmc_alloc *a, uint64_t off)
{
	int64_t su = used_unit(a, off);
	uint64_t u, n, p;

	if (su < 0)
		return -EINVAL;
	u = (uint64_t)su;
	n = blk_units(a, u);
	a->used -= n;
	a->state[u] = BLK_NONE;
	if (u + n < a->nunits && a->state[u + n] == BLK_FREE) {
		p = blk_units(a, u + n);
		remove_free(a, u + n);
		n += p;
	}
	if (u > 0) {
		p = blk_units(a, u - 1);
		if (a->state[u - p] == BLK_FREE) {
			remove_free(a, u - p);
			u -= p;
			n += p;
		}
	}
	insert_free(a, u, n);
	return 0;
}

uint64_t mmc_alloc_block_size(const struct mmc_alloc *a, uint64_t off)
{
	int64_t u = used_unit(a, off);

	return u < 0 ? 0 : blk_units(a, (uint64_t)u) * MMC_UNIT;
}

uint64_t mmc_alloc_capacity(const struct mmc_alloc *a)
{
	return a ? a->nunits * MMC_UNIT : 0;
}

uint64_t mmc_alloc_used(const struct mmc_alloc *a)
{
	return a ? a->used * MMC_UNIT : 0;
}

/* The largest block is in the highest non-empty class: scan that list. */
uint64_t mmc_alloc_largest_free(const struct mmc_alloc *a)
{
	unsigned fl, sl;
	uint32_t h, x;
	uint64_t best = 0;

	if (!a || !a->fl_map)
		return 0;
	fl = 31u - (unsigned)__builtin_clz(a->fl_map);
	sl = 31u - (unsigned)__builtin_clz(a->sl_map[fl]);
	h = x = a->head[fl][sl];
	do {
		if (blk_units(a, x) > best)
			best = blk_units(a, x);
		x = a->next[x];
	} while (x != h);
	return best * MMC_UNIT;
}

/* True when s[0 .. n) are all BLK_NONE: s[0] is, and each equals the next. */
static bool all_none(const uint8_t *s, uint64_t n)
{
	return n == 0 || (s[0] == BLK_NONE && !memcmp(s, s + 1, n - 1));
}

/*
 * Checks, in O(units): that blocks tile the region with matching boundary
 * tags and clean interiors, that no two free blocks touch, that the used
 * count is right; then that every list is a well-formed circle of free blocks
 * of its own class, that bitmaps match the lists, and that the lists hold
 * every free block exactly once.
 */
int mmc_alloc_check(const struct mmc_alloc *a)
{
	uint64_t u, n, used = 0, nfree = 0, seen = 0;
	bool prev_free = false;
	unsigned fl, sl;
	uint32_t h, x;

	if (!a)
		return -EINVAL;
	for (u = 0; u < a->nunits; u += n) {
		n = blk_units(a, u);
		if (n > a->nunits - u || a->len[u + n - 1] != a->len[u] ||
		    !all_none(a->state + u + 1, n - 1))
			return -EUCLEAN;
		if (a->state[u] == BLK_USED) {
			used += n;
			prev_free = false;
		} else if (a->state[u] == BLK_FREE && !prev_free) {
			nfree++;
			prev_free = true;
		} else {
			return -EUCLEAN;
		}
	}
	if (used != a->used || nfree != a->nfree || (a->fl_map >> FL_COUNT))
		return -EUCLEAN;
	for (fl = 0; fl < FL_COUNT; fl++) {
		if (!!(a->fl_map & (1u << fl)) != !!a->sl_map[fl] ||
		    (a->sl_map[fl] >> SL_COUNT) || (!fl && (a->sl_map[0] & 1)))
			return -EUCLEAN;
		for (sl = 0; sl < SL_COUNT; sl++) {
			if (!(a->sl_map[fl] & (1u << sl)))
				continue;
			h = x = a->head[fl][sl];
			do {
				unsigned f, s;

				if (x >= a->nunits || a->state[x] != BLK_FREE ||
				    a->next[x] >= a->nunits ||
				    a->prev[x] >= a->nunits ||
				    a->next[a->prev[x]] != x ||
				    a->prev[a->next[x]] != x || ++seen > nfree)
					return -EUCLEAN;
				mapping(blk_units(a, x), &f, &s);
				if (f != fl || s != sl)
					return -EUCLEAN;
				x = a->next[x];
			} while (x != h);
		}
	}
	return seen == nfree ? 0 : -EUCLEAN;
}
