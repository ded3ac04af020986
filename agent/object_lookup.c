/*
 * object_lookup.c - what the pool's members hold: a client's LOOKUP of a
 * key not on this node, asked of the key's home in batches, and - with
 * push = record - the home's directory of who holds what.
 *
 * Lookups.  mmc_exists_batch pipelines one LOOKUP per key not in shared
 * memory; the agent parks each on its home's list and sends a list as one
 * EXISTS frame when the agent runs out of requests (or 128 wait, or the
 * oldest waited 20 us): a batch reaches each home once, not once per turn
 * of the loop.  The FOUND answer (a byte per key) answers the parked
 * requests; a dead or slow home answers "not found".
 *
 * Records.  With push = record a writer tells the key's home that it holds
 * the page; the home keeps the hint here, answers EXISTS with it and sends
 * a GET on to the holder (peer_wire.c's -EREMOTE answer).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keyhash.h"
#include "object_remote-int.h"
#include "tier_ssd.h"
#include "timer.h"

/* ---- asking homes what they hold ---- */

/* A key held here, on any tier. */
bool mmc_object__held(struct mmc_agent *ag, const void *key, uint16_t key_len)
{
	uint64_t hash = mmc_key_hash(ag->index.seed, key, key_len);
	uint32_t slot = mmc_index_find(&ag->index, key, key_len, hash);

	if (slot != MMC_NO_ENTRY)
		return ag->index.entries[slot].state == MMC_ENTRY_COMMITTED;
	return ag->ssd && mmc_ssd_find(ag->ssd, hash) != MMC_SSD_NONE;
}

/* ---- push = record: the home's directory of who holds what ----
 *
 * An open-addressed table of (placement hash, member), probed 8 slots
 * from the hash; a full window loses its first slot.  Hints, not truth: a
 * holder that evicted the page answers -ENOENT, a lost hint is a miss. */
#define DIR_PROBE 8

static struct dir_slot *dir_find(struct mmc_remote *rm, uint64_t h, bool make)
{
	struct dir_slot *first_free = NULL;

	h = h ? h : 1;                 /* 0: an empty slot */
	for (unsigned i = 0; i < DIR_PROBE; i++) {
		struct dir_slot *d = &rm->dir[(h + i) & rm->dir_mask];

		if (d->h == h)
			return d;
		if (!d->h && !first_free)
			first_free = d;
	}
	if (!make)
		return NULL;
	if (!first_free)
		first_free = &rm->dir[h & rm->dir_mask];
	first_free->h = h;
	return first_free;
}

void mmc_object__record(void *ctx, const void *key, uint16_t key_len, int member)
{
	struct mmc_agent *ag = ctx;
	struct dir_slot *d;

	if (!ag->remote->dir || member < 0)
		return;
	d = dir_find(ag->remote, mmc_key_hash(MMC_PEER_HASH_SEED, key, key_len), true);
	d->member = member;
	MMC_COUNT(ag, records_received, 1);
}

int mmc_object__holder(void *ctx, const void *key, uint16_t key_len)
{
	struct mmc_agent *ag = ctx;
	struct dir_slot *d;

	if (!ag->remote->dir)
		return -1;
	d = dir_find(ag->remote, mmc_key_hash(MMC_PEER_HASH_SEED, key, key_len), false);
	return d ? d->member : -1;
}

/* What a member's EXISTS is told: what its GET would get - a value in DRAM
 * (a GET is served from DRAM only: a page on this node's SSD tier is read
 * back for this node's own clients, not yet for members), or a record. */
bool mmc_object__has(void *ctx, const void *key, uint16_t key_len)
{
	struct mmc_agent *ag = ctx;
	uint64_t hash = mmc_key_hash(ag->index.seed, key, key_len);
	uint32_t slot = mmc_index_find(&ag->index, key, key_len, hash);

	if (slot != MMC_NO_ENTRY && ag->index.entries[slot].state == MMC_ENTRY_COMMITTED)
		return true;
	return mmc_object__holder(ctx, key, key_len) >= 0;
}

static void xwait_cancel(struct mmc_agent *ag, struct mmc_request *r)
{
	struct xwait *w = (struct xwait *)r;
	struct mmc_cqe c = { 0 };

	if (w->b) {
		w->b->w[w->i] = NULL;
	} else {                     /* still on its home's list */
		mmc_dlist_del(&ag->remote->pend[w->home], &w->node);
		ag->remote->npend--;
	}
	mmc_request_complete(ag, r, &c);   /* its session is gone: just freed */
}

/* Sends home m's gathered LOOKUPs as one EXISTS; on failure they are
 * answered 0 (not found: a miss, never an error). */
static void send_batch(struct mmc_agent *ag, int m)
{
	struct mmc_dlist *x = &ag->remote->pend[m];
	struct xbatch *b = malloc(sizeof(*b));
	unsigned char *packed = malloc(MMC_PEER_EXISTS_BYTES), *k = packed;
	unsigned n = x->n;
	struct mmc_dnode *d;

	/* Off the list, into the batch (its index), packed as the frame has it. */
	if (b)
		b->n = 0;
	while ((d = x->first)) {
		struct xwait *w = mmc_container_of(d, struct xwait, node);

		mmc_dlist_del(x, d);
		if (b && packed) {
			k[0] = (unsigned char)w->r.q.key_len;
			k[1] = (unsigned char)(w->r.q.key_len >> 8);
			memcpy(k + 2, w->r.q.key, w->r.q.key_len);
			k += 2 + w->r.q.key_len;
			w->b = b;
			w->i = b->n;
			b->w[b->n++] = w;
		} else {                     /* no memory: not found */
			struct mmc_cqe c = { .res = 0 };

			mmc_request_complete(ag, &w->r, &c);
		}
	}
	ag->remote->npend -= n;
	if (b && packed)
		ag->remote->asked++;     /* until exists_done, whatever happens */
	if (b && packed && mmc_peer_exists(ag->remote->peer, m, packed, (size_t)(k - packed),
					   b->n, (uint64_t)(uintptr_t)b))
		mmc_object__exists_done(ag, (uint64_t)(uintptr_t)b, -EHOSTDOWN, NULL, 0);
	else if (!b || !packed)
		free(b);
	free(packed);
}

void mmc_object__exists_done(void *ctx, uint64_t cookie, int res, const uint8_t *found,
			unsigned n)
{
	struct mmc_agent *ag = ctx;
	struct xbatch *b = (struct xbatch *)(uintptr_t)cookie;

	ag->remote->asked--;
	for (unsigned i = 0; i < b->n; i++) {
		struct mmc_cqe c = { .res = !res && i < n && found[i] };

		if (b->w[i])
			mmc_request_complete(ag, &b->w[i]->r, &c);
	}
	free(b);
}

enum mmc_ops_result mmc_object_lookup(struct mmc_agent *ag, struct mmc_session *s,
				      const struct mmc_sqe *q, struct mmc_cqe *c)
{
	struct mmc_dlist *x;
	struct xwait *w;
	int home;

	c->res = mmc_object__held(ag, q->key, q->key_len);
	if (c->res || !ag->remote)
		return MMC_OPS_DONE;
	if ((home = mmc_object__home_of(ag, q->key, q->key_len)) < 0) {
		c->res = home == MMC_PEER_SELF && mmc_object__holder(ag, q->key, q->key_len) >= 0;
		return MMC_OPS_DONE;   /* ours: the records say whether a member holds it */
	}
	w = (struct xwait *)mmc_request_park(ag, s, q, sizeof(*w), xwait_cancel);
	if (!w)
		return MMC_OPS_DONE;      /* 0: not found, as when the home fails */
	x = &ag->remote->pend[home];
	w->home = home;
	mmc_dlist_push_tail(x, &w->node);
	if (!ag->remote->npend++)
		ag->remote->pend_since_ns = mmc_now_ns();
	if (x->n == MMC_PEER_EXISTS_MAX)
		send_batch(ag, home);
	return MMC_OPS_PARKED;
}

/* A batch get's lookups come a few per turn of the loop (sessions share
 * turns): they are held until the agent runs out of requests, so that a
 * batch goes to its homes as one EXISTS each, not one per turn - but never
 * longer than this while other sessions keep the agent busy. */
#define MMC_LOOKUP_HOLD_NS (20 * 1000)
#define LOOKUP_BATCH       128

void mmc_object__lookups_flush(struct mmc_agent *ag, bool idle)
{
	struct mmc_remote *rm = ag->remote;

	if (!rm->npend)
		return;
	if (!idle && rm->npend < LOOKUP_BATCH &&
	    mmc_now_ns() - rm->pend_since_ns < MMC_LOOKUP_HOLD_NS)
		return;
	for (int m = 0; m < mmc_peer_count(rm->peer); m++)
		if (rm->pend[m].n)
			send_batch(ag, m);
}

