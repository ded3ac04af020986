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
 *
 * Tiers.  With an SSD tier, eviction writes objects down instead of
 * dropping them and frees their DRAM copy once written; an object whose
 * copy is on SSD already is simply dropped.  object_tier.c has that side:
 * demotion, promotion (FETCH), and puts that wait for room on its way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "keyhash.h"
#include "log.h"
#include "object-int.h"
#include "readers.h"
#include "tier_ssd.h"

#define EVICT_BATCH 256
#define NO_SLOT MMC_NO_ENTRY

static void defer(struct mmc_agent *ag, uint32_t slot);

int mmc_objects_init(struct mmc_agent *ag)
{
	struct mmc_objects *o = &ag->obj;
	uint32_t n = ag->index.nentries;

	memset(o, 0, sizeof(*o));
	o->meta = calloc(n, sizeof(*o->meta));
	o->deferred_cap = 64;
	o->deferred = malloc(o->deferred_cap * sizeof(uint32_t));
	if (!o->meta || !o->deferred)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		o->meta[i].ssd_slot = MMC_SSD_NONE;
	return mmc_object__tier_init(ag);
}

void mmc_objects_destroy(struct mmc_agent *ag)
{
	struct mmc_objects *o = &ag->obj;

	mmc_object__tier_destroy(ag);
	free(o->meta);
	free(o->deferred);
	memset(o, 0, sizeof(*o));
}

uint64_t mmc_object_count_pinned(struct mmc_agent *ag)
{
	return mmc_readers_count_pinned(ag);
}

/* ---- freeing ---- */

void mmc_object__free(struct mmc_agent *ag, uint32_t slot)
{
	struct mmc_entry *e = &ag->index.entries[slot];
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);

	if (e->tier == MMC_TIER_DRAM &&
	    mmc_alloc_release(ag->alloc, mmc_object__block(ag, slot)))
		log_err("BUG: entry %u held a bad data offset %llu", slot,
			(unsigned long long)e->loc);
	mmc_index_free(&ag->index, slot);
	*m = (struct mmc_obj_meta){ .ssd_slot = MMC_SSD_NONE };
}

/* Something other than its entry still uses slot's block: a reader's pin
 * (scan of epoch), or an SSD write or read in flight. */
static bool in_use(struct mmc_agent *ag, uint32_t slot, uint32_t epoch)
{
	const struct mmc_obj_meta *m = mmc_object__meta(ag, slot);

	return mmc_readers_pinned(&ag->readers, slot, epoch) ||
		(m->flags & (OBJ_DEMOTING | OBJ_FILLING)) || m->sends;
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

void mmc_object__free_or_defer(struct mmc_agent *ag, uint32_t slot, uint32_t epoch)
{
	if (in_use(ag, slot, epoch))
		defer(ag, slot);
	else
		mmc_object__free(ag, slot);
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

		if (in_use(ag, slot, epoch))
			o->deferred[kept++] = slot;
		else
			mmc_object__free(ag, slot);
	}
	o->ndeferred = kept;
	return kept;
}

/* ---- eviction ---- */

uint64_t mmc_object__drop(struct mmc_agent *ag, uint32_t slot)
{
	struct mmc_objects *o = &ag->obj;
	struct mmc_entry *e = &ag->index.entries[slot];
	uint64_t bytes = mmc_alloc_block_size(ag->alloc, mmc_object__block(ag, slot));

	if (ag->ssd && !mmc_object__on_ssd(ag, slot))
		MMC_COUNT(ag, demotion_skipped, 1);   /* gone from every tier */
	MMC_COUNT(ag, evictions, 1);
	MMC_COUNT(ag, evicted_bytes, e->value_len);
	o->objects--;
	mmc_evict_del(ag->evict, slot);
	mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
	mmc_object__free(ag, slot);
	return bytes;
}

/* One batch: up to EVICT_BATCH candidates in eviction order, marked
 * EVICTING, one pin scan; the pinned become the most recently used.  Of
 * the others, with mode DEMOTE and an SSD tier, those without a copy on SSD
 * (or with one about to be evicted there) start their write and leave the
 * eviction order (object_tier.c frees them once written; their bytes count
 * in *started), and once the tier takes no more the rest stay as they are
 * (*full); everything else is freed.
 * Returns bytes freed; *examined counts candidates. */
static uint64_t evict_batch(struct mmc_agent *ag, uint64_t want, enum mmc_evict_mode mode,
			    uint32_t *examined, uint64_t *started, bool *full)
{
	uint32_t cand[EVICT_BATCH], n = 0, epoch;
	uint64_t sum = 0, freed = 0;

	for (uint32_t slot = mmc_evict_first(ag->evict);
	     slot != MMC_EVICT_END && n < EVICT_BATCH && sum < want;
	     slot = mmc_evict_next(ag->evict, slot)) {
		cand[n++] = slot;
		sum += mmc_alloc_block_size(ag->alloc, mmc_object__block(ag, slot));
		mmc_index_set_state(&ag->index, slot, MMC_ENTRY_EVICTING);
	}
	*examined += n;
	if (!n)
		return 0;
	epoch = mmc_readers_scan_pins(ag, NULL);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = cand[i];

		if (mmc_readers_pinned(&ag->readers, slot, epoch) ||   /* a reader holds it */
		    mmc_object__meta(ag, slot)->sends) {               /* or a peer's send */
			mmc_index_set_state(&ag->index, slot, MMC_ENTRY_COMMITTED);
			mmc_evict_touch(ag->evict, slot);
			continue;
		}
		if (ag->ssd && mode == MMC_EVICT_DEMOTE && mmc_object__wants_write(ag, slot)) {
			int r = *full ? -EAGAIN : mmc_object__demote(ag, slot);

			if (!r || r == -EAGAIN) {
				/* Being written down (freed once back), or the tier
				 * takes no more now: it stays where it is. */
				mmc_index_set_state(&ag->index, slot, MMC_ENTRY_COMMITTED);
				if (r)
					*full = true;
				else
					*started += mmc_alloc_block_size(ag->alloc,
									 mmc_object__block(ag, slot));
				continue;
			}
			/* It never will go to SSD: dropped. */
		}
		freed += mmc_object__drop(ag, slot);
	}
	return freed;
}

uint64_t mmc_object_evict(struct mmc_agent *ag, uint64_t want, enum mmc_evict_mode mode)
{
	uint64_t freed = 0, started = 0;
	uint32_t examined = 0, limit = mmc_evict_count(ag->evict);
	bool full = false;

	/* Recency recorded by readers so far counts in this decision: the
	 * sessions that were busy lately (the sweep brings the others). */
	mmc_readers_drain_busy(ag);
	while (freed + started < want && examined < limit && !full &&
	       mmc_evict_first(ag->evict) != MMC_EVICT_END)
		freed += evict_batch(ag, want - freed - started, mode, &examined,
				     &started, &full);
	return freed;
}

void mmc_object__make_room(struct mmc_agent *ag, uint64_t bytes, enum mmc_evict_mode mode)
{
	uint64_t cap = mmc_alloc_capacity(ag->alloc);
	/* Blocks being written down are as good as free already. */
	uint64_t used = mmc_alloc_used(ag->alloc) - ag->obj.demoting_bytes;
	uint64_t goal = mmc_evict_goal(ag->evict, used, cap, bytes);

	if (!goal)
		return;
	mmc_object_reap(ag);
	used = mmc_alloc_used(ag->alloc) - ag->obj.demoting_bytes;
	goal = mmc_evict_goal(ag->evict, used, cap, bytes);
	if (goal)
		mmc_object_evict(ag, goal, mode);
}

int mmc_object__take_space(struct mmc_agent *ag, uint64_t bytes, uint64_t *off)
{
	int ret = mmc_alloc_take(ag->alloc, bytes, off);

	while (ret == -ENOSPC && mmc_evict_first(ag->evict) != MMC_EVICT_END) {
		if (!mmc_object_evict(ag, bytes, MMC_EVICT_DROP))
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
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);
	uint64_t bytes = mmc_alloc_block_size(ag->alloc, mmc_object__block(ag, slot));

	m->owner = s->id;
	o->reserved_bytes += bytes;
	o->reservations++;
	s->held.count++;
	s->held.bytes += bytes;
	if (s->use) {
		s->use->reservations++;
		s->use->reserved_bytes += bytes;
	}
	m->res_prev = NO_SLOT;
	m->res_next = s->held.first ? s->held.first - 1 : NO_SLOT;
	if (s->held.first)
		mmc_object__meta(ag, s->held.first - 1)->res_prev = slot;
	s->held.first = slot + 1;
}

static void held_del(struct mmc_agent *ag, struct mmc_session *s, uint32_t slot)
{
	struct mmc_objects *o = &ag->obj;
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);
	uint32_t p = m->res_prev, n = m->res_next;
	uint64_t bytes = mmc_alloc_block_size(ag->alloc, mmc_object__block(ag, slot));

	o->reserved_bytes -= bytes;
	o->reservations--;
	s->held.count--;
	s->held.bytes -= bytes;
	if (s->use) {
		s->use->reservations--;
		s->use->reserved_bytes -= bytes;
	}
	if (p != NO_SLOT)
		mmc_object__meta(ag, p)->res_next = n;
	else
		s->held.first = n == NO_SLOT ? 0 : n + 1;
	if (n != NO_SLOT)
		mmc_object__meta(ag, n)->res_prev = p;
}

/* Is (slot, gen) a live reservation of session s? */
static bool own_reservation(struct mmc_agent *ag, const struct mmc_session *s,
			    uint32_t slot, uint32_t gen)
{
	const struct mmc_entry *e;

	if (slot >= ag->index.nentries)
		return false;
	e = &ag->index.entries[slot];
	return e->state == MMC_ENTRY_RESERVED && e->gen == gen &&
		mmc_object__meta(ag, slot)->owner == s->id;
}

/* Keeps index slots free the way the byte watermarks keep bytes free: with
 * an SSD tier, when fewer than 1 % of the slots are free, objects are
 * written down until 2 % will be (an index-bound agent then never makes a
 * put wait for a whole write). */
static void make_slots(struct mmc_agent *ag)
{
	uint32_t n = ag->index.nentries, low = n / 100, want = n / 50;
	uint64_t avg;

	if (!ag->ssd || ag->index.nfree >= low || !ag->obj.objects)
		return;
	avg = mmc_alloc_used(ag->alloc) / ag->obj.objects;
	mmc_object_evict(ag, (uint64_t)(want - ag->index.nfree) * (avg ? avg : 1),
			 MMC_EVICT_DEMOTE);
}

int mmc_object__index_slot(struct mmc_agent *ag, const void *key, uint16_t key_len,
			   uint64_t hash, uint64_t len, uint64_t off, uint32_t *slot,
			   bool may_wait)
{
	int ret;

	make_slots(ag);
	ret = mmc_index_insert(&ag->index, key, key_len, hash, len, MMC_TIER_DRAM, off, slot);
	if (ret != -ENOSPC)
		return ret;
	/* Every slot taken: one goes (written down first when a tier is
	 * there and the put may wait for it). */
	mmc_object_reap(ag);
	if (!ag->index.nfree && ag->ssd)
		mmc_object_evict(ag, 1, MMC_EVICT_DEMOTE);
	if (!ag->index.nfree && ag->obj.demoting_bytes && may_wait)
		return -EINPROGRESS;
	if (!ag->index.nfree)
		mmc_object_evict(ag, 1, MMC_EVICT_DROP);
	return mmc_index_insert(&ag->index, key, key_len, hash, len, MMC_TIER_DRAM, off, slot);
}

int mmc_object_reserve(struct mmc_agent *ag, struct mmc_session *s,
		       const void *key, uint16_t key_len, uint64_t len,
		       struct mmc_object_ref *ref)
{
	return mmc_object__reserve(ag, s, key, key_len, len, ref, true);
}

int mmc_object__reserve(struct mmc_agent *ag, struct mmc_session *s,
			const void *key, uint16_t key_len, uint64_t len,
			struct mmc_object_ref *ref, bool may_wait)
{
	uint64_t hash = mmc_key_hash(ag->index.seed, key, key_len), off;
	uint32_t slot;
	int ret;

	if (len > mmc_alloc_capacity(ag->alloc))
		return -E2BIG;
	slot = mmc_index_find(&ag->index, key, key_len, hash);
	if (slot != NO_SLOT && ag->index.entries[slot].state == MMC_ENTRY_RESERVED)
		return -EBUSY;
	if (slot != NO_SLOT ||
	    (ag->ssd && mmc_ssd_find(ag->ssd, hash) != MMC_SSD_NONE)) {
		MMC_COUNT(ag, put_exists, 1);   /* (on SSD: objects are immutable) */
		return -EEXIST;
	}
	/* [limits]: one session, or one uid, may not hold it all. */
	if (mmc_limits_may_reserve(&ag->limits, s, (len + MMC_UNIT - 1) & ~(uint64_t)(MMC_UNIT - 1))) {
		MMC_COUNT(ag, quota_refusals, 1);
		return -EDQUOT;
	}
	mmc_object__make_room(ag, len, MMC_EVICT_DEMOTE);
	ret = mmc_alloc_take(ag->alloc, len, &off);
	if (ret == -ENOSPC && ag->obj.demoting_bytes && may_wait)
		return -EINPROGRESS;   /* room is on its way */
	if (ret == -ENOSPC)
		ret = mmc_object__take_space(ag, len, &off);
	if (!ret && (ret = mmc_object__index_slot(ag, key, key_len, hash, len, off, &slot,
						  may_wait)))
		mmc_alloc_release(ag->alloc, off);
	if (ret == -EINPROGRESS)
		return ret;
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

void mmc_object_reserve_answer(const struct mmc_object_ref *ref, struct mmc_cqe *c)
{
	c->res = 0;
	c->off = ref->off;
	c->len = ref->len;
	c->idx = ref->slot;
	c->gen = ref->gen;
}

int mmc_object_commit(struct mmc_agent *ag, struct mmc_session *s,
		      uint32_t slot, uint32_t gen, const uint32_t *crc)
{
	if (!own_reservation(ag, s, slot, gen))
		return -EINVAL;
	held_del(ag, s, slot);
	mmc_index_commit(&ag->index, slot, crc);
	mmc_evict_add(ag->evict, slot);
	ag->obj.objects++;
	MMC_COUNT(ag, puts, 1);
	MMC_COUNT(ag, put_bytes, ag->index.entries[slot].value_len);
	if (ag->remote)             /* after the answer: its crc, pushes */
		mmc_object__remote_put(ag, slot);
	return 0;
}

/* Frees a reservation that is off its session's list. */
static void reservation_free(struct mmc_agent *ag, uint32_t slot)
{
	mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
	mmc_object__free(ag, slot);
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

/* Takes committed (or being demoted) slot away from readers and frees it
 * as soon as nothing uses it (epoch: a pin scan after the unlink). */
static void unlink_committed(struct mmc_agent *ag, uint32_t slot)
{
	mmc_evict_del(ag->evict, slot);
	ag->obj.objects--;
	mmc_object__forget_ssd(ag, slot);
	mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
}

/* Removes committed slot: unlinked now, freed once no pin holds it. */
static int remove_committed(struct mmc_agent *ag, uint32_t slot)
{
	unlink_committed(ag, slot);
	MMC_COUNT(ag, removes, 1);
	/* Unlink + DEAD is published (seq_cst) before the pin scan.  With many
	 * sessions a scan is not cheap: the reap timer does one for all the
	 * removes of a while, so a flood of removes costs one scan per tick. */
	if (mmc_readers_scan_cheap(&ag->readers))
		mmc_object__free_or_defer(ag, slot, mmc_readers_scan_pins(ag, NULL));
	else
		defer(ag, slot);
	return 0;
}

int mmc_object_remove(struct mmc_agent *ag, const void *key, uint16_t key_len)
{
	uint64_t hash = mmc_key_hash(ag->index.seed, key, key_len);
	uint32_t slot = mmc_index_find(&ag->index, key, key_len, hash), sslot;
	const struct mmc_entry *e;

	if (slot == NO_SLOT) {         /* perhaps on SSD only */
		if (!ag->ssd || (sslot = mmc_ssd_find(ag->ssd, hash)) == MMC_SSD_NONE)
			return -ENOENT;
		mmc_ssd_remove(ag->ssd, sslot);
		MMC_COUNT(ag, removes, 1);
		return 0;
	}
	e = &ag->index.entries[slot];
	if (e->state == MMC_ENTRY_RESERVED &&
	    (mmc_object__meta(ag, slot)->flags & OBJ_FILLING)) {
		mmc_object__cancel_fill(ag, slot);   /* being read back from SSD */
		mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
		defer(ag, slot);                      /* freed when the read is back */
		MMC_COUNT(ag, removes, 1);
		return 0;
	}
	if (e->state != MMC_ENTRY_COMMITTED)
		return -EBUSY;
	return remove_committed(ag, slot);
}

int mmc_object_remove_exact(struct mmc_agent *ag, const void *key, uint16_t key_len,
			    uint32_t slot, uint32_t gen)
{
	uint64_t hash = mmc_key_hash(ag->index.seed, key, key_len);
	const struct mmc_entry *e;

	if (mmc_index_find(&ag->index, key, key_len, hash) != slot || slot == NO_SLOT)
		return -ENOENT;
	e = &ag->index.entries[slot];
	if (e->gen != gen || e->state != MMC_ENTRY_COMMITTED)
		return -ENOENT;
	return remove_committed(ag, slot);
}

void mmc_object_clear(struct mmc_agent *ag)
{
	uint32_t slot, next, n = ag->index.nentries;

	/* In eviction order, being written down, being read back: all of it. */
	for (slot = mmc_evict_first(ag->evict); slot != MMC_EVICT_END; slot = next) {
		next = mmc_evict_next(ag->evict, slot);
		unlink_committed(ag, slot);
		defer(ag, slot);
	}
	for (slot = 0; slot < n; slot++) {
		uint8_t flags = mmc_object__meta(ag, slot)->flags;

		if ((flags & OBJ_DEMOTING) &&
		    ag->index.entries[slot].state == MMC_ENTRY_COMMITTED) {
			unlink_committed(ag, slot);
			defer(ag, slot);
		} else if ((flags & OBJ_FILLING) && !(flags & OBJ_CANCELLED)) {
			mmc_object__cancel_fill(ag, slot);
			mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
			defer(ag, slot);
		}
	}
	if (ag->ssd)
		mmc_ssd_clear(ag->ssd);
	mmc_object_reap(ag);   /* one pin scan: what nothing uses goes now */
}
