/*
 * object_tier.c - an object's life across tiers: written down to SSD when
 * DRAM lets it go (demotion), read back when a client wants it (promotion),
 * and puts that wait for the room demotions are making.
 *
 * Demotion.  Eviction (object.c) hands an unpinned object without a copy
 * on SSD to mmc_object__demote(): its block is written straight from the
 * arena, and meanwhile the object stays committed and readable in DRAM, out
 * of the eviction order (OBJ_DEMOTING).  When the write is back the object
 * remembers its SSD copy (slot, generation) and its DRAM copy is freed
 * unless a reader pins it.  An object whose copy is on SSD already (it was
 * promoted, or written before) is just dropped from DRAM: promotion keeps
 * the SSD copy (inclusive tiers: demoting a page again costs no write).
 *
 * Promotion.  A FETCH for a key not in DRAM but on SSD takes a DRAM block
 * (header sector + value), inserts the key RESERVED by the agent
 * (OBJ_FILLING: invisible to readers, -EBUSY to writers), and reads the
 * object into the block.  Every FETCH of that key parks on the fill; when
 * the read is back and checked the key is committed and they are answered
 * 0, else -ENOENT.  A remove meanwhile cancels the fill: its waiters get a
 * miss at once and the block is freed when the read is back.  A member of
 * the pool asking for the key waits the same way, with no session: the
 * agent's own wait (mmc_object__fetch_for) calls back instead of posting an
 * answer, and never has this node's unwritten pages dropped for it.
 *
 * Room.  A put, or a promotion, that finds no room while demotions are
 * being written parks and is retried, in arrival order, each time a
 * demotion completes.  After SPACE_WAIT_NS it stops waiting: objects are
 * dropped instead of written down, and it goes on.
 *
 * Stop.  A clean stop writes what is only in DRAM down before the tier is
 * sealed (mmc_object_flush_ssd), so a restart of the agent loses nothing
 * that fits in the time it is given.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyhash.h"
#include "list.h"
#include "log.h"
#include "object-int.h"
#include "ops.h"
#include "probes.h"
#include "readers.h"
#include "request.h"
#include "tier_ssd.h"
#include "timer.h"

#define SPACE_WAIT_NS (200ull * 1000 * 1000)
#define BATCH 64

unsigned short mmc_promote_semaphore __attribute__((section(".probes"), used));

struct tier_wait;

struct fill {                    /* a promotion in flight */
	uint32_t slot, egen;         /* the DRAM entry being filled */
	uint32_t sslot, sgen;        /* the SSD copy being read */
	uint64_t len;                /* value bytes */
	uint64_t probe_t0;           /* mmc:promote's start, 0: not watched */
	uint64_t start_ns;           /* mmc_promotion_seconds */
	struct tier_wait *waiters;
	struct fill *next;
};

/* A parked FETCH or RESERVE: on a fill's list (fill set), or on the list
 * of requests waiting for room.  Or the agent's own wait on a fill (done
 * set: a member's GET, mmc_object__fetch_for), which no session owns. */
struct tier_wait {
	struct mmc_request r;        /* first: what was parked */
	struct tier_wait *next;      /* on a fill's list */
	struct mmc_dnode space;      /* on the list waiting for room */
	struct fill *fill;
	uint64_t since_ns;
	mmc_object_fill_fn *done;
	uint64_t token;
};

struct mmc_tier_waits {
	struct fill *fills;
	struct mmc_dlist space;      /* tier_wait.space, oldest first */
	struct mmc_timer space_timer;
	uint32_t written[BATCH];     /* written down, DRAM copy to drop */
	unsigned nwritten;
};

static void space_timer(void *ctx, struct mmc_timer *t);

/* The oldest request waiting for room (the list is not empty). */
static struct tier_wait *space_first(struct mmc_tier_waits *w)
{
	return mmc_container_of(w->space.first, struct tier_wait, space);
}

static uint64_t cookie_of(struct mmc_agent *ag, uint32_t slot)
{
	return (uint64_t)slot << 32 | ag->index.entries[slot].gen;
}

int mmc_object__tier_init(struct mmc_agent *ag)
{
	ag->obj.waits = calloc(1, sizeof(*ag->obj.waits));
	return ag->obj.waits ? 0 : -ENOMEM;
}

void mmc_object__tier_destroy(struct mmc_agent *ag)
{
	struct mmc_tier_waits *w = ag->obj.waits;

	if (!w)
		return;
	while (w->fills) {           /* I/O is over: the tier was closed first */
		struct fill *f = w->fills;

		w->fills = f->next;
		while (f->waiters) {     /* sessions' requests went with them */
			struct tier_wait *tw = f->waiters;

			f->waiters = tw->next;
			if (tw->done)
				free(tw);
		}
		free(f);
	}
	while (w->space.first) {     /* sessions' requests went with them */
		struct tier_wait *tw = space_first(w);

		mmc_dlist_del(&w->space, &tw->space);
		if (tw->done)
			free(tw);
	}
	free(w);
	ag->obj.waits = NULL;
}

/* ---- demotion ---- */

bool mmc_object__on_ssd(struct mmc_agent *ag, uint32_t slot)
{
	const struct mmc_obj_meta *m = mmc_object__meta(ag, slot);

	return ag->ssd && m->ssd_slot != MMC_SSD_NONE &&
		mmc_ssd_valid(ag->ssd, m->ssd_slot, ag->index.entries[slot].hash, m->ssd_gen);
}

bool mmc_object__wants_write(struct mmc_agent *ag, uint32_t slot)
{
	return !mmc_object__on_ssd(ag, slot) ||
		mmc_ssd_aging(ag->ssd, mmc_object__meta(ag, slot)->ssd_slot);
}

int mmc_object__demote(struct mmc_agent *ag, uint32_t slot)
{
	const struct mmc_entry *e = &ag->index.entries[slot];
	int ret = mmc_ssd_write(ag->ssd, e->key, e->key_len, e->hash,
				(char *)ag->arena.data + e->loc, e->value_len,
				e->flags & MMC_ENTRY_CRC ? &e->crc : NULL, cookie_of(ag, slot));

	if (ret == -EAGAIN)
		return ret;
	if (ret) {                   /* too large for a region, or failing */
		MMC_COUNT(ag, demotion_failures, 1);
		return ret;
	}
	mmc_object__meta(ag, slot)->flags |= OBJ_DEMOTING;
	ag->obj.demoting_bytes += mmc_alloc_block_size(ag->alloc, mmc_object__block(ag, slot));
	mmc_evict_del(ag->evict, slot);
	return 0;
}

void mmc_object__forget_ssd(struct mmc_agent *ag, uint32_t slot)
{
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);

	if (mmc_object__on_ssd(ag, slot))
		mmc_ssd_remove(ag->ssd, m->ssd_slot);
	m->ssd_slot = MMC_SSD_NONE;
}

/* Objects written down whose DRAM copy can go: one pin scan for all. */
static void drop_written(struct mmc_agent *ag)
{
	struct mmc_tier_waits *w = ag->obj.waits;
	uint32_t epoch;

	if (!w->nwritten)
		return;
	for (unsigned i = 0; i < w->nwritten; i++)
		mmc_index_set_state(&ag->index, w->written[i], MMC_ENTRY_EVICTING);
	epoch = mmc_readers_scan_pins(ag, NULL);
	for (unsigned i = 0; i < w->nwritten; i++) {
		uint32_t slot = w->written[i];

		if (mmc_readers_pinned(&ag->readers, slot, epoch) ||
		    mmc_object__meta(ag, slot)->sends) {
			mmc_index_set_state(&ag->index, slot, MMC_ENTRY_COMMITTED);
			mmc_evict_add(ag->evict, slot);   /* in use: stays in DRAM */
		} else {
			mmc_object__drop(ag, slot);
		}
	}
	w->nwritten = 0;
}

static void written(struct mmc_agent *ag, const struct mmc_ssd_event *ev)
{
	uint32_t slot = (uint32_t)(ev->cookie >> 32), egen = (uint32_t)ev->cookie;
	const struct mmc_entry *e = &ag->index.entries[slot];
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);
	struct mmc_tier_waits *w = ag->obj.waits;

	m->flags &= ~OBJ_DEMOTING;
	ag->obj.demoting_bytes -= mmc_alloc_block_size(ag->alloc, mmc_object__block(ag, slot));
	if (e->gen != egen || e->state != MMC_ENTRY_COMMITTED) {
		/* Removed (or cleared) while it was being written. */
		if (ev->result == MMC_SSD_OK)
			mmc_ssd_remove(ag->ssd, ev->slot);
		mmc_object_reap(ag);
		return;
	}
	if (ev->result != MMC_SSD_OK) {
		MMC_COUNT(ag, demotion_failures, 1);
		mmc_evict_add(ag->evict, slot);   /* stays; tried again later */
		return;
	}
	MMC_COUNT(ag, demotions, 1);
	m->ssd_slot = ev->slot;
	m->ssd_gen = ev->gen;
	if (w->nwritten == BATCH)
		drop_written(ag);
	w->written[w->nwritten++] = slot;
}

/* ---- promotion ---- */

static struct fill *fill_of(struct mmc_agent *ag, uint32_t slot)
{
	struct fill *f = ag->obj.waits->fills;

	while (f && f->slot != slot)
		f = f->next;
	return f;
}

/* A parked request's end: its answer posted, or the agent's own wait
 * called back (and freed). */
static void wait_answer(struct mmc_agent *ag, struct tier_wait *tw, struct mmc_cqe *c)
{
	if (tw->done) {
		tw->done(ag, tw->token, c->res, tw->r.q.key, tw->r.q.key_len);
		free(tw);
	} else {
		mmc_request_complete(ag, &tw->r, c);
	}
}

/* Answers every FETCH parked on f with res (and tells the agent's own
 * waits), and forgets them. */
static void answer_fill(struct mmc_agent *ag, struct fill *f, int res)
{
	while (f->waiters) {
		struct tier_wait *tw = f->waiters;
		struct mmc_cqe c = { .res = res };

		f->waiters = tw->next;
		wait_answer(ag, tw, &c);
	}
}

/* The session of a parked FETCH or RESERVE closed: forget it. */
static void wait_cancel(struct mmc_agent *ag, struct mmc_request *r)
{
	struct tier_wait *tw = (struct tier_wait *)r, **pp;
	struct mmc_cqe c = { 0 };

	if (tw->fill) {
		for (pp = &tw->fill->waiters; *pp && *pp != tw; pp = &(*pp)->next)
			;
		if (*pp)
			*pp = tw->next;
	} else {
		mmc_dlist_del(&ag->obj.waits->space, &tw->space);
	}
	mmc_request_complete(ag, r, &c);   /* its session is gone: just freed */
}

/* Puts tw on fill f's list. */
static void on_fill(struct tier_wait *tw, struct fill *f)
{
	tw->fill = f;
	tw->next = f->waiters;
	f->waiters = tw;
}

/* tw waits until room is made (space_retry), SPACE_WAIT_NS at most. */
static void wait_space(struct mmc_agent *ag, struct tier_wait *tw)
{
	struct mmc_tier_waits *w = ag->obj.waits;

	tw->since_ns = mmc_now_ns();
	tw->fill = NULL;
	mmc_dlist_push_tail(&w->space, &tw->space);
	if (!mmc_timer_armed(&w->space_timer))
		(void)mmc_timer_arm(&ag->timers, &w->space_timer, tw->since_ns + SPACE_WAIT_NS,
				    space_timer);
}

/* Parks q of s: on fill f, or (f NULL) until room is made.  PARKED, or
 * DONE with -ENOMEM. */
static enum mmc_ops_result park(struct mmc_agent *ag, struct mmc_session *s,
				const struct mmc_sqe *q, struct mmc_cqe *c, struct fill *f)
{
	struct tier_wait *tw = (struct tier_wait *)mmc_request_park(ag, s, q, sizeof(*tw),
								     wait_cancel);

	if (!tw) {
		c->res = -ENOMEM;
		return MMC_OPS_DONE;
	}
	if (f)
		on_fill(tw, f);
	else
		wait_space(ag, tw);
	return MMC_OPS_PARKED;
}

/* Starts reading the SSD copy sslot of key back into DRAM: 0 with *out,
 * -EINPROGRESS (no room yet, demotions are making it; may_wait), or
 * -ENOENT (no room, or the tier would not take the read: a miss).  Room
 * is made by dropping objects (those not written down yet are lost) only
 * when may_drop. */
static int promote(struct mmc_agent *ag, const struct mmc_sqe *q, uint64_t hash,
		   uint32_t sslot, bool may_wait, bool may_drop, struct fill **out)
{
	size_t gap = mmc_ssd_value_gap(ag->ssd);
	uint64_t len, off, need;
	uint32_t sgen, slot;
	struct fill *f;
	int ret;

	if (mmc_ssd_get(ag->ssd, sslot, &len, &sgen))
		return -ENOENT;
	need = mmc_ssd_read_size(ag->ssd, len);
	mmc_object__make_room(ag, need, MMC_EVICT_DEMOTE);
	ret = mmc_alloc_take(ag->alloc, need, &off);
	if (ret && !ag->obj.demoting_bytes) {
		/* Below the watermark, but no free piece that large (DRAM in
		 * pieces): make room anyway, writing pages down rather than
		 * dropping them, and wait for it below. */
		mmc_object_evict(ag, need, MMC_EVICT_DEMOTE);
		ret = mmc_alloc_take(ag->alloc, need, &off);
	}
	if (ret) {
		if (may_wait && ag->obj.demoting_bytes)
			return -EINPROGRESS;
		if (!may_drop || mmc_object__take_space(ag, need, &off))
			return -ENOENT;
	}
	ret = mmc_object__index_slot(ag, q->key, q->key_len, hash, len, off + gap, &slot,
				     may_wait);
	if (ret) {
		mmc_alloc_release(ag->alloc, off);
		return ret == -EINPROGRESS ? ret : -ENOENT;
	}
	*mmc_object__meta(ag, slot) = (struct mmc_obj_meta){
		.owner = 0, .ssd_slot = MMC_SSD_NONE, .gap = (uint16_t)gap, .flags = OBJ_FILLING };
	f = calloc(1, sizeof(*f));
	if (!f || mmc_ssd_read(ag->ssd, sslot, q->key, q->key_len,
			       (char *)ag->arena.data + off, cookie_of(ag, slot))) {
		free(f);
		mmc_object__meta(ag, slot)->flags = 0;
		mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
		mmc_object__free(ag, slot);
		return -ENOENT;
	}
	*f = (struct fill){ .slot = slot, .egen = ag->index.entries[slot].gen,
			    .sslot = sslot, .sgen = sgen, .len = len,
			    .probe_t0 = mmc_agent_probe_start(&mmc_promote_semaphore),
			    .start_ns = mmc_now_ns(),
			    .next = ag->obj.waits->fills };
	ag->obj.waits->fills = f;
	*out = f;
	return 0;
}

/* Where a FETCH of q stands now: *res 0 (in DRAM) or -ENOENT, or a fill
 * to wait on, or -EINPROGRESS (a promotion waits for room).  may_wait,
 * may_drop: as for promote(). */
static struct fill *fetch_now(struct mmc_agent *ag, const struct mmc_sqe *q, bool may_wait,
			      bool may_drop, int *res)
{
	uint64_t hash = mmc_key_hash(ag->index.seed, q->key, q->key_len);
	uint32_t slot = mmc_index_find(&ag->index, q->key, q->key_len, hash), sslot;
	struct fill *f = NULL;

	*res = -ENOENT;
	if (slot != MMC_NO_ENTRY) {
		const struct mmc_entry *e = &ag->index.entries[slot];
		uint8_t flags = mmc_object__meta(ag, slot)->flags;

		if (e->state == MMC_ENTRY_COMMITTED)
			*res = 0;
		else if ((flags & OBJ_FILLING) && !(flags & OBJ_CANCELLED))
			f = fill_of(ag, slot);
		return f;
	}
	if (!ag->ssd || (sslot = mmc_ssd_find(ag->ssd, hash)) == MMC_SSD_NONE)
		return NULL;
	*res = promote(ag, q, hash, sslot, may_wait, may_drop, &f);
	if (*res && *res != -EINPROGRESS)
		MMC_COUNT(ag, promotion_failures, 1);
	return *res ? NULL : f;
}

int mmc_object__fetch_for(struct mmc_agent *ag, const void *key, uint16_t key_len,
			  mmc_object_fill_fn *done, uint64_t token)
{
	struct tier_wait *tw;
	struct fill *f;
	int res;

	if (!key_len || key_len > MMC_KEY_MAX || !(tw = calloc(1, sizeof(*tw))))
		return -ENOENT;
	tw->r.q = (struct mmc_sqe){ .op = MMC_OP_FETCH, .key_len = key_len };
	memcpy(tw->r.q.key, key, key_len);
	tw->done = done;
	tw->token = token;
	/* It may wait for room as a client's FETCH does, but never drops this
	 * node's pages that are not written down for a member: past the wait
	 * it is a miss. */
	f = fetch_now(ag, &tw->r.q, true, false, &res);
	if (f)
		on_fill(tw, f);
	else if (res == -EINPROGRESS)
		wait_space(ag, tw);
	else
		free(tw);
	return f || res == -EINPROGRESS ? 1 : res;   /* else 0 in DRAM, or -ENOENT */
}

enum mmc_ops_result mmc_object_fetch(struct mmc_agent *ag, struct mmc_session *s,
				     const struct mmc_sqe *q, struct mmc_cqe *c)
{
	int res;
	struct fill *f = fetch_now(ag, q, true, true, &res);

	if (f || res == -EINPROGRESS)
		return park(ag, s, q, c, f);
	if (res == -ENOENT && ag->remote)    /* on no tier here: its home? */
		return mmc_object__remote_fetch(ag, s, q, c);
	c->res = res;
	return MMC_OPS_DONE;
}

void mmc_object__cancel_fill(struct mmc_agent *ag, uint32_t slot)
{
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);
	struct fill *f = fill_of(ag, slot);

	m->flags |= OBJ_CANCELLED;
	if (!f)
		return;
	if (mmc_ssd_valid(ag->ssd, f->sslot, ag->index.entries[slot].hash, f->sgen))
		mmc_ssd_remove(ag->ssd, f->sslot);
	answer_fill(ag, f, -ENOENT);
}

static void read_back(struct mmc_agent *ag, const struct mmc_ssd_event *ev)
{
	uint32_t slot = (uint32_t)(ev->cookie >> 32);
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);
	struct fill *f = fill_of(ag, slot), **pp;
	bool cancelled = m->flags & OBJ_CANCELLED;

	if (!f)
		return;
	m->flags &= (uint8_t)~(OBJ_FILLING | OBJ_CANCELLED);
	if (!cancelled && ev->result == MMC_SSD_OK) {
		m->ssd_slot = f->sslot;      /* inclusive: the copy on SSD stays */
		m->ssd_gen = f->sgen;
		/* The crc the tier checked the bytes against: the writer's. */
		mmc_index_commit(&ag->index, slot, &ev->value_crc);
		mmc_evict_add(ag->evict, slot);
		ag->obj.objects++;
		MMC_COUNT(ag, promotions, 1);
		mmc_metrics_observe(&ag->metrics, MMC_HIST_promotion, mmc_now_ns() - f->start_ns);
		MMC_PROBE_PROMOTE(f->probe_t0, f->len, 0);
		answer_fill(ag, f, 0);
	} else {
		if (!cancelled) {
			MMC_COUNT(ag, promotion_failures, 1);
			mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
			mmc_object__free(ag, slot);
		}
		MMC_PROBE_PROMOTE(f->probe_t0, f->len, -ENOENT);
		answer_fill(ag, f, -ENOENT);
		mmc_object_reap(ag);         /* a cancelled one waits on the list */
	}
	for (pp = &ag->obj.waits->fills; *pp != f; pp = &(*pp)->next)
		;
	*pp = f->next;
	free(f);
}

/* ---- requests waiting for room ---- */

/* Tries the oldest waiting requests again; may_wait: they keep waiting
 * while demotions are still on their way.  Stops at the first that waits. */
static void space_retry(struct mmc_agent *ag, bool may_wait)
{
	struct mmc_tier_waits *w = ag->obj.waits;

	while (w->space.first) {
		struct tier_wait *tw = space_first(w);
		const struct mmc_sqe *q = &tw->r.q;
		struct mmc_object_ref ref;
		struct mmc_cqe c = { 0 };
		struct fill *f = NULL;

		if (q->op == MMC_OP_FETCH)
			f = fetch_now(ag, q, may_wait, !tw->done, &c.res);
		else
			c.res = mmc_object__reserve(ag, tw->r.s, q->key, q->key_len, q->arg,
						    &ref, may_wait);
		if (c.res == -EINPROGRESS)
			break;
		mmc_dlist_del(&w->space, &tw->space);
		if (f) {                        /* now it waits for the read */
			on_fill(tw, f);
			continue;
		}
		if (!c.res && q->op != MMC_OP_FETCH)
			mmc_object_reserve_answer(&ref, &c);
		wait_answer(ag, tw, &c);
	}
}

static void space_timer(void *ctx, struct mmc_timer *t)
{
	struct mmc_agent *ag = ctx;
	struct mmc_tier_waits *w = ag->obj.waits;
	uint64_t now = mmc_now_ns();

	/* The oldest waited long enough: room by dropping, not writing. */
	if (w->space.first && now - space_first(w)->since_ns >= SPACE_WAIT_NS)
		space_retry(ag, false);
	space_retry(ag, true);
	if (w->space.first)
		(void)mmc_timer_arm(&ag->timers, t, space_first(w)->since_ns + SPACE_WAIT_NS,
				    space_timer);
}

enum mmc_ops_result mmc_object_wait_space(struct mmc_agent *ag, struct mmc_session *s,
					  const struct mmc_sqe *q, struct mmc_cqe *c)
{
	return park(ag, s, q, c, NULL);
}

void mmc_object__space_freed(struct mmc_agent *ag)
{
	if (ag->obj.waits->space.first)
		space_retry(ag, true);
}

/* ---- events ---- */

void mmc_object_tier_event(struct mmc_agent *ag, const struct mmc_ssd_event *ev)
{
	if (ev->kind == MMC_SSD_WRITTEN)
		written(ag, ev);
	else
		read_back(ag, ev);
}

void mmc_object_tier_poll(struct mmc_agent *ag)
{
	struct mmc_ssd_event ev[BATCH];
	unsigned n;
	bool any = false;

	if (!ag->ssd)
		return;
	while ((n = mmc_ssd_poll(ag->ssd, ev, BATCH))) {
		for (unsigned i = 0; i < n; i++)
			mmc_object_tier_event(ag, &ev[i]);
		any = true;
	}
	drop_written(ag);
	if (any)
		mmc_object__space_freed(ag);
}

/* ---- a clean stop ---- */

/* Sends what is queued and waits (100 ms at most) for I/O to come back. */
static void flush_wait(struct mmc_agent *ag)
{
	struct pollfd p = { .fd = mmc_ssd_event_fd(ag->ssd), .events = POLLIN };
	uint64_t v;

	mmc_ssd_submit(ag->ssd);
	if (poll(&p, 1, 100) > 0)
		(void)!read(p.fd, &v, sizeof(v));
	mmc_object_tier_poll(ag);
}

uint64_t mmc_object_flush_ssd(struct mmc_agent *ag, unsigned limit_ms, uint64_t *left)
{
	uint64_t deadline = mmc_now_ns() + (uint64_t)limit_ms * 1000000ull;
	uint64_t before = MMC_STAT(ag, demotions);
	uint32_t slot;

	*left = 0;
	if (!ag->ssd || !limit_ms)
		return 0;
	slot = mmc_evict_first(ag->evict);
	while (slot != MMC_EVICT_END && mmc_now_ns() < deadline) {
		/* Demoting takes slot out of the order; a failed write puts it
		 * back at the end, where it is tried once more. */
		uint32_t next = mmc_evict_next(ag->evict, slot);
		int r = mmc_object__wants_write(ag, slot) ? mmc_object__demote(ag, slot) : 0;

		if (r == -EAGAIN) {          /* the tier's queue is full: same slot */
			flush_wait(ag);
			continue;
		}
		if (r == -EIO)               /* the tier is failing */
			break;
		slot = next;
	}
	while (mmc_ssd_busy(ag->ssd) && mmc_now_ns() < deadline)
		flush_wait(ag);
	for (slot = mmc_evict_first(ag->evict); slot != MMC_EVICT_END;
	     slot = mmc_evict_next(ag->evict, slot))
		*left += !mmc_object__on_ssd(ag, slot);
	return MMC_STAT(ag, demotions) - before;
}
