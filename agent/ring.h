/*
 * ring.h - the agent's side of a session's ring region: requests in,
 * answers out.
 *
 * The region (layout-t.h, one memfd per session) holds the submission and
 * completion rings, the pin table and touch log (readers.c reads those),
 * and the client's counters.  This file lays it out, takes requests off the
 * submission ring (copied first: the client can write there at any time),
 * hands each to ops.c, and posts answers to the completion ring - at once,
 * or later for parked requests (request.h), in any order, each carrying
 * the tag of its request.
 */
#ifndef MMC_AGENT_RING_H
#define MMC_AGENT_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout-t.h"

struct mmc_agent;
struct mmc_session;

/* Bytes of one session's ring region. */
size_t mmc_ring_region_size(void);

/* Lays out the ring region of mmc_ring_region_size() bytes that starts at r
 * (fresh, zero-filled memory): writes the header's magic, version,
 * client_id, entry and slot counts, the page-aligned offsets of the
 * submission ring, completion ring, pin table and touch log, and size.
 * Nothing else is touched: indices, flags and counters stay zero. */
void mmc_ring_layout(struct mmc_ring_hdr *r, uint32_t client_id);

/* Writes a session's pin limits into its ring header (before the welcome:
 * libshm reads them once): at most pin_max pins (slots [0, pin_max)), and
 * pin_bytes bytes of pins of objects larger than pin_bytes / pin_max (0:
 * no byte cap).  mmc_ring_layout() sets the whole table and no byte cap. */
void mmc_ring_set_limits(struct mmc_ring_hdr *r, uint32_t pin_max, uint64_t pin_bytes);

/* Makes r, laid out by mmc_ring_layout(), the ring of session s: sets
 * s->ring, s->ring_size, s->sq/cq/pins/touch and the pin limits from r's
 * header, read once here before the client has the ring; the agent uses
 * these copies, never the client-writable header. */
void mmc_ring_bind(struct mmc_session *s, struct mmc_ring_hdr *r);

/* Has s published requests that can be taken now (its completion ring has
 * room for their answers)?  A full completion ring is not work: the client
 * is served once it reads its answers. */
bool mmc_ring_pending(const struct mmc_session *s);

/* Takes and runs s's pending requests; returns how many were taken.  A
 * client whose ring indices are impossible has corrupted its own ring: its
 * session is closed (nobody else notices). */
unsigned mmc_ring_serve(struct mmc_agent *ag, struct mmc_session *s);
/* The same for at most max requests, or as many as fit in
 * MMC_RING_TURN_NS (at least one): a turn's share (activity.c). */
#define MMC_RING_TURN_NS 2000u
unsigned mmc_ring_serve_max(struct mmc_agent *ag, struct mmc_session *s,
			    unsigned max);

/* Posts answer c (its tag set) to s's completion ring and wakes the client
 * if it sleeps.  For answers of parked requests (request.c); there is
 * always room unless the client corrupted its ring, which closes it. */
void mmc_ring_post(struct mmc_agent *ag, struct mmc_session *s,
		   const struct mmc_cqe *c);

#endif /* MMC_AGENT_RING_H */
