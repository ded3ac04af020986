/*
 * object_lookup.c - what the pool's members hold: a client's LOOKUP of a
 * key not on this node, asked of the key's home in batches, and - with
 * push = record - the home's directory of who holds what.
 *
 * Lookups.  mmc_exists_batch pipelines the keys not in shared memory,
 * packed as many as fit per LOOKUPV request (a LOOKUP asks for one key);
 * the agent answers the keys held here at once and parks the request with
 * the others, each on its home's list, and sends a list as one EXISTS
 * frame when the agent runs out of requests (or 128 keys wait, or the
 * oldest waited 20 us): a batch reaches each home once, not once per turn
 * of the loop.  The FOUND answer (a byte per key) answers the keys; a
 * request is answered with its last key.  A dead or slow home answers
 * "not found".
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

/* What a member's EXISTS is told: what its GET would get - a value on a
 * tier here (one on SSD is read back for it), or a record. */
bool mmc_object__has(void *ctx, const void *key, uint16_t key_len)
{
	return mmc_object__held(ctx, key, key_len) || mmc_object__holder(ctx, key, key_len) >= 0;
}

/* The answer of w (every key answered): a LOOKUP's 1 or 0, a LOOKUPV's
 * count and bits. */
static void answer(const struct mmc_sqe *q, uint64_t found, struct mmc_cqe *c)
{
	if (q->op == MMC_OP_LOOKUPV) {
		c->res = __builtin_popcountll(found);
		c->off = found;
	} else {
		c->res = (int32_t)(found & 1);
	}
}

/* k's home answered (or cannot): w is answered with its last key. */
static void key_answered(struct mmc_agent *ag, struct xkey *k, bool held)
{
	struct xwait *w = k->w;

	k->home = -1;
	k->b = NULL;
	if (held)
		w->found |= 1ull << k->bit;
	if (!--w->left) {
		struct mmc_cqe c = { 0 };

		answer(&w->r.q, w->found, &c);
		mmc_request_complete(ag, &w->r, &c);
	}
}

static void xwait_cancel(struct mmc_agent *ag, struct mmc_request *r)
{
	struct xwait *w = (struct xwait *)r;
	struct mmc_cqe c = { 0 };

	for (unsigned i = 0; i < w->nk; i++) {
		struct xkey *k = &w->k[i];

		if (k->b) {              /* asked: the answer finds no one */
			k->b->k[k->i] = NULL;
		} else if (k->home >= 0) {   /* still on its home's list */
			mmc_dlist_del(&ag->remote->pend[k->home], &k->node);
			ag->remote->npend--;
		}
	}
	mmc_request_complete(ag, r, &c);   /* its session is gone: just freed */
}

/* Sends home m's gathered keys as one EXISTS; on failure they are
 * answered 0 (not found: a miss, never an error). */
static void send_batch(struct mmc_agent *ag, int m)
{
	struct mmc_dlist *x = &ag->remote->pend[m];
	struct xbatch *b = malloc(sizeof(*b));
	unsigned char *packed = malloc(MMC_PEER_EXISTS_BYTES), *p = packed;
	unsigned n = x->n;
	struct mmc_dnode *d;

	/* Off the list, into the batch (its index), packed as the frame has it. */
	if (b)
		b->n = 0;
	ag->remote->npend -= n;
	while ((d = x->first)) {
		struct xkey *k = mmc_container_of(d, struct xkey, node);

		mmc_dlist_del(x, d);
		if (b && packed) {
			p[0] = (unsigned char)k->key_len;
			p[1] = (unsigned char)(k->key_len >> 8);
			memcpy(p + 2, k->key, k->key_len);
			p += 2 + k->key_len;
			k->b = b;
			k->i = b->n;
			b->k[b->n++] = k;
		} else {                     /* no memory: not found */
			key_answered(ag, k, false);
		}
	}
	if (b && packed)
		ag->remote->asked++;     /* until exists_done, whatever happens */
	if (b && packed && mmc_peer_exists(ag->remote->peer, m, packed, (size_t)(p - packed),
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
	for (unsigned i = 0; i < b->n; i++)
		if (b->k[i])
			key_answered(ag, b->k[i], !res && i < n && found[i]);
	free(b);
}

/* The keys of q: a LOOKUP's one, or a LOOKUPV's packed ones (at[i], len[i]
 * into q->key).  How many, or -EINVAL when the packing does not add up -
 * a count of 0 or over MMC_LOOKUPV_MAX, an empty key, a length past the
 * end, or bytes left over. */
static int lookup_keys(const struct mmc_sqe *q, uint16_t *at, uint16_t *len)
{
	unsigned n = 0, off = 0;

	if (q->op != MMC_OP_LOOKUPV) {
		at[0] = 0;
		len[0] = q->key_len;
		return 1;
	}
	if (!q->arg || q->arg > MMC_LOOKUPV_MAX)
		return -EINVAL;
	for (; n < q->arg; n++) {
		if (off >= q->key_len || !q->key[off] || q->key[off] > q->key_len - off - 1)
			return -EINVAL;
		at[n] = (uint16_t)(off + 1);
		len[n] = q->key[off];
		off += 1u + q->key[off];
	}
	return off == q->key_len ? (int)n : -EINVAL;
}

enum mmc_ops_result mmc_object_lookup(struct mmc_agent *ag, struct mmc_session *s,
				      const struct mmc_sqe *q, struct mmc_cqe *c)
{
	uint16_t at[MMC_LOOKUPV_MAX], len[MMC_LOOKUPV_MAX];
	int home[MMC_LOOKUPV_MAX], n = lookup_keys(q, at, len);
	uint64_t found = 0, ask = 0;
	struct xwait *w;
	unsigned nk = 0;

	if (n < 0) {
		c->res = n;
		return MMC_OPS_DONE;
	}
	for (int i = 0; i < n; i++) {
		const uint8_t *key = q->key + at[i];

		if (mmc_object__held(ag, key, len[i]))
			found |= 1ull << i;
		else if (!ag->remote)
			continue;
		else if ((home[i] = mmc_object__home_of(ag, key, len[i])) >= 0)
			ask |= 1ull << i;
		else if (home[i] == MMC_PEER_SELF && mmc_object__holder(ag, key, len[i]) >= 0)
			found |= 1ull << i;  /* ours: the records say a member holds it */
	}
	if (ask)
		w = (struct xwait *)mmc_request_park(ag, s, q, sizeof(*w) +
			(size_t)__builtin_popcountll(ask) * sizeof(struct xkey), xwait_cancel);
	if (!ask || !w) {                /* no memory: not found, as when a home fails */
		answer(q, found, c);
		return MMC_OPS_DONE;
	}
	w->found = found;
	w->left = 1;                 /* held until every key is on its way */
	for (int i = 0; i < n; i++) {
		struct xkey *k;

		if (!(ask & (1ull << i)))
			continue;
		k = &w->k[nk++];
		w->nk = nk;
		*k = (struct xkey){ .w = w, .home = home[i], .bit = (uint8_t)i,
				    .key_len = len[i], .key = w->r.q.key + at[i] };
		w->left++;
		mmc_dlist_push_tail(&ag->remote->pend[k->home], &k->node);
		if (!ag->remote->npend++)
			ag->remote->pend_since_ns = mmc_now_ns();
		if (ag->remote->pend[k->home].n == MMC_PEER_EXISTS_MAX)
			send_batch(ag, k->home);
	}
	key_answered(ag, &(struct xkey){ .w = w }, false);   /* the hold */
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

