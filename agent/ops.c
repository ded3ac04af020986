/*
 * ops.c - the requests a client sends through its ring, and their answers.
 *
 * The ring region is writable by the client, so every request is first copied
 * into agent memory and then checked: indices against the ring sizes, key
 * lengths, (idx, gen) pairs against the index and against the session that
 * owns a reservation.  A client that publishes impossible ring indices has
 * corrupted its own ring; its session is closed, and nobody else notices.
 *
 * Requests are answered in order, one completion each, and never more than
 * the completion ring can hold: a client that stops reading completions just
 * stops being served.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "keyhash.h"

static int check_key(const struct mmc_sqe *q)
{
	if (q->key_len == 0)
		return -EINVAL;
	if (q->key_len > MMC_KEY_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static void op_reserve(struct mmc_agent *ag, struct mmc_session *s,
		       const struct mmc_sqe *q, struct mmc_cqe *c)
{
	uint64_t len = q->arg, hash, off;
	uint32_t idx;
	int ret = check_key(q);

	if (ret || !len) {
		c->res = ret ? ret : -EINVAL;
		return;
	}
	if (len > mmc_alloc_capacity(ag->alloc)) {
		c->res = -E2BIG;
		return;
	}
	hash = mmc_key_hash(ag->index.seed, q->key, q->key_len);
	idx = mmc_index_find(&ag->index, q->key, q->key_len, hash);
	if (idx != MMC_NO_ENTRY) {
		c->res = ag->index.entries[idx].state == MMC_ENTRY_RESERVED ?
			-EBUSY : -EEXIST;
		return;
	}
	mmc_evict_for(ag, len);
	ret = mmc_evict_alloc(ag, len, &off);
	if (ret) {
		ag->ctr.alloc_failures++;
		c->res = ret;
		return;
	}
	ret = mmc_index_insert(&ag->index, q->key, q->key_len, hash, len,
			       MMC_TIER_DRAM, off, &idx);
	if (ret == -ENOSPC) {   /* every index slot taken: free one */
		mmc_deferred_reap(ag);
		if (!ag->index.nfree)
			mmc_evict_bytes(ag, 1);
		ret = mmc_index_insert(&ag->index, q->key, q->key_len, hash, len,
				       MMC_TIER_DRAM, off, &idx);
	}
	if (ret) {
		mmc_alloc_release(ag->alloc, off);
		ag->ctr.alloc_failures++;
		c->res = ret;
		return;
	}
	mmc_reservation_begin(ag, s, idx);
	c->off = off;
	c->len = len;
	c->idx = idx;
	c->gen = ag->index.entries[idx].gen;
}

/* Is (idx, gen) of the request a live reservation of session s? */
static bool own_reservation(const struct mmc_agent *ag,
			    const struct mmc_session *s, const struct mmc_sqe *q)
{
	const struct mmc_entry *e;

	if (q->idx >= ag->index.nentries)
		return false;
	e = &ag->index.entries[q->idx];
	return e->state == MMC_ENTRY_RESERVED && e->gen == q->gen &&
		ag->owner[q->idx] == s->id;
}

void mmc_reservation_begin(struct mmc_agent *ag, struct mmc_session *s, uint32_t idx)
{
	ag->owner[idx] = s->id;
	ag->reserved_bytes += mmc_alloc_block_size(ag->alloc, ag->index.entries[idx].loc);
	ag->reservations++;
	s->reservations++;
	ag->lru_prev[idx] = MMC_NO_ENTRY;
	ag->lru_next[idx] = s->res_first ? s->res_first - 1 : MMC_NO_ENTRY;
	if (s->res_first)
		ag->lru_prev[s->res_first - 1] = idx;
	s->res_first = idx + 1;
}

void mmc_reservation_end(struct mmc_agent *ag, struct mmc_session *s, uint32_t idx)
{
	uint32_t p = ag->lru_prev[idx], n = ag->lru_next[idx];

	ag->reserved_bytes -= mmc_alloc_block_size(ag->alloc, ag->index.entries[idx].loc);
	ag->reservations--;
	s->reservations--;
	if (p != MMC_NO_ENTRY)
		ag->lru_next[p] = n;
	else
		s->res_first = n == MMC_NO_ENTRY ? 0 : n + 1;
	if (n != MMC_NO_ENTRY)
		ag->lru_prev[n] = p;
}

static void op_commit(struct mmc_agent *ag, struct mmc_session *s,
		      const struct mmc_sqe *q, struct mmc_cqe *c)
{
	if (!own_reservation(ag, s, q)) {
		c->res = -EINVAL;
		return;
	}
	mmc_reservation_end(ag, s, q->idx);
	mmc_index_set_state(&ag->index, q->idx, MMC_ENTRY_COMMITTED);
	mmc_lru_push(ag, q->idx);
	ag->objects++;
}

static void op_abort(struct mmc_agent *ag, struct mmc_session *s,
		     const struct mmc_sqe *q, struct mmc_cqe *c)
{
	if (!own_reservation(ag, s, q)) {
		c->res = -EINVAL;
		return;
	}
	mmc_reservation_end(ag, s, q->idx);
	mmc_index_unlink(&ag->index, q->idx, MMC_ENTRY_DEAD);
	mmc_object_free(ag, q->idx);
}

static void op_remove(struct mmc_agent *ag, const struct mmc_sqe *q,
		      struct mmc_cqe *c)
{
	uint64_t hash;
	uint32_t idx;
	int ret = check_key(q);

	if (ret) {
		c->res = ret;
		return;
	}
	hash = mmc_key_hash(ag->index.seed, q->key, q->key_len);
	idx = mmc_index_find(&ag->index, q->key, q->key_len, hash);
	if (idx == MMC_NO_ENTRY)
		c->res = -ENOENT;
	else if (ag->index.entries[idx].state != MMC_ENTRY_COMMITTED)
		c->res = -EBUSY;
	else
		mmc_object_remove(ag, idx);
}

/* Objects live only in DRAM today; other tiers will answer here. */
static void op_fetch(struct mmc_agent *ag, const struct mmc_sqe *q,
		     struct mmc_cqe *c)
{
	uint32_t idx;
	int ret = check_key(q);

	if (ret) {
		c->res = ret;
		return;
	}
	idx = mmc_index_find(&ag->index, q->key, q->key_len,
			     mmc_key_hash(ag->index.seed, q->key, q->key_len));
	if (idx == MMC_NO_ENTRY ||
	    ag->index.entries[idx].state != MMC_ENTRY_COMMITTED ||
	    ag->index.entries[idx].tier != MMC_TIER_DRAM)
		c->res = -ENOENT;
}

static void dispatch(struct mmc_agent *ag, struct mmc_session *s,
		     const struct mmc_sqe *q, struct mmc_cqe *c)
{
	switch (q->op) {
	case MMC_OP_NOP:
		break;
	case MMC_OP_RESERVE:
		op_reserve(ag, s, q, c);
		break;
	case MMC_OP_COMMIT:
		op_commit(ag, s, q, c);
		break;
	case MMC_OP_ABORT:
		op_abort(ag, s, q, c);
		break;
	case MMC_OP_REMOVE:
		op_remove(ag, q, c);
		break;
	case MMC_OP_STAT:
		/* Sessions whose clients died are settled first, so a stat taken
		 * after a client's death never shows its pins. */
		mmc_session_reap(ag, mmc_now_ms(), s);
		mmc_touch_drain(ag);
		mmc_deferred_reap(ag);
		mmc_stats_refresh(ag);
		break;
	case MMC_OP_FETCH:
		op_fetch(ag, q, c);
		break;
	case MMC_OP_CLEAR:
		mmc_object_clear(ag);
		break;
	default:
		ag->ctr.bad_requests++;
		c->res = -EOPNOTSUPP;
	}
	if (c->res && c->res != -EEXIST && c->res != -ENOENT)
		log_debug("client %u: op %u -> %s", s->id, q->op, strerror(-c->res));
}

bool mmc_ring_pending(const struct mmc_session *s)
{
	/* Requests behind a completion ring the client left full cannot be
	 * answered: they are not work, or the loop would never sleep (nor
	 * accept, nor see signals) again.  The client is served once it reads
	 * its completions; the loop wakes at least every stats period. */
	return atomic_load_explicit(&s->ring->sq_tail, memory_order_acquire) !=
		s->sq_seen &&
		s->cq_seen - atomic_load_explicit(&s->ring->cq_head,
						  memory_order_acquire) != MMC_CQ_ENTRIES;
}

unsigned mmc_ring_process(struct mmc_agent *ag, struct mmc_session *s)
{
	struct mmc_ring_hdr *r = s->ring;
	uint32_t head = atomic_load_explicit(&r->sq_head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->sq_tail, memory_order_acquire);
	uint32_t cq_head = atomic_load_explicit(&r->cq_head, memory_order_acquire);
	uint32_t cq_tail = s->cq_seen;
	unsigned done = 0;

	/* The agent's own sq_head/cq_tail are the truth; the ring copies are
	 * for the client and must not have been changed by it. */
	if (head != s->sq_seen || tail - head > MMC_SQ_ENTRIES ||
	    cq_tail - cq_head > MMC_CQ_ENTRIES) {
		ag->ctr.bad_requests++;
		mmc_session_close(ag, s, "ring indices corrupted by the client");
		return 0;
	}
	while (head != tail && cq_tail - cq_head < MMC_CQ_ENTRIES) {
		struct mmc_sqe q;
		struct mmc_cqe c = { 0 };

		memcpy(&q, &s->sq[head % MMC_SQ_ENTRIES], sizeof(q));
		head++;
		c.tag = q.tag;
		dispatch(ag, s, &q, &c);
		if (s->closed)
			return done;
		s->cq[cq_tail % MMC_CQ_ENTRIES] = c;
		cq_tail++;
		done++;
	}
	if (!done)
		return 0;
	s->sq_seen = head;
	s->cq_seen = cq_tail;
	atomic_store_explicit(&r->sq_head, head, memory_order_release);
	atomic_store_explicit(&r->cq_tail, cq_tail, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->cq_waiting, memory_order_relaxed)) {
		uint64_t one = 1;

		(void)!write(s->wake_wr, &one, sizeof(one));
	}
	return done;
}
