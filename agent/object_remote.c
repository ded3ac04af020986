/*
 * object_remote.c - an object's life across nodes: a local miss fetched
 * from the key's home, a put pushed to its home, and the same two seen from
 * the home.
 *
 * The pool has no central metadata: a key's home is computed by every
 * agent alike (placement.c, over the members peer.c keeps up or down), and
 * agents talk only about keys.  This file decides what an object does; the
 * peer engine (peer.c) moves the bytes and calls back here.
 *
 * Put.  A put is committed in the writer's arena as always (object.c); then,
 * off the writer's path, the page is pushed to its home if that is another
 * node.  The push sends straight from the arena: the object is held
 * (mmc_obj_meta.sends) until the bytes are out, so eviction passes it by
 * and a remove frees it only after.  A push that cannot go (home down, too
 * much queued) is dropped: it costs a later miss, never an error.
 *
 * Get.  A client that misses locally asks its agent (FETCH); with a pool,
 * object_tier.c hands what is on no local tier to mmc_object__remote_fetch:
 * the home is asked (GET), the request parked.  When the answer's length is
 * known a DRAM block is taken and the key inserted RESERVED by the agent
 * (OBJ_FILLING | OBJ_REMOTE: invisible to readers, -EBUSY to writers), the
 * value lands in it straight from the socket and is checked against the
 * sender's crc32c; only then is it committed (with that crc) and the
 * parked FETCHes answered, so the next get of the key on this node is a
 * local hit.  Later FETCHes of a key in flight wait on the same GET.  A
 * remove meanwhile cancels the fill (OBJ_CANCELLED): the block is freed
 * when the bytes stop arriving.  A deadline, a dead home, a bad crc: a miss.
 *
 * Serving.  A member's GET is answered from DRAM (held while it is sent);
 * for a page only on this node's SSD tier the answer is put off until
 * object_tier.c has read it back (served(), mmc_peer_answer()).  A pushed
 * page is filled like a fetched one and committed if its key is new here.
 *
 * What members hold - lookups in batches, and with push = record the
 * home's directory of holders - is object_lookup.c's part.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "keyhash.h"
#include "log.h"
#include "object-int.h"
#include "object_remote-int.h"
#include "peer.h"
#include "placement.h"
#include "request.h"
#include "tier_ssd.h"
#include "timer.h"

struct rwait {                   /* a parked FETCH */
	struct mmc_request r;        /* first: what was parked */
	struct mmc_dnode node;       /* on its rfetch's waiters */
	struct rfetch *f;
};

struct rfetch {                  /* a GET to a home, for one key */
	struct mmc_dnode node;       /* on mmc_remote.fetches */
	uint64_t hash;               /* the index's */
	uint64_t start_ns;           /* asked then (mmc_remote_get_seconds) */
	uint32_t slot, egen;         /* the entry being filled, once the value comes */
	int homes[MMC_PEER_REPLICAS_MAX];   /* who may hold it, asked in turn */
	unsigned nhomes, asked;
	bool moved;                  /* a home sent us on to the holder once */
	uint16_t key_len;
	uint8_t key[MMC_KEY_MAX];
	struct mmc_dlist waiters;    /* struct rwait */
};

static void push_queued(struct mmc_agent *ag);

static uint64_t pin_of(struct mmc_agent *ag, uint32_t slot)
{
	return (uint64_t)slot << 32 | ag->index.entries[slot].gen;
}

int mmc_object__home_of(struct mmc_agent *ag, const void *key, uint16_t key_len)
{
	return mmc_peer_home(ag->remote->peer, mmc_key_hash(MMC_PEER_HASH_SEED, key, key_len));
}

/* The key's home and replicas (member indexes, or MMC_PEER_SELF). */
static unsigned homes_of(struct mmc_agent *ag, const void *key, uint16_t key_len, int *out)
{
	return mmc_peer_homes(ag->remote->peer, mmc_key_hash(MMC_PEER_HASH_SEED, key, key_len),
			      out, ag->remote->replicas);
}

/* Asks the next of f's homes that is another node: 0, or -ENOENT when
 * none is left to ask. */
static int ask_next(struct mmc_agent *ag, struct rfetch *f)
{
	while (f->asked < f->nhomes) {
		int m = f->homes[f->asked++];

		if (m == MMC_PEER_SELF && !f->moved) {   /* our records: who holds it? */
			m = mmc_object__holder(ag, f->key, f->key_len);
			f->moved = m >= 0;
		}
		if (m >= 0 && !mmc_peer_get(ag->remote->peer, m, f->key, f->key_len,
					    (uint64_t)(uintptr_t)f))
			return 0;
	}
	return -ENOENT;
}

/* The crc32c of slot's value: the writer's, or computed now. */
static uint32_t crc_of(struct mmc_agent *ag, uint32_t slot)
{
	const struct mmc_entry *e = &ag->index.entries[slot];

	if (e->flags & MMC_ENTRY_CRC)
		return e->crc;
	return mmc_crc32c(0, (char *)ag->arena.data + e->loc, e->value_len);
}

/* ---- filling a block from the network ---- */

/* A block for len bytes of key, inserted RESERVED by the agent and marked
 * filling: its bytes, or NULL (the key is here already, or no room). */
static char *fill_begin(struct mmc_agent *ag, const void *key, uint16_t key_len,
			uint64_t hash, uint64_t len, uint32_t *slot)
{
	uint64_t off;

	if (!len || len > mmc_alloc_capacity(ag->alloc) ||
	    mmc_index_find(&ag->index, key, key_len, hash) != MMC_NO_ENTRY ||
	    (ag->ssd && mmc_ssd_find(ag->ssd, hash) != MMC_SSD_NONE))
		return NULL;
	mmc_object__make_room(ag, len, MMC_EVICT_DEMOTE);
	if (mmc_alloc_take(ag->alloc, len, &off) && mmc_object__take_space(ag, len, &off))
		return NULL;
	if (mmc_object__index_slot(ag, key, key_len, hash, len, off, slot, false)) {
		mmc_alloc_release(ag->alloc, off);
		return NULL;
	}
	*mmc_object__meta(ag, *slot) = (struct mmc_obj_meta){
		.owner = 0, .ssd_slot = MMC_SSD_NONE, .flags = OBJ_FILLING | OBJ_REMOTE };
	return (char *)ag->arena.data + off;
}

/* The bytes of slot are in (res 0, checked against crc) or will never be:
 * publishes or frees it.  true if it is committed now. */
static bool fill_end(struct mmc_agent *ag, uint32_t slot, int res, uint32_t crc)
{
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);
	bool cancelled = m->flags & OBJ_CANCELLED;

	m->flags &= (uint8_t)~(OBJ_FILLING | OBJ_REMOTE | OBJ_CANCELLED);
	if (cancelled) {             /* removed meanwhile: DEAD, on the list */
		mmc_object_reap(ag);
		return false;
	}
	if (res) {
		mmc_index_unlink(&ag->index, slot, MMC_ENTRY_DEAD);
		mmc_object__free(ag, slot);
		return false;
	}
	mmc_index_commit(&ag->index, slot, &crc);
	mmc_evict_add(ag->evict, slot);
	ag->obj.objects++;
	return true;
}

/* ---- fetching from the home ---- */

static struct rfetch *fetch_of(struct mmc_remote *rm, const struct mmc_sqe *q)
{
	for (struct mmc_dnode *d = rm->fetches.first; d; d = d->next) {
		struct rfetch *f = mmc_container_of(d, struct rfetch, node);

		if (f->key_len == q->key_len && !memcmp(f->key, q->key, q->key_len))
			return f;
	}
	return NULL;
}

static void wait_cancel(struct mmc_agent *ag, struct mmc_request *r)
{
	struct rwait *w = (struct rwait *)r;
	struct mmc_cqe c = { 0 };

	mmc_dlist_del(&w->f->waiters, &w->node);
	mmc_request_complete(ag, r, &c);   /* its session is gone: just freed */
}

static enum mmc_ops_result wait_on(struct mmc_agent *ag, struct mmc_session *s,
				   const struct mmc_sqe *q, struct mmc_cqe *c, struct rfetch *f)
{
	struct rwait *w = (struct rwait *)mmc_request_park(ag, s, q, sizeof(*w), wait_cancel);

	if (!w) {
		c->res = -ENOMEM;
		return MMC_OPS_DONE;
	}
	w->f = f;
	mmc_dlist_push_tail(&f->waiters, &w->node);
	return MMC_OPS_PARKED;
}

enum mmc_ops_result mmc_object__remote_fetch(struct mmc_agent *ag, struct mmc_session *s,
					     const struct mmc_sqe *q, struct mmc_cqe *c)
{
	struct mmc_remote *rm = ag->remote;
	struct rfetch *f = fetch_of(rm, q);

	if (f)
		return wait_on(ag, s, q, c, f);
	c->res = -ENOENT;
	f = calloc(1, sizeof(*f));
	if (!f)
		return MMC_OPS_DONE;
	f->hash = mmc_key_hash(ag->index.seed, q->key, q->key_len);
	f->slot = MMC_NO_ENTRY;
	f->start_ns = mmc_now_ns();
	f->key_len = q->key_len;
	memcpy(f->key, q->key, q->key_len);
	/* Its homes in turn (this node among them holds no copy: skipped). */
	f->nhomes = homes_of(ag, q->key, q->key_len, f->homes);
	if (ask_next(ag, f)) {       /* ours alone, or nobody is up */
		free(f);
		return MMC_OPS_DONE;
	}
	MMC_COUNT(ag, remote_gets, 1);
	mmc_dlist_push_tail(&rm->fetches, &f->node);
	return wait_on(ag, s, q, c, f);
}

static void get_done(void *ctx, uint64_t cookie, int res, uint32_t crc);

/* A home sent us on to the member that holds the page (push = record):
 * asked once; a second redirect, or a holder we cannot reach, is a miss. */
static void moved(void *ctx, uint64_t cookie, int member)
{
	struct mmc_agent *ag = ctx;
	struct rfetch *f = (struct rfetch *)(uintptr_t)cookie;

	if (f->moved || mmc_peer_get(ag->remote->peer, member, f->key, f->key_len, cookie)) {
		get_done(ctx, cookie, -ENOENT, 0);
		return;
	}
	f->moved = true;
}

static void *value_begin(void *ctx, uint64_t cookie, uint64_t len)
{
	struct mmc_agent *ag = ctx;
	struct rfetch *f = (struct rfetch *)(uintptr_t)cookie;
	char *dst = fill_begin(ag, f->key, f->key_len, f->hash, len, &f->slot);

	if (dst)
		f->egen = ag->index.entries[f->slot].gen;
	else
		f->slot = MMC_NO_ENTRY;
	return dst;
}

static void get_done(void *ctx, uint64_t cookie, int res, uint32_t crc)
{
	struct mmc_agent *ag = ctx;
	struct rfetch *f = (struct rfetch *)(uintptr_t)cookie;
	bool filled = f->slot != MMC_NO_ENTRY;
	bool cancelled = filled && (mmc_object__meta(ag, f->slot)->flags & OBJ_CANCELLED);
	bool got = filled && fill_end(ag, f->slot, res, crc);
	uint32_t slot;

	if (got) {
		MMC_COUNT(ag, remote_hits, 1);
		mmc_metrics_observe(&ag->metrics, MMC_HIST_remote_get, mmc_now_ns() - f->start_ns);
	} else if (!ag->remote->stopping && !cancelled &&
		   mmc_index_find(&ag->index, f->key, f->key_len, f->hash) == MMC_NO_ENTRY) {
		/* A miss, or that home failed: a replica?  (Not when the key was
		 * removed meanwhile, or is here now by a local put.) */
		f->slot = MMC_NO_ENTRY;
		if (!ask_next(ag, f))
			return;
	}
	/* Whatever happened, a waiter finds the key if it is here now (a
	 * local put may have raced the answer). */
	slot = mmc_index_find(&ag->index, f->key, f->key_len, f->hash);
	res = slot != MMC_NO_ENTRY &&
		ag->index.entries[slot].state == MMC_ENTRY_COMMITTED ? 0 : -ENOENT;
	while (f->waiters.first) {
		struct rwait *w = mmc_container_of(f->waiters.first, struct rwait, node);
		struct mmc_cqe c = { .res = res };

		mmc_dlist_del(&f->waiters, &w->node);
		mmc_request_complete(ag, &w->r, &c);
	}
	mmc_dlist_del(&ag->remote->fetches, &f->node);
	free(f);
}

void mmc_object_remote_flush(struct mmc_agent *ag, bool idle)
{
	if (!ag->remote)
		return;
	if (ag->remote->nputs)
		push_queued(ag);
	mmc_object__lookups_flush(ag, idle);
}

/* ---- pushing to the home ---- */

/* Committed slot goes to its homes: its crc stamped first when the writer
 * sent none (every copy is checked where it lands, and summed once). */
static void push(struct mmc_agent *ag, uint32_t slot)
{
	const struct mmc_entry *e = &ag->index.entries[slot];
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);
	int homes[MMC_PEER_REPLICAS_MAX];
	unsigned n = homes_of(ag, e->key, e->key_len, homes);

	if (ag->remote->records) {   /* the homes learn who holds it, not the bytes */
		for (unsigned i = 0; i < n; i++)
			if (homes[i] >= 0)
				(void)mmc_peer_record(ag->remote->peer, homes[i], e->key, e->key_len);
		return;
	}
	if (!(e->flags & MMC_ENTRY_CRC))
		mmc_index_stamp_crc(&ag->index, slot,
				    mmc_crc32c(0, (char *)ag->arena.data + e->loc, e->value_len));

	/* To the home and each replica (this node, if one, has its copy). */
	for (unsigned i = 0; i < n; i++) {
		if (homes[i] < 0 || m->sends == UINT8_MAX)
			continue;
		m->sends++;
		(void)mmc_peer_push(ag->remote->peer, homes[i], e->key, e->key_len,
				    (char *)ag->arena.data + e->loc, e->value_len,
				    crc_of(ag, slot), pin_of(ag, slot));
	}
}

/* Off the put's path: queued here, done by mmc_object_remote_flush() once
 * the answers of the turn are out (or now, when the queue is full). */
void mmc_object__remote_put(struct mmc_agent *ag, uint32_t slot)
{
	struct mmc_remote *rm = ag->remote;

	if (rm->nputs == rm->puts_cap) {
		unsigned cap = rm->puts_cap ? rm->puts_cap * 2 : 256;
		void *q = cap <= 65536 ? realloc(rm->puts, cap * sizeof(*rm->puts)) : NULL;

		if (!q) {
			push(ag, slot);
			return;
		}
		rm->puts = q;
		rm->puts_cap = cap;
	}
	rm->puts[rm->nputs].slot = slot;
	rm->puts[rm->nputs++].gen = ag->index.entries[slot].gen;
}

/* The queued pushes of objects still committed as they were. */
static void push_queued(struct mmc_agent *ag)
{
	struct mmc_remote *rm = ag->remote;

	for (unsigned i = 0; i < rm->nputs; i++) {
		const struct mmc_entry *e = &ag->index.entries[rm->puts[i].slot];

		if (e->gen == rm->puts[i].gen && e->state == MMC_ENTRY_COMMITTED)
			push(ag, rm->puts[i].slot);
	}
	rm->nputs = 0;
}

/* ---- serving members ---- */

/* The committed object at slot, held for sending (until release(*pin)). */
static int hold_for_send(struct mmc_agent *ag, uint32_t slot, const void **value,
			 uint64_t *len, uint32_t *crc, uint64_t *pin)
{
	const struct mmc_entry *e = &ag->index.entries[slot];
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);

	if (e->state != MMC_ENTRY_COMMITTED || m->sends == UINT8_MAX)
		return -ENOENT;
	m->sends++;
	mmc_evict_touch(ag->evict, slot);    /* a remote read is a use */
	*value = (char *)ag->arena.data + e->loc;
	*len = e->value_len;
	*crc = crc_of(ag, slot);
	*pin = pin_of(ag, slot);
	return 0;
}

static void release(void *ctx, uint64_t pin)
{
	struct mmc_agent *ag = ctx;
	uint32_t slot = (uint32_t)(pin >> 32);
	struct mmc_obj_meta *m = mmc_object__meta(ag, slot);

	if (m->sends && !--m->sends && ag->index.entries[slot].state == MMC_ENTRY_DEAD)
		mmc_object_reap(ag);         /* removed while it was being sent */
}

/* A member's GET that waited for a read back from SSD: answered now. */
static void served(struct mmc_agent *ag, uint64_t serve, int res, const void *key,
		   uint16_t key_len)
{
	const void *v = NULL;
	uint64_t len = 0, pin = 0;
	uint32_t crc = 0, slot;

	if (!ag->remote || !ag->remote->peer)
		return;                  /* stopping: the asker's deadline answers */
	if (!res) {
		slot = mmc_index_find(&ag->index, key, key_len,
				      mmc_key_hash(ag->index.seed, key, key_len));
		res = slot == MMC_NO_ENTRY ? -ENOENT :
			hold_for_send(ag, slot, &v, &len, &crc, &pin);
	}
	if (mmc_peer_answer(ag->remote->peer, serve, res, v, len, crc, pin) && !res)
		release(ag, pin);        /* the asker is gone */
}

/* A member asks for key: from DRAM, or - put off - from this node's SSD
 * tier once read back (served()). */
static int lookup(void *ctx, const void *key, uint16_t key_len, uint64_t serve,
		  const void **value, uint64_t *len, uint32_t *crc, uint64_t *pin)
{
	struct mmc_agent *ag = ctx;
	uint64_t hash = mmc_key_hash(ag->index.seed, key, key_len);
	uint32_t slot = mmc_index_find(&ag->index, key, key_len, hash);

	if (slot != MMC_NO_ENTRY && ag->index.entries[slot].state == MMC_ENTRY_COMMITTED)
		return hold_for_send(ag, slot, value, len, crc, pin);
	if (ag->ssd && mmc_object__fetch_for(ag, key, key_len, served, serve) == 1)
		return -EINPROGRESS;
	return -ENOENT;
}

static void *put_begin(void *ctx, const void *key, uint16_t key_len, uint64_t len,
		       uint64_t *cookie)
{
	struct mmc_agent *ag = ctx;
	uint64_t hash = mmc_key_hash(ag->index.seed, key, key_len);
	uint32_t slot;
	char *dst = fill_begin(ag, key, key_len, hash, len, &slot);

	if (dst)
		*cookie = pin_of(ag, slot);
	return dst;
}

static void put_done(void *ctx, uint64_t cookie, int res, uint32_t crc)
{
	struct mmc_agent *ag = ctx;

	if (fill_end(ag, (uint32_t)(cookie >> 32), res, crc))
		MMC_COUNT(ag, pushes_received, 1);
}

/* ---- life ---- */

int mmc_object_remote_start(struct mmc_agent *ag, char *err, size_t errlen)
{
	static const struct mmc_peer_ops ops = {
		.value_begin = value_begin, .get_done = get_done, .lookup = lookup,
		.release = release, .put_begin = put_begin, .put_done = put_done,
		.has = mmc_object__has, .exists_done = mmc_object__exists_done,
		.record = mmc_object__record, .holder = mmc_object__holder,
		.moved = moved,
	};
	const struct mmc_config *cfg = &ag->cfg;
	struct mmc_peer_config pc = {
		.node_id = cfg->cluster_node_id, .listen = cfg->cluster_listen,
		.peers = cfg->cluster_peers, .timeout_ms = cfg->cluster_timeout_ms,
		.down_after = cfg->cluster_down_after, .retry_ms = cfg->cluster_retry_ms,
		.queue_max = cfg->cluster_queue_max, .tls = cfg->cluster_tls == MMC_TLS_ON,
		.tls_cert = cfg->cluster_cert, .tls_key = cfg->cluster_key,
		.tls_ca = cfg->cluster_ca, .etcd = cfg->cluster_etcd,
		.etcd_prefix = cfg->cluster_etcd_prefix, .etcd_ttl_s = cfg->cluster_etcd_ttl_s,
		.advertise = cfg->cluster_advertise,
	};
	int ret;

	if (!cfg->cluster_node_id[0])
		return 0;
	ag->remote = calloc(1, sizeof(*ag->remote));
	if (!ag->remote)
		return -ENOMEM;
	ag->remote->replicas = cfg->cluster_replicas;
	ag->remote->records = cfg->cluster_push == MMC_PUSH_RECORD;
	if (ag->remote->records) {   /* a hint per key homed here, at most */
		uint32_t n = 4096;

		while (n < ag->index.nentries && n < (1u << 22))
			n <<= 1;
		ag->remote->dir = calloc(n, sizeof(*ag->remote->dir));
		ag->remote->dir_mask = n - 1;
		if (!ag->remote->dir) {
			free(ag->remote);
			ag->remote = NULL;
			return -ENOMEM;
		}
	}
	ret = mmc_peer_create(&pc, &ops, ag, &ag->remote->peer, err, errlen);
	if (!ret) {
		/* one list per member slot: etcd may add members later */
		ag->remote->pend = calloc(MMC_PLACEMENT_MAX, sizeof(*ag->remote->pend));
		if (!ag->remote->pend) {
			mmc_peer_destroy(ag->remote->peer);
			ret = -ENOMEM;
		}
	}
	if (ret) {
		free(ag->remote->dir);
		free(ag->remote);
		ag->remote = NULL;
	}
	return ret;
}

void mmc_object_remote_stop(struct mmc_agent *ag)
{
	if (!ag->remote)
		return;
	ag->remote->stopping = true;
	mmc_peer_destroy(ag->remote->peer);   /* every GET answered, every hold released */
	free(ag->remote->pend);
	free(ag->remote->puts);
	free(ag->remote->dir);
	free(ag->remote);
	ag->remote = NULL;
}

uint64_t mmc_object_remote_members(struct mmc_agent *ag, struct mmc_member_stats *out,
				   unsigned max)
{
	struct mmc_peer_member_info mi;
	unsigned n = 0;

	for (int i = 0; i < mmc_peer_count(ag->remote->peer) && n < max; i++) {
		struct mmc_member_stats *m = &out[n];

		if (mmc_peer_member_info(ag->remote->peer, i, &mi))
			continue;                /* left the pool */
		memset(m, 0, sizeof(*m));
		snprintf(m->id, sizeof(m->id), "%s", mi.id);
		snprintf(m->addr, sizeof(m->addr), "%s", mi.where);
		m->up = mi.up;
		m->rtt_ns = mi.rtt_ns;
		m->bytes_in = mi.bytes_in;
		m->bytes_out = mi.bytes_out;
		m->gets = mi.gets;
		m->hits = mi.hits;
		n++;
	}
	return n;
}

const struct mmc_peer *mmc_object_remote_peer(const struct mmc_agent *ag)
{
	return ag->remote ? ag->remote->peer : NULL;
}

int mmc_object_remote_fd(const struct mmc_agent *ag)
{
	return mmc_peer_fd(ag->remote->peer);
}

void mmc_object_remote_poll(struct mmc_agent *ag)
{
	mmc_peer_poll(ag->remote->peer);
}

bool mmc_object_remote_awaited(const struct mmc_agent *ag)
{
	return ag->remote && (ag->remote->fetches.n || ag->remote->asked);
}

void mmc_object_remote_stats(struct mmc_agent *ag)
{
	struct mmc_peer_stats ps;

	mmc_peer_get_stats(ag->remote->peer, &ps);
	MMC_STAT(ag, peers_up) = ps.members_up;
	MMC_STAT(ag, pushes) = ps.pushes;
	MMC_STAT(ag, records) = ps.records;
	MMC_STAT(ag, pushes_dropped) = ps.pushes_dropped;
	MMC_STAT(ag, peer_bytes_in) = ps.bytes_in;
	MMC_STAT(ag, peer_bytes_out) = ps.bytes_out;
	MMC_STAT(ag, peer_failures) = ps.failures;
	MMC_STAT(ag, peer_bad_frames) = ps.bad_frames;
	MMC_STAT(ag, peer_tls_refused) = ps.tls_refused;
}
