/*
 * alloc.h - the data-region allocator of mmc-agent.
 *
 * Hands out byte ranges of the data region in units of MMC_UNIT (4 KiB), from
 * one unit to the whole region.  Two-level segregated fit (TLSF): free blocks
 * sit on lists by size class (a power of two split in 16 sub-classes), so a
 * search is O(1), a block is split to exactly the size asked for, and neighbours
 * coalesce on free.  KV pages come in a few equal sizes, so a freed page is
 * usually reused whole by the next page of the same size; bounded
 * fragmentation otherwise comes from good fit plus coalescing.
 *
 * All bookkeeping lives in agent-private memory (per-unit arrays), never in
 * the shared data region: clients write the data region, and a client must
 * not be able to corrupt the allocator.  Single-threaded: the agent's one
 * event loop is the only caller.
 */
#ifndef MMC_AGENT_ALLOC_H
#define MMC_AGENT_ALLOC_H

#include <stdint.h>

struct mmc_alloc;

/* A region of size bytes (rounded down to MMC_UNIT).  0 or -ENOMEM/-EINVAL. */
int mmc_alloc_create(uint64_t size, struct mmc_alloc **out);
void mmc_alloc_destroy(struct mmc_alloc *a);

/* Takes bytes (rounded up to MMC_UNIT) and sets *off to the block's byte
 * offset.  0, -EINVAL (bytes == 0), -E2BIG (more than the region), or -ENOSPC
 * (no free block large enough right now). */
int mmc_alloc_take(struct mmc_alloc *a, uint64_t bytes, uint64_t *off);

/* Frees the block that starts at off (as returned by take).  Returns 0 or
 * -EINVAL if off is not the start of an allocated block (never corrupts). */
int mmc_alloc_release(struct mmc_alloc *a, uint64_t off);

/* Bytes of the allocated block at off, 0 if none starts there. */
uint64_t mmc_alloc_block_size(const struct mmc_alloc *a, uint64_t off);

uint64_t mmc_alloc_capacity(const struct mmc_alloc *a);   /* bytes */
uint64_t mmc_alloc_used(const struct mmc_alloc *a);       /* bytes allocated */
uint64_t mmc_alloc_largest_free(const struct mmc_alloc *a);

/* Walks every structure and checks it (tests, debug builds): 0 or -EUCLEAN. */
int mmc_alloc_check(const struct mmc_alloc *a);

#endif /* MMC_AGENT_ALLOC_H */
