/*
 * ssd_index.c - bucketized hashing over one cache line per bucket.
 *
 * A hash goes to its home bucket (MMC_SSD_HOME: the table has exactly the
 * buckets its capacity needs, not a power of two), else to the first
 * following bucket with
 * a free way; every bucket it passed gets overflow = 1 *before* the tag is
 * stored, so a reader that does not find the hash in a bucket whose
 * overflow is 0 knows it is absent.  Removing clears the tag and leaves
 * overflow bits as they are (a stale bit costs a reader one more cache line,
 * never a wrong answer); mmc_ssd_index_clear() resets them.  At 3/4 load
 * and seven ways a bucket overflows rarely, so a lookup is one cache line.
 *
 * Readers (libshm/lookup.c) load tags with acquire; the agent stores a tag
 * with release after its slot's location, and 0 to remove.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ssd_index.h"

uint32_t mmc_ssd_index_nbuckets(uint64_t cap)
{
	uint64_t want = cap * 4 / 3 / MMC_SSD_WAYS + 1;

	return want > UINT32_MAX / MMC_SSD_WAYS ? UINT32_MAX / MMC_SSD_WAYS : (uint32_t)want;
}

size_t mmc_ssd_index_shared_size(uint64_t cap)
{
	return (size_t)mmc_ssd_index_nbuckets(cap) * sizeof(struct mmc_ssd_bucket);
}

int mmc_ssd_index_init(struct mmc_ssd_index *x, void *shared, size_t shared_size,
		       uint64_t cap)
{
	uint32_t nb = mmc_ssd_index_nbuckets(cap);

	memset(x, 0, sizeof(*x));
	if (!cap || shared_size < (size_t)nb * sizeof(struct mmc_ssd_bucket))
		return -EINVAL;
	x->locs = calloc((size_t)nb * MMC_SSD_WAYS, sizeof(*x->locs));
	if (!x->locs)
		return -ENOMEM;
	x->buckets = shared;
	x->nbuckets = nb;
	x->cap = cap;
	return 0;
}

void mmc_ssd_index_destroy(struct mmc_ssd_index *x)
{
	free(x->locs);
	x->locs = NULL;
}

uint32_t mmc_ssd_index_find(const struct mmc_ssd_index *x, uint64_t hash)
{
	uint64_t tag = MMC_SSD_TAG(hash);
	uint32_t b = MMC_SSD_HOME(hash, x->nbuckets);

	for (uint32_t n = 0; n < x->nbuckets; n++, b = b + 1 == x->nbuckets ? 0 : b + 1) {
		struct mmc_ssd_bucket *k = &x->buckets[b];

		for (unsigned w = 0; w < MMC_SSD_WAYS; w++)
			if (atomic_load_explicit(&k->tag[w], memory_order_relaxed) == tag)
				return b * MMC_SSD_WAYS + w;
		if (!atomic_load_explicit(&k->overflow, memory_order_relaxed))
			break;
	}
	return MMC_SSD_NONE;
}

uint32_t mmc_ssd_index_insert(struct mmc_ssd_index *x, uint64_t hash,
			      const struct mmc_ssd_loc *loc)
{
	uint32_t b = MMC_SSD_HOME(hash, x->nbuckets);

	if (x->count >= x->cap)
		return MMC_SSD_NONE;
	for (uint32_t n = 0; n < x->nbuckets; n++, b = b + 1 == x->nbuckets ? 0 : b + 1) {
		struct mmc_ssd_bucket *k = &x->buckets[b];

		for (unsigned w = 0; w < MMC_SSD_WAYS; w++) {
			uint32_t slot = b * MMC_SSD_WAYS + w;

			if (atomic_load_explicit(&k->tag[w], memory_order_relaxed))
				continue;
			x->locs[slot] = *loc;
			atomic_store_explicit(&k->tag[w], MMC_SSD_TAG(hash),
					      memory_order_release);
			x->count++;
			return slot;
		}
		/* Full: the hash goes on, and readers must follow it. */
		atomic_store_explicit(&k->overflow, 1, memory_order_release);
	}
	return MMC_SSD_NONE;
}

void mmc_ssd_index_remove(struct mmc_ssd_index *x, uint32_t slot)
{
	struct mmc_ssd_bucket *k = &x->buckets[slot / MMC_SSD_WAYS];

	if (!atomic_load_explicit(&k->tag[slot % MMC_SSD_WAYS], memory_order_relaxed))
		return;
	atomic_store_explicit(&k->tag[slot % MMC_SSD_WAYS], 0, memory_order_release);
	x->count--;
}

void mmc_ssd_index_clear(struct mmc_ssd_index *x)
{
	for (uint32_t b = 0; b < x->nbuckets; b++) {
		for (unsigned w = 0; w < MMC_SSD_WAYS; w++)
			atomic_store_explicit(&x->buckets[b].tag[w], 0, memory_order_release);
		atomic_store_explicit(&x->buckets[b].overflow, 0, memory_order_release);
	}
	x->count = 0;
}

uint64_t mmc_ssd_index_tag(const struct mmc_ssd_index *x, uint32_t slot)
{
	return atomic_load_explicit(&x->buckets[slot / MMC_SSD_WAYS].tag[slot % MMC_SSD_WAYS],
				    memory_order_relaxed);
}
