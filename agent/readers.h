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
 *
 * Cost.  A pin scan must read every session's table (a pin never announces
 * itself), so scans are kept rare: eviction scans once per batch, and
 * removals and deferred frees scan only while a scan is cheap
 * (mmc_readers_scan_cheap), else they wait for the reap timer.  Touch logs
 * are drained by activity: sessions served this turn and "hot" ones (whose
 * logs had records lately) often; the rest by a sweep that visits a few
 * sessions per tick, which also folds their counters (stats.c) and counts
 * their pins for the stats file.
 */
#ifndef MMC_AGENT_READERS_H
#define MMC_AGENT_READERS_H

#include <stdbool.h>
#include <stdint.h>

struct mmc_agent;
struct mmc_session;

/* A session over its pinned-bytes cap for this long loses the excess. */
#define MMC_PIN_OVER_NS (1000 * 1000 * 1000ull)
/* A pin scan that took longer than this is not cheap. */
#define MMC_SCAN_CHEAP_NS (20 * 1000ull)
/* With this many sessions or fewer, the stats count pins exactly. */
#define MMC_PIN_COUNT_EXACT 64u

struct mmc_readers {
	uint32_t *mark;        /* per slot: epoch of the last scan that saw a pin */
	uint32_t epoch;
	uint32_t nslots;
	uint64_t scan_ns;      /* what the last pin scan took */
	/* the sweep's pin count: distinct slots seen pinned in one round */
	uint32_t *count_mark;
	uint32_t count_round;
	uint64_t count_acc, count_last;
};

/* 0 or -ENOMEM (then mmc_readers_destroy()). */
int mmc_readers_init(struct mmc_readers *r, uint32_t nslots);
void mmc_readers_destroy(struct mmc_readers *r);

/* Reads every active session's pin table once, after a seq_cst fence (the
 * state changes it is to judge must be published before it is called).
 * Returns the scan's epoch: a slot is pinned iff mmc_readers_pinned(r,
 * slot, epoch) until the next scan.  *npinned (may be NULL) gets the number
 * of distinct pinned slots.  A session's pins are read in slot order below
 * its pin_max; once it has held more than its pin_bytes_max in large pins
 * for MMC_PIN_OVER_NS, the large pins past that cap are ignored. */
uint32_t mmc_readers_scan_pins(struct mmc_agent *ag, uint64_t *npinned);

static inline bool mmc_readers_pinned(const struct mmc_readers *r, uint32_t slot,
				      uint32_t epoch)
{
	return r->mark[slot] == epoch;
}

/* Was the last pin scan cheap enough to do one on a client's behalf? */
static inline bool mmc_readers_scan_cheap(const struct mmc_readers *r)
{
	return r->scan_ns <= MMC_SCAN_CHEAP_NS;
}

/* Drains session s's touch log into the eviction order; returns records. */
uint32_t mmc_readers_drain(struct mmc_agent *ag, struct mmc_session *s);
/* The same for every active session (tests, and nothing in the loop). */
uint64_t mmc_readers_drain_all(struct mmc_agent *ag);
/* Drains the sessions with activity: the ones polled this turn and the hot
 * ones; a polled one with records becomes hot. */
uint64_t mmc_readers_drain_busy(struct mmc_agent *ag);
/* One tick of the touch schedule: drains the hot sessions (one idle for a
 * while is no longer hot), then sweeps up to sweep sessions of the rest
 * (drain, fold their counters when due, count their pins), stopping once
 * budget_ns have passed since now_ns.  Returns the records found. */
uint64_t mmc_readers_tick(struct mmc_agent *ag, uint64_t now_ns, unsigned sweep,
			  uint64_t budget_ns);
/* Session s is closing: its last records drained, off the hot list. */
void mmc_readers_forget(struct mmc_agent *ag, struct mmc_session *s);
/* Objects pinned now for the stats file: a scan with few sessions, else
 * the sweep's last full round. */
uint64_t mmc_readers_count_pinned(struct mmc_agent *ag);

#endif /* MMC_AGENT_READERS_H */
