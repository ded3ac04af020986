/*
 * session.h - what epoll watches for a session (session.c, loop.c), and the
 * layout of a session's ring region (session.c, the ring unit tests).
 */
#ifndef MMC_AGENT_SESSION_H
#define MMC_AGENT_SESSION_H

#include <stddef.h>
#include <stdint.h>

enum watch_kind { WATCH_LISTEN = 1, WATCH_SIGNAL, WATCH_SOCK, WATCH_SQ };

struct mmc_session;
struct mmc_ring_hdr;
struct mmc_watch {
	enum watch_kind kind;
	struct mmc_session *s;
};

/* Bytes of one session's ring region. */
size_t mmc_ring_region_size(void);

/* Lays out the ring region of mmc_ring_region_size() bytes that starts at r
 * (fresh, zero-filled memory): writes the header's magic, version,
 * client_id, entry and slot counts, the page-aligned offsets of the
 * submission ring, completion ring, pin table and touch log, and size.
 * Nothing else is touched: indices, flags and counters stay zero. */
void mmc_ring_layout(struct mmc_ring_hdr *r, uint32_t client_id);

/* Makes r, laid out by mmc_ring_layout(), the ring of session s: sets
 * s->ring, s->ring_size and s->sq/cq/pins/touch from r's offsets, read once
 * here; the agent uses these copies, never the client-writable header. */
void mmc_session_use_ring(struct mmc_session *s, struct mmc_ring_hdr *r);
/* Creates the session's doorbell and wake-up pipes: the agent keeps
 * bell_rd and wake_wr, peer[0] (doorbell write end) and peer[1] (wake-up
 * read end) go to the client.  0 or -errno. */
int mmc_session_pipes(struct mmc_session *s);

#endif
