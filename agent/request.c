/*
 * request.c - parking a request and answering it later (see request.h).
 *
 * A parked request is on its session's list (so that the session's end can
 * find it) and counted in s->parked (so that ring.c keeps room for its
 * answer in the completion ring).  Completing it posts the answer through
 * ring.c, which wakes the client if it sleeps, and frees the request.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "request.h"
#include "ring.h"

struct mmc_request *mmc_request_park(struct mmc_agent *ag, struct mmc_session *s,
				     const struct mmc_sqe *q,
				     size_t size, mmc_request_cancel_fn *cancel)
{
	struct mmc_request *r;

	if (size < sizeof(*r))
		size = sizeof(*r);
	r = calloc(1, size);
	if (!r)
		return NULL;
	r->s = s;
	r->cancel = cancel;
	r->q = *q;
	r->next = s->parked_list;
	if (r->next)
		r->next->prev = r;
	s->parked_list = r;
	s->parked++;
	ag->sess.parked++;
	return r;
}

/* Takes r off its session's list. */
static void detach(struct mmc_agent *ag, struct mmc_request *r)
{
	struct mmc_session *s = r->s;

	if (r->prev)
		r->prev->next = r->next;
	else
		s->parked_list = r->next;
	if (r->next)
		r->next->prev = r->prev;
	s->parked--;
	ag->sess.parked--;
	r->s = NULL;
	r->prev = r->next = NULL;
}

void mmc_request_complete(struct mmc_agent *ag, struct mmc_request *r,
			  struct mmc_cqe *c)
{
	struct mmc_session *s = r->s;

	if (s) {
		detach(ag, r);
		c->tag = r->q.tag;
		mmc_ring_post(ag, s, c);
	}
	free(r);
}

void mmc_request_cancel_all(struct mmc_agent *ag, struct mmc_session *s)
{
	while (s->parked_list) {
		struct mmc_request *r = s->parked_list;

		detach(ag, r);
		r->cancel(ag, r);
	}
}
