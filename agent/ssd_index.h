/*
 * ssd_index.h - the index of objects on the SSD tier: small enough for a
 * drive of tens of millions of pages.
 *
 * Two parallel tables over the same slots (bucket * MMC_SSD_WAYS + way):
 *
 *   tags   struct mmc_ssd_bucket[] in the meta region, read-only to clients:
 *          the key's 64-bit hash, so a client answers exists() for an object
 *          on SSD without asking the agent.  8 bytes a slot.
 *   locs   agent-private: where the object is (region, offset in 512-byte
 *          units), its length and the generation it was written with.
 *          16 bytes a slot.
 *
 * The full key is not here: it lives with the object on flash and is
 * compared when the object is read (tier_ssd.c), so two keys with one hash
 * can cost a miss, never wrong bytes.  At the default 3/4 load that is
 * about 34 bytes of DRAM per object on SSD (plus 4 in the tier's
 * per-region lists).  Single writer: the agent's loop.
 */
#ifndef MMC_AGENT_SSD_INDEX_H
#define MMC_AGENT_SSD_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "layout-t.h"

#define MMC_SSD_NONE UINT32_MAX

struct mmc_ssd_loc {
	uint32_t region;
	uint32_t off;          /* in 512-byte units from the region's start */
	uint32_t len;          /* value bytes */
	uint32_t gen;          /* the write that put it there */
};

struct mmc_ssd_index {
	struct mmc_ssd_bucket *buckets;   /* shared, in the meta region */
	struct mmc_ssd_loc *locs;         /* private */
	uint32_t nbuckets;
	uint64_t count, cap;              /* objects now, most allowed */
};

/* Buckets for cap objects at most 3/4 full. */
uint32_t mmc_ssd_index_nbuckets(uint64_t cap);
/* Bytes of meta region the tag table of cap objects takes. */
size_t mmc_ssd_index_shared_size(uint64_t cap);

/* Sets up over shared (zeroed, mmc_ssd_index_shared_size(cap) bytes).
 * 0, -EINVAL or -ENOMEM. */
int mmc_ssd_index_init(struct mmc_ssd_index *x, void *shared, size_t shared_size,
		       uint64_t cap);
void mmc_ssd_index_destroy(struct mmc_ssd_index *x);

/* The slot holding hash, or MMC_SSD_NONE. */
uint32_t mmc_ssd_index_find(const struct mmc_ssd_index *x, uint64_t hash);
/* Puts hash at loc in a free slot and makes it visible to readers (the
 * caller has removed any slot holding hash).  The slot, or MMC_SSD_NONE
 * when cap objects are held already or no bucket has room. */
uint32_t mmc_ssd_index_insert(struct mmc_ssd_index *x, uint64_t hash,
			      const struct mmc_ssd_loc *loc);
/* Empties slot (readers stop finding it). */
void mmc_ssd_index_remove(struct mmc_ssd_index *x, uint32_t slot);
/* Empties every slot. */
void mmc_ssd_index_clear(struct mmc_ssd_index *x);

static inline const struct mmc_ssd_loc *mmc_ssd_index_loc(const struct mmc_ssd_index *x,
							  uint32_t slot)
{
	return &x->locs[slot];
}

/* The hash of an occupied slot (its tag), 0 when the slot is empty. */
uint64_t mmc_ssd_index_tag(const struct mmc_ssd_index *x, uint32_t slot);

#endif /* MMC_AGENT_SSD_INDEX_H */
