/*
 * evict.h - eviction policy: which cached object goes first, and how much
 * must go.
 *
 * An engine behind an opaque handle, like the allocator: it orders slots
 * (numbers below the nslots it was created with; the object module uses
 * index entry slots) from least to most recently used, and turns
 * watermarks into byte goals.  It knows nothing of keys, pins, memory or
 * tiers: object.c asks it for candidates in eviction order and decides
 * what happens to each (freed, kept because a reader pins it, or later
 * moved to a lower tier).
 *
 * Single-threaded: the agent's event loop is the only caller.
 */
#ifndef MMC_AGENT_EVICT_H
#define MMC_AGENT_EVICT_H

#include <stdint.h>

#define MMC_EVICT_END UINT32_MAX   /* no (more) slots in eviction order */

struct mmc_evict;

/* Order over slots 0..nslots-1 (empty at first), evicting from high_pct
 * down to low_pct of a tier's capacity (1 <= low < high <= 99).
 * 0, -EINVAL or -ENOMEM. */
int mmc_evict_create(uint32_t nslots, unsigned high_pct, unsigned low_pct,
		     struct mmc_evict **out);
void mmc_evict_destroy(struct mmc_evict *ev);

/* slot starts being cached: it becomes the most recently used.  It must
 * not be in the order already. */
void mmc_evict_add(struct mmc_evict *ev, uint32_t slot);
/* slot stops being cached (removed, evicted, moved): out of the order. */
void mmc_evict_del(struct mmc_evict *ev, uint32_t slot);
/* slot (in the order) was used: it becomes the most recently used. */
void mmc_evict_touch(struct mmc_evict *ev, uint32_t slot);

/* Bytes that must go before bytes more are taken from a tier of capacity
 * cap holding used: 0 while used + bytes stays at or under the high
 * watermark, else enough to bring used + bytes down to the low one. */
uint64_t mmc_evict_goal(const struct mmc_evict *ev, uint64_t used,
			uint64_t cap, uint64_t bytes);

/* Eviction order: the least recently used slot, then the next one after
 * slot; MMC_EVICT_END when there is none.  A walk may delete the slot it
 * stands on only after it has taken the next one. */
uint32_t mmc_evict_first(const struct mmc_evict *ev);
uint32_t mmc_evict_next(const struct mmc_evict *ev, uint32_t slot);
/* Slots in the order. */
uint32_t mmc_evict_count(const struct mmc_evict *ev);

/* Walks the order both ways and checks its links and count (tests):
 * 0 or -EUCLEAN. */
int mmc_evict_check(const struct mmc_evict *ev);

#endif /* MMC_AGENT_EVICT_H */
