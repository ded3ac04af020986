/*
 * index.c - the key index, writer side.  See index.h for the promises made
 * to lock-free readers and docs/index-concurrency.md for why they suffice.
 *
 * Buckets: twice as many as entries, rounded up to a power of two, so the
 * average chain holds at most half an entry and a miss usually touches one
 * cache line.  Entries are a fixed array sized at start-up (arena.max_objects),
 * so an index never moves and offsets in the meta region stay valid forever.
 *
 * Every store to a field that clients read (entries and bucket heads) is a
 * relaxed atomic store (ST, store_key): clients read them with relaxed
 * atomic loads while this thread may be writing, and only the seqlocks
 * tell them whether what they read was consistent.  Expressed this way the
 * protocol is free of data races in the C memory model, and ThreadSanitizer
 * agrees (tests/test_index under MMC_TSAN, in CI).  Reads here are plain:
 * the agent is the only writer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"

#define ENTRY_LINKED 1u       /* entry->flags: in a hash chain */

static uint32_t buckets_for(uint32_t nentries)
{
	uint64_t n = 1;

	while (n < (uint64_t)nentries * 2)
		n <<= 1;
	return n > (1u << 31) ? (1u << 31) : (uint32_t)n;
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

size_t mmc_index_meta_size(uint32_t nentries)
{
	size_t sz = align_up(sizeof(struct mmc_meta_hdr), 4096);

	sz += align_up((size_t)buckets_for(nentries) * sizeof(struct mmc_bucket), 4096);
	sz += align_up((size_t)nentries * sizeof(struct mmc_entry), 4096);
	return sz;
}

int mmc_index_init(struct mmc_index *ix, void *meta, size_t meta_size,
		   uint32_t nentries, uint64_t seed)
{
	struct mmc_meta_hdr *h = meta;
	uint32_t nb = buckets_for(nentries);

	if (!nentries || nentries >= MMC_NO_ENTRY ||
	    meta_size < mmc_index_meta_size(nentries))
		return -EINVAL;
	memset(ix, 0, sizeof(*ix));
	ix->free_next = calloc(nentries, sizeof(uint32_t));
	if (!ix->free_next)
		return -ENOMEM;
	h->hdr_size = sizeof(*h);
	h->meta_size = meta_size;
	h->buckets_off = align_up(sizeof(*h), 4096);
	h->entries_off = h->buckets_off +
		align_up((size_t)nb * sizeof(struct mmc_bucket), 4096);
	h->nbuckets = nb;
	h->nentries = nentries;
	h->hash_seed = seed;
	ix->hdr = h;
	ix->buckets = (struct mmc_bucket *)((char *)meta + h->buckets_off);
	ix->entries = (struct mmc_entry *)((char *)meta + h->entries_off);
	ix->nentries = nentries;
	ix->mask = nb - 1;
	ix->seed = seed;
	/* Free list in ascending order so low slots (warm cache lines) go first. */
	for (uint32_t i = 0; i < nentries; i++)
		ix->free_next[i] = i + 1 < nentries ? i + 1 : MMC_NO_ENTRY;
	ix->free_head = 0;
	ix->nfree = nentries;
	return 0;
}

void mmc_index_destroy(struct mmc_index *ix)
{
	free(ix->free_next);
	ix->free_next = NULL;
}

/* A relaxed atomic store of a field clients read. */
#define ST(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

/* The key, zero-padded to MMC_KEY_MAX, in relaxed atomic 8-byte words:
 * clients compare it word by word (libshm/lookup.c) while it may change. */
static void store_key(struct mmc_entry *e, const void *key, uint16_t key_len)
{
	uint64_t *w = (uint64_t *)(void *)e->key;

	for (size_t off = 0; off < MMC_KEY_MAX; off += 8) {
		uint64_t v = 0;

		if (off < key_len)
			memcpy(&v, (const uint8_t *)key + off, key_len - off < 8 ? key_len - off : 8);
		ST(w[off / 8], v);
	}
}

/* Seqlock write side: odd before the first store, even after the last. */
static void seq_begin(_Atomic uint32_t *seq)
{
	atomic_store_explicit(seq, atomic_load_explicit(seq, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void seq_end(_Atomic uint32_t *seq)
{
	atomic_store_explicit(seq, atomic_load_explicit(seq, memory_order_relaxed) + 1,
			      memory_order_release);
}

uint32_t mmc_index_find(const struct mmc_index *ix, const void *key,
			uint16_t key_len, uint64_t hash)
{
	const struct mmc_bucket *b = &ix->buckets[hash & ix->mask];

	for (uint32_t cur = b->head; cur; cur = ix->entries[cur - 1].next) {
		const struct mmc_entry *e = &ix->entries[cur - 1];

		if (e->hash == hash && e->key_len == key_len &&
		    !memcmp(e->key, key, key_len))
			return cur - 1;
	}
	return MMC_NO_ENTRY;
}

int mmc_index_insert(struct mmc_index *ix, const void *key, uint16_t key_len,
		     uint64_t hash, uint64_t value_len, uint8_t tier,
		     uint64_t loc, uint32_t *idx)
{
	struct mmc_bucket *b = &ix->buckets[hash & ix->mask];
	struct mmc_entry *e;
	uint32_t i = ix->free_head;

	if (!key_len || key_len > MMC_KEY_MAX)
		return -EINVAL;
	if (i == MMC_NO_ENTRY)
		return -ENOSPC;
	ix->free_head = ix->free_next[i];
	ix->nfree--;
	e = &ix->entries[i];

	seq_begin(&e->seq);
	ST(e->state, MMC_ENTRY_RESERVED);
	ST(e->tier, tier);
	ST(e->key_len, key_len);
	ST(e->hash, hash);
	ST(e->value_len, value_len);
	ST(e->loc, loc);
	ST(e->loc_dev, 0);
	ST(e->flags, ENTRY_LINKED);
	store_key(e, key, key_len);
	ST(e->next, b->head);
	seq_end(&e->seq);

	seq_begin(&b->seq);
	ST(b->head, i + 1);
	seq_end(&b->seq);
	*idx = i;
	return 0;
}

void mmc_index_commit(struct mmc_index *ix, uint32_t idx, const uint32_t *crc)
{
	struct mmc_entry *e = &ix->entries[idx];

	seq_begin(&e->seq);
	if (crc) {
		ST(e->crc, *crc);
		ST(e->flags, e->flags | MMC_ENTRY_CRC);
	} else {
		ST(e->flags, e->flags & ~MMC_ENTRY_CRC);
	}
	ST(e->state, MMC_ENTRY_COMMITTED);
	seq_end(&e->seq);
	atomic_thread_fence(memory_order_seq_cst);
}

void mmc_index_stamp_crc(struct mmc_index *ix, uint32_t idx, uint32_t crc)
{
	struct mmc_entry *e = &ix->entries[idx];

	ST(e->crc, crc);
	atomic_thread_fence(memory_order_release);
	ST(e->flags, e->flags | MMC_ENTRY_CRC);
}

void mmc_index_set_state(struct mmc_index *ix, uint32_t idx, uint8_t state)
{
	struct mmc_entry *e = &ix->entries[idx];

	seq_begin(&e->seq);
	ST(e->state, state);
	seq_end(&e->seq);
	/* Publishing a state (EVICTING above all) must be visible before the
	 * caller reads any client's pin table: store-load ordering. */
	atomic_thread_fence(memory_order_seq_cst);
}

void mmc_index_unlink(struct mmc_index *ix, uint32_t idx, uint8_t state)
{
	struct mmc_entry *e = &ix->entries[idx];
	struct mmc_bucket *b = &ix->buckets[e->hash & ix->mask];

	if (e->flags & ENTRY_LINKED) {
		uint32_t *link = &b->head;

		while (*link && *link != idx + 1)
			link = &ix->entries[*link - 1].next;
		seq_begin(&b->seq);
		if (*link)
			ST(*link, e->next);   /* e->next stays: see index.h */
		seq_end(&b->seq);
	}
	seq_begin(&e->seq);
	ST(e->flags, e->flags & ~ENTRY_LINKED);
	ST(e->state, state);
	seq_end(&e->seq);
	atomic_thread_fence(memory_order_seq_cst);
}

void mmc_index_free(struct mmc_index *ix, uint32_t idx)
{
	struct mmc_entry *e = &ix->entries[idx];

	if (e->flags & ENTRY_LINKED)
		mmc_index_unlink(ix, idx, MMC_ENTRY_FREE);
	seq_begin(&e->seq);
	ST(e->state, MMC_ENTRY_FREE);
	ST(e->gen, e->gen + 1);
	ST(e->tier, MMC_TIER_NONE);
	ST(e->value_len, 0);
	seq_end(&e->seq);
	ix->free_next[idx] = ix->free_head;
	ix->free_head = idx;
	ix->nfree++;
}
