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
 * Pin caps.  A session's slots at or above its pin_max are never read: a
 * pin there protects nothing.  Large pins (objects over pin_small) also
 * count in bytes.  libshm refuses a pin that would take its session over
 * pin_bytes_max, but a scan reads a table that changes under it, so one
 * scan may add up a released pin and its successor: a session seen over
 * its cap is given the benefit of the doubt until a scan at least
 * MMC_PIN_OVER_NS later still sees it over.  From then on its large pins
 * past the cap, in slot order, are ignored (counted in r->ignored) - the
 * objects can be evicted under a client that ignored libshm's -EDQUOT, and
 * only under that client.
 *
 * Touches.  Each hit appends (slot, gen) to the reader's lossy log (a full
 * log drops the record and counts it).  Draining moves every record's
 * object to the most-recent end of the eviction order.  A record that names
 * no committed object any more is ignored, so a lying client can only
 * reorder the LRU.  Which logs are drained when:
 *   - the sessions served in a turn, after the turn (loop.c);
 *   - hot sessions (records lately) every tick, 100 us while the agent
 *     spins; a hot session whose log stayed empty for HOT_IDLE ticks cools;
 *   - every other session by the sweep, a few per tick, round-robin: a
 *     session that starts reading is found within one round and turns hot;
 *   - before eviction chooses (object.c), the served and hot ones;
 *   - a session's log one last time when it closes (session.c), so the
 *     reads of a short-lived client (`mmc get K`) are not lost with it.
 * No tick visits more than a bounded number of quiet sessions: 10,000 idle
 * sessions cost the loop a sweep of a few sessions per tick, not 10,000
 * cache misses per turn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "readers.h"
#include "timer.h"

/* Ticks with an empty log before a hot session cools (~10 ms awake). */
#define HOT_IDLE 100
/* A session's counters are folded by the sweep at most this often. */
#define FOLD_EVERY_NS (200 * 1000 * 1000ull)

int mmc_readers_init(struct mmc_readers *r, uint32_t nslots)
{
	memset(r, 0, sizeof(*r));
	r->mark = calloc(nslots, sizeof(uint32_t));
	r->count_mark = calloc(nslots, sizeof(uint32_t));
	r->count_round = 1;
	r->nslots = nslots;
	return r->mark && r->count_mark ? 0 : -ENOMEM;
}

void mmc_readers_destroy(struct mmc_readers *r)
{
	free(r->mark);
	free(r->count_mark);
	r->mark = r->count_mark = NULL;
}

/* Does pin word w name an object that still holds its slot? */
static bool pin_valid(const struct mmc_agent *ag, uint64_t w, uint32_t *slot)
{
	*slot = MMC_OBJ_IDX(w);
	return w && *slot < ag->readers.nslots &&
		ag->index.entries[*slot].gen == MMC_OBJ_GEN(w) &&
		ag->index.entries[*slot].state != MMC_ENTRY_FREE;
}

/* The slots of s's pin table the agent reads. */
static uint32_t pin_window(const struct mmc_session *s)
{
	uint32_t hwm = atomic_load_explicit(&s->ring->pin_hwm, memory_order_acquire);
	uint32_t max = s->pin_max ? s->pin_max : MMC_PIN_SLOTS;

	return hwm < max ? hwm : max;
}

/* Marks the pins of s honoured under its caps with epoch; returns how many
 * slots it marked first. */
static uint64_t scan_session(struct mmc_agent *ag, struct mmc_session *s,
			     uint32_t epoch, uint64_t now)
{
	struct mmc_readers *r = &ag->readers;
	uint32_t hwm = pin_window(s), slot;
	bool capped = s->pin_bytes_max && s->pin_over_ns &&
		      now - s->pin_over_ns >= MMC_PIN_OVER_NS;
	uint64_t bytes = 0, n = 0;

	for (uint32_t i = 0; i < hwm; i++) {
		uint64_t w = atomic_load_explicit(&s->pins[i], memory_order_acquire);
		uint64_t len;

		if (!pin_valid(ag, w, &slot))
			continue;
		len = ag->index.entries[slot].value_len;
		if (s->pin_bytes_max && len > s->pin_small) {
			if (capped && bytes > s->pin_bytes_max) {
				MMC_COUNT(ag, pins_ignored, 1);
				continue;
			}
			bytes += len;
		}
		if (r->mark[slot] != epoch) {
			r->mark[slot] = epoch;
			n++;
		}
	}
	if (!s->pin_bytes_max || bytes <= s->pin_bytes_max)
		s->pin_over_ns = 0;
	else if (!s->pin_over_ns)
		s->pin_over_ns = now;
	return n;
}

uint32_t mmc_readers_scan_pins(struct mmc_agent *ag, uint64_t *npinned)
{
	struct mmc_readers *r = &ag->readers;
	uint32_t epoch = ++r->epoch;
	uint64_t n = 0, t0 = mmc_now_ns();

	if (!epoch) {   /* wrapped: old stamps could alias */
		memset(r->mark, 0, r->nslots * sizeof(uint32_t));
		epoch = r->epoch = 1;
	}
	atomic_thread_fence(memory_order_seq_cst);
	for (struct mmc_session *s = ag->sess.list; s; s = s->next)
		if (s->state == MMC_SESSION_ACTIVE && !s->closed)
			n += scan_session(ag, s, epoch, t0);
	r->scan_ns = mmc_now_ns() - t0;
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
		if (s->state == MMC_SESSION_ACTIVE && !s->closed)
			n += mmc_readers_drain(ag, s);
	return n;
}

static struct mmc_session *hot_session(struct mmc_dnode *n)
{
	return mmc_container_of(n, struct mmc_session, hot);
}

static void make_hot(struct mmc_agent *ag, struct mmc_session *s)
{
	s->touch_idle = 0;
	if (!mmc_dnode_on(&s->hot))
		mmc_dlist_push_tail(&ag->sess.hot, &s->hot);
}

/* Drains the hot sessions; cools the ones idle for HOT_IDLE drains. */
static uint64_t drain_hot(struct mmc_agent *ag)
{
	struct mmc_dnode *n, *next;
	uint64_t got = 0;

	for (n = ag->sess.hot.first; n; n = next) {
		struct mmc_session *s = hot_session(n);
		uint32_t k = mmc_readers_drain(ag, s);

		next = n->next;
		got += k;
		if (k)
			s->touch_idle = 0;
		else if (++s->touch_idle >= HOT_IDLE)
			mmc_dlist_del(&ag->sess.hot, &s->hot);
	}
	return got;
}

uint64_t mmc_readers_drain_busy(struct mmc_agent *ag)
{
	uint64_t got = drain_hot(ag);

	for (struct mmc_dnode *n = ag->sess.active.first; n; n = n->next) {
		struct mmc_session *s = mmc_container_of(n, struct mmc_session, link);
		uint32_t k;

		if (mmc_dnode_on(&s->hot))
			continue;
		if ((k = mmc_readers_drain(ag, s))) {
			got += k;
			make_hot(ag, s);
		}
	}
	return got;
}

/* Counts s's pins into the sweep's round (distinct slots). */
static void count_pins(struct mmc_agent *ag, struct mmc_session *s)
{
	struct mmc_readers *r = &ag->readers;
	uint32_t hwm = pin_window(s), slot;

	for (uint32_t i = 0; i < hwm; i++) {
		uint64_t w = atomic_load_explicit(&s->pins[i], memory_order_relaxed);

		if (pin_valid(ag, w, &slot) && r->count_mark[slot] != r->count_round) {
			r->count_mark[slot] = r->count_round;
			r->count_acc++;
		}
	}
}

/* The sweep went round: its count is the stats' figure from now on. */
static void end_round(struct mmc_readers *r)
{
	r->count_last = r->count_acc;
	r->count_acc = 0;
	if (!++r->count_round) {
		memset(r->count_mark, 0, r->nslots * sizeof(uint32_t));
		r->count_round = 1;
	}
}

/* The sweep's visit to s: drain (unless hot), fold when due, count pins. */
static uint32_t sweep_one(struct mmc_agent *ag, struct mmc_session *s, uint64_t now)
{
	uint32_t k = 0;

	if (!mmc_dnode_on(&s->hot) && (k = mmc_readers_drain(ag, s)))
		make_hot(ag, s);
	if (now - s->fold.ns >= FOLD_EVERY_NS)
		mmc_stats_fold(ag, s, now);
	count_pins(ag, s);
	return k;
}

uint64_t mmc_readers_tick(struct mmc_agent *ag, uint64_t now, unsigned sweep,
			  uint64_t budget_ns)
{
	uint64_t got = drain_hot(ag);

	for (unsigned i = 0; i < sweep; i++) {
		struct mmc_session *s = ag->sess.sweep;

		if (!s) {                  /* start a round */
			if (!(s = ag->sess.list))
				break;
			end_round(&ag->readers);
		}
		ag->sess.sweep = s->next;
		if (s->state == MMC_SESSION_ACTIVE && !s->closed)
			got += sweep_one(ag, s, now);
		if (!ag->sess.sweep)
			break;             /* a round per tick at most */
		/* Quiet sessions are cold in every cache: a tick's sweep is
		 * bounded in time, not only in sessions. */
		if (i % 4 == 3 && mmc_now_ns() - now > budget_ns)
			break;
	}
	return got;
}

void mmc_readers_forget(struct mmc_agent *ag, struct mmc_session *s)
{
	mmc_readers_drain(ag, s);
	mmc_dlist_del(&ag->sess.hot, &s->hot);
}

uint64_t mmc_readers_count_pinned(struct mmc_agent *ag)
{
	uint64_t n;

	if (ag->sess.established > MMC_PIN_COUNT_EXACT)
		return ag->readers.count_last;
	mmc_readers_scan_pins(ag, &n);
	return n;
}
