/*
 * session.h - what epoll watches for a session (session.c, loop.c).
 */
#ifndef MMC_AGENT_SESSION_H
#define MMC_AGENT_SESSION_H

#include <stddef.h>

enum watch_kind { WATCH_LISTEN = 1, WATCH_SIGNAL, WATCH_SOCK, WATCH_SQ };

struct mmc_session;
struct mmc_watch {
	enum watch_kind kind;
	struct mmc_session *s;
};

/* Bytes of one session's ring region. */
size_t mmc_ring_region_size(void);

#endif
