/*
 * object.h - the one place where an object's life is decided.
 *
 *   reserve --> RESERVED --commit--> COMMITTED --remove/clear/evict--> gone
 *                  |                     |
 *                abort,              pinned by a reader: DEAD until the
 *            session closes          last pin goes (deferred free)
 *
 * Every state change of an object, every count of objects and reserved
 * bytes, and every free goes through object.c.  It asks the index (index.c)
 * where keys are, the allocator (alloc.c) for space, the eviction policy
 * (evict.c) which objects should go, and the pin tables (readers.c) which
 * objects readers hold; it decides the rest: whether a pin keeps an object,
 * when a dead object's space is really freed,
 * and (later) whether an evicted object moves to a lower tier instead.
 * ops.c decodes requests and calls in here; session.c tells it when a
 * session ends.  docs/agent.md walks a put and a get through these files.
 */
#ifndef MMC_AGENT_OBJECT_H
#define MMC_AGENT_OBJECT_H

#include <stdint.h>

struct mmc_agent;
struct mmc_session;

/* What one session holds of the object module: its reservations, a list
 * threaded through per-slot links (first = slot + 1, 0 = none). */
struct mmc_held {
	uint32_t first;
	uint32_t count;
	uint64_t bytes;
};

/* Object module state, agent-private (per slot arrays are nentries long). */
struct mmc_objects {
	uint32_t *owner;              /* RESERVED slot -> owning session id */
	uint32_t *res_prev, *res_next;/* a session's reservations */
	uint32_t *deferred;           /* DEAD slots waiting for their pins */
	uint32_t ndeferred, deferred_cap;
	/* gauges the stats file shows (counters are in stats.h) */
	uint64_t objects;             /* committed */
	uint64_t reservations, reserved_bytes;
};

/* Where a reservation is: the slot and generation that name it in the
 * index, and its bytes in the data region. */
struct mmc_object_ref {
	uint32_t slot, gen;
	uint64_t off, len;
};

/* Sets up the module for the agent's index (ag->index must be ready).
 * 0 or -ENOMEM; mmc_objects_destroy() in either case. */
int mmc_objects_init(struct mmc_agent *ag);
void mmc_objects_destroy(struct mmc_agent *ag);

/* A new object of len bytes under key, writable by session s alone until it
 * commits.  Makes room first (eviction).  0 with *ref filled; -EEXIST (key
 * committed), -EBUSY (key reserved by a session), -E2BIG (larger than the
 * arena), -EDQUOT (s, or its uid, holds its [limits] of reservations or
 * reserved bytes), -ENOSPC (no room: everything left is pinned or
 * reserved). */
int mmc_object_reserve(struct mmc_agent *ag, struct mmc_session *s,
		       const void *key, uint16_t key_len, uint64_t len,
		       struct mmc_object_ref *ref);
/* Publishes s's reservation (slot, gen): readers see the key from now on.
 * 0, or -EINVAL if it is not a live reservation of s. */
int mmc_object_commit(struct mmc_agent *ag, struct mmc_session *s,
		      uint32_t slot, uint32_t gen);
/* Gives s's reservation (slot, gen) up; its space is free at once.
 * 0 or -EINVAL. */
int mmc_object_abort(struct mmc_agent *ag, struct mmc_session *s,
		     uint32_t slot, uint32_t gen);
/* Removes the committed object under key: readers stop finding it at once,
 * its space goes when the last pin does.  0, -ENOENT, -EBUSY (reserved). */
int mmc_object_remove(struct mmc_agent *ag, const void *key, uint16_t key_len);
/* Removes every committed object (one pin scan for all). */
void mmc_object_clear(struct mmc_agent *ag);
/* Makes the committed object under key readable from the data region.
 * 0 when it is (today every object lives in DRAM), -ENOENT otherwise.  A
 * lower tier answers here: it parks the request (request.h) and completes
 * it when the object is back. */
int mmc_object_fetch(struct mmc_agent *ag, const void *key, uint16_t key_len);

/* Session s is closing: every reservation it holds is freed, and objects
 * that only its pins kept alive are freed too. */
void mmc_object_drop_session(struct mmc_agent *ag, struct mmc_session *s);
/* Frees the DEAD objects whose pins are gone; returns how many still wait. */
uint32_t mmc_object_reap(struct mmc_agent *ag);
/* Committed or dead objects pinned by at least one session now. */
uint64_t mmc_object_count_pinned(struct mmc_agent *ag);
/* Evicts unpinned objects, least recently used first, until at least want
 * bytes were freed or none is left; returns the bytes freed. */
uint64_t mmc_object_evict(struct mmc_agent *ag, uint64_t want);

#endif /* MMC_AGENT_OBJECT_H */
