/*
 * limits.h - what one client may take of what all share: sessions,
 * reservations, reserved bytes and pins ([limits] in the config).
 *
 * A node's clients share one agent thread, one arena and one index.
 * Without caps one client could take all of a resource - every index
 * entry in reservations it never commits, every descriptor in sessions
 * or silent connections, the arena in pins - and everyone else would get
 * -ENOSPC or no session at all.  The caps, each per session and (where
 * the agent can count it exactly) per uid:
 *
 *   sessions            max_sessions in all, sessions_per_uid per uid;
 *                       a refused client gets -EMFILE (the agent is full)
 *                       or -EDQUOT (its uid is at its cap).
 *   handshakes          connections that have not said hello yet: at most
 *                       max_handshakes (the oldest is dropped to admit a
 *                       new one), each for handshake_timeout_ms at most.
 *   reservations,       counted when the agent grants them (exact): a
 *   reserved bytes      reserve over a session's or its uid's cap gets
 *                       -EDQUOT; the others notice nothing.
 *   pins                a session's pin table holds pins_per_session
 *                       (libshm claims no slot above; the agent reads
 *                       none).  Pins of large objects also count in bytes
 *                       against pinned_bytes_per_session: libshm refuses
 *                       one more with -EDQUOT; the agent, which reads the
 *                       table as it changes, gives a session that stays
 *                       over that cap for a second no more pins than the
 *                       cap (readers.c), so only a client that ignored
 *                       the refusal can lose an object it reads.  Pins are
 *                       not capped per uid: the agent cannot take a pin
 *                       back from a polite client (docs/hardening.md).
 *
 * Percentages resolve against the index's entries and the arena's bytes
 * when the agent starts.  Per-uid use lives in a small hash table; an
 * entry exists while the uid has a session.
 */
#ifndef MMC_AGENT_LIMITS_H
#define MMC_AGENT_LIMITS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

struct mmc_session;

/* What one uid holds now. */
struct mmc_uid_use {
	uid_t uid;
	uint32_t sessions;           /* established */
	uint64_t reservations;
	uint64_t reserved_bytes;
	struct mmc_uid_use *next;    /* hash chain */
};

struct mmc_limits {
	/* the caps, resolved */
	uint32_t max_sessions, sessions_per_uid, max_handshakes;
	uint64_t handshake_ns;
	uint64_t res_per_session, res_per_uid;
	uint64_t bytes_per_session, bytes_per_uid;
	uint32_t pins_per_session;
	uint64_t pinned_bytes_per_session;
	/* per-uid use */
	struct mmc_uid_use **tab;
	uint32_t mask;
	uint32_t nuids;
};

/* Resolves cfg's [limits] against an index of nentries and an arena of
 * arena_bytes.  0 or -ENOMEM. */
int mmc_limits_init(struct mmc_limits *l, const struct mmc_config *cfg,
		    uint32_t nentries, uint64_t arena_bytes);
void mmc_limits_destroy(struct mmc_limits *l);

/* The amount a share stands for, of whole (at least 1). */
uint64_t mmc_share_of(struct mmc_share sh, uint64_t whole);

/* The use of uid, created (zeroed) when create is set; NULL when absent
 * or out of memory. */
struct mmc_uid_use *mmc_limits_uid(struct mmc_limits *l, uid_t uid, bool create);
/* Forgets u once it holds nothing. */
void mmc_limits_uid_release(struct mmc_limits *l, struct mmc_uid_use *u);

/* May session s (its uid's use in s->use) hold one more reservation of
 * bytes?  0 or -EDQUOT. */
int mmc_limits_may_reserve(const struct mmc_limits *l, const struct mmc_session *s,
			   uint64_t bytes);

#endif /* MMC_AGENT_LIMITS_H */
