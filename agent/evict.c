/*
 * evict.c - what decides that an object goes: LRU order, pins, watermarks.
 *
 * Recency.  Clients hit objects without telling the agent synchronously; each
 * hit appends (idx, gen) to the client's own lossy touch log in its ring
 * region.  The agent drains those logs into an exact LRU list over entry
 * slots (agent-private prev/next arrays) before every eviction decision,
 * after every loop turn that served requests, and at least every 100 us
 * (loop.c).  A record whose (idx, gen) no longer names a committed
 * object is ignored, so a lying client can only reorder the LRU.
 *
 * Pins.  A reader pins an object by writing (idx, gen) into a slot of its
 * own pin table and re-checking the entry's seq; the agent, before it frees an
 * object, publishes a state change (EVICTING or DEAD) and only then reads
 * every pin table.  Either the agent sees the pin, or the reader sees the
 * state change and backs off (docs/index-concurrency.md).  Pin tables belong
 * to sessions: when a session closes its table is simply gone.
 *
 * Eviction.  Triggered when a reservation would push used bytes past the
 * high watermark; evicts least-recently-used committed objects that nobody
 * pins until used bytes fall to the low watermark.  Candidates are marked in
 * batches, so one scan of all pin tables covers a whole batch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"

#define EVICT_BATCH 256

int mmc_evict_init(struct mmc_agent *ag)
{
	uint32_t n = ag->index.nentries;

	ag->lru_prev = malloc(n * sizeof(uint32_t));
	ag->lru_next = malloc(n * sizeof(uint32_t));
	ag->mark = calloc(n, sizeof(uint32_t));
	ag->owner = calloc(n, sizeof(uint32_t));
	ag->deferred_cap = 64;
	ag->deferred = malloc(ag->deferred_cap * sizeof(uint32_t));
	if (!ag->lru_prev || !ag->lru_next || !ag->mark || !ag->owner || !ag->deferred)
		return -ENOMEM;
	ag->lru_head = ag->lru_tail = MMC_NO_ENTRY;
	return 0;
}

void mmc_evict_destroy(struct mmc_agent *ag)
{
	free(ag->lru_prev);
	free(ag->lru_next);
	free(ag->mark);
	free(ag->owner);
	free(ag->deferred);
}

void mmc_lru_push(struct mmc_agent *ag, uint32_t idx)
{
	ag->lru_prev[idx] = MMC_NO_ENTRY;
	ag->lru_next[idx] = ag->lru_head;
	if (ag->lru_head != MMC_NO_ENTRY)
		ag->lru_prev[ag->lru_head] = idx;
	else
		ag->lru_tail = idx;
	ag->lru_head = idx;
}

void mmc_lru_remove(struct mmc_agent *ag, uint32_t idx)
{
	uint32_t p = ag->lru_prev[idx], n = ag->lru_next[idx];

	if (p != MMC_NO_ENTRY)
		ag->lru_next[p] = n;
	else
		ag->lru_head = n;
	if (n != MMC_NO_ENTRY)
		ag->lru_prev[n] = p;
	else
		ag->lru_tail = p;
}

void mmc_lru_touch(struct mmc_agent *ag, uint32_t idx)
{
	if (ag->lru_head == idx)
		return;
	mmc_lru_remove(ag, idx);
	mmc_lru_push(ag, idx);
}

/* (idx, gen) from client memory -> a committed entry's slot, or NO_ENTRY. */
static uint32_t committed_word(const struct mmc_agent *ag, uint64_t w)
{
	uint32_t idx = MMC_OBJ_IDX(w);

	if (!w || idx >= ag->index.nentries)
		return MMC_NO_ENTRY;
	const struct mmc_entry *e = &ag->index.entries[idx];
	if (e->gen != MMC_OBJ_GEN(w) || e->state != MMC_ENTRY_COMMITTED)
		return MMC_NO_ENTRY;
	return idx;
}

static uint32_t touch_drain_one(struct mmc_agent *ag, struct mmc_session *s)
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
		uint32_t idx;

		if (!w)
			break;          /* claimed, not yet written: next turn */
		atomic_store_explicit(slot, 0, memory_order_relaxed);
		idx = committed_word(ag, w);
		if (idx != MMC_NO_ENTRY)
			mmc_lru_touch(ag, idx);
		head++;
		n++;
	}
	if (n)
		atomic_store_explicit(&r->touch_head, head, memory_order_release);
	return n;
}

uint64_t mmc_touch_drain(struct mmc_agent *ag)
{
	uint64_t n = 0;

	for (struct mmc_session *s = ag->sessions; s; s = s->next)
		if (s->state == SESSION_ACTIVE)
			n += touch_drain_one(ag, s);
	return n;
}

/* Stamps every entry that some session pins with the new epoch; returns the
 * epoch.  Afterwards ag->mark[idx] == epoch iff (idx, its gen) is pinned.
 * *npinned (may be NULL) gets the number of distinct pinned entries. */
static uint32_t scan_pins_count(struct mmc_agent *ag, uint64_t *npinned)
{
	uint32_t epoch = ++ag->mark_epoch;
	uint64_t n = 0;

	if (!epoch) {   /* wrapped: old stamps could alias */
		memset(ag->mark, 0, ag->index.nentries * sizeof(uint32_t));
		epoch = ag->mark_epoch = 1;
	}
	atomic_thread_fence(memory_order_seq_cst);
	for (struct mmc_session *s = ag->sessions; s; s = s->next) {
		uint32_t hwm;

		if (s->state != SESSION_ACTIVE)
			continue;
		hwm = atomic_load_explicit(&s->ring->pin_hwm, memory_order_acquire);
		if (hwm > MMC_PIN_SLOTS)
			hwm = MMC_PIN_SLOTS;
		for (uint32_t i = 0; i < hwm; i++) {
			uint64_t w = atomic_load_explicit(&s->pins[i], memory_order_acquire);
			uint32_t idx = MMC_OBJ_IDX(w);

			if (w && idx < ag->index.nentries &&
			    ag->index.entries[idx].gen == MMC_OBJ_GEN(w) &&
			    ag->index.entries[idx].state != MMC_ENTRY_FREE &&
			    ag->mark[idx] != epoch) {
				ag->mark[idx] = epoch;
				n++;
			}
		}
	}
	if (npinned)
		*npinned = n;
	return epoch;
}

static uint32_t scan_pins(struct mmc_agent *ag)
{
	return scan_pins_count(ag, NULL);
}

uint64_t mmc_count_pinned(struct mmc_agent *ag)
{
	uint64_t n;

	scan_pins_count(ag, &n);
	return n;
}

void mmc_object_free(struct mmc_agent *ag, uint32_t idx)
{
	struct mmc_entry *e = &ag->index.entries[idx];

	if (e->tier == MMC_TIER_DRAM && mmc_alloc_release(ag->alloc, e->loc))
		log_err("BUG: entry %u held a bad data offset %llu", idx,
			(unsigned long long)e->loc);
	mmc_index_free(&ag->index, idx);
}

static void defer(struct mmc_agent *ag, uint32_t idx)
{
	if (ag->ndeferred == ag->deferred_cap) {
		uint32_t cap = ag->deferred_cap * 2;
		uint32_t *d = realloc(ag->deferred, cap * sizeof(uint32_t));

		if (!d) {   /* keep the entry DEAD and leaked rather than unsafe */
			log_err("out of memory: entry %u stays dead until restart", idx);
			return;
		}
		ag->deferred = d;
		ag->deferred_cap = cap;
	}
	ag->deferred[ag->ndeferred++] = idx;
}

void mmc_object_remove(struct mmc_agent *ag, uint32_t idx)
{
	uint32_t epoch;

	mmc_lru_remove(ag, idx);
	ag->objects--;
	/* Unlink + DEAD is published (seq_cst) before the pin scan. */
	mmc_index_unlink(&ag->index, idx, MMC_ENTRY_DEAD);
	epoch = scan_pins(ag);
	if (ag->mark[idx] == epoch)
		defer(ag, idx);
	else
		mmc_object_free(ag, idx);
}

void mmc_object_clear(struct mmc_agent *ag)
{
	uint32_t epoch, idx, next;

	for (idx = ag->lru_head; idx != MMC_NO_ENTRY; idx = ag->lru_next[idx])
		mmc_index_unlink(&ag->index, idx, MMC_ENTRY_DEAD);
	epoch = scan_pins(ag);
	for (idx = ag->lru_head; idx != MMC_NO_ENTRY; idx = next) {
		next = ag->lru_next[idx];
		if (ag->mark[idx] == epoch)
			defer(ag, idx);
		else
			mmc_object_free(ag, idx);
	}
	ag->lru_head = ag->lru_tail = MMC_NO_ENTRY;
	ag->objects = 0;
}

void mmc_deferred_reap(struct mmc_agent *ag)
{
	uint32_t epoch, kept = 0;

	if (!ag->ndeferred)
		return;
	epoch = scan_pins(ag);
	for (uint32_t i = 0; i < ag->ndeferred; i++) {
		uint32_t idx = ag->deferred[i];

		if (ag->mark[idx] == epoch)
			ag->deferred[kept++] = idx;
		else
			mmc_object_free(ag, idx);
	}
	ag->ndeferred = kept;
}

/* One batch: mark up to EVICT_BATCH LRU-tail objects EVICTING, scan pins
 * once, evict the unpinned, move the pinned to the LRU head.  Returns bytes
 * freed; *examined counts the objects looked at. */
static uint64_t evict_batch(struct mmc_agent *ag, uint64_t want, uint32_t *examined)
{
	uint32_t cand[EVICT_BATCH], n = 0, epoch;
	uint64_t sum = 0, freed = 0;

	for (uint32_t idx = ag->lru_tail; idx != MMC_NO_ENTRY && n < EVICT_BATCH &&
	     sum < want; idx = ag->lru_prev[idx]) {
		struct mmc_entry *e = &ag->index.entries[idx];

		cand[n++] = idx;
		sum += mmc_alloc_block_size(ag->alloc, e->loc);
		mmc_index_set_state(&ag->index, idx, MMC_ENTRY_EVICTING);
	}
	*examined += n;
	if (!n)
		return 0;
	epoch = scan_pins(ag);      /* begins with a seq_cst fence */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = cand[i];
		struct mmc_entry *e = &ag->index.entries[idx];

		if (ag->mark[idx] == epoch) {
			mmc_index_set_state(&ag->index, idx, MMC_ENTRY_COMMITTED);
			mmc_lru_touch(ag, idx);
			continue;
		}
		freed += mmc_alloc_block_size(ag->alloc, e->loc);
		ag->ctr.evictions++;
		ag->ctr.evicted_bytes += e->value_len;
		ag->objects--;
		mmc_lru_remove(ag, idx);
		mmc_object_free(ag, idx);
	}
	return freed;
}

/* Evicts until at least want bytes went or nothing unpinned is left. */
uint64_t mmc_evict_bytes(struct mmc_agent *ag, uint64_t want)
{
	uint64_t freed = 0;
	uint32_t examined = 0, limit = ag->objects;

	mmc_touch_drain(ag);
	while (freed < want && examined < limit && ag->lru_tail != MMC_NO_ENTRY) {
		uint64_t got = evict_batch(ag, want - freed, &examined);

		freed += got;
	}
	return freed;
}

int mmc_evict_for(struct mmc_agent *ag, uint64_t bytes)
{
	uint64_t cap = mmc_alloc_capacity(ag->alloc);
	uint64_t used = mmc_alloc_used(ag->alloc);
	uint64_t high = cap / 100 * ag->cfg.high_watermark;
	uint64_t low = cap / 100 * ag->cfg.low_watermark;

	if (used + bytes <= high)
		return 0;
	mmc_deferred_reap(ag);
	used = mmc_alloc_used(ag->alloc);
	if (used + bytes <= high)
		return 0;
	mmc_evict_bytes(ag, used + bytes > low ? used + bytes - low : bytes);
	return 0;
}

int mmc_evict_alloc(struct mmc_agent *ag, uint64_t bytes, uint64_t *off)
{
	int ret = mmc_alloc_take(ag->alloc, bytes, off);

	while (ret == -ENOSPC && ag->lru_tail != MMC_NO_ENTRY) {
		if (!mmc_evict_bytes(ag, bytes))
			break;
		ret = mmc_alloc_take(ag->alloc, bytes, off);
	}
	if (ret == -ENOSPC && ag->ndeferred) {
		mmc_deferred_reap(ag);
		ret = mmc_alloc_take(ag->alloc, bytes, off);
	}
	return ret;
}
