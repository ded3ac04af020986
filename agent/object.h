/*
 * object.h - the one place where an object's life is decided.
 *
 *   reserve --> RESERVED --commit--> COMMITTED --remove/clear/evict--> gone
 *                  |                     |   \
 *                abort,              pinned   demote (SSD tier): written
 *            session closes          by a     down, then its DRAM copy goes;
 *                                    reader:  fetch brings it back
 *                                    DEAD until the last pin goes
 *
 * Every state change of an object, every count of objects and reserved
 * bytes, and every free goes through object.c (DRAM) and object_tier.c
 * (the same objects crossing to and from the SSD tier).  They ask the index
 * (index.c) where keys are, the allocator (alloc.c) for space, the eviction
 * policy (evict.c) which objects should go, the pin tables (readers.c) which
 * objects readers hold, and the SSD tier (tier_ssd.c) to write and read;
 * they decide the rest.  ops.c decodes requests and calls in here;
 * session.c tells them when a session ends.  docs/agent.md walks a put and
 * a get through these files; docs/tiers.md the life across tiers.
 */
#ifndef MMC_AGENT_OBJECT_H
#define MMC_AGENT_OBJECT_H

#include <stdbool.h>
#include <stdint.h>

#include "layout-t.h"
#include "ops.h"

struct mmc_agent;
struct mmc_session;
struct mmc_request;
struct mmc_ssd_event;
struct mmc_peer;

/* What one session holds of the object module: its reservations, a list
 * threaded through per-slot links (first = slot + 1, 0 = none). */
struct mmc_held {
	uint32_t first;
	uint32_t count;
	uint64_t bytes;
};

/* Per DRAM index slot, agent-private. */
struct mmc_obj_meta {
	uint32_t owner;            /* RESERVED: owning session id (0: the agent) */
	uint32_t res_prev, res_next;   /* a session's reservations */
	uint32_t ssd_slot;         /* its copy on SSD (MMC_SSD_NONE), valid with ... */
	uint32_t ssd_gen;          /* ... this generation */
	uint16_t gap;              /* bytes of the block before the value */
	uint8_t  flags;            /* OBJ_* (object-int.h) */
	uint8_t  sends;            /* being sent to peers now (object_remote.c) */
};

/* Object module state, agent-private. */
struct mmc_objects {
	struct mmc_obj_meta *meta;    /* index.nentries long */
	uint32_t *deferred;           /* DEAD slots waiting for pins or I/O */
	uint32_t ndeferred, deferred_cap;
	/* gauges the stats file shows (counters are in stats.h) */
	uint64_t objects;             /* committed, in DRAM */
	uint64_t reservations, reserved_bytes;
	/* crossing tiers (object_tier.c) */
	uint64_t demoting_bytes;      /* DRAM blocks being written down now */
	struct mmc_tier_waits *waits; /* fetches and puts waiting on tiers */
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
 * commits.  Makes room first (eviction, demotion).  0 with *ref filled;
 * -EEXIST (key committed, here or on SSD), -EBUSY (key reserved, or being
 * brought back from SSD), -E2BIG (larger than the arena), -EDQUOT (s, or
 * its uid, holds its [limits] of reservations or reserved bytes), -ENOSPC
 * (no room: everything left is pinned or reserved), -EINPROGRESS (room is on
 * its way: demotions are being written; mmc_object_wait_space()). */
int mmc_object_reserve(struct mmc_agent *ag, struct mmc_session *s,
		       const void *key, uint16_t key_len, uint64_t len,
		       struct mmc_object_ref *ref);
/* The answer of a reservation that succeeded, as the client reads it. */
void mmc_object_reserve_answer(const struct mmc_object_ref *ref, struct mmc_cqe *c);
/* Publishes s's reservation (slot, gen): readers see the key from now on,
 * with the writer's checksum of the value when crc is not NULL (the SSD
 * tier then stamps that one instead of computing its own).  0, or -EINVAL
 * if it is not a live reservation of s. */
int mmc_object_commit(struct mmc_agent *ag, struct mmc_session *s,
		      uint32_t slot, uint32_t gen, const uint32_t *crc);
/* Gives s's reservation (slot, gen) up; its space is free at once.
 * 0 or -EINVAL. */
int mmc_object_abort(struct mmc_agent *ag, struct mmc_session *s,
		     uint32_t slot, uint32_t gen);
/* Removes the object under key from every tier: readers stop finding it
 * at once, its space goes when the last pin does.  0, -ENOENT, -EBUSY
 * (reserved by a session). */
int mmc_object_remove(struct mmc_agent *ag, const void *key, uint16_t key_len);
/* Removes the object under key only if it is the committed DRAM object
 * (slot, gen): what a reader asks for when that object's bytes failed their
 * checksum, so that the next put of the key can store good bytes.  No
 * power a client lacks (any client may remove any key); the exact name
 * keeps a late request from removing a newer object.  0 or -ENOENT. */
int mmc_object_remove_exact(struct mmc_agent *ag, const void *key, uint16_t key_len,
			    uint32_t slot, uint32_t gen);
/* Removes every object of every tier. */
void mmc_object_clear(struct mmc_agent *ag);

/* Session s is closing: every reservation it holds is freed, and objects
 * that only its pins kept alive are freed too. */
void mmc_object_drop_session(struct mmc_agent *ag, struct mmc_session *s);
/* Frees the DEAD objects whose pins (and I/O) are gone; returns how many
 * still wait. */
uint32_t mmc_object_reap(struct mmc_agent *ag);
/* Committed or dead objects pinned by at least one session now. */
uint64_t mmc_object_count_pinned(struct mmc_agent *ag);

/* How eviction treats a candidate when a lower tier exists. */
enum mmc_evict_mode {
	MMC_EVICT_DEMOTE,     /* write it down, free its DRAM copy once written */
	MMC_EVICT_DROP,       /* free it now (a copy on SSD stays) */
};
/* Evicts unpinned objects, least recently used first, until at least want
 * bytes were freed (or, demoting, are on their way) or none is left;
 * returns the bytes freed now. */
uint64_t mmc_object_evict(struct mmc_agent *ag, uint64_t want, enum mmc_evict_mode mode);

/* ---- object_tier.c: crossing tiers ---- */

/* FETCH of key by session s: 0 at once when the object is in DRAM,
 * -ENOENT when it is nowhere; an object on SSD is read back into DRAM
 * (promotion) and the request answered when it is there (PARKED). */
enum mmc_ops_result mmc_object_fetch(struct mmc_agent *ag, struct mmc_session *s,
				     const struct mmc_sqe *q, struct mmc_cqe *c);
/* Parks reservation request q of s (mmc_object_reserve said -EINPROGRESS)
 * until room is made: answered when it is, or with what a reservation
 * without waiting gives after a bound (then objects are dropped, not
 * demoted). */
enum mmc_ops_result mmc_object_wait_space(struct mmc_agent *ag, struct mmc_session *s,
					  const struct mmc_sqe *q, struct mmc_cqe *c);
/* An SSD tier event (a demotion written, a promotion read). */
void mmc_object_tier_event(struct mmc_agent *ag, const struct mmc_ssd_event *ev);
/* Takes the SSD tier's finished work and sends what was queued. */
void mmc_object_tier_poll(struct mmc_agent *ag);
/* At a clean stop, with no session left: writes every object without a
 * good copy on SSD down, least recently used first (so the newest land in
 * the newest region, evicted last), and waits for the writes; for at most
 * limit_ms, after which the rest is left (lost, as without a flush).
 * Returns the objects written; *left counts those still only in DRAM. */
uint64_t mmc_object_flush_ssd(struct mmc_agent *ag, unsigned limit_ms, uint64_t *left);

/* ---- object_remote.c: across nodes ---- */

/* Joins the pool when [cluster] node_id is set (peer.c): 0, or -errno
 * with one line in err. */
int mmc_object_remote_start(struct mmc_agent *ag, char *err, size_t errlen);
/* Leaves it: every GET in flight ends (a miss), every object held for a
 * send is released. */
void mmc_object_remote_stop(struct mmc_agent *ag);
/* The descriptor the loop watches, and what it calls when it is readable
 * (also runs the peers' deadlines). */
int mmc_object_remote_fd(const struct mmc_agent *ag);
void mmc_object_remote_poll(struct mmc_agent *ag);
/* Answers from peers are awaited (GETs or EXISTS in flight): clients are
 * parked on them, so the loop looks at the peers' descriptor every turn,
 * not every POLL_EVERY_NS. */
bool mmc_object_remote_awaited(const struct mmc_agent *ag);
/* LOOKUP of key by s: res 1 when it is on a tier here; in a pool, else
 * its home is asked (PARKED; the lookups gathered until the agent runs
 * out of requests go to each home as one EXISTS, sent by
 * mmc_object_remote_flush()); else 0.  LOOKUPV: the same for each of its
 * packed keys (layout-t.h), res = how many, off = a bit per key; -EINVAL
 * for a packing that does not add up. */
enum mmc_ops_result mmc_object_lookup(struct mmc_agent *ag, struct mmc_session *s,
				      const struct mmc_sqe *q, struct mmc_cqe *c);
/* Sends the EXISTS batches gathered so far when idle (the agent found no
 * request to serve), when many wait, or when the oldest waited
 * MMC_LOOKUP_HOLD_NS; cheap when none. */
void mmc_object_remote_flush(struct mmc_agent *ag, bool idle);
/* The pool's peer engine (NULL: not in a pool), for what reports on it. */
const struct mmc_peer *mmc_object_remote_peer(const struct mmc_agent *ag);
/* Up to max of the other members, as the stats file shows them: how many. */
uint64_t mmc_object_remote_members(struct mmc_agent *ag, struct mmc_member_stats *out,
				   unsigned max);
/* Copies the peer engine's figures into the agent's counters. */
void mmc_object_remote_stats(struct mmc_agent *ag);

#endif /* MMC_AGENT_OBJECT_H */
