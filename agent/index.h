/*
 * index.h - the key index, writer side (the agent is its only writer).
 *
 * The index lives in the meta region (layout-t.h): a power-of-two array of
 * buckets, each the head of a chain of entries, and a fixed array of entries.
 * Clients read it concurrently without locks or system calls (libshm/lookup.c);
 * this file keeps the promises those readers rely on:
 *
 *   - every change to an entry happens between two increments of its seq
 *     (odd while changing), and every change to a chain's shape between two
 *     increments of its bucket's seq;
 *   - an entry's gen changes whenever its slot starts holding a new object;
 *   - an entry is unlinked from its chain before it is reused, and its next
 *     link is left intact until then, so a reader that is walking through a
 *     just-unlinked entry still reaches the end of a chain (and then notices
 *     the bucket seq changed and retries).
 *
 * docs/index-concurrency.md gives the full argument.
 */
#ifndef MMC_AGENT_INDEX_H
#define MMC_AGENT_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "layout-t.h"

#define MMC_NO_ENTRY UINT32_MAX

struct mmc_index {
	struct mmc_meta_hdr *hdr;
	struct mmc_bucket *buckets;
	struct mmc_entry *entries;
	uint32_t nentries;
	uint32_t mask;          /* nbuckets - 1 */
	uint64_t seed;
	uint32_t *free_next;    /* agent-private free list of entry slots */
	uint32_t free_head;     /* MMC_NO_ENTRY when empty */
	uint32_t nfree;
};

/* Bytes of meta region needed for nentries entries (buckets are derived). */
size_t mmc_index_meta_size(uint32_t nentries);

/* Lays out header, buckets and entries in meta (zeroed, meta_size bytes as
 * returned by mmc_index_meta_size) and fills the header fields it owns.
 * 0 or -ENOMEM/-EINVAL. */
int mmc_index_init(struct mmc_index *ix, void *meta, size_t meta_size,
		   uint32_t nentries, uint64_t seed);
void mmc_index_destroy(struct mmc_index *ix);

/* The linked entry holding key (any state but FREE), or MMC_NO_ENTRY. */
uint32_t mmc_index_find(const struct mmc_index *ix, const void *key,
			uint16_t key_len, uint64_t hash);

/* Takes a free slot, fills it as RESERVED for key and links it into its
 * chain; *idx gets the slot.  -ENOSPC when every slot is in use.  The caller
 * has checked that no linked entry holds key. */
int mmc_index_insert(struct mmc_index *ix, const void *key, uint16_t key_len,
		     uint64_t hash, uint64_t value_len, uint8_t tier,
		     uint64_t loc, uint32_t *idx);

/* Publishes a RESERVED entry as COMMITTED, in one seqlock section with the
 * value's checksum when crc is not NULL (MMC_ENTRY_CRC; without one the
 * entry carries none and readers cannot check it).  Fenced like
 * mmc_index_set_state. */
void mmc_index_commit(struct mmc_index *ix, uint32_t idx, const uint32_t *crc);

/* Changes an entry's state under its seqlock. */
void mmc_index_set_state(struct mmc_index *ix, uint32_t idx, uint8_t state);
/* Gives committed entry idx, which has none, the crc32c of its value
 * (computed by the agent): the crc is stored before the flag that says it
 * is there (release; readers load the flag with acquire). */
void mmc_index_stamp_crc(struct mmc_index *ix, uint32_t idx, uint32_t crc);

/* Unlinks a linked entry from its chain (readers stop finding it) and gives
 * it state (DEAD while pins remain, else it is freed with mmc_index_free). */
void mmc_index_unlink(struct mmc_index *ix, uint32_t idx, uint8_t state);

/* Returns an unlinked entry's slot to the free list; bumps gen. */
void mmc_index_free(struct mmc_index *ix, uint32_t idx);

static inline struct mmc_entry *mmc_index_entry(const struct mmc_index *ix,
						uint32_t idx)
{
	return &ix->entries[idx];
}

#endif /* MMC_AGENT_INDEX_H */
