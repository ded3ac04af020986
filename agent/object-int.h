/*
 * object-int.h - what object.c and object_tier.c share, and nothing else
 * includes: the per-object flags of an object crossing tiers, and the
 * freeing and space-making steps both need.
 */
#ifndef MMC_AGENT_OBJECT_INT_H
#define MMC_AGENT_OBJECT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"

#define OBJ_FILLING   0x01   /* RESERVED by the agent: being read back from SSD */
#define OBJ_DEMOTING  0x02   /* COMMITTED, its block being written to SSD */
#define OBJ_CANCELLED 0x04   /* removed while being read back */
#define OBJ_REMOTE    0x08   /* with OBJ_FILLING: the bytes come from a peer */

static inline struct mmc_obj_meta *mmc_object__meta(struct mmc_agent *ag, uint32_t slot)
{
	return &ag->obj.meta[slot];
}

/* Byte offset of the object's block in the data region (the value starts
 * gap bytes in: a promoted object keeps its SSD header there). */
static inline uint64_t mmc_object__block(const struct mmc_agent *ag, uint32_t slot)
{
	return ag->index.entries[slot].loc - ag->obj.meta[slot].gap;
}

/* object.c */
/* Frees an unlinked slot's block and the slot (no pin or I/O may use it). */
void mmc_object__free(struct mmc_agent *ag, uint32_t slot);
/* Frees a DEAD slot now, or later if a pin (scan of epoch) or an I/O holds it. */
void mmc_object__free_or_defer(struct mmc_agent *ag, uint32_t slot, uint32_t epoch);
/* Evicts (mode) to keep room for bytes more under the high watermark. */
void mmc_object__make_room(struct mmc_agent *ag, uint64_t bytes, enum mmc_evict_mode mode);
/* A block of bytes, dropping objects until one fits: 0 with *off, -ENOSPC. */
int mmc_object__take_space(struct mmc_agent *ag, uint64_t bytes, uint64_t *off);
/* Frees committed, unpinned, EVICTING slot as an eviction; its bytes. */
uint64_t mmc_object__drop(struct mmc_agent *ag, uint32_t slot);
/* A RESERVED index slot for key (value at off): 0 with *slot, -ENOSPC,
 * or -EINPROGRESS (may_wait: a slot is being freed by a demotion). */
int mmc_object__index_slot(struct mmc_agent *ag, const void *key, uint16_t key_len,
			   uint64_t hash, uint64_t len, uint64_t off, uint32_t *slot,
			   bool may_wait);
/* mmc_object_reserve(); may_wait false: never -EINPROGRESS (room is made by
 * dropping objects instead of waiting for their writes). */
int mmc_object__reserve(struct mmc_agent *ag, struct mmc_session *s,
			const void *key, uint16_t key_len, uint64_t len,
			struct mmc_object_ref *ref, bool may_wait);

/* object_tier.c */
/* Does slot's object have a good copy on SSD? */
bool mmc_object__on_ssd(struct mmc_agent *ag, uint32_t slot);
/* Should eviction write it down: no valid copy on SSD, or one in a region
 * about to be evicted (a page still in use moves to the newest region). */
bool mmc_object__wants_write(struct mmc_agent *ag, uint32_t slot);
/* Starts writing slot's object to SSD: 0; -EAGAIN (the tier takes no more
 * now); another -errno (it never will: too large, failing). */
int mmc_object__demote(struct mmc_agent *ag, uint32_t slot);
/* The object in slot is going away: its copy on SSD goes too. */
void mmc_object__forget_ssd(struct mmc_agent *ag, uint32_t slot);
/* The object being read back into slot was removed: its waiters get a
 * miss now, its block is freed when the read is back. */
void mmc_object__cancel_fill(struct mmc_agent *ag, uint32_t slot);
/* Room may have been made: parked reservations try again. */
void mmc_object__space_freed(struct mmc_agent *ag);
int mmc_object__tier_init(struct mmc_agent *ag);
void mmc_object__tier_destroy(struct mmc_agent *ag);

/* object_tier.c: the agent's own promotion of key (for a member's GET):
 * 1 when it is being read back from SSD (or waits for room to be, as a
 * client's FETCH does) - done(ag, token, res, key, key_len) comes when it
 * is in DRAM (res 0) or not (-ENOENT: no room in time, a read that failed;
 * pages not written down are never dropped for it); 0 when it is in DRAM
 * now; -ENOENT when it is on no tier here. */
typedef void mmc_object_fill_fn(struct mmc_agent *ag, uint64_t token, int res,
				const void *key, uint16_t key_len);
int mmc_object__fetch_for(struct mmc_agent *ag, const void *key, uint16_t key_len,
			  mmc_object_fill_fn *done, uint64_t token);

/* object_remote.c */
/* FETCH of a key on no local tier, with a pool: asks its home (PARKED),
 * or answers -ENOENT (DONE) when the home is this node or nobody. */
enum mmc_ops_result mmc_object__remote_fetch(struct mmc_agent *ag, struct mmc_session *s,
					     const struct mmc_sqe *q, struct mmc_cqe *c);
/* slot was just committed: pushes it to its home if that is another node. */
void mmc_object__remote_put(struct mmc_agent *ag, uint32_t slot);

#endif /* MMC_AGENT_OBJECT_INT_H */
