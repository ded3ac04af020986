/*
 * lookup.c - the system-call-free half of libshm: index lookups, pins and
 * access records, all in shared memory.
 *
 * Readers never lock.  The agent changes an entry only between two increments
 * of its seq, and a chain's shape only between two increments of its
 * bucket's seq (agent/index.c).  A lookup therefore:
 *
 *   1. reads the bucket seq (even), walks the chain, and for a candidate entry
 *      reads its seq (even), compares hash, length and key, copies the fields
 *      it needs, and re-reads the entry seq: unchanged = a consistent copy;
 *   2. for a miss, re-reads the bucket seq: unchanged = the chain it walked
 *      was the whole chain, so the key really is absent.
 *
 * A pin (to read the value in place) writes (idx, gen) into a free slot of
 * this session's pin table with a sequentially consistent CAS and re-reads the
 * entry's seq: if it is still the seq of step 1, the agent had not started to
 * evict or remove the object when the pin became visible, so it will see the
 * pin before it frees anything.  Otherwise the pin is withdrawn and the
 * lookup starts again.  docs/index-concurrency.md has the full argument.
 */
#include <errno.h>
#include <stdbool.h>
#include <sched.h>
#include <string.h>

#include "client.h"
#include "cpu.h"
#include "keyhash.h"

#define MAX_RETRIES 1024
#define YIELD_AFTER 64

int mmc__check_key(const void *key, size_t key_len)
{
	if (!key || !key_len)
		return -EINVAL;
	if (key_len > MMC_KEY_MAX)
		return -ENAMETOOLONG;
	return 0;
}

_Atomic unsigned mmc__fork_gen;   /* bumped in children by connect.c's atfork */

int mmc__alive(struct mmc_client *c)
{
	if (!c)
		return -EINVAL;
	if (mmc__forked(c))
		return -ECHILD;
	if (atomic_load_explicit(&c->dead, memory_order_relaxed) ||
	    atomic_load_explicit(&c->hdr->agent_state, memory_order_relaxed) !=
	    MMC_AGENT_RUNNING)
		return -ENOTCONN;
	return 0;
}

static inline uint32_t load32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline uint64_t load64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* The entry's key equals key (both key_len bytes long): compared in the
 * relaxed atomic 8-byte words the agent stores (agent/index.c, store_key),
 * the entry's bytes past key_len being zero.  A torn read compares wrong
 * at worst; the caller's seq check rejects it. */
static inline bool key_equal(const struct mmc_entry *e, const void *key, uint16_t key_len)
{
	const uint64_t *w = (const uint64_t *)(const void *)e->key;
	const uint8_t *k = key;
	uint64_t v, diff = 0;
	size_t off = 0;

	for (; off + 8 <= key_len; off += 8) {   /* no branch per word */
		memcpy(&v, k + off, 8);
		diff |= load64(&w[off / 8]) ^ v;
	}
	if (off < key_len) {
		v = 0;
		memcpy(&v, k + off, key_len - off);
		diff |= load64(&w[off / 8]) ^ v;
	}
	return !diff;
}

#define EVICTING 2

/* One attempt: 1 found (f filled), 0 absent, EVICTING (being judged by the
 * agent's pin scan), -EAGAIN torn (retry). */
static int lookup_once(struct mmc_client *c, const void *key, uint16_t key_len,
		       uint64_t hash, struct mmc_found *f)
{
	const struct mmc_bucket *b = &c->buckets[hash & c->mask];
	uint32_t bseq = atomic_load_explicit(&b->seq, memory_order_acquire);
	uint32_t cur, steps = 0;

	if (bseq & 1)
		return -EAGAIN;
	cur = load32(&b->head);
	while (cur) {
		const struct mmc_entry *e;
		uint32_t eseq;

		if (cur > c->nentries || ++steps > c->nentries)
			return -EAGAIN;
		e = &c->entries[cur - 1];
		eseq = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (eseq & 1)
			return -EAGAIN;
		if (load64(&e->hash) == hash &&
		    __atomic_load_n(&e->key_len, __ATOMIC_RELAXED) == key_len &&
		    key_equal(e, key, key_len)) {
			f->idx = cur - 1;
			f->seq = eseq;
			f->gen = load32(&e->gen);
			f->tier = __atomic_load_n(&e->tier, __ATOMIC_RELAXED);
			f->loc = load64(&e->loc);
			f->len = load64(&e->value_len);
			uint8_t state = __atomic_load_n(&e->state, __ATOMIC_RELAXED);
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&e->seq, memory_order_relaxed) != eseq)
				return -EAGAIN;
			if (state == MMC_ENTRY_EVICTING)
				return EVICTING;
			return state == MMC_ENTRY_COMMITTED ? 1 : 0;
		}
		cur = load32(&e->next);
	}
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&b->seq, memory_order_relaxed) != bseq)
		return -EAGAIN;
	return 0;
}

int mmc__lookup(struct mmc_client *c, const void *key, size_t key_len,
		struct mmc_found *f)
{
	return mmc__lookup_h(c, key, key_len, mmc_key_hash(c->seed, key, key_len), f);
}

int mmc__lookup_h(struct mmc_client *c, const void *key, size_t key_len,
		  uint64_t hash, struct mmc_found *f)
{
	for (int i = 0; i < MAX_RETRIES; i++) {
		int r = lookup_once(c, key, (uint16_t)key_len, hash, f);

		/* EVICTING lasts one pin scan and may end in COMMITTED again:
		 * ask again rather than report a false miss, but a miss is the
		 * right answer if the agent does not decide in time. */
		if (r == EVICTING && i == MAX_RETRIES - 1)
			return 0;
		if (r != -EAGAIN && r != EVICTING)
			return r;
		cpu_relax();
		/* A writer descheduled mid-change (two cores, busy machine) needs
		 * the core back; only this contended path makes a system call. */
		if (i >= YIELD_AFTER)
			sched_yield();
	}
	/* The agent held a seqlock odd for ~a million cycles: it died mid-write
	 * or is stopped.  Never spin forever in a worker. */
	return mmc__alive(c) ? -ENOTCONN : -EAGAIN;
}

int mmc__on_ssd(const struct mmc_client *c, uint64_t hash)
{
	uint64_t tag = MMC_SSD_TAG(hash);
	uint32_t b;

	if (!c->ssd)
		return 0;
	b = MMC_SSD_HOME(hash, c->ssd_nbuckets);
	/* agent/ssd_index.c: a hash is in its home bucket or, when that one
	 * overflowed, in one of the next. */
	for (uint32_t n = 0; n < c->ssd_nbuckets; n++,
	     b = b + 1 == c->ssd_nbuckets ? 0 : b + 1) {
		const struct mmc_ssd_bucket *k = &c->ssd[b];

		for (unsigned w = 0; w < MMC_SSD_WAYS; w++)
			if (atomic_load_explicit(&k->tag[w], memory_order_acquire) == tag)
				return 1;
		if (!atomic_load_explicit(&k->overflow, memory_order_acquire))
			break;
	}
	return 0;
}

/* Claims a free pin slot with word, below the session's pin_max (the agent
 * reads no slot above); returns the slot or -ENOBUFS. */
static int pin_claim(struct mmc_client *c, uint64_t word)
{
	uint32_t hint = atomic_load_explicit(&c->pin_hint, memory_order_relaxed);
	uint32_t max = c->pin_max ? c->pin_max : MMC_PIN_SLOTS;

	if (hint >= max)
		hint = 0;
	for (uint32_t n = 0; n < max; n++) {
		uint32_t i = hint + n < max ? hint + n : hint + n - max;   /* no division */
		uint64_t zero = 0;
		uint32_t hwm;

		if (atomic_load_explicit(&c->pins[i], memory_order_relaxed))
			continue;
		/* The agent scans slots below pin_hwm only: raise it first. */
		hwm = atomic_load_explicit(&c->ring->pin_hwm, memory_order_relaxed);
		while (hwm <= i && !atomic_compare_exchange_weak(&c->ring->pin_hwm,
								 &hwm, i + 1))
			;
		if (atomic_compare_exchange_strong(&c->pins[i], &zero, word)) {
			atomic_store_explicit(&c->pin_hint, i + 1 < max ? i + 1 : 0,
					      memory_order_relaxed);
			return (int)i;
		}
	}
	return -ENOBUFS;
}

void mmc__unpin(struct mmc_client *c, uint32_t slot)
{
	atomic_store_explicit(&c->pins[slot], 0, memory_order_release);
	atomic_store_explicit(&c->pin_hint, slot, memory_order_relaxed);
}

int mmc__pin(struct mmc_client *c, const void *key, size_t key_len,
	     struct mmc_found *f, uint32_t *slot)
{
	return mmc__pin_h(c, key, key_len, mmc_key_hash(c->seed, key, key_len),
			  f, slot);
}

int mmc__pin_h(struct mmc_client *c, const void *key, size_t key_len,
	       uint64_t hash, struct mmc_found *f, uint32_t *slot)
{
	for (int i = 0; i < MAX_RETRIES; i++) {
		int r = mmc__lookup_h(c, key, key_len, hash, f);
		int s;

		if (r <= 0)
			return r ? r : -ENOENT;
		if (f->tier != MMC_TIER_DRAM)
			return -ENOENT;   /* other tiers: fetched by the agent */
		if (f->loc > c->data_size || f->len > c->data_size - f->loc)
			return -EIO;      /* never read outside the arena */
		s = pin_claim(c, MMC_OBJ_WORD(f->idx, f->gen));
		if (s < 0)
			return s;
		/* The CAS above was seq_cst: this load cannot pass it. */
		if (atomic_load(&c->entries[f->idx].seq) == f->seq) {
			*slot = (uint32_t)s;
			return 0;
		}
		mmc__unpin(c, (uint32_t)s);
	}
	return -EAGAIN;
}

void mmc__touch(struct mmc_client *c, uint32_t idx, uint32_t gen)
{
	struct mmc_ring_hdr *r = c->ring;
	uint32_t t = atomic_load_explicit(&r->touch_tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&r->touch_head, memory_order_acquire);

	if (t - h >= MMC_TOUCH_SLOTS ||
	    !atomic_compare_exchange_strong(&r->touch_tail, &t, t + 1)) {
		CTR_ADD(c, touch_drops, 1);
		return;
	}
	atomic_store_explicit(&c->touch[t % MMC_TOUCH_SLOTS],
			      MMC_OBJ_WORD(idx, gen), memory_order_release);
}

void mmc__prefetch(struct mmc_client *c, const void *const *keys,
		   const size_t *key_lens, size_t n, uint64_t *hashes)
{
	uint32_t b[MMC_PREFETCH_GROUP];

	if (n > MMC_PREFETCH_GROUP)
		n = MMC_PREFETCH_GROUP;
	/* All bucket loads in flight at once, then all entry loads. */
	for (size_t i = 0; i < n; i++) {
		b[i] = UINT32_MAX;
		hashes[i] = 0;
		if (mmc__check_key(keys[i], key_lens[i]))
			continue;
		hashes[i] = mmc_key_hash(c->seed, keys[i], key_lens[i]);
		b[i] = (uint32_t)(hashes[i] & c->mask);
		__builtin_prefetch(&c->buckets[b[i]]);
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t head;

		if (b[i] == UINT32_MAX)
			continue;
		head = load32(&c->buckets[b[i]].head);
		if (head && head <= c->nentries) {
			const char *e = (const char *)&c->entries[head - 1];

			__builtin_prefetch(e);        /* seq, hash, length */
			__builtin_prefetch(e + 64);   /* the key's first bytes */
		}
	}
}
