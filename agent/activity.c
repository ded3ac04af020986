/*
 * activity.c - active and quiet sessions, and the round-robin of a turn (see
 * activity.h for why).
 *
 * sess.active is the round: each turn takes as many sessions from its head
 * as it held when the turn began, moves each to the tail, and serves it if
 * its ring has work.  Serving may close sessions (this one or, through a
 * stats request, others): close takes them off the list, and the turn
 * just takes the head again.
 *
 * Going quiet (Dekker's pattern with the client's flush in libshm/ring.c):
 *
 *   agent                               client
 *   agent_watching = 0                  sq_tail = new tail
 *   fence (seq_cst)                     fence (seq_cst)
 *   sq_tail moved?  stay active         agent_watching == 0?  ring the bell
 *
 * At least one side sees the other's write; a doorbell that rings for an
 * active session is harmless (loop.c drains it).
 */
#include "agent.h"
#include "ring.h"
#include "activity.h"

static struct mmc_session *session_of(struct mmc_dnode *n)
{
	return mmc_container_of(n, struct mmc_session, link);
}

void mmc_activity_watch(struct mmc_agent *ag, struct mmc_session *s, uint64_t now)
{
	s->work_ns = now;
	if (s->closed || s->state != MMC_SESSION_ACTIVE || mmc_dnode_on(&s->link))
		return;
	atomic_store_explicit(&s->ring->agent_watching, 1, memory_order_relaxed);
	mmc_dlist_push_tail(&ag->sess.active, &s->link);
}

void mmc_activity_forget(struct mmc_agent *ag, struct mmc_session *s)
{
	mmc_dlist_del(&ag->sess.active, &s->link);
}

/* Stops polling s unless a request arrived meanwhile. */
static void go_quiet(struct mmc_agent *ag, struct mmc_session *s, uint64_t now)
{
	atomic_store_explicit(&s->ring->agent_watching, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (mmc_ring_pending(s)) {
		atomic_store_explicit(&s->ring->agent_watching, 1, memory_order_relaxed);
		s->work_ns = now;
		return;
	}
	mmc_dlist_del(&ag->sess.active, &s->link);
}

unsigned mmc_activity_serve(struct mmc_agent *ag, uint64_t now, unsigned quota)
{
	struct mmc_dlist *l = &ag->sess.active;
	unsigned work = 0;

	for (uint32_t n = l->n; n && l->first; n--) {
		struct mmc_session *s = session_of(l->first);

		mmc_dlist_del(l, &s->link);
		mmc_dlist_push_tail(l, &s->link);
		if (mmc_ring_pending(s)) {
			s->work_ns = now;
			work += mmc_ring_serve_max(ag, s, quota);
		} else if (now - s->work_ns > MMC_ACTIVITY_QUIET_NS) {
			go_quiet(ag, s, now);
		}
	}
	return work;
}

bool mmc_activity_any_pending(struct mmc_agent *ag)
{
	for (struct mmc_dnode *n = ag->sess.active.first; n; n = n->next)
		if (mmc_ring_pending(session_of(n)))
			return true;
	return false;
}

uint32_t mmc_activity_count(const struct mmc_agent *ag)
{
	return ag->sess.active.n;
}
