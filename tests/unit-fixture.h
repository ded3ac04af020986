/*
 * unit-fixture.h - what the unit tests that run libshm's reader side against
 * the agent's writer side in one process (test_index, test_ring) share: a
 * session's ring region in plain memory, laid out by session.c itself, and
 * a client's view of an index and a ring built by hand.  Header-only: those
 * tests link the agent core and libshm sources, not harness.c.
 */
#ifndef MMC_TESTS_UNIT_FIXTURE_H
#define MMC_TESTS_UNIT_FIXTURE_H

#include <check.h>
#include <pthread.h>
#include <sys/mman.h>

#include "agent.h"
#include "client.h"
#include "ring.h"

/* Maps mmc_ring_region_size() bytes of zeroed shared memory and lays them
 * out with session.c's mmc_ring_layout(r, client_id), as ring_create() does
 * with the memfd; asserts the regions fit.  munmap(r, r->size) frees it. */
static inline struct mmc_ring_hdr *fake_ring(uint32_t client_id)
{
	size_t size = mmc_ring_region_size();
	struct mmc_ring_hdr *r = mmap(NULL, size, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(r, MAP_FAILED);
	mmc_ring_layout(r, client_id);
	ck_assert_uint_eq(r->size, size);
	ck_assert_uint_le(r->touch_off + MMC_TOUCH_SLOTS * sizeof(uint64_t), size);
	return r;
}

/* Fills c as mmc_connect() + check_ring() would: index ix (meta_size bytes
 * of metadata), a data region of data_size bytes, ring r with the pointers
 * its header's offsets give; no socket (-1). */
static inline void fake_client(struct mmc_client *c, const struct mmc_index *ix,
			       size_t meta_size, uint64_t data_size,
			       struct mmc_ring_hdr *r)
{
	*c = (struct mmc_client){
		.sock = -1, .stop_efd = -1,
		.hdr = ix->hdr, .meta_size = meta_size, .buckets = ix->buckets,
		.entries = ix->entries, .nentries = ix->nentries,
		.mask = ix->mask, .seed = ix->seed, .data_size = data_size,
		.ring = r, .ring_size = r->size, .client_id = r->client_id,
		.sq = (struct mmc_sqe *)((char *)r + r->sq_off),
		.cq = (struct mmc_cqe *)((char *)r + r->cq_off),
		.pins = (_Atomic uint64_t *)((char *)r + r->pins_off),
		.touch = (_Atomic uint64_t *)((char *)r + r->touch_off),
		.sq_tail = atomic_load(&r->sq_tail), .cq_head = atomic_load(&r->cq_head),
	};
	pthread_mutex_init(&c->sq_lock, NULL);
	pthread_mutex_init(&c->cq_lock, NULL);
	pthread_cond_init(&c->slot_cond, NULL);
	pthread_cond_init(&c->cq_cond, NULL);
}

#endif
