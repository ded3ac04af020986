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

struct mmc_client {
	int sock, bell_wr, wake_rd, stop_efd;
	/* meta region, read-only */
	const struct mmc_meta_hdr *hdr;
	size_t meta_size;
	const struct mmc_bucket *buckets;
	const struct mmc_entry *entries;
	uint32_t nentries, mask;
	uint64_t seed;
	/* data region */
	uint8_t *data;
	uint64_t data_size;
	/* this session's ring region */
	struct mmc_ring_hdr *ring;
	size_t ring_size;
	struct mmc_sqe *sq;
	struct mmc_cqe *cq;
	_Atomic uint64_t *pins;
	_Atomic uint64_t *touch;
	_Atomic uint32_t pin_hint;
	/* requests: one thread at a time owns the ring */
	pthread_mutex_t ring_lock;
	uint32_t sq_tail, cq_head;     /* private copies */
	_Atomic int dead;              /* the agent went away */
	pthread_t watcher;
	bool watcher_started;
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
/* The bodies of mmc_exists() and mmc_getv(), for a key whose hash the
 * caller has (hash == NULL: compute it). */
int mmc__exists(struct mmc_client *c, const void *key, size_t key_len,
		const uint64_t *hash);
int mmc__getv(struct mmc_client *c, const void *key, size_t key_len,
	      const uint64_t *hash, const struct iovec *iov, int iovcnt,
	      size_t *out_len);
int mmc__check_key(const void *key, size_t key_len);
/* 0; -ECHILD in a child of the process that connected c; -ENOTCONN once
 * the agent is gone or stopping. */
int mmc__alive(struct mmc_client *c);

/* ring.c: the one path to the agent.  Hold ring_lock around a sequence of
 * submit, flush and wait calls. */
int mmc__submit(struct mmc_client *c, uint8_t op, const void *key,
		size_t key_len, uint64_t arg, uint32_t idx, uint32_t gen);
void mmc__flush(struct mmc_client *c);
int mmc__wait(struct mmc_client *c, struct mmc_cqe *out);
/* submit + flush + wait for one request; takes ring_lock itself. */
int mmc__call(struct mmc_client *c, uint8_t op, const void *key, size_t key_len,
	      uint64_t arg, uint32_t idx, uint32_t gen, struct mmc_cqe *out);

#define CTR_ADD(c, field, v) \
	atomic_fetch_add_explicit(&(c)->ring->counters.field, (v), memory_order_relaxed)

#endif
