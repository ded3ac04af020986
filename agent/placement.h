/*
 * placement.h - which agent is a key's home in a pool of agents.
 *
 * mmc has no central metadata service: every agent computes a key's home
 * from the key's hash and the list of live members, the same on every
 * node.  Rendezvous (highest-random-weight) hashing: each member's weight
 * for a key is a hash of (key hash, member id); the home is the live
 * member of highest weight, its replicas the next ones.  A member that
 * joins takes about 1/N of the keys, each from whoever held it; one that
 * leaves (or is marked down) gives exactly its own keys to their second
 * choices; nobody else's keys move.  O(members) per key, which is nothing
 * at the size of a serving fleet's pool (MMC_PLACEMENT_MAX members).
 *
 * An engine behind an opaque handle, like the allocator: it knows member
 * ids, not addresses, sockets or TLS (agent/peer.c's business).  Members
 * are named by their [cluster] node_id.  Single-threaded: the agent's
 * event loop is the only caller.
 */
#ifndef MMC_AGENT_PLACEMENT_H
#define MMC_AGENT_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

#define MMC_PLACEMENT_MAX    256   /* members in one pool */
#define MMC_NODE_ID_MAX       63   /* bytes of a node_id */

struct mmc_placement;

int mmc_placement_create(struct mmc_placement **out);
void mmc_placement_destroy(struct mmc_placement *p);

/* Adds member id (1..MMC_NODE_ID_MAX bytes, NUL-terminated), up.  Its
 * weight depends on the id alone, so every agent that lists the same ids
 * places keys the same, whatever the order they were added in.  0,
 * -EINVAL (empty), -ENAMETOOLONG, -EEXIST, -ENOSPC (MMC_PLACEMENT_MAX). */
int mmc_placement_add(struct mmc_placement *p, const char *id);
/* Removes member id: 0 or -ENOENT. */
int mmc_placement_remove(struct mmc_placement *p, const char *id);
/* Marks member id up or down (a down member is skipped, as if removed, but
 * keeps its place to come back to): 0 or -ENOENT. */
int mmc_placement_set_up(struct mmc_placement *p, const char *id, bool up);

/* The up members that hold the key of hash key_hash, best first: writes
 * up to n member ids into out (valid until the next add or remove) and
 * returns how many - fewer than n when fewer are up, 0 for none (then the
 * key is a miss).  out[0] is the home, out[1..] the replicas. */
unsigned mmc_placement_homes(const struct mmc_placement *p, uint64_t key_hash,
			     const char **out, unsigned n);

unsigned mmc_placement_count(const struct mmc_placement *p);     /* members */
unsigned mmc_placement_count_up(const struct mmc_placement *p);

#endif /* MMC_AGENT_PLACEMENT_H */
