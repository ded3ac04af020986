/*
 * test_ring.c - a session's request ring: libshm/ring.c (client) against
 * agent/ops.c (agent), in one process.  A minimal agent (index over plain
 * memory, the real allocator over a data region never mapped) serves
 * sessions whose ring regions are anonymous shared mappings laid out by
 * session.c's mmc_ring_layout(), as ring_create() does; fake clients point
 * at the same memory.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpu.h"
#include "proto-t.h"
#include "keyhash.h"
#include "check-main.h"
#include "unit-fixture.h"

#define NENTRIES  4096u
#define DATA_SIZE (64ull << 20)

static struct mmc_agent AG;
/* The client's end of each session's socket pair, by session id. */
static int CLIENT_END[64];
static void *META;
static size_t META_SIZE;

static void setup(void)
{
	memset(&AG, 0, sizeof(AG));
	mmc_config_defaults(&AG.cfg);
	AG.listen_fd = AG.epoll_fd = AG.signal_fd = AG.stats.fd = -1;
	AG.arena.meta_fd = AG.arena.data_fd = -1;
	META_SIZE = mmc_index_meta_size(NENTRIES);
	META = mmap(NULL, META_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(META, MAP_FAILED);
	ck_assert_int_eq(mmc_index_init(&AG.index, META, META_SIZE, NENTRIES, 0xabcdef), 0);
	ck_assert_int_eq(mmc_alloc_create(DATA_SIZE, &AG.alloc), 0);
	ck_assert_int_eq(mmc_evict_create(NENTRIES, 90, 88, &AG.evict), 0);
	ck_assert_int_eq(mmc_objects_init(&AG), 0);
	ck_assert_int_eq(mmc_readers_init(&AG.readers, NENTRIES), 0);
	ck_assert_int_eq(mmc_timers_init(&AG.timers), 0);
	AG.arena.data_size = DATA_SIZE;
	AG.hdr = AG.index.hdr;
	AG.hdr->version = MMC_LAYOUT_VERSION;
	AG.hdr->data_size = DATA_SIZE;
	atomic_store(&AG.hdr->agent_state, MMC_AGENT_RUNNING);
}

static void teardown(void)
{
	while (AG.sess.list)
		mmc_session_close(&AG, AG.sess.list, NULL);
	mmc_session_free_zombies(&AG);
	for (int i = 0; i < 64; i++)
		if (CLIENT_END[i] > 0)
			close(CLIENT_END[i]);
	memset(CLIENT_END, 0, sizeof(CLIENT_END));
	mmc_timers_destroy(&AG.timers);
	mmc_readers_destroy(&AG.readers);
	mmc_objects_destroy(&AG);
	mmc_evict_destroy(AG.evict);
	mmc_alloc_destroy(AG.alloc);
	mmc_index_destroy(&AG.index);
	munmap(META, META_SIZE);
}

/* A session as handshake() + ring_create() leave it, minus the memfd: the
 * ring is laid out and bound by session.c's own functions, and a socket
 * pair stands for the connection (doorbells one way, wake-ups the other). */
static struct mmc_session *new_session(void)
{
	struct mmc_session *s = calloc(1, sizeof(*s));
	struct mmc_ring_hdr *r = fake_ring(++AG.sess.next_id);
	int sv[2];

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_lt(r->client_id, 64);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	s->sock = sv[0];
	CLIENT_END[r->client_id] = sv[1];
	s->ring_fd = -1;
	s->id = r->client_id;
	s->state = MMC_SESSION_ACTIVE;
	mmc_ring_bind(s, r);
	s->next = AG.sess.list;
	AG.sess.list = s;
	AG.sess.count++;
	return s;
}

/* The client's view of s, as mmc_connect() + check_ring() build it. */
static struct mmc_client *new_client(struct mmc_session *s)
{
	struct mmc_client *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	fake_client(c, &AG.index, META_SIZE, DATA_SIZE, s->ring);
	c->sock = CLIENT_END[s->id];   /* as mmc_connect keeps it */
	return c;
}

/* Submits one request (sq_lock taken, no waiting for a slot) without
 * publishing it; returns its tag. */
static uint32_t submit(struct mmc_client *c, uint8_t op, const void *key,
		       size_t klen, uint64_t arg, uint32_t idx, uint32_t gen)
{
	uint32_t tag;

	pthread_mutex_lock(&c->sq_lock);
	ck_assert_int_eq(mmc__submit(c, op, key, klen, arg, idx, gen, false, &tag), 0);
	pthread_mutex_unlock(&c->sq_lock);
	return tag;
}

static void flush(struct mmc_client *c)
{
	pthread_mutex_lock(&c->sq_lock);
	mmc__flush(c);
	pthread_mutex_unlock(&c->sq_lock);
}

/* One request, single-threaded: submit, flush, agent turn, wait. */
static int call(struct mmc_client *c, struct mmc_session *s, uint8_t op,
		const void *key, size_t klen, uint64_t arg, uint32_t idx,
		uint32_t gen, struct mmc_cqe *out)
{
	uint32_t tag = submit(c, op, key, klen, arg, idx, gen);
	struct mmc_cqe tmp;

	if (!out)
		out = &tmp;
	flush(c);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 1);
	ck_assert_int_eq(mmc__wait(c, tag, out), 0);
	ck_assert_uint_eq(out->tag, tag);
	return out->res;
}

/* RESERVE + COMMIT; returns the completion of the reserve. */
static struct mmc_cqe put(struct mmc_client *c, struct mmc_session *s,
			  const char *key, uint64_t len)
{
	struct mmc_cqe r;

	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, key, strlen(key), len, 0, 0, &r), 0);
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, r.idx, r.gen, NULL), 0);
	return r;
}

static int lookup(struct mmc_client *c, const char *key, struct mmc_found *f)
{
	return mmc__lookup(c, key, strlen(key), f);
}

/* Waits for the answers to tags[0..n), which must carry their tag and
 * res 0; out (may be NULL) gets them. */
static void take_n(struct mmc_client *c, unsigned n, const uint32_t *tags,
		   struct mmc_cqe *out)
{
	struct mmc_cqe tmp;

	for (unsigned i = 0; i < n; i++) {
		struct mmc_cqe *o = out ? &out[i] : &tmp;

		ck_assert_int_eq(mmc__wait(c, tags[i], o), 0);
		ck_assert_uint_eq(o->tag, tags[i]);
		ck_assert_int_eq(o->res, 0);
	}
}

START_TEST(test_reserve_commit_lookup)
{
	struct mmc_session *s = new_session();
	struct mmc_client *c = new_client(s);
	struct mmc_cqe r;
	struct mmc_found f;

	ck_assert_int_eq(call(c, s, MMC_OP_NOP, NULL, 0, 0, 0, 0, NULL), 0);
	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, "k1", 2, 10000, 0, 0, &r), 0);
	ck_assert(r.len == 10000 && r.off % MMC_UNIT == 0 && r.off + r.len <= DATA_SIZE);
	ck_assert_uint_lt(r.idx, NENTRIES);
	ck_assert_uint_eq(r.gen, AG.index.entries[r.idx].gen);
	ck_assert_uint_eq(AG.index.entries[r.idx].state, MMC_ENTRY_RESERVED);
	ck_assert_uint_eq(AG.obj.meta[r.idx].owner, s->id);
	ck_assert(AG.obj.reservations == 1 && s->held.count == 1);
	ck_assert_uint_eq(AG.obj.reserved_bytes, 3 * MMC_UNIT);
	ck_assert_int_eq(lookup(c, "k1", &f), 0);      /* not visible yet */
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, r.idx, r.gen, NULL), 0);
	ck_assert_int_eq(lookup(c, "k1", &f), 1);
	ck_assert(f.idx == r.idx && f.gen == r.gen && f.loc == r.off && f.len == 10000);
	ck_assert_uint_eq(f.tier, MMC_TIER_DRAM);
	ck_assert(AG.obj.objects == 1 && AG.obj.reservations == 0 && s->held.count == 0);
	ck_assert_uint_eq(AG.obj.reserved_bytes, 0);
	ck_assert_uint_eq(mmc_evict_first(AG.evict), r.idx);   /* the only one */
	ck_assert_int_eq(call(c, s, MMC_OP_FETCH, "k1", 2, 0, 0, 0, NULL), 0);
	ck_assert_int_eq(call(c, s, MMC_OP_FETCH, "k2", 2, 0, 0, 0, NULL), -ENOENT);
	/* Everything answered and taken. */
	ck_assert_uint_eq(atomic_load(&s->ring->sq_head), c->sq_tail);
	ck_assert_uint_eq(atomic_load(&s->ring->cq_tail), c->cq_head);
	ck_assert_uint_eq(atomic_load(&s->ring->cq_head), c->cq_head);
	free(c);
}
END_TEST

START_TEST(test_reserve_exists_busy)
{
	struct mmc_session *s = new_session(), *s2 = new_session();
	struct mmc_client *c = new_client(s), *c2 = new_client(s2);
	struct mmc_cqe r;

	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, "kk", 2, 4096, 0, 0, &r), 0);
	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, "kk", 2, 4096, 0, 0, NULL), -EBUSY);
	ck_assert_int_eq(call(c2, s2, MMC_OP_RESERVE, "kk", 2, 4096, 0, 0, NULL), -EBUSY);
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, r.idx, r.gen, NULL), 0);
	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, "kk", 2, 4096, 0, 0, NULL), -EEXIST);
	ck_assert_int_eq(call(c2, s2, MMC_OP_RESERVE, "kk", 2, 8192, 0, 0, NULL), -EEXIST);
	ck_assert_uint_eq(AG.obj.reservations, 0);
	ck_assert_uint_eq(mmc_alloc_used(AG.alloc), 4096);
	free(c);
	free(c2);
}
END_TEST

START_TEST(test_commit_invalid)
{
	struct mmc_session *s = new_session(), *s2 = new_session();
	struct mmc_client *c = new_client(s), *c2 = new_client(s2);
	struct mmc_cqe r;
	struct mmc_found f;

	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, "mine", 4, 5000, 0, 0, &r), 0);
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, r.idx, r.gen + 1, NULL), -EINVAL);
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, r.idx, r.gen - 1, NULL), -EINVAL);
	ck_assert_int_eq(call(c2, s2, MMC_OP_COMMIT, NULL, 0, 0, r.idx, r.gen, NULL), -EINVAL);
	ck_assert_int_eq(call(c2, s2, MMC_OP_ABORT, NULL, 0, 0, r.idx, r.gen, NULL), -EINVAL);
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, NENTRIES, r.gen, NULL), -EINVAL);
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, UINT32_MAX, 0, NULL), -EINVAL);
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, r.idx + 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(lookup(c, "mine", &f), 0);
	ck_assert_uint_eq(AG.obj.reservations, 1);
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, r.idx, r.gen, NULL), 0);
	ck_assert_int_eq(lookup(c2, "mine", &f), 1);
	/* Committed: neither a second commit nor an abort applies. */
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, r.idx, r.gen, NULL), -EINVAL);
	ck_assert_int_eq(call(c, s, MMC_OP_ABORT, NULL, 0, 0, r.idx, r.gen, NULL), -EINVAL);
	ck_assert_int_eq(lookup(c, "mine", &f), 1);
	ck_assert_uint_eq(AG.obj.objects, 1);
	free(c);
	free(c2);
}
END_TEST

START_TEST(test_abort_frees)
{
	struct mmc_session *s = new_session();
	struct mmc_client *c = new_client(s);
	struct mmc_cqe r, r2;
	struct mmc_found f;

	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, "ab", 2, 3 * 4096, 0, 0, &r), 0);
	ck_assert_uint_eq(mmc_alloc_used(AG.alloc), 3 * 4096);
	ck_assert_int_eq(call(c, s, MMC_OP_ABORT, NULL, 0, 0, r.idx, r.gen, NULL), 0);
	ck_assert_uint_eq(mmc_alloc_used(AG.alloc), 0);
	ck_assert_uint_eq(AG.index.entries[r.idx].state, MMC_ENTRY_FREE);
	ck_assert_uint_eq(AG.index.entries[r.idx].gen, r.gen + 1);
	ck_assert_uint_eq(AG.index.nfree, NENTRIES);
	ck_assert_uint_eq(AG.obj.reservations, 0);
	ck_assert_uint_eq(AG.obj.reserved_bytes, 0);
	ck_assert_uint_eq(s->held.count, 0);
	ck_assert_int_eq(lookup(c, "ab", &f), 0);
	ck_assert_int_eq(call(c, s, MMC_OP_ABORT, NULL, 0, 0, r.idx, r.gen, NULL), -EINVAL);
	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, "ab", 2, 4096, 0, 0, &r2), 0);
	ck_assert_uint_eq(r2.idx, r.idx);
	ck_assert_uint_ne(r2.gen, r.gen);
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, r.idx, r.gen, NULL), -EINVAL);
	ck_assert_int_eq(call(c, s, MMC_OP_COMMIT, NULL, 0, 0, r2.idx, r2.gen, NULL), 0);
	ck_assert_int_eq(mmc_alloc_check(AG.alloc), 0);
	free(c);
}
END_TEST

START_TEST(test_remove)
{
	struct mmc_session *s = new_session();
	struct mmc_client *c = new_client(s);
	struct mmc_cqe r, r2;
	struct mmc_found f;
	uint32_t slot;

	r = put(c, s, "gone", 4096);
	ck_assert_int_eq(call(c, s, MMC_OP_REMOVE, "gone", 4, 0, 0, 0, NULL), 0);
	ck_assert_int_eq(lookup(c, "gone", &f), 0);
	ck_assert_uint_eq(AG.obj.objects, 0);
	ck_assert_uint_eq(mmc_alloc_used(AG.alloc), 0);
	ck_assert_uint_eq(AG.index.entries[r.idx].gen, r.gen + 1);
	ck_assert_uint_eq(mmc_evict_first(AG.evict), MMC_EVICT_END);
	ck_assert_int_eq(call(c, s, MMC_OP_REMOVE, "gone", 4, 0, 0, 0, NULL), -ENOENT);
	/* A reservation is not removable. */
	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, "res", 3, 4096, 0, 0, &r), 0);
	ck_assert_int_eq(call(c, s, MMC_OP_REMOVE, "res", 3, 0, 0, 0, NULL), -EBUSY);
	ck_assert_int_eq(call(c, s, MMC_OP_ABORT, NULL, 0, 0, r.idx, r.gen, NULL), 0);
	/* A pinned object goes away for readers at once, its space later. */
	r = put(c, s, "pinned", 8192);
	ck_assert_int_eq(mmc__pin(c, "pinned", 6, &f, &slot), 0);
	ck_assert_int_eq(call(c, s, MMC_OP_REMOVE, "pinned", 6, 0, 0, 0, NULL), 0);
	ck_assert_int_eq(lookup(c, "pinned", &f), 0);
	ck_assert_uint_eq(AG.index.entries[r.idx].state, MMC_ENTRY_DEAD);
	ck_assert_uint_eq(AG.obj.ndeferred, 1);
	ck_assert_uint_eq(mmc_alloc_used(AG.alloc), 8192);
	mmc_object_reap(&AG);
	ck_assert_uint_eq(AG.obj.ndeferred, 1);             /* still pinned */
	ck_assert_uint_eq(AG.index.entries[r.idx].gen, r.gen);
	/* The key can come back at once, while the old object is dead. */
	r2 = put(c, s, "pinned", 4096);
	ck_assert_uint_ne(r2.idx, r.idx);
	ck_assert_int_eq(lookup(c, "pinned", &f), 1);
	ck_assert_uint_eq(f.idx, r2.idx);
	mmc__unpin(c, slot);
	mmc_object_reap(&AG);
	ck_assert_uint_eq(AG.obj.ndeferred, 0);
	ck_assert_uint_eq(mmc_alloc_used(AG.alloc), 4096);
	ck_assert_uint_eq(AG.index.entries[r.idx].state, MMC_ENTRY_FREE);
	ck_assert_uint_eq(AG.index.entries[r.idx].gen, r.gen + 1);
	ck_assert_int_eq(lookup(c, "pinned", &f), 1);
	free(c);
}
END_TEST

START_TEST(test_bad_requests)
{
	struct mmc_session *s = new_session();
	struct mmc_client *c = new_client(s);
	uint8_t key[MMC_KEY_MAX];
	uint64_t bad = MMC_STAT(&AG, bad_requests);

	memset(key, 'k', sizeof(key));
	ck_assert_int_eq(call(c, s, 99, NULL, 0, 0, 0, 0, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(call(c, s, MMC_OP_MAX_, NULL, 0, 0, 0, 0, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(call(c, s, 255, key, 10, 1, 2, 3, NULL), -EOPNOTSUPP);
	ck_assert_uint_eq(MMC_STAT(&AG, bad_requests), bad + 3);
	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, key, 0, 4096, 0, 0, NULL), -EINVAL);
	ck_assert_int_eq(call(c, s, MMC_OP_REMOVE, key, 0, 0, 0, 0, NULL), -EINVAL);
	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, key, 8, 0, 0, 0, NULL), -EINVAL);
	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, key, 8, DATA_SIZE + 1, 0, 0, NULL), -E2BIG);
	/* A key_len the library would never send: only a client writing its
	 * ring by hand can, and the agent must not read past the key. */
	static const uint8_t keyed[] = { MMC_OP_RESERVE, MMC_OP_REMOVE, MMC_OP_FETCH };

	for (unsigned i = 0; i < sizeof(keyed); i++) {
		struct mmc_cqe out;

		uint32_t tag = submit(c, keyed[i], key, MMC_KEY_MAX, 4096, 0, 0);

		c->sq[(c->sq_tail - 1) % MMC_SQ_ENTRIES].key_len = 300;
		flush(c);
		ck_assert_uint_eq(mmc_ring_serve(&AG, s), 1);
		ck_assert_int_eq(mmc__wait(c, tag, &out), 0);
		ck_assert_int_eq(out.res, -ENAMETOOLONG);
	}
	ck_assert_int_eq(call(c, s, MMC_OP_FETCH, key, 0, 0, 0, 0, NULL), -EINVAL);
	ck_assert_uint_eq(mmc_alloc_used(AG.alloc), 0);
	ck_assert_uint_eq(AG.index.nfree, NENTRIES);
	ck_assert(!s->closed);
	free(c);
}
END_TEST

START_TEST(test_index_wraparound)
{
	struct mmc_session *s = new_session();
	struct mmc_client *c;
	const uint32_t start = UINT32_MAX - 10;
	struct mmc_ring_hdr *r = s->ring;
	struct mmc_cqe res[50];
	uint32_t tags[50];
	char k[32];

	/* Both sides agree on indices just below the wrap. */
	atomic_store(&r->sq_tail, start);
	atomic_store(&r->sq_head, start);
	atomic_store(&r->cq_tail, start);
	atomic_store(&r->cq_head, start);
	s->sq_seen = s->cq_seen = start;
	c = new_client(s);
	/* 50 reserves in batches of 7 (one straddles the wrap)... */
	for (int i = 0; i < 50; i += 7) {
		int n = 50 - i < 7 ? 50 - i : 7;

		for (int j = 0; j < n; j++) {
			snprintf(k, sizeof(k), "wrap-%d", i + j);
			tags[i + j] = submit(c, MMC_OP_RESERVE, k, strlen(k), 4096, 0, 0);
		}
		flush(c);
		ck_assert_uint_eq(mmc_ring_serve(&AG, s), n);
		take_n(c, n, &tags[i], &res[i]);
	}
	/* ...then 50 commits in one batch. */
	for (int i = 0; i < 50; i++)
		tags[i] = submit(c, MMC_OP_COMMIT, NULL, 0, 0, res[i].idx, res[i].gen);
	flush(c);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 50);
	take_n(c, 50, tags, NULL);
	for (int i = 0; i < 50; i++) {
		struct mmc_found f;

		snprintf(k, sizeof(k), "wrap-%d", i);
		ck_assert_int_eq(lookup(c, k, &f), 1);
		ck_assert(f.idx == res[i].idx && f.loc == res[i].off);
	}
	ck_assert_uint_eq(atomic_load(&r->sq_head), start + 100u);
	ck_assert_uint_eq(atomic_load(&r->cq_tail), start + 100u);
	ck_assert_uint_eq(c->cq_head, start + 100u);
	ck_assert_uint_lt(c->cq_head, start);            /* it did wrap */
	ck_assert(!s->closed && AG.obj.objects == 50);
	free(c);
}
END_TEST

/* The client's answers as they sit in the completion ring, read by hand
 * (as a client that ignores libshm would), from index from, n of them. */
static void expect_cq_tags(struct mmc_session *s, uint32_t from, unsigned n,
			   const uint32_t *tags)
{
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_eq(s->cq[(from + i) % MMC_CQ_ENTRIES].tag, tags[i]);
}

START_TEST(test_cq_never_overflows)
{
	struct mmc_session *s = new_session();
	struct mmc_client *c = new_client(s);
	struct mmc_ring_hdr *r = s->ring;
	static uint32_t tags[MMC_CQ_ENTRIES + 100];
	uint32_t tag;

	/* Every waiter slot in flight: libshm refuses a 257th request. */
	for (unsigned i = 0; i < MMC_CQ_ENTRIES; i++)
		tags[i] = submit(c, MMC_OP_NOP, NULL, 0, 0, 0, 0);
	pthread_mutex_lock(&c->sq_lock);
	ck_assert_int_eq(mmc__submit(c, MMC_OP_NOP, NULL, 0, 0, 0, 0, false, &tag), -EAGAIN);
	pthread_mutex_unlock(&c->sq_lock);
	flush(c);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), MMC_CQ_ENTRIES);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 0);
	/* A client that ignores the limit: 100 more requests written by hand
	 * while the completion ring is full.  None may be answered yet. */
	for (int i = 0; i < 100; i++) {
		struct mmc_sqe *q = &c->sq[c->sq_tail % MMC_SQ_ENTRIES];

		memset(q, 0, sizeof(*q));
		q->tag = tags[MMC_CQ_ENTRIES + i] = 0xdead0000u + (uint32_t)i; /* NOP */
		c->sq_tail++;
	}
	flush(c);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 0);
	ck_assert_uint_eq(atomic_load(&r->sq_head), MMC_CQ_ENTRIES);
	/* Not work the loop could do: it must still sleep, accept, see signals. */
	ck_assert(!mmc_ring_pending(s));
	/* Reading 30 answers (by hand) makes room for exactly 30 more... */
	atomic_store(&r->cq_head, 30);
	ck_assert(mmc_ring_pending(s));
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 30);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 0);
	ck_assert_uint_eq(atomic_load(&r->cq_tail) - atomic_load(&r->cq_head), MMC_CQ_ENTRIES);
	/* ...and every answer is there once, in order: none overwritten. */
	expect_cq_tags(s, 30, MMC_CQ_ENTRIES, &tags[30]);
	atomic_store(&r->cq_head, 30 + MMC_CQ_ENTRIES);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 70);
	expect_cq_tags(s, 30 + MMC_CQ_ENTRIES, 70, &tags[30 + MMC_CQ_ENTRIES]);
	ck_assert(!s->closed);
	free(c);
}
END_TEST

/* A parked request (a delayed ping) does not hold up the session: later
 * requests are answered first, the ping when its timer runs, under its own
 * tag; answers owed to parked requests keep their room in the completion
 * ring; a session that closes cancels what it had parked. */
START_TEST(test_parked_answer_later)
{
	struct mmc_session *s = new_session();
	struct mmc_client *c = new_client(s);
	static uint32_t tags[MMC_CQ_ENTRIES];
	struct mmc_cqe out;
	uint32_t ping, put_tag;

	AG.cfg.ping_delay_max_ms = 1000;
	ping = submit(c, MMC_OP_NOP, NULL, 0, 500000, 0, 0);
	put_tag = submit(c, MMC_OP_RESERVE, "later", 5, 4096, 0, 0);
	flush(c);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 2);
	ck_assert_uint_eq(s->parked, 1);
	ck_assert_uint_eq(AG.timers.n, 1);
	ck_assert_int_eq(mmc__wait(c, put_tag, &out), 0);      /* not held up */
	ck_assert_int_eq(out.res, 0);
	ck_assert_uint_eq(mmc_timers_run(&AG.timers, mmc_now_ns(), &AG), 0);
	ck_assert_uint_eq(mmc_timers_run(&AG.timers, UINT64_MAX, &AG), 1);
	ck_assert_uint_eq(s->parked, 0);
	ck_assert_int_eq(mmc__wait(c, ping, &out), 0);
	ck_assert(out.tag == ping && out.res == 0);

	/* One parked and 255 answered but unread: the ring is owed 256
	 * answers, so a 257th request (written by hand) waits... */
	ping = submit(c, MMC_OP_NOP, NULL, 0, 500000, 0, 0);
	for (unsigned i = 0; i < MMC_CQ_ENTRIES - 1; i++)
		tags[i] = submit(c, MMC_OP_NOP, NULL, 0, 0, 0, 0);
	flush(c);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), MMC_CQ_ENTRIES);
	memset(&c->sq[c->sq_tail % MMC_SQ_ENTRIES], 0, sizeof(struct mmc_sqe));
	c->sq[c->sq_tail++ % MMC_SQ_ENTRIES].tag = 0xdead;
	flush(c);
	ck_assert(!mmc_ring_pending(s));
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 0);
	/* ...and the parked answer still finds its room. */
	ck_assert_uint_eq(mmc_timers_run(&AG.timers, UINT64_MAX, &AG), 1);
	ck_assert(!s->closed);
	ck_assert_int_eq(mmc__wait(c, ping, &out), 0);
	ck_assert_uint_eq(out.tag, ping);
	take_n(c, MMC_CQ_ENTRIES - 1, tags, NULL);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 1);          /* the hand-written one */

	/* Closing the session cancels its parked ping: timer gone, freed. */
	submit(c, MMC_OP_NOP, NULL, 0, 500000, 0, 0);
	flush(c);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 1);
	ck_assert(s->parked == 1 && AG.timers.n == 1);
	mmc_session_close(&AG, s, NULL);
	ck_assert_uint_eq(AG.timers.n, 0);
	ck_assert_uint_eq(AG.sess.count, 0);
	free(c);
}
END_TEST

static bool in_list(const struct mmc_session *s)
{
	for (struct mmc_session *p = AG.sess.list; p; p = p->next)
		if (p == s)
			return true;
	return false;
}

/* Corrupts one ring index of a session holding a reservation; the agent
 * must close the session, drop the reservation, and leave others alone. */
static void corrupt_and_check(int how)
{
	struct mmc_session *s = new_session(), *other = new_session();
	struct mmc_client *c = new_client(s), *oc = new_client(other);
	struct mmc_ring_hdr *r = s->ring;
	uint64_t bad = MMC_STAT(&AG, bad_requests);
	uint32_t nsess = AG.sess.count;
	struct mmc_cqe res;
	struct mmc_found f;

	put(oc, other, "survivor", 4096);
	ck_assert_int_eq(call(c, s, MMC_OP_RESERVE, "doomed", 6, 8192, 0, 0, &res), 0);
	submit(c, MMC_OP_NOP, NULL, 0, 0, 0, 0);
	flush(c);
	switch (how) {
	case 0:   /* tail far beyond head */
		atomic_store(&r->sq_tail, atomic_load(&r->sq_head) + 100000);
		break;
	case 1:   /* tail behind head */
		atomic_store(&r->sq_tail, atomic_load(&r->sq_head) - 1);
		break;
	case 2:   /* the agent's head rewritten by the client */
		atomic_store(&r->sq_head, atomic_load(&r->sq_head) - 1);
		break;
	case 3:   /* consumed completions that were never produced */
		atomic_store(&r->cq_head, atomic_load(&r->cq_tail) + 5);
		break;
	}
	ck_assert(mmc_ring_pending(s) || how == 2);
	ck_assert_uint_eq(mmc_ring_serve(&AG, s), 0);
	ck_assert(s->closed);
	ck_assert(!in_list(s));
	ck_assert(in_list(other));
	ck_assert_uint_eq(AG.sess.count, nsess - 1);
	ck_assert_uint_eq(MMC_STAT(&AG, bad_requests), bad + 1);
	ck_assert_uint_eq(AG.obj.reservations, 0);
	ck_assert_uint_eq(AG.index.entries[res.idx].state, MMC_ENTRY_FREE);
	ck_assert_uint_eq(mmc_alloc_used(AG.alloc), 4096);   /* survivor only */
	mmc_session_free_zombies(&AG);
	ck_assert_int_eq(lookup(oc, "survivor", &f), 1);
	ck_assert_int_eq(call(oc, other, MMC_OP_REMOVE, "survivor", 8, 0, 0, 0, NULL), 0);
	ck_assert_int_eq(lookup(oc, "doomed", &f), 0);
	free(c);
	free(oc);
}

START_TEST(test_corrupt_ring_closes_session)
{
	corrupt_and_check(_i);
}
END_TEST

/* The eviction order holds exactly the n slots given, least recently used
 * first. */
static void expect_order(int n, ...)
{
	uint32_t slot = mmc_evict_first(AG.evict);
	va_list ap;

	ck_assert_uint_eq(mmc_evict_count(AG.evict), (unsigned)n);
	va_start(ap, n);
	for (int i = 0; i < n; i++, slot = mmc_evict_next(AG.evict, slot))
		ck_assert_uint_eq(slot, va_arg(ap, uint32_t));
	va_end(ap);
	ck_assert_uint_eq(slot, MMC_EVICT_END);
	ck_assert_int_eq(mmc_evict_check(AG.evict), 0);
}

START_TEST(test_touch_reorders_lru)
{
	struct mmc_session *s = new_session();
	struct mmc_client *c = new_client(s);
	struct mmc_cqe a = put(c, s, "A", 4096);
	struct mmc_cqe b = put(c, s, "B", 4096);
	struct mmc_cqe d = put(c, s, "C", 4096);

	expect_order(3, a.idx, b.idx, d.idx);
	mmc__touch(c, a.idx, a.gen);
	ck_assert_uint_eq(atomic_load(&s->ring->touch_tail), 1);
	mmc_readers_drain_all(&AG);
	ck_assert_uint_eq(atomic_load(&s->ring->touch_head), 1);
	expect_order(3, b.idx, d.idx, a.idx);
	/* Stale or impossible records are drained and ignored. */
	mmc__touch(c, b.idx, b.gen + 1);
	mmc__touch(c, NENTRIES + 3, 0);
	mmc__touch(c, UINT32_MAX - 1, 7);
	mmc_readers_drain_all(&AG);
	ck_assert_uint_eq(atomic_load(&s->ring->touch_head), 4);
	expect_order(3, b.idx, d.idx, a.idx);
	/* Several records at once: the last one touched ends up first. */
	mmc__touch(c, b.idx, b.gen);
	mmc__touch(c, d.idx, d.gen);
	mmc_readers_drain_all(&AG);
	expect_order(3, a.idx, b.idx, d.idx);
	/* A client lying about its tail is bounded by what it wrote. */
	atomic_store(&s->ring->touch_tail, atomic_load(&s->ring->touch_head) + 100000);
	mmc_readers_drain_all(&AG);
	ck_assert_uint_eq(atomic_load(&s->ring->touch_head), 6);
	ck_assert_uint_eq(atomic_load(&s->ring->counters.touch_drops), 0);
	free(c);
}
END_TEST

START_TEST(test_touch_log_full)
{
	struct mmc_session *s = new_session();
	struct mmc_client *c;
	struct mmc_ring_hdr *r = s->ring;
	const uint32_t start = UINT32_MAX - 100;   /* wraps while filling */
	struct mmc_cqe a, b;

	atomic_store(&r->touch_head, start);
	atomic_store(&r->touch_tail, start);
	c = new_client(s);
	a = put(c, s, "A", 4096);
	b = put(c, s, "B", 4096);
	expect_order(2, a.idx, b.idx);
	for (unsigned i = 0; i < MMC_TOUCH_SLOTS; i++)
		mmc__touch(c, a.idx, a.gen);
	ck_assert_uint_eq(atomic_load(&r->counters.touch_drops), 0);
	mmc__touch(c, b.idx, b.gen);
	mmc__touch(c, b.idx, b.gen);
	mmc__touch(c, b.idx, b.gen);
	ck_assert_uint_eq(atomic_load(&r->counters.touch_drops), 3);
	ck_assert_uint_eq(atomic_load(&r->touch_tail), start + MMC_TOUCH_SLOTS);
	mmc_readers_drain_all(&AG);
	ck_assert_uint_eq(atomic_load(&r->touch_head), start + MMC_TOUCH_SLOTS);
	expect_order(2, b.idx, a.idx);            /* B's were dropped */
	for (unsigned i = 0; i < MMC_TOUCH_SLOTS; i++)
		ck_assert_uint_eq(atomic_load(&s->touch[i]), 0);
	mmc__touch(c, b.idx, b.gen);
	ck_assert_uint_eq(atomic_load(&r->counters.touch_drops), 3);
	mmc_readers_drain_all(&AG);
	expect_order(2, a.idx, b.idx);
	free(c);
}
END_TEST

/* ---- the agent in a thread of its own ---- */

struct athread {
	_Atomic int stop;
	_Atomic unsigned spin;       /* idle turns before sleeping */
	unsigned sleeps, timeouts, waiters;
};

static bool any_pending(void)
{
	for (struct mmc_session *s = AG.sess.list; s; s = s->next)
		if (mmc_ring_pending(s))
			return true;
	return false;
}

/* loop.c in miniature: serve, spin a while, announce sleep, re-check,
 * sleep on the doorbells. */
static void *agent_main(void *arg)
{
	struct athread *t = arg;
	unsigned idle = 0;

	while (!atomic_load(&t->stop)) {
		unsigned work = 0;
		struct pollfd p[8];
		int n = 0;

		for (struct mmc_session *s = AG.sess.list; s; s = s->next) {
			if (s->closed || !mmc_ring_pending(s))
				continue;
			t->waiters += atomic_load(&s->ring->cq_waiting);
			work += mmc_ring_serve(&AG, s);
		}
		mmc_readers_drain_all(&AG);
		mmc_object_reap(&AG);
		if (work) {
			idle = 0;
			continue;
		}
		if (idle++ < atomic_load(&t->spin)) {
			cpu_relax();
			continue;
		}
		atomic_store(&AG.hdr->agent_sleeping, 1);
		atomic_thread_fence(memory_order_seq_cst);
		if (any_pending() || atomic_load(&t->stop)) {
			atomic_store(&AG.hdr->agent_sleeping, 0);
			continue;
		}
		for (struct mmc_session *s = AG.sess.list; s && n < 8; s = s->next)
			p[n++] = (struct pollfd){ .fd = s->sock, .events = POLLIN };
		t->sleeps++;
		if (poll(p, n, 2000) == 0 && !atomic_load(&t->stop))
			t->timeouts++;   /* a doorbell was lost */
		for (int i = 0; i < n; i++)
			while (recv(p[i].fd, &(uint64_t){ 0 }, 8, MSG_DONTWAIT) > 0)
				;
		atomic_store(&AG.hdr->agent_sleeping, 0);
		idle = 0;
		/* Now and then answer late, so clients give up spinning and
		 * sleep until a wake-up comes on their socket. */
		if (t->sleeps % 8 == 0)
			usleep(1000);
	}
	return NULL;
}

struct worker {
	struct mmc_client *c;
	int id, errors;
	char why[128];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char k[32];

	for (int i = 0; i < 600 && !w->errors; i++) {
		struct mmc_cqe r, out;
		struct mmc_found f;
		int ret;

		snprintf(k, sizeof(k), "w%d-%d", w->id, i);
		ret = mmc__call(w->c, MMC_OP_RESERVE, k, strlen(k), 4096 * (1 + i % 4), 0, 0, &r);
		if (ret == 0)
			ret = mmc__call(w->c, MMC_OP_COMMIT, NULL, 0, 0, r.idx, r.gen, &out);
		if (ret == 0 && (mmc__lookup(w->c, k, strlen(k), &f) != 1 ||
				 f.loc != r.off || f.len != 4096u * (1 + i % 4)))
			ret = -EIO;
		if (ret == 0 && i % 3 == 0)
			ret = mmc__call(w->c, MMC_OP_REMOVE, k, strlen(k), 0, 0, 0, &out);
		/* a pipeline of NOPs, each answer under its own tag */
		if (ret == 0 && i % 50 == 0) {
			struct mmc_req nops[64] = { { .op = MMC_OP_NOP } };
			struct mmc_cqe outs[64];

			for (int j = 1; j < 64; j++)
				nops[j] = nops[0];
			ret = mmc__pipeline(w->c, 64, nops, outs);
			for (int j = 0; j < 64 && !ret; j++) {
				if (outs[j].res)
					ret = -EPROTO;
				for (int m = 0; m < j; m++)   /* each answer its own */
					if (outs[m].tag == outs[j].tag)
						ret = -EPROTO;
			}
		}
		if (ret) {
			w->errors++;
			snprintf(w->why, sizeof(w->why), "worker %d key %s: %d", w->id, k, ret);
		}
	}
	return NULL;
}

START_TEST(test_agent_thread)
{
	struct mmc_session *s1 = new_session(), *s2 = new_session();
	struct worker w[2] = { { .c = new_client(s1), .id = 1 },
			       { .c = new_client(s2), .id = 2 } };
	struct athread t = { .spin = 1u << 30 };
	pthread_t at, wt[2];

	ck_assert_int_eq(pthread_create(&at, NULL, agent_main, &t), 0);
	/* Round 1: the agent mostly spins; round 2: it sleeps whenever idle,
	 * so every request goes through the doorbell and the wake-up. */
	for (int round = 0; round < 2; round++) {
		atomic_store(&t.spin, round ? 0 : 1u << 30);
		for (int i = 0; i < 2; i++) {
			w[i].id = 1 + i + 2 * round;
			ck_assert_int_eq(pthread_create(&wt[i], NULL, worker_main, &w[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(wt[i], NULL);
			ck_assert_msg(!w[i].errors, "%s", w[i].why);
		}
	}
	atomic_store(&t.stop, 1);
	for (struct mmc_session *s = AG.sess.list; s; s = s->next)
		(void)!send(CLIENT_END[s->id], &(uint8_t){ MMC_MSG_BELL }, 1, MSG_DONTWAIT);
	pthread_join(at, NULL);
	fprintf(stderr, "agent_thread: agent slept %u times, found %u clients asleep\n",
		t.sleeps, t.waiters);
	ck_assert_uint_gt(t.sleeps, 0);
	ck_assert_uint_gt(t.waiters, 0);
	ck_assert_uint_eq(t.timeouts, 0);
	ck_assert_uint_eq(AG.obj.objects, 4 * 400);
	ck_assert_uint_eq(AG.obj.reservations, 0);
	ck_assert_uint_eq(MMC_STAT(&AG, bad_requests), 0);
	ck_assert(!s1->closed && !s2->closed);
	ck_assert_int_eq(mmc_alloc_check(AG.alloc), 0);
	free(w[0].c);
	free(w[1].c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ring");
	TCase *t = add_tcase(s, "ops", 60);

	tcase_add_checked_fixture(t, setup, teardown);
	add_tests(t, TESTS(test_reserve_commit_lookup, test_reserve_exists_busy,
			   test_commit_invalid, test_abort_frees, test_remove,
			   test_bad_requests, test_index_wraparound, test_cq_never_overflows,
			   test_parked_answer_later));
	tcase_add_loop_test(t, test_corrupt_ring_closes_session, 0, 4);
	add_tests(t, TESTS(test_touch_reorders_lru, test_touch_log_full));
	/* Apart: qemu-user (the arm64 cross check) runs the single-threaded
	 * case only; spinning threads barely progress under emulation. */
	t = add_tcase(s, "threads", 60);
	tcase_add_checked_fixture(t, setup, teardown);
	add_tests(t, TESTS(test_agent_thread));
	return run_suite(s);   /* CK_VERBOSITY=verbose lists tests */
}
