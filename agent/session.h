/*
 * session.h - client sessions: one per connected client process (or per
 * mmc_connect() call), from accept() to its end.
 *
 * A session owns its socket (also its doorbell and wake-up channel), its
 * ring region (ring.c binds it), and through other modules what it holds:
 * reservations (object.c, s->held), parked requests (request.c,
 * s->parked_list) and pins (in its ring region, read by readers.c).
 * Closing a session gives all of that back at once - there is no lease to
 * expire.
 *
 * The agent's cost per loop turn does not grow with sessions that do
 * nothing.  Sessions are on lists by what they need:
 *
 *   sess.list        every session (pin scans read every pin table)
 *   sess.handshakes  connections waiting for their hello, oldest first:
 *                    the deadline and the cap look at the head only
 *   sess.active      sessions whose rings the loop polls each turn; one
 *                    that has had nothing to do for a while goes quiet
 *                    (its ring's agent_watching drops to 0) and its client
 *                    rings the doorbell with its next request, which makes
 *                    it active again
 *   sess.hot         sessions whose touch logs had records lately
 *                    (readers.c drains these often and sweeps the rest a
 *                    few at a time)
 */
#ifndef MMC_AGENT_SESSION_H
#define MMC_AGENT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout-t.h"
#include "limits.h"
#include "list.h"
#include "object.h"
#include "stats.h"

struct mmc_agent;
struct mmc_request;
struct ucred;

/* What an epoll event points at (loop.c dispatches on kind). */
enum mmc_watch_kind { MMC_WATCH_LISTEN = 1, MMC_WATCH_SIGNAL, MMC_WATCH_SOCK,
		      MMC_WATCH_TIER, MMC_WATCH_PEER, MMC_WATCH_METRICS };

struct mmc_session;
struct mmc_watch {
	enum mmc_watch_kind kind;
	struct mmc_session *s;
};

enum mmc_session_state { MMC_SESSION_HANDSHAKE = 0, MMC_SESSION_ACTIVE };

struct mmc_session {
	int      sock;               /* also doorbells in, wake-ups out */
	int      ring_fd;            /* until the welcome: the mapping stays */
	enum mmc_session_state state;
	uint32_t id;
	pid_t    pid;
	uid_t    uid;
	gid_t    gid;
	uint64_t accepted_ns;
	/* the ring region, as ring.c bound it (agent-private copies) */
	struct mmc_ring_hdr *ring;
	size_t   ring_size;
	struct mmc_sqe *sq;
	struct mmc_cqe *cq;
	_Atomic uint64_t *pins;
	_Atomic uint64_t *touch;
	uint32_t pin_max;            /* pins read: slots [0, pin_max); 0 = all */
	uint64_t pin_bytes_max;      /* large pins honoured, in bytes; 0 = all */
	uint64_t pin_small;          /* pins of objects this small count no bytes */
	uint64_t pin_over_ns;        /* readers.c: first scan that saw it over */
	uint32_t sq_seen;            /* agent's own sq_head */
	uint32_t cq_seen;            /* agent's own cq_tail */
	uint32_t parked;             /* requests taken, answer still owed */
	struct mmc_request *parked_list;   /* request.c */
	struct mmc_held held;        /* object.c: its reservations */
	struct mmc_uid_use *use;     /* limits.c: its uid's, once established */
	struct mmc_fold fold;        /* stats.c: its counters, as believed */
	/* scheduling (see the header) */
	struct mmc_dnode link;       /* sess.handshakes, or sess.active */
	struct mmc_dnode hot;        /* sess.hot */
	uint64_t work_ns;            /* last turn that found requests */
	uint32_t touch_idle;         /* drains in a row that found no record */
	bool     closed;             /* torn down; freed after this epoll batch */
	struct mmc_watch w_sock;
	struct mmc_session *next;    /* sess.list (still valid once closed) */
	struct mmc_session **pprev;  /* what points at us in sess.list */
	struct mmc_session *zombie_next;
};

/* Every session of the agent. */
struct mmc_sessions {
	struct mmc_session *list;
	struct mmc_session *zombies;   /* closed, freed at the end of a loop turn */
	struct mmc_dlist handshakes;   /* HANDSHAKE sessions, oldest first */
	struct mmc_dlist active;       /* rings polled every turn */
	struct mmc_dlist hot;          /* touch logs drained every tick */
	struct mmc_session *sweep;     /* readers.c: the next session to sweep */
	uint32_t count;                /* on sess.list */
	uint32_t established;          /* ACTIVE state (the stats' clients) */
	uint32_t parked;               /* parked requests of all sessions */
	uint32_t next_id;
	bool     ids_wrapped;          /* next_id went round: check for reuse */
	int      spare_fd;             /* kept for accept-and-refuse at EMFILE */
};

/* Binds and listens on [agent] socket.  The path must be free, or a socket
 * nobody listens on (a crashed agent's, which is replaced); a live agent's
 * socket and anything that is not a socket are left alone: -EADDRINUSE or
 * -EEXIST.  0 or -errno, the reason logged. */
int mmc_session_listen(struct mmc_agent *ag);
/* Closes the listening socket and removes the socket file, if it is still
 * the one mmc_session_listen() made. */
void mmc_session_unlisten(struct mmc_agent *ag);
/* Accepts every pending connection.  Refused peers get a welcome saying
 * why: -EACCES ([access]), -EMFILE (max_sessions, or the agent is out of
 * descriptors: it accepts and closes with a spare one, so the backlog
 * never fills and established sessions are served on), -EDQUOT (the
 * peer's uid is at sessions_per_uid). */
void mmc_session_accept(struct mmc_agent *ag);
/* Makes fd, an accepted connection from the peer cr describes, a session
 * waiting for its hello (the checks of mmc_session_accept() are the
 * caller's).  The session, or NULL (fd is then the caller's to close). */
struct mmc_session *mmc_session_adopt(struct mmc_agent *ag, int fd,
				      const struct ucred *cr);
/* The session's socket is readable: its hello, or (after the handshake)
 * doorbells - the session is watched again - or junk or a hang-up, both of
 * which end it. */
void mmc_session_readable(struct mmc_agent *ag, struct mmc_session *s);
/* Ends s: its reservations, parked requests and pins go now (why, when
 * given, is logged as a warning). */
void mmc_session_close(struct mmc_agent *ag, struct mmc_session *s, const char *why);
/* Closes connections whose hello is overdue (handshake_timeout_ms); returns
 * nanoseconds until the next deadline, UINT64_MAX when none waits. */
uint64_t mmc_session_expire(struct mmc_agent *ag, uint64_t now_ns);
/* Frees closed sessions (no epoll event can refer to them any more). */
void mmc_session_free_zombies(struct mmc_agent *ag);

/* Checks a hello of len bytes (recv's result): 0, or -EPROTO with why. */
int mmc_hello_check(const void *msg, ssize_t len, const char **why);

#endif /* MMC_AGENT_SESSION_H */
