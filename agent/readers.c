/*
 * readers.c - pin scans and touch drains over the sessions' ring regions.
 *
 * Pins.  A reader claims a slot of its own pin table with (slot, gen) of
 * the object and re-checks the entry's seq; the agent publishes a state
 * change (EVICTING, DEAD) and only then scans.  Either the scan sees the
 * pin, or the reader sees the change and backs off (docs/index-
 * concurrency.md).  A scan stamps every pinned slot with a new epoch, so one
 * scan answers "is it pinned?" for a whole batch of candidates.  Readers
 * raise their table's high-water mark before they claim a slot above it,
 * so slots at or above it are never read.
 *
 * Touches.  Each hit appends (slot, gen) to the reader's lossy log (a full
 * log drops the record and counts it).  Draining moves every record's
 * object to the most-recent end of the eviction order.  A record that names
 * no committed object any more is ignored, so a lying client can only
 * reorder the LRU.  The loop drains after it served requests, every 100 us
 * while it spins, eviction drains before it chooses (object.c), and a
 * session's log is drained one last time when it closes (session.c), so
 * the reads of a short-lived client (`mmc get K`) are not lost with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "readers.h"

int mmc_readers_init(struct mmc_readers *r, uint32_t nslots)
{
	r->mark = calloc(nslots, sizeof(uint32_t));
	r->epoch = 0;
	r->nslots = nslots;
	return r->mark ? 0 : -ENOMEM;
}

void mmc_readers_destroy(struct mmc_readers *r)
{
	free(r->mark);
	r->mark = NULL;
}

uint32_t mmc_readers_scan_pins(struct mmc_agent *ag, uint64_t *npinned)
{
	struct mmc_readers *r = &ag->readers;
	uint32_t epoch = ++r->epoch;
	uint64_t n = 0;

	if (!epoch) {   /* wrapped: old stamps could alias */
		memset(r->mark, 0, r->nslots * sizeof(uint32_t));
		epoch = r->epoch = 1;
	}
	atomic_thread_fence(memory_order_seq_cst);
	for (struct mmc_session *s = ag->sess.list; s; s = s->next) {
		uint32_t hwm;

		if (s->state != MMC_SESSION_ACTIVE)
			continue;
		hwm = atomic_load_explicit(&s->ring->pin_hwm, memory_order_acquire);
		if (hwm > MMC_PIN_SLOTS)
			hwm = MMC_PIN_SLOTS;
		for (uint32_t i = 0; i < hwm; i++) {
			uint64_t w = atomic_load_explicit(&s->pins[i], memory_order_acquire);
			uint32_t slot = MMC_OBJ_IDX(w);

			if (w && slot < r->nslots &&
			    ag->index.entries[slot].gen == MMC_OBJ_GEN(w) &&
			    ag->index.entries[slot].state != MMC_ENTRY_FREE &&
			    r->mark[slot] != epoch) {
				r->mark[slot] = epoch;
				n++;
			}
		}
	}
	if (npinned)
		*npinned = n;
	return epoch;
}

/* The word's object, if it is a committed one, becomes most recent. */
static void touched(struct mmc_agent *ag, uint64_t w)
{
	uint32_t slot = MMC_OBJ_IDX(w);
	const struct mmc_entry *e;

	if (slot >= ag->index.nentries)
		return;
	e = &ag->index.entries[slot];
	if (e->gen == MMC_OBJ_GEN(w) && e->state == MMC_ENTRY_COMMITTED)
		mmc_evict_touch(ag->evict, slot);
}

uint32_t mmc_readers_drain(struct mmc_agent *ag, struct mmc_session *s)
{
	struct mmc_ring_hdr *r = s->ring;
	uint32_t head = atomic_load_explicit(&r->touch_head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->touch_tail, memory_order_acquire);
	uint32_t n = 0;

	/* A client may publish any tail; never read more than the log holds. */
	if (tail - head > MMC_TOUCH_SLOTS)
		tail = head + MMC_TOUCH_SLOTS;
	while (head != tail) {
		_Atomic uint64_t *slot = &s->touch[head % MMC_TOUCH_SLOTS];
		uint64_t w = atomic_load_explicit(slot, memory_order_acquire);

		if (!w)
			break;          /* claimed, not yet written: next time */
		atomic_store_explicit(slot, 0, memory_order_relaxed);
		touched(ag, w);
		head++;
		n++;
	}
	if (n)
		atomic_store_explicit(&r->touch_head, head, memory_order_release);
	return n;
}

uint64_t mmc_readers_drain_all(struct mmc_agent *ag)
{
	uint64_t n = 0;

	for (struct mmc_session *s = ag->sess.list; s; s = s->next)
		if (s->state == MMC_SESSION_ACTIVE)
			n += mmc_readers_drain(ag, s);
	return n;
}
