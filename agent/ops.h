/*
 * ops.h - what each request a client sends means.
 *
 * ring.c copies a request off the client's ring into agent memory and
 * hands it here.  ops.c checks it (operation, key, lengths: the client
 * wrote those bytes, nothing in them is trusted) and calls the module that
 * does the work - object.c for everything about objects.  It never changes
 * agent state itself.
 */
#ifndef MMC_AGENT_OPS_H
#define MMC_AGENT_OPS_H

#include "layout-t.h"

struct mmc_agent;
struct mmc_session;

enum mmc_ops_result {
	MMC_OPS_DONE = 0,     /* *c holds the answer: post it now */
	MMC_OPS_PARKED,       /* answered later (request.h); *c is unused */
};

/* Runs request q of session s (already copied into agent memory).  DONE
 * with c->res = 0 or -errno (and the other fields per op), or PARKED. */
enum mmc_ops_result mmc_ops_dispatch(struct mmc_agent *ag, struct mmc_session *s,
				     const struct mmc_sqe *q, struct mmc_cqe *c);

#endif /* MMC_AGENT_OPS_H */
