/*
 * request.h - requests whose answer comes later.
 *
 * Most requests are answered while the agent copies them off a ring
 * (ring.c -> ops.c -> object.c, answer posted at once).  A request that
 * must wait - for an SSD read, a peer, or (debug) a timer - is parked: its
 * handler copies it into a struct mmc_request, hands that to whatever will
 * finish the work, and returns MMC_OPS_PARKED.  When the work is done, the
 * owner calls mmc_request_complete(); the answer is posted to the session's
 * completion ring with the request's tag, out of order with the others.
 * Meanwhile the session's other requests, and every other session, go on.
 *
 * Ownership.  The owner (the engine doing the work) holds the request from
 * park to complete.  If the session closes first, the agent calls the
 * request's cancel function: the owner stops what it can and completes the
 * request (its answer is then dropped), now or when its I/O is back.
 *
 * Room.  A session may have at most MMC_CQ_ENTRIES requests between taken
 * off its ring and answered (ring.c counts parked ones), so a completion
 * always finds room in the completion ring.
 */
#ifndef MMC_AGENT_REQUEST_H
#define MMC_AGENT_REQUEST_H

#include <stddef.h>

#include "layout-t.h"

struct mmc_agent;
struct mmc_session;
struct mmc_request;

/* The session of r is closing: stop the work, then mmc_request_complete(r)
 * (now or later; the answer goes nowhere). */
typedef void mmc_request_cancel_fn(struct mmc_agent *ag, struct mmc_request *r);

struct mmc_request {
	struct mmc_session *s;          /* NULL once its session is gone */
	struct mmc_request *prev, *next;/* the session's parked requests */
	mmc_request_cancel_fn *cancel;
	struct mmc_sqe q;               /* the agent's copy of the request */
};

/* Parks request q of session s: returns a zeroed block of size bytes
 * (>= sizeof(struct mmc_request), which it starts with, so an owner can
 * embed its own state after it) holding a copy of q, or NULL when memory
 * is short (answer the request at once then, e.g. -ENOMEM). */
struct mmc_request *mmc_request_park(struct mmc_agent *ag, struct mmc_session *s,
				     const struct mmc_sqe *q,
				     size_t size, mmc_request_cancel_fn *cancel);
/* Answers r with c (its tag is set here) if its session is still there,
 * and frees r. */
void mmc_request_complete(struct mmc_agent *ag, struct mmc_request *r,
			  struct mmc_cqe *c);
/* Session s is closing: each of its parked requests is detached and its
 * cancel function called. */
void mmc_request_cancel_all(struct mmc_agent *ag, struct mmc_session *s);

#endif /* MMC_AGENT_REQUEST_H */
