/*
 * client.h - libshm's private view of one session (struct mmc_client).
 *
 * Every pointer here points into a mapping received from the agent; the
 * sizes next to them were checked against fstat() at connect time, and every
 * offset read from shared memory later is checked against them again before
 * it is dereferenced (an agent bug must not become a wild read in a worker).
 */
#ifndef MMC_LIBSHM_CLIENT_H
#define MMC_LIBSHM_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mmc/mmc.h"
#include "layout-t.h"
#include "proto-t.h"

/* One request in flight: the slot its tag names, where its answer lands. */
struct mmc_waiter {
	_Atomic uint32_t state;        /* free, busy (in flight), done */
	uint32_t tag;                  /* the tag of the request in flight */
	struct mmc_cqe cqe;            /* its answer, once done */
};

struct mmc_client {
	int sock, stop_efd;    /* sock: also doorbells out, wake-ups in */
	/* meta region, read-only */
	const struct mmc_meta_hdr *hdr;
	size_t meta_size;
	const struct mmc_bucket *buckets;
	const struct mmc_entry *entries;
	uint32_t nentries, mask;
	const struct mmc_ssd_bucket *ssd;   /* objects on the SSD tier, or NULL */
	uint32_t ssd_nbuckets;
	bool pool;                          /* the agent is in a pool: ask it on a miss */
	uint64_t seed;
	/* data region */
	uint8_t *data;
	uint64_t data_size;
	_Atomic int verify;            /* enum mmc_verify in force (never AGENT) */
	/* this session's ring region */
	struct mmc_ring_hdr *ring;
	size_t ring_size;
	struct mmc_sqe *sq;
	struct mmc_cqe *cq;
	_Atomic uint64_t *pins;
	_Atomic uint64_t *touch;
	_Atomic uint32_t pin_hint;
	/* [limits] from the ring header (0: none): pin slots [0, pin_max) only,
	 * and pins of objects over pin_small count their bytes in pinned_large,
	 * which may not pass pin_bytes_max (-EDQUOT) */
	uint32_t pin_max;
	uint64_t pin_bytes_max, pin_small;
	_Atomic uint64_t pinned_large;
	/* requests (ring.c): submitters take sq_lock only to write and publish */
	pthread_mutex_t sq_lock;
	uint32_t sq_tail;              /* under sq_lock: private copy */
	uint32_t tag_seq;              /* under sq_lock: high bits of tags */
	_Atomic unsigned slot_hint;    /* where a claim looks first */
	_Atomic uint32_t slot_waiters; /* submitters waiting for a free slot */
	pthread_cond_t slot_cond;      /* with sq_lock: a slot was freed */
	/* answers: whoever holds the reaping flag files them into their slots */
	_Atomic int reaping;
	uint32_t cq_head;              /* under reaping: private copy */
	pthread_mutex_t cq_lock;       /* the slow path: pollers and sleepers */
	pthread_cond_t cq_cond;        /* with cq_lock: answers were filed */
	_Atomic uint32_t cq_sleepers;  /* threads in cq_cond */
	bool poller;                   /* under cq_lock: a thread sleeps in poll() */
	struct mmc_waiter waiters[MMC_CQ_ENTRIES];
	_Atomic int dead;              /* the agent went away */
	pthread_t watcher;
	bool watcher_started;
	bool watcher_running;  /* set by the watcher (under cq_lock) once it runs */
	uint32_t client_id;
	unsigned fork_gen;             /* mmc__fork_gen when connected */
	char stats_path[108];
};

/* connect.c: how many fork()s this process descends from since libshm was
 * first used (pthread_atfork bumps it in every child).  A client whose
 * fork_gen differs was connected by an ancestor: its session is not ours. */
extern _Atomic unsigned mmc__fork_gen;

static inline bool mmc__forked(const struct mmc_client *c)
{
	return c->fork_gen != atomic_load_explicit(&mmc__fork_gen, memory_order_relaxed);
}

/* A committed object found in the index. */
struct mmc_found {
	uint32_t idx, gen, seq;
	uint8_t  tier;
	uint64_t loc, len;
};

/* lookup.c: lock-free index reads, pins and touches.  No system calls. */
/* 1 committed object found, 0 absent (or not readable yet), -errno.
 * The _h forms take the key's hash when the caller has it already. */
int mmc__lookup(struct mmc_client *c, const void *key, size_t key_len,
		struct mmc_found *f);
int mmc__lookup_h(struct mmc_client *c, const void *key, size_t key_len,
		  uint64_t hash, struct mmc_found *f);
/* Looks key up and pins it: 0 (*slot holds the pin), -ENOENT, -errno. */
int mmc__pin(struct mmc_client *c, const void *key, size_t key_len,
	     struct mmc_found *f, uint32_t *slot);
int mmc__pin_h(struct mmc_client *c, const void *key, size_t key_len,
	       uint64_t hash, struct mmc_found *f, uint32_t *slot);
void mmc__unpin(struct mmc_client *c, uint32_t slot);
void mmc__touch(struct mmc_client *c, uint32_t idx, uint32_t gen);
/* Starts the cache misses that lookups of up to MMC_PREFETCH_GROUP keys
 * will take (bucket, then the chain's first entry), all at once: a batch
 * then pays about one memory latency per group instead of two per key.
 * hashes[i] gets each key's hash for the _h calls (0 for an invalid key,
 * which those calls never see: they check keys first).  Only a hint: it
 * relies on nothing it reads and changes nothing. */
#define MMC_PREFETCH_GROUP 16
void mmc__prefetch(struct mmc_client *c, const void *const *keys,
		   const size_t *key_lens, size_t n, uint64_t *hashes);
/* 1 if an object with this key hash is on the SSD tier (its full key is
 * checked when the agent reads it back), else 0.  No system call. */
int mmc__on_ssd(const struct mmc_client *c, uint64_t hash);
/* The bodies of mmc_exists(), mmc_getv() and mmc_acquire(), for a key
 * whose hash the caller has (hash == NULL: compute it).  mmc__getv and
 * mmc__acquire with fetch false return MMC__ON_SSD, uncounted, for a key
 * that is only on SSD or (in a pool) not here (the caller fetches many at
 * once, then reads them again). */
#define MMC__ON_SSD (-1000)
int mmc__exists(struct mmc_client *c, const void *key, size_t key_len,
		const uint64_t *hash);
int mmc__getv(struct mmc_client *c, const void *key, size_t key_len,
	      const uint64_t *hash, const struct iovec *iov, int iovcnt,
	      size_t *out_len, bool fetch);
int mmc__acquire(struct mmc_client *c, const void *key, size_t key_len,
		 const uint64_t *hash, struct mmc_view *v, bool fetch);
int mmc__check_key(const void *key, size_t key_len);
/* 0; -ECHILD in a child of the process that connected c; -ENOTCONN once
 * the agent is gone or stopping. */
int mmc__alive(struct mmc_client *c);

/* ring.c: the one path to the agent.
 *
 * mmc__submit() (sq_lock held) claims a waiter slot and writes one request;
 * *tag names it.  With no slot free it returns -EAGAIN, or with wait_slot
 * waits for one (only a caller that holds no unanswered slot may wait:
 * slots are freed by their owners' waits).  -ENAMETOOLONG for a key over
 * MMC_KEY_MAX.  mmc__flush() (sq_lock held) publishes what was submitted
 * and rings the doorbell if the agent sleeps.  mmc__wait() (no lock held)
 * waits for the answer to tag, copies it to *out and frees the slot: 0, or
 * -ENOTCONN/-errno when the session died. */
int mmc__submit(struct mmc_client *c, uint8_t op, const void *key,
		size_t key_len, uint64_t arg, uint32_t idx, uint32_t gen,
		bool wait_slot, uint32_t *tag);
void mmc__flush(struct mmc_client *c);
int mmc__wait(struct mmc_client *c, uint32_t tag, struct mmc_cqe *out);
/* submit + flush + wait for one request; returns the answer's res (or the
 * session's error), *out the answer. */
int mmc__call(struct mmc_client *c, uint8_t op, const void *key, size_t key_len,
	      uint64_t arg, uint32_t idx, uint32_t gen, struct mmc_cqe *out);

/* One request of a pipeline. */
struct mmc_req {
	uint8_t op;
	uint16_t key_len;
	const void *key;
	uint64_t arg;
	uint32_t idx, gen;
	uint64_t weight;       /* what it holds while in flight (a fetch: bytes) */
};
#define MMC_PIPELINE_MAX 128   /* requests a pipeline keeps in flight */
/* Runs reqs[0..n) through the ring, up to MMC_PIPELINE_MAX (and as many as
 * free slots allow) in flight at once; cqes[i] gets each answer (or the
 * error that kept it from being sent in .res).  0, or -errno when the
 * session failed (cqes then partly unset). */
int mmc__pipeline(struct mmc_client *c, size_t n, const struct mmc_req *reqs,
		  struct mmc_cqe *cqes);
/* The same, calling on_done(arg, i) as soon as request i is answered, in
 * order, while the later ones are still in flight (a batch get copies one
 * fetched value while the agent brings the next); each answer lets the next
 * request go.  budget (0: none) bounds the sum of the weights in flight,
 * one request always allowed: fetched values that must all fit in DRAM
 * until they are read. */
int mmc__pipeline_each(struct mmc_client *c, size_t n, const struct mmc_req *reqs,
		       struct mmc_cqe *cqes, void (*on_done)(void *arg, size_t i), void *arg,
		       uint64_t budget);

/* verify.c: checksums (docs/hardening.md, "Integrity").
 * mmc__verify_init() (at connect) takes the agent's default mode and builds
 * the crc tables once per process.  mmc__copy_crc() copies n bytes and
 * returns crc continued over them; mmc__crc() is the crc of n bytes.
 * mmc__verify_copy() checks what a get copied of the pinned object f into
 * iov (f->len bytes): 1 good, 0 no checksum stored, -ENOENT bad (the
 * copied bytes zeroed, counted, the object dropped). */
void mmc__verify_init(struct mmc_client *c);
uint32_t mmc__copy_crc(void *dst, const void *src, size_t n, uint32_t crc);
uint32_t mmc__crc(const void *p, size_t n);
int mmc__verify_copy(struct mmc_client *c, const struct mmc_found *f,
		     const struct iovec *iov, int iovcnt);

/* Should this copying get be checked?  Per the client's mode; SAMPLED
 * checks every MMC_VERIFY_SAMPLE-th get of the calling thread. */
extern _Thread_local uint32_t mmc__verify_tick;
static inline bool mmc__verify_due(struct mmc_client *c)
{
	int m = atomic_load_explicit(&c->verify, memory_order_relaxed);

	if (m == MMC_VERIFY_OFF)
		return false;
	return m == MMC_VERIFY_ALWAYS || ++mmc__verify_tick % MMC_VERIFY_SAMPLE == 0;
}

/* Does a put of this client send a checksum?  Not in mode OFF. */
static inline bool mmc__verify_writes(struct mmc_client *c)
{
	return atomic_load_explicit(&c->verify, memory_order_relaxed) != MMC_VERIFY_OFF;
}

#define CTR_ADD(c, field, v) \
	atomic_fetch_add_explicit(&(c)->ring->counters.field, (v), memory_order_relaxed)

#endif
