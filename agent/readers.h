/*
 * readers.h - what clients do without asking the agent, as the agent sees
 * it: the pins in their pin tables and the touch records in their touch
 * logs (both in each session's ring region, layout-t.h).
 *
 * A hit is served by libshm alone: it pins the object in its session's pin
 * table, copies, unpins, and appends (slot, gen) to its touch log.  The
 * agent reads those tables here: a pin scan before it frees anything
 * (object.c), and touch drains that feed recency to the eviction order
 * (evict.c).  Nothing a client writes there is trusted: every word is
 * checked against the index before it counts.
 */
#ifndef MMC_AGENT_READERS_H
#define MMC_AGENT_READERS_H

#include <stdbool.h>
#include <stdint.h>

struct mmc_agent;
struct mmc_session;

struct mmc_readers {
	uint32_t *mark;        /* per slot: epoch of the last scan that saw a pin */
	uint32_t epoch;
	uint32_t nslots;
};

/* 0 or -ENOMEM (then mmc_readers_destroy()). */
int mmc_readers_init(struct mmc_readers *r, uint32_t nslots);
void mmc_readers_destroy(struct mmc_readers *r);

/* Reads every active session's pin table once, after a seq_cst fence (the
 * state changes it is to judge must be published before it is called).
 * Returns the scan's epoch: a slot is pinned iff mmc_readers_pinned(r,
 * slot, epoch) until the next scan.  *npinned (may be NULL) gets the number
 * of distinct pinned slots. */
uint32_t mmc_readers_scan_pins(struct mmc_agent *ag, uint64_t *npinned);

static inline bool mmc_readers_pinned(const struct mmc_readers *r, uint32_t slot,
				      uint32_t epoch)
{
	return r->mark[slot] == epoch;
}

/* Drains session s's touch log into the eviction order; returns records. */
uint32_t mmc_readers_drain(struct mmc_agent *ag, struct mmc_session *s);
/* The same for every active session. */
uint64_t mmc_readers_drain_all(struct mmc_agent *ag);

#endif /* MMC_AGENT_READERS_H */
