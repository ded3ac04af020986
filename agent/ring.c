/*
 * ring.c - the agent's side of a session's ring region.
 *
 * The region is writable by the client, so the agent keeps its own copies
 * of the indices it owns (sq_head, cq_tail) and of every offset, and copies
 * each request into its own memory before anything looks at it.  A client
 * that publishes impossible indices has corrupted its own ring; its session
 * is closed, and nobody else notices.
 *
 * Room for answers: the agent takes a request only while the answers it
 * owes (posted but unread, plus parked) leave room in the completion ring,
 * so every answer - now or later - has a slot.  A client that stops reading
 * completions just stops being served.
 *
 * Waking: after a batch the agent publishes sq_head and cq_tail, fences,
 * and sends a wake-up on the session's socket only if the client announced
 * it is going to sleep (cq_waiting).  A spinning client costs no system
 * call.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "proto-t.h"
#include "ops.h"
#include "ring.h"
#include "timer.h"

/* Requests between two looks at the clock in a turn's share. */
#define TURN_CHECK 4

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

size_t mmc_ring_region_size(void)
{
	size_t sz = align_up(sizeof(struct mmc_ring_hdr), 4096);

	sz += align_up(MMC_SQ_ENTRIES * sizeof(struct mmc_sqe), 4096);
	sz += align_up(MMC_CQ_ENTRIES * sizeof(struct mmc_cqe), 4096);
	sz += align_up(MMC_PIN_SLOTS * sizeof(uint64_t), 4096);
	sz += align_up(MMC_TOUCH_SLOTS * sizeof(uint64_t), 4096);
	return sz;
}

void mmc_ring_layout(struct mmc_ring_hdr *r, uint32_t client_id)
{
	size_t off;

	r->magic = MMC_RING_MAGIC;
	r->version = MMC_LAYOUT_VERSION;
	r->client_id = client_id;
	r->sq_entries = MMC_SQ_ENTRIES;
	r->cq_entries = MMC_CQ_ENTRIES;
	r->pin_slots = MMC_PIN_SLOTS;
	r->touch_slots = MMC_TOUCH_SLOTS;
	off = align_up(sizeof(*r), 4096);
	r->sq_off = off;
	off += align_up(MMC_SQ_ENTRIES * sizeof(struct mmc_sqe), 4096);
	r->cq_off = off;
	off += align_up(MMC_CQ_ENTRIES * sizeof(struct mmc_cqe), 4096);
	r->pins_off = off;
	off += align_up(MMC_PIN_SLOTS * sizeof(uint64_t), 4096);
	r->touch_off = off;
	r->size = mmc_ring_region_size();
	mmc_ring_set_limits(r, MMC_PIN_SLOTS, 0);
}

void mmc_ring_set_limits(struct mmc_ring_hdr *r, uint32_t pin_max, uint64_t pin_bytes)
{
	r->pin_max = pin_max && pin_max < MMC_PIN_SLOTS ? pin_max : MMC_PIN_SLOTS;
	r->pin_bytes_max = pin_bytes;
	/* Objects no larger than this count no bytes: pin_max of them fit the
	 * byte cap anyway (the slot count bounds them). */
	r->pin_small = pin_bytes / r->pin_max;
}

void mmc_ring_bind(struct mmc_session *s, struct mmc_ring_hdr *r)
{
	s->ring = r;
	s->ring_size = mmc_ring_region_size();
	/* The agent uses its own copies of the offsets, never the client's. */
	s->sq = (struct mmc_sqe *)((char *)r + r->sq_off);
	s->cq = (struct mmc_cqe *)((char *)r + r->cq_off);
	s->pins = (_Atomic uint64_t *)((char *)r + r->pins_off);
	s->touch = (_Atomic uint64_t *)((char *)r + r->touch_off);
	s->pin_max = r->pin_max;
	s->pin_bytes_max = r->pin_bytes_max;
	s->pin_small = r->pin_small;
}

/* Answers owed: posted and not yet read by the client, plus parked.  More
 * than MMC_CQ_ENTRIES only if the client moved cq_head where it cannot be. */
static uint32_t owed(const struct mmc_session *s)
{
	return s->cq_seen + s->parked -
		atomic_load_explicit(&s->ring->cq_head, memory_order_acquire);
}

bool mmc_ring_pending(const struct mmc_session *s)
{
	/* "!=": a corrupted cq_head counts as work, so serving finds it. */
	return atomic_load_explicit(&s->ring->sq_tail, memory_order_acquire) !=
		s->sq_seen && owed(s) != MMC_CQ_ENTRIES;
}

/* Makes what the agent did visible, and wakes the client if it sleeps. */
static void publish(struct mmc_session *s)
{
	struct mmc_ring_hdr *r = s->ring;

	atomic_store_explicit(&r->sq_head, s->sq_seen, memory_order_release);
	atomic_store_explicit(&r->cq_tail, s->cq_seen, memory_order_release);
	/* Pairs with the client's fence between setting cq_waiting and
	 * re-reading cq_tail: one of us sees the other. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->cq_waiting, memory_order_relaxed)) {
		uint8_t wake = MMC_MSG_WAKE;

		/* Never blocks: a full socket already holds a wake-up. */
		(void)!send(s->sock, &wake, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

static void corrupted(struct mmc_agent *ag, struct mmc_session *s, const char *why)
{
	MMC_COUNT(ag, bad_requests, 1);
	mmc_session_close(ag, s, why);
}

unsigned mmc_ring_serve(struct mmc_agent *ag, struct mmc_session *s)
{
	return mmc_ring_serve_max(ag, s, MMC_SQ_ENTRIES);
}

unsigned mmc_ring_serve_max(struct mmc_agent *ag, struct mmc_session *s,
			    unsigned max)
{
	uint64_t t0 = 0;
	struct mmc_ring_hdr *r = s->ring;
	uint32_t head = s->sq_seen;
	uint32_t tail = atomic_load_explicit(&r->sq_tail, memory_order_acquire);
	uint32_t cq_head = atomic_load_explicit(&r->cq_head, memory_order_acquire);
	unsigned done = 0;

	/* The agent's own sq_head/cq_tail are the truth; the ring copies are
	 * for the client and must not have been changed by it. */
	if (atomic_load_explicit(&r->sq_head, memory_order_relaxed) != head ||
	    tail - head > MMC_SQ_ENTRIES ||
	    s->cq_seen + s->parked - cq_head > MMC_CQ_ENTRIES) {
		corrupted(ag, s, "ring indices corrupted by the client");
		return 0;
	}
	/* The clock is read only for a session with a batch to serve: the
	 * usual request, one at a time, costs no clock read. */
	if (max < MMC_SQ_ENTRIES && tail - head > TURN_CHECK)
		t0 = mmc_now_ns();
	while (head != tail && done < max &&
	       s->cq_seen + s->parked - cq_head < MMC_CQ_ENTRIES) {
		struct mmc_sqe q;
		struct mmc_cqe c = { 0 };

		memcpy(&q, &s->sq[head % MMC_SQ_ENTRIES], sizeof(q));
		head++;
		s->sq_seen = head;
		c.tag = q.tag;
		done++;
		if (mmc_ops_dispatch(ag, s, &q, &c) == MMC_OPS_PARKED)
			continue;
		if (s->closed)
			return done;
		s->cq[s->cq_seen % MMC_CQ_ENTRIES] = c;
		s->cq_seen++;
		/* A turn's share is time as well: the others wait for it. */
		if (t0 && done % TURN_CHECK == 0 && mmc_now_ns() - t0 > MMC_RING_TURN_NS)
			break;
	}
	if (done && !s->closed)
		publish(s);
	return done;
}

void mmc_ring_post(struct mmc_agent *ag, struct mmc_session *s,
		   const struct mmc_cqe *c)
{
	if (owed(s) >= MMC_CQ_ENTRIES) {   /* parked ones were counted: no room = corrupt */
		corrupted(ag, s, "completion ring overrun by the client");
		return;
	}
	s->cq[s->cq_seen % MMC_CQ_ENTRIES] = *c;
	s->cq_seen++;
	publish(s);
}
