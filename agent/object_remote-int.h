/*
 * object_remote-int.h - what object_remote.c (fetch, push, serve) and
 * object_lookup.c (what members hold: lookups, the records' directory)
 * share, and nothing else includes.
 */
#ifndef MMC_AGENT_OBJECT_REMOTE_INT_H
#define MMC_AGENT_OBJECT_REMOTE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "object-int.h"
#include "peer.h"
#include "list.h"
#include "request.h"

struct xbatch;
struct xwait;

struct xkey {                    /* a key of a parked LOOKUP(V), asked of its home */
	struct mmc_dnode node;       /* on its home's list, until sent */
	struct xwait *w;             /* the request it belongs to */
	struct xbatch *b;            /* once sent: the batch, and its place */
	unsigned i;
	int home;                    /* pend[home]; -1 once answered */
	uint8_t bit;                 /* its place in the request */
	uint16_t key_len;
	const uint8_t *key;          /* in w->r.q */
};

struct xwait {                   /* a parked LOOKUP or LOOKUPV */
	struct mmc_request r;        /* first: what was parked */
	uint64_t found;              /* a bit per key held somewhere */
	unsigned left;               /* its keys not answered yet */
	unsigned nk;
	struct xkey k[];             /* the keys asked of other nodes */
};

struct xbatch {                  /* one EXISTS in flight */
	unsigned n;
	struct xkey *k[MMC_PEER_EXISTS_MAX];   /* NULL: its session closed */
};

struct mmc_remote {
	struct mmc_peer *peer;
	unsigned replicas;           /* [cluster] replicas: copies on distinct nodes */
	bool stopping;               /* the engine is going: ask nobody again */
	bool records;                /* push = record: tell homes, keep the bytes */
	struct dir_slot { uint64_t h; int32_t member; } *dir;   /* who holds what */
	uint32_t dir_mask;
	struct { uint32_t slot, gen; } *puts;   /* committed, not pushed yet */
	unsigned nputs, puts_cap;
	struct mmc_dlist fetches;    /* struct rfetch: GETs in flight */
	struct mmc_dlist *pend;      /* struct xkey per member: keys not asked yet */
	unsigned npend;              /* keys waiting for mmc_object_remote_flush */
	uint64_t pend_since_ns;      /* when the oldest of them came */
	unsigned asked;              /* EXISTS sent, their FOUND not back yet */
};

/* object_remote.c */
/* The key's home: a member index, MMC_PEER_SELF or MMC_PEER_NONE. */
int mmc_object__home_of(struct mmc_agent *ag, const void *key, uint16_t key_len);

/* object_lookup.c */
/* A key held here, on any tier. */
bool mmc_object__held(struct mmc_agent *ag, const void *key, uint16_t key_len);
/* The peer engine's ops for what this node holds (in DRAM: what a GET is
 * served from) or knows who holds. */
bool mmc_object__has(void *ctx, const void *key, uint16_t key_len);
void mmc_object__record(void *ctx, const void *key, uint16_t key_len, int member);
int mmc_object__holder(void *ctx, const void *key, uint16_t key_len);
void mmc_object__exists_done(void *ctx, uint64_t cookie, int res, const uint8_t *found,
			     unsigned n);
/* Sends the gathered lookups when it is time (mmc_object_remote_flush). */
void mmc_object__lookups_flush(struct mmc_agent *ag, bool idle);

#endif /* MMC_AGENT_OBJECT_REMOTE_INT_H */
