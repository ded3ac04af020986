/*
 * object.c - an object's life: reserve, commit, abort, remove, evict, free.
 *
 * Objects.  An object is an index entry (index.c) plus, while it lives in
 * DRAM, a block of the data region (alloc.c).  Its states are the entry's:
 * RESERVED while one session fills it, COMMITTED once readers may see it,
 * EVICTING for the instant the agent checks its pins, DEAD when it is gone
 * for new readers but still pinned by an old one.  Only this file moves an
 * object between states, counts objects and reserved bytes, and frees.
 *
 * Pins.  Before it frees an object the agent publishes a state change
 * (EVICTING or DEAD) and only then scans every reader's pin table
 * (readers.c): either the scan sees a reader's pin, or the reader sees the
 * change and backs off (docs/index-concurrency.md).
 *
 * Deferred frees.  A removed or evicted object that is pinned stays DEAD on
 * a list and is freed by mmc_object_reap() once no pin names it: after a
 * session closes (its pins vanish with it), before eviction, and on the
 * event loop's timer while the list is not empty.
 *
 * Eviction.  A reservation that would push used bytes past the high
 * watermark first evicts down to the low one.  evict.c names candidates,
 * least recently used first; they are marked EVICTING in batches, one pin
 * scan covers a batch, the unpinned are freed and the pinned move to the
 * most-recent end (their readers are using them).  A lower tier will take
 * evicted objects here (demote) instead of letting them go.
 *
 * Reservations.  Each belongs to one session, which alone may commit or
 * abort it; they are on a per-session list so that a session's end frees
 * them without scanning the index.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "keyhash.h"
#include "log.h"
#include "object.h"
#include "readers.h"

#define EVICT_BATCH 256
#define NO_SLOT MMC_NO_ENTRY

int mmc_objects_init(struct mmc_agent *ag)
{
	struct mmc_objects *o = &ag->obj;
	uint32_t n = ag->index.nentries;

	memset(o, 0, sizeof(*o));
	o->owner = calloc(n, sizeof(uint32_t));
	o->res_prev = malloc(n * sizeof(uint32_t));
	o->res_next = malloc(n * sizeof(uint32_t));
	o->deferred_cap = 64;
	o->deferred = malloc(o->deferred_cap * sizeof(uint32_t));
	if (!o->owner || !o->res_prev || !o->res_next || !o->deferred)
		return -ENOMEM;
	return 0;
}

void mmc_objects_destroy(struct mmc_agent *ag)
{
	struct mmc_objects *o = &ag->obj;

	free(o->owner);
	free(o->res_prev);
	free(o->res_next);
	free(o->deferred);
	memset(o, 0, sizeof(*o));
}

uint64_t mmc_object_count_pinned(struct mmc_agent *ag)
{
	return mmc_readers_count_pinned(ag);
}

/* ---- freeing ---- */

/* Frees an unlinked slot's data and the slot itself (no pin may name it). */
static void object_free(struct mmc_agent *ag, uint32_t slot)
{
	struct mmc_entry *e = &ag->index.entries[slot];

	if (e->tier == MMC_TIER_DRAM && mmc_alloc_release(ag->alloc, e->loc))
		log_err("BUG: entry %u held a bad data offset %llu", slot,
			(unsigned long long)e->loc);
	mmc_index_free(&ag->index, slot);
}

/* A DEAD slot that is pinned: freed by a later reap. */
static void defer(struct mmc_agent *ag, uint32_t slot)
{
	struct mmc_objects *o = &ag->obj;

	if (o->ndeferred == o->deferred_cap) {
		uint32_t cap = o->deferred_cap * 2;
		uint32_t *d = realloc(o->deferred, cap * sizeof(uint32_t));

		if (!d) {   /* keep the entry DEAD and leaked rather than unsafe */
			log_err("out of memory: entry %u stays dead until restart", slot);
			return;
		}
		o->deferred = d;
		o->deferred_cap = cap;
	}
	o->deferred[o->ndeferred++] = slot;
}

/* Frees a DEAD slot now, or later if the pin scan of epoch saw a pin. */
static void free_or_defer(struct mmc_agent *ag, uint32_t slot, uint32_t epoch)
{
	if (mmc_readers_pinned(&ag->readers, slot, epoch))
		defer(ag, slot);
	else
		object_free(ag, slot);
}

uint32_t mmc_object_reap(struct mmc_agent *ag)
{
	struct mmc_objects *o = &ag->obj;
	uint32_t epoch, kept = 0;

	if (!o->ndeferred)
		return 0;
	epoch = mmc_readers_scan_pins(ag, NULL);
	for (uint32_t i = 0; i < o->ndeferred; i++) {
		uint32_t slot = o->deferred[i];

		if (mmc_readers_pinned(&ag->readers, slot, epoch))
			o->deferred[kept++] = slot;
		else
			object_free(ag, slot);
	}
	o->ndeferred = kept;
	return kept;
}

/* ---- eviction ---- */

/* One batch: up to EVICT_BATCH candidates in eviction order, marked
 * EVICTING, one pin scan; the unpinned are freed, the pinned become the
 * most recently used.  Returns bytes freed; *examined counts candidates. */
static uint64_t evict_batch(struct mmc_agent *ag, uint64_t want, uint32_t *examined)
{
	struct mmc_objects *o = &ag->obj;
	uint32_t cand[EVICT_BATCH], n = 0, epoch;
	uint64_t sum = 0, freed = 0;

	for (uint32_t slot = mmc_evict_first(ag->evict);
	     slot != MMC_EVICT_END && n < EVICT_BATCH && sum < want;
	     slot = mmc_evict_next(ag->evict, slot)) {
		cand[n++] = slot;
		sum += mmc_alloc_block_size(ag->alloc, ag->index.entries[slot].loc);
		mmc_index_set_state(&ag->index, slot, MMC_ENTRY_EVICTING);
	}
	*examined += n;
	if (!n)
		return 0;
	epoch = mmc_readers_scan_pins(ag, NULL);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = cand[i];
		struct mmc_entry *e = &ag->index.entries[slot];

		if (mmc_readers_pinned(&ag->readers, slot, epoch)) {   /* a reader holds it */
			mmc_index_set_state(&ag->index, slot, MMC_ENTRY_COMMITTED);
			mmc_evict_touch(ag->evict, slot);
			continue;
		}
		freed += mmc_alloc_block_size(ag->alloc, e->loc);
		MMC_COUNT(ag, evictions, 1);
		MMC_COUNT(ag, evicted_bytes, e->value_len);
		o->objects--;
		mmc_evict_del(ag->evict, slot);
		object_free(ag, slot);
	}
	return freed;
}

uint64_t mmc_object_evict(struct mmc_agent *ag, uint64_t want)
{
	uint64_t freed = 0;
	uint32_t examined = 0, limit = mmc_evict_count(ag->evict);

	/* Recency recorded by readers so far counts in this decision: the
	 * sessions that were busy lately (the sweep brings the others). */
	mmc_readers_drain_busy(ag);
	while (freed < want && examined < limit &&
	       mmc_evict_first(ag->evict) != MMC_EVICT_END)
		freed += evict_batch(ag, want - freed, &examined);
	return freed;
}

/* Room for bytes more: below the high watermark, or evict to the low one. */
static void make_room(struct mmc_agent *ag, uint64_t bytes)
{
	uint64_t cap = mmc_alloc_capacity(ag->alloc);
	uint64_t goal = mmc_evict_goal(ag->evict, mmc_alloc_used(ag->alloc), cap, bytes);

	if (!goal)
		return;
	mmc_object_reap(ag);
	goal = mmc_evict_goal(ag->evict, mmc_alloc_used(ag->alloc), cap, bytes);
	if (goal)
		mmc_object_evict(ag, goal);
}

/* A block of bytes, evicting until one fits (fragmentation can need more
 * than the watermark freed).  0 with *off set, or -ENOSPC. */
static int take_space(struct mmc_agent *ag, uint64_t bytes, uint64_t *off)
{
	int ret = mmc_alloc_take(ag->alloc, bytes, off);

	while (ret == -ENOSPC && mmc_evict_first(ag->evict) != MMC_EVICT_END) {
		if (!mmc_object_evict(ag, bytes))
			break;
		ret = mmc_alloc_take(ag->alloc, bytes, off);
	}
	if (ret == -ENOSPC && ag->obj.ndeferred) {
		mmc_object_reap(ag);
		ret = mmc_alloc_take(ag->alloc, bytes, off);
	}
	return ret;
}

/* ---- reservations ---- */

static void held_add(struct mmc_agent *ag, struct mmc_session *s, uint32_t slot)
{
	struct mmc_objects *o = &ag->obj;
	uint64_t bytes = mmc_alloc_block_size(ag->alloc, ag->index.entries[slot].loc);

	o->owner[slot] = s->id;
	o->reserved_bytes += bytes;
	o->reservations++;
	s->held.count++;
	s->held.bytes += bytes;
	if (s->use) {
		s->use->reservations++;
		s->use->reserved_bytes += bytes;
	}
	o->res_prev[slot] = NO_SLOT;
	o->res_next[slot] = s->held.first ? s->held.first - 1 : NO_SLOT;
	if (s->held.first)
		o->res_prev[s->held.first - 1] = slot;
	s->held.first = slot + 1;
}

static void held_del(struct mmc_agent *ag, struct mmc_session *s, uint32_t slot)
{
	struct mmc_objects *o = &ag->obj;
	uint32_t p = o->res_prev[slot], n = o->res_next[slot];
	uint64_t bytes = mmc_alloc_block_size(ag->alloc, ag->index.entries[slot].loc);

	o->reserved_bytes -= bytes;
	o->reservations--;
	s->held.count--;
	s->held.bytes -= bytes;
	if (s->use) {
		s->use->reservations--;
		s->use->reserved_bytes -= bytes;
	}
	if (p != NO_SLOT)
		o->res_next[p] = n;
	else
		s->held.first = n == NO_SLOT ? 0 : n + 1;
	if (n != NO_SLOT)
		o->res_prev[n] = p;
}

/* Is (slot, gen) a live reservation of session s? */
static bool own_reservation(const struct mmc_agent *ag, const struct mmc_session *s,
			    uint32_t slot, uint32_t gen)
{
	const struct mmc_entry *e;

	if (slot >= ag->index.nentries)
		return false;
	e = &ag->index.entries[slot];
	return e->state == MMC_ENTRY_RESERVED && e->gen == gen &&
		ag->obj.owner[slot] == s->id;
}

int mmc_object_reserve(struct mmc_agent *ag, struct mmc_session *s,
		       const void *key, uint16_t key_len, uint64_t len,
		       struct mmc_object_ref *ref)
{
	uint64_t hash = mmc_key_hash(ag->index.seed, key, key_len), off;
	uint32_t slot;
	int ret;

	if (len > mmc_alloc_capacity(ag->alloc))
		return -E2BIG;
	slot = mmc_index_find(&ag->index, key, key_len, hash);
	if (slot != NO_SLOT && ag->index.entries[slot].state == MMC_ENTRY_RESERVED)
		return -EBUSY;
	if (slot != NO_SLOT) {
		MMC_COUNT(ag, put_exists, 1);
		return -EEXIST;
	}
	/* [limits]: one session, or one uid, may not hold it all. */
	if (mmc_limits_may_reserve(&ag->limits, s, (len + MMC_UNIT - 1) & ~(uint64_t)(MMC_UNIT - 1))) {
		MMC_COUNT(ag, quota_refusals, 1);
		return -EDQUOT;
	}
	make_room(ag, len);
	ret = take_space(ag, len, &off);
	if (!ret) {
		ret = mmc_index_insert(&ag->index, key, key_len, hash, len,
				       MMC_TIER_DRAM, off, &slot);
		if (ret == -ENOSPC) {   /* every index slot taken: free one */
			mmc_object_reap(ag);
			if (!ag->index.nfree)
				mmc_object_evict(ag, 1);
			ret = mmc_index_insert(&ag->index, key, key_len, hash,
					       len, MMC_TIER_DRAM, off, &slot);
		}
		if (ret)
			mmc_alloc_release(ag->alloc, off);
	}
	if (ret) {
		MMC_COUNT(ag, alloc_failures, 1);
		return ret;
	}
	held_add(ag, s, slot);
	ref->slot = slot;
	ref->gen = ag->index.entries[slot].gen;
	ref->off = off;
	ref->len = len;
	return 0;
}

int mmc_object_commit(struct mmc_agent *ag, struct mmc_session *s,
		      uint32_t slot, uint32_t gen)
{
	if (!own_reservation(ag, s, slot, gen))
		return -EINVAL;
	held_del(ag, s, slot);
	mmc_index_set_state(&ag->index, slot, MMC_ENTRY_COMMITTED);
	mmc_evict_add(ag->evict, slot);
	ag->obj.objects++;
	MMC_COUNT(ag, puts, 1);
	MMC_COUNT(ag, put_bytes, ag->index.entries[slot].value_len);
	return 0;
}

/* Frees a reservation that is off its session's list. */
static void reservation_free(struct mmc_agent *ag, uint32_t slot)
{
	mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
	object_free(ag, slot);
}

int mmc_object_abort(struct mmc_agent *ag, struct mmc_session *s,
		     uint32_t slot, uint32_t gen)
{
	if (!own_reservation(ag, s, slot, gen))
		return -EINVAL;
	held_del(ag, s, slot);
	reservation_free(ag, slot);
	return 0;
}

void mmc_object_drop_session(struct mmc_agent *ag, struct mmc_session *s)
{
	while (s->held.first) {
		uint32_t slot = s->held.first - 1;

		held_del(ag, s, slot);
		reservation_free(ag, slot);
	}
	/* Its pins are gone with its ring: objects waiting only on them go,
	 * now if a scan is cheap, else with the reap timer. */
	if (mmc_readers_scan_cheap(&ag->readers))
		mmc_object_reap(ag);
}

/* ---- committed objects ---- */

int mmc_object_remove(struct mmc_agent *ag, const void *key, uint16_t key_len)
{
	uint32_t slot = mmc_index_find(&ag->index, key, key_len,
				       mmc_key_hash(ag->index.seed, key, key_len));

	if (slot == NO_SLOT)
		return -ENOENT;
	if (ag->index.entries[slot].state != MMC_ENTRY_COMMITTED)
		return -EBUSY;
	mmc_evict_del(ag->evict, slot);
	ag->obj.objects--;
	MMC_COUNT(ag, removes, 1);
	/* Unlink + DEAD is published (seq_cst) before the pin scan.  With many
	 * sessions a scan is not cheap: the reap timer does one for all the
	 * removes of a while, so a flood of removes costs one scan per tick. */
	mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
	if (mmc_readers_scan_cheap(&ag->readers))
		free_or_defer(ag, slot, mmc_readers_scan_pins(ag, NULL));
	else
		defer(ag, slot);
	return 0;
}

void mmc_object_clear(struct mmc_agent *ag)
{
	uint32_t slot, next, epoch;

	for (slot = mmc_evict_first(ag->evict); slot != MMC_EVICT_END;
	     slot = mmc_evict_next(ag->evict, slot))
		mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
	epoch = mmc_readers_scan_pins(ag, NULL);
	for (slot = mmc_evict_first(ag->evict); slot != MMC_EVICT_END; slot = next) {
		next = mmc_evict_next(ag->evict, slot);
		mmc_evict_del(ag->evict, slot);
		free_or_defer(ag, slot, epoch);
	}
	ag->obj.objects = 0;
}

int mmc_object_fetch(struct mmc_agent *ag, const void *key, uint16_t key_len)
{
	uint32_t slot = mmc_index_find(&ag->index, key, key_len,
				       mmc_key_hash(ag->index.seed, key, key_len));

	if (slot == NO_SLOT ||
	    ag->index.entries[slot].state != MMC_ENTRY_COMMITTED ||
	    ag->index.entries[slot].tier != MMC_TIER_DRAM)
		return -ENOENT;
	return 0;
}
