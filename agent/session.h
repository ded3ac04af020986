/*
 * session.h - client sessions: one per connected client process (or per
 * mmc_connect() call), from accept() to its end.
 *
 * A session owns its socket, its ring region (ring.c binds it), its
 * doorbell and wake-up pipes, and through other modules what it holds:
 * reservations (object.c, s->held), parked requests (request.c,
 * s->parked_list) and pins (in its ring region, read by readers.c).
 * Closing a session gives all of that back at once - there is no lease to
 * expire.
 */
#ifndef MMC_AGENT_SESSION_H
#define MMC_AGENT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout-t.h"
#include "object.h"
#include "stats.h"

#define MMC_MAX_CLIENTS 1024
#define MMC_HANDSHAKE_MS 5000

struct mmc_agent;
struct mmc_request;

/* What an epoll event points at (loop.c dispatches on kind). */
enum mmc_watch_kind { MMC_WATCH_LISTEN = 1, MMC_WATCH_SIGNAL, MMC_WATCH_SOCK,
		      MMC_WATCH_SQ };

struct mmc_session;
struct mmc_watch {
	enum mmc_watch_kind kind;
	struct mmc_session *s;
};

enum mmc_session_state { MMC_SESSION_HANDSHAKE = 0, MMC_SESSION_ACTIVE };

struct mmc_session {
	int      sock;
	int      ring_fd;
	int      bell_rd, wake_wr;   /* our ends of the doorbell / wake-up pipes */
	int      peer[2];            /* the client's ends, until the welcome */
	enum mmc_session_state state;
	uint32_t id;
	pid_t    pid;
	uid_t    uid;
	gid_t    gid;
	uint64_t accepted_ms;
	/* the ring region, as ring.c bound it (agent-private copies) */
	struct mmc_ring_hdr *ring;
	size_t   ring_size;
	struct mmc_sqe *sq;
	struct mmc_cqe *cq;
	_Atomic uint64_t *pins;
	_Atomic uint64_t *touch;
	uint32_t sq_seen;            /* agent's own sq_head */
	uint32_t cq_seen;            /* agent's own cq_tail */
	uint32_t parked;             /* requests taken, answer still owed */
	struct mmc_request *parked_list;   /* request.c */
	struct mmc_held held;        /* object.c: its reservations */
	struct mmc_fold fold;        /* stats.c: its counters, as believed */
	bool     closed;             /* torn down; freed after this epoll batch */
	struct mmc_watch w_sock, w_sq;
	struct mmc_session *next;    /* all sessions (still valid once closed) */
	struct mmc_session *zombie_next;
};

/* Every session of the agent, and what they did together. */
struct mmc_sessions {
	struct mmc_session *list;
	struct mmc_session *zombies;   /* closed, freed at the end of a loop turn */
	uint32_t count;
	uint32_t next_id;
};

/* Binds and listens on [agent] socket.  The path must be free, or a socket
 * nobody listens on (a crashed agent's, which is replaced); a live agent's
 * socket and anything that is not a socket are left alone: -EADDRINUSE or
 * -EEXIST.  0 or -errno, the reason logged. */
int mmc_session_listen(struct mmc_agent *ag);
/* Closes the listening socket and removes the socket file, if it is still
 * the one mmc_session_listen() made. */
void mmc_session_unlisten(struct mmc_agent *ag);
/* Accepts every pending connection; refused peers get a welcome saying why. */
void mmc_session_accept(struct mmc_agent *ag);
/* The session's socket is readable: its hello, or (after the handshake)
 * junk or a hang-up, both of which end it. */
void mmc_session_readable(struct mmc_agent *ag, struct mmc_session *s);
/* Ends s: its reservations, parked requests and pins go now (why, when
 * given, is logged as a warning). */
void mmc_session_close(struct mmc_agent *ag, struct mmc_session *s, const char *why);
/* Closes sessions whose peer is gone (poll, no waiting) or whose handshake
 * timed out; keep (may be NULL) is left alone. */
void mmc_session_reap(struct mmc_agent *ag, uint64_t now_ms,
		      const struct mmc_session *keep);
/* Frees closed sessions (no epoll event can refer to them any more). */
void mmc_session_free_zombies(struct mmc_agent *ag);

/* Serves every ring that has work; returns the requests taken. */
unsigned mmc_session_serve(struct mmc_agent *ag);
/* Does any active session have work (mmc_ring_pending)? */
bool mmc_session_any_pending(struct mmc_agent *ag);

/* Creates the session's doorbell and wake-up pipes: the agent keeps
 * bell_rd and wake_wr, peer[0] (doorbell write end) and peer[1] (wake-up
 * read end) go to the client.  0 or -errno. */
int mmc_session_pipes(struct mmc_session *s);

#endif /* MMC_AGENT_SESSION_H */
