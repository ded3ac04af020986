/*
 * test_index.c - the key index: agent/index.c (the one writer) against
 * libshm/lookup.c (lock-free readers), in one process.
 *
 * A fake struct mmc_client points at an index built over plain memory, so
 * mmc__lookup and mmc__pin run exactly as they do in a worker.  Two stress
 * tests run a writer thread against two reader threads for about a second
 * each: one checks that lookups never miss a committed key nor return torn
 * fields; the other drives the real pin scans of agent/evict.c and checks
 * that an object is never freed while a reader holds a pin on it.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cpu.h"
#include "keyhash.h"
#include "check-main.h"
#include "unit-fixture.h"

#define SEED 0x5eed1234abcdull

struct fix {
	struct mmc_index ix;
	void *meta;
	size_t meta_size;
	struct mmc_client c;
	struct mmc_ring_hdr *ring;   /* only pins/touch used here */
	size_t ring_size;
};

static void fix_init(struct fix *f, uint32_t nentries)
{
	memset(f, 0, sizeof(*f));
	f->meta_size = mmc_index_meta_size(nentries);
	f->meta = mmap(NULL, f->meta_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(f->meta, MAP_FAILED);
	ck_assert_int_eq(mmc_index_init(&f->ix, f->meta, f->meta_size, nentries, SEED), 0);
	atomic_store(&f->ix.hdr->agent_state, MMC_AGENT_RUNNING);
	/* A ring region only for the pin table and touch log. */
	f->ring = fake_ring(0);
	f->ring_size = f->ring->size;
	fake_client(&f->c, &f->ix, f->meta_size, 1ull << 40, f->ring);
}

static void fix_fini(struct fix *f)
{
	mmc_index_destroy(&f->ix);
	munmap(f->meta, f->meta_size);
	munmap(f->ring, f->ring_size);
}

static uint64_t H(const struct fix *f, const void *k, size_t n)
{
	return mmc_key_hash(f->ix.seed, k, n);
}

static uint32_t ins(struct fix *f, const void *k, size_t n, uint64_t len, uint64_t loc)
{
	uint32_t idx = MMC_NO_ENTRY;

	ck_assert_int_eq(mmc_index_insert(&f->ix, k, (uint16_t)n, H(f, k, n), len,
					  MMC_TIER_DRAM, loc, &idx), 0);
	ck_assert_uint_lt(idx, f->ix.nentries);
	return idx;
}

static uint32_t ins_commit(struct fix *f, const void *k, size_t n, uint64_t len, uint64_t loc)
{
	uint32_t idx = ins(f, k, n, len, loc);

	mmc_index_set_state(&f->ix, idx, MMC_ENTRY_COMMITTED);
	return idx;
}

/* Looks k up and checks what a reader gets against what the writer stored. */
static void expect_found(struct fix *f, const void *k, size_t n, uint32_t idx,
			 uint64_t len, uint64_t loc)
{
	struct mmc_found fd;

	ck_assert_int_eq(mmc__lookup(&f->c, k, n, &fd), 1);
	ck_assert_uint_eq(fd.idx, idx);
	ck_assert_uint_eq(fd.gen, f->ix.entries[idx].gen);
	ck_assert_uint_eq(fd.len, len);
	ck_assert_uint_eq(fd.loc, loc);
	ck_assert_uint_eq(fd.tier, MMC_TIER_DRAM);
	ck_assert_uint_eq(fd.seq & 1, 0);
	ck_assert_uint_eq(mmc_index_find(&f->ix, k, (uint16_t)n, H(f, k, n)), idx);
}

static void expect_absent(struct fix *f, const void *k, size_t n)
{
	struct mmc_found fd;

	ck_assert_int_eq(mmc__lookup(&f->c, k, n, &fd), 0);
}

/* Every seqlock of the index is even (no write left half-done). */
static void expect_all_even(const struct fix *f)
{
	for (uint32_t i = 0; i < f->ix.nentries; i++)
		ck_assert_msg(!(atomic_load(&f->ix.entries[i].seq) & 1), "entry %u seq odd", i);
	for (uint32_t b = 0; b <= f->ix.mask; b++)
		ck_assert_msg(!(atomic_load(&f->ix.buckets[b].seq) & 1), "bucket %u seq odd", b);
}

/* n distinct keys "<prefix>%u" whose hashes all land in bucket 0. */
static void colliding_keys(const struct fix *f, const char *prefix,
			   char keys[][32], int n)
{
	for (unsigned i = 0, got = 0; got < (unsigned)n; i++) {
		snprintf(keys[got], 32, "%s%u", prefix, i);
		if ((H(f, keys[got], strlen(keys[got])) & f->ix.mask) == 0)
			got++;
	}
}

START_TEST(test_init_args)
{
	struct mmc_index ix;
	size_t sz = mmc_index_meta_size(100);
	void *m = calloc(1, sz);

	ck_assert_int_eq(mmc_index_init(&ix, m, sz, 0, 1), -EINVAL);
	ck_assert_int_eq(mmc_index_init(&ix, m, sz - 1, 100, 1), -EINVAL);
	ck_assert_int_eq(mmc_index_init(&ix, m, sz, 100, 1), 0);
	ck_assert_uint_eq(ix.mask + 1, 256);            /* 2 * 100 rounded up */
	ck_assert_uint_eq(ix.hdr->nbuckets, 256);
	ck_assert_uint_eq(ix.nfree, 100);
	ck_assert_uint_le(ix.hdr->entries_off + 100 * sizeof(struct mmc_entry), sz);
	mmc_index_destroy(&ix);
	free(m);
}
END_TEST

START_TEST(test_reserved_invisible_then_committed)
{
	struct fix f;
	struct mmc_found fd;
	uint32_t idx, seq0;

	fix_init(&f, 64);
	expect_absent(&f, "alpha", 5);
	idx = ins(&f, "alpha", 5, 12345, 8192);
	expect_absent(&f, "alpha", 5);                 /* RESERVED: private */
	ck_assert_uint_eq(mmc_index_find(&f.ix, "alpha", 5, H(&f, "alpha", 5)), idx);
	seq0 = atomic_load(&f.ix.entries[idx].seq);
	mmc_index_set_state(&f.ix, idx, MMC_ENTRY_COMMITTED);
	ck_assert_uint_eq(atomic_load(&f.ix.entries[idx].seq), seq0 + 2);
	expect_found(&f, "alpha", 5, idx, 12345, 8192);
	ck_assert_int_eq(mmc__lookup(&f.c, "alph", 4, &fd), 0);
	ck_assert_int_eq(mmc__lookup(&f.c, "alphab", 6, &fd), 0);
	/* Spared by an eviction scan (EVICTING -> COMMITTED): readable again. */
	mmc_index_set_state(&f.ix, idx, MMC_ENTRY_EVICTING);
	mmc_index_set_state(&f.ix, idx, MMC_ENTRY_COMMITTED);
	expect_found(&f, "alpha", 5, idx, 12345, 8192);
	/* DEAD (removed, maybe still pinned) is not. */
	mmc_index_unlink(&f.ix, idx, MMC_ENTRY_DEAD);
	expect_absent(&f, "alpha", 5);
	ck_assert_uint_eq(mmc_index_find(&f.ix, "alpha", 5, H(&f, "alpha", 5)), MMC_NO_ENTRY);
	expect_all_even(&f);
	fix_fini(&f);
}
END_TEST

START_TEST(test_chain_unlink_positions)
{
	struct fix f;
	char k[6][32];
	uint32_t idx[6];
	bool gone[6] = { 0 };
	/* chain order is newest first: 5 4 3 2 1 0.  Unlink head (5), a middle
	 * one (2), the tail (0), then a new head (4) and the rest. */
	const int order[] = { 5, 2, 0, 4, 1, 3 };

	fix_init(&f, 8);   /* 16 buckets */
	colliding_keys(&f, "chain-", k, 6);
	for (int i = 0; i < 6; i++)
		idx[i] = ins_commit(&f, k[i], strlen(k[i]), 100 + i, 4096u * i);
	ck_assert_uint_eq(f.ix.buckets[0].head, idx[5] + 1);
	for (int i = 0; i < 6; i++)
		expect_found(&f, k[i], strlen(k[i]), idx[i], 100 + i, 4096u * i);
	for (int o = 0; o < 6; o++) {
		int v = order[o];
		uint32_t bseq = atomic_load(&f.ix.buckets[0].seq);
		uint32_t len = 0;

		mmc_index_unlink(&f.ix, idx[v], MMC_ENTRY_DEAD);
		gone[v] = true;
		ck_assert_uint_eq(atomic_load(&f.ix.buckets[0].seq), bseq + 2);
		for (int i = 0; i < 6; i++) {
			if (gone[i])
				expect_absent(&f, k[i], strlen(k[i]));
			else
				expect_found(&f, k[i], strlen(k[i]), idx[i], 100 + i, 4096u * i);
		}
		for (uint32_t cur = f.ix.buckets[0].head; cur; cur = f.ix.entries[cur - 1].next)
			len++;
		ck_assert_uint_eq(len, 5 - o);
		/* The unlinked entry keeps its next link until it is reused. */
		mmc_index_free(&f.ix, idx[v]);
		expect_all_even(&f);
	}
	ck_assert_uint_eq(f.ix.buckets[0].head, 0);
	ck_assert_uint_eq(f.ix.nfree, 8);
	fix_fini(&f);
}
END_TEST

START_TEST(test_free_bumps_gen_and_reuses_slot)
{
	struct fix f;
	uint32_t idx, gen, idx2;
	struct mmc_found fd;

	fix_init(&f, 16);
	idx = ins_commit(&f, "obj", 3, 10, 4096);
	gen = f.ix.entries[idx].gen;
	ck_assert_int_eq(mmc__lookup(&f.c, "obj", 3, &fd), 1);
	ck_assert_uint_eq(fd.gen, gen);
	mmc_index_unlink(&f.ix, idx, MMC_ENTRY_DEAD);
	ck_assert_uint_eq(f.ix.entries[idx].gen, gen);    /* dead keeps (idx, gen) */
	mmc_index_free(&f.ix, idx);
	ck_assert_uint_eq(f.ix.entries[idx].gen, gen + 1);
	ck_assert_uint_eq(f.ix.entries[idx].state, MMC_ENTRY_FREE);
	/* Free list is LIFO: the same slot comes back, with a new gen. */
	idx2 = ins_commit(&f, "obj", 3, 20, 8192);
	ck_assert_uint_eq(idx2, idx);
	ck_assert_int_eq(mmc__lookup(&f.c, "obj", 3, &fd), 1);
	ck_assert_uint_eq(fd.gen, gen + 1);
	ck_assert_uint_eq(fd.len, 20);
	ck_assert_uint_eq(fd.loc, 8192);
	/* free of a still-linked entry unlinks it first. */
	mmc_index_free(&f.ix, idx2);
	expect_absent(&f, "obj", 3);
	ck_assert_uint_eq(f.ix.entries[idx].gen, gen + 2);
	ck_assert_uint_eq(f.ix.buckets[H(&f, "obj", 3) & f.ix.mask].head, 0);
	expect_all_even(&f);
	fix_fini(&f);
}
END_TEST

START_TEST(test_enospc_when_full)
{
	struct fix f;
	char k[16];
	uint32_t idx[8], extra;

	fix_init(&f, 8);
	for (int i = 0; i < 8; i++) {
		snprintf(k, sizeof(k), "full-%d", i);
		idx[i] = ins_commit(&f, k, strlen(k), 1, 0);
	}
	ck_assert_uint_eq(f.ix.nfree, 0);
	ck_assert_int_eq(mmc_index_insert(&f.ix, "x", 1, H(&f, "x", 1), 1,
					  MMC_TIER_DRAM, 0, &extra), -ENOSPC);
	mmc_index_free(&f.ix, idx[3]);
	ck_assert_int_eq(mmc_index_insert(&f.ix, "x", 1, H(&f, "x", 1), 1,
					  MMC_TIER_DRAM, 0, &extra), 0);
	ck_assert_uint_eq(extra, idx[3]);
	for (int i = 0; i < 8; i++) {
		if (i == 3)
			continue;
		snprintf(k, sizeof(k), "full-%d", i);
		expect_found(&f, k, strlen(k), idx[i], 1, 0);
	}
	fix_fini(&f);
}
END_TEST

START_TEST(test_key_lengths)
{
	struct fix f;
	uint8_t big[MMC_KEY_MAX + 1], big2[MMC_KEY_MAX];
	uint32_t i1, i256, dummy;

	fix_init(&f, 16);
	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 1);
	memcpy(big2, big, MMC_KEY_MAX);
	big2[MMC_KEY_MAX - 1] ^= 0xff;
	i1 = ins_commit(&f, "z", 1, 1, 4096);
	i256 = ins_commit(&f, big, MMC_KEY_MAX, 256, 8192);
	expect_found(&f, "z", 1, i1, 1, 4096);
	expect_found(&f, big, MMC_KEY_MAX, i256, 256, 8192);
	expect_absent(&f, big2, MMC_KEY_MAX);        /* last byte differs */
	expect_absent(&f, big, MMC_KEY_MAX - 1);     /* prefix */
	ck_assert_int_eq(mmc_index_insert(&f.ix, big, 0, H(&f, big, 0), 1,
					  MMC_TIER_DRAM, 0, &dummy), -EINVAL);
	ck_assert_int_eq(mmc_index_insert(&f.ix, big, MMC_KEY_MAX + 1,
					  H(&f, big, MMC_KEY_MAX + 1), 1,
					  MMC_TIER_DRAM, 0, &dummy), -EINVAL);
	ck_assert_uint_eq(f.ix.nfree, 14);           /* failed inserts took nothing */
	ck_assert_int_eq(mmc__check_key("z", 0), -EINVAL);
	ck_assert_int_eq(mmc__check_key(big, MMC_KEY_MAX + 1), -ENAMETOOLONG);
	ck_assert_int_eq(mmc__check_key(big, MMC_KEY_MAX), 0);
	fix_fini(&f);
}
END_TEST

START_TEST(test_binary_keys_with_nul)
{
	struct fix f;
	static const struct { const char *k; size_t n; } keys[] = {
		{ "a", 1 }, { "a\0", 2 }, { "a\0b", 3 }, { "a\0c", 3 },
		{ "\0", 1 }, { "\0\0", 2 }, { "\0\0\0\0", 4 },
	};
	uint32_t idx[7];

	fix_init(&f, 16);
	for (int i = 0; i < 7; i++)
		idx[i] = ins_commit(&f, keys[i].k, keys[i].n, 1000 + i, 4096u * i);
	for (int i = 0; i < 7; i++)
		expect_found(&f, keys[i].k, keys[i].n, idx[i], 1000 + i, 4096u * i);
	mmc_index_unlink(&f.ix, idx[2], MMC_ENTRY_DEAD);
	expect_absent(&f, "a\0b", 3);
	expect_found(&f, "a\0c", 3, idx[3], 1003, 4096u * 3);
	expect_found(&f, "a\0", 2, idx[1], 1001, 4096u);
	fix_fini(&f);
}
END_TEST

START_TEST(test_seq_even_after_every_op)
{
	struct fix f;
	char k[8][32];
	uint32_t idx[8], s;

	fix_init(&f, 8);
	colliding_keys(&f, "seq-", k, 8);
	for (int i = 0; i < 8; i++) {
		s = atomic_load(&f.ix.entries[i].seq);
		idx[i] = ins(&f, k[i], strlen(k[i]), 1, 0);
		ck_assert_uint_eq(atomic_load(&f.ix.entries[idx[i]].seq), s + 2);
		expect_all_even(&f);
		mmc_index_set_state(&f.ix, idx[i], MMC_ENTRY_COMMITTED);
		expect_all_even(&f);
	}
	for (int i = 0; i < 8; i += 2) {
		mmc_index_set_state(&f.ix, idx[i], MMC_ENTRY_EVICTING);
		expect_all_even(&f);
		s = atomic_load(&f.ix.entries[idx[i]].seq);
		mmc_index_unlink(&f.ix, idx[i], MMC_ENTRY_DEAD);
		ck_assert_uint_eq(atomic_load(&f.ix.entries[idx[i]].seq), s + 2);
		expect_all_even(&f);
		mmc_index_free(&f.ix, idx[i]);
		ck_assert_uint_eq(atomic_load(&f.ix.entries[idx[i]].seq), s + 4);
		expect_all_even(&f);
	}
	for (int i = 1; i < 8; i += 2) {
		mmc_index_free(&f.ix, idx[i]);   /* linked: unlink + free */
		expect_all_even(&f);
	}
	fix_fini(&f);
}
END_TEST

/* ---- stress: one writer, two readers ---- */

#define ST_KEYS   32
#define ST_STABLE 8          /* keys 0, 4, 8, ...: never removed */
#define ST_RUN_NS 1200000000ull

struct stress {
	struct fix f;
	char keys[ST_KEYS][32];
	_Atomic int stop;
	_Atomic uint64_t lookups, stable_hits, churn_hits, eagain, writer_ops;
	_Atomic uint64_t bad;
	char why[160];
	pthread_mutex_t why_lock;
};

static bool is_stable(int k) { return k % (ST_KEYS / ST_STABLE) == 0; }
static uint64_t key_len_of(int k) { return 4096ull * (k + 1) + 17 * k; }
static uint64_t key_loc_of(int k) { return (1ull << 32) + 8192ull * k * 3; }

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void st_fail(struct stress *st, const char *fmt, int k, long a, long b)
{
	if (atomic_fetch_add(&st->bad, 1) == 0) {
		pthread_mutex_lock(&st->why_lock);
		snprintf(st->why, sizeof(st->why), fmt, k, a, b);
		pthread_mutex_unlock(&st->why_lock);
	}
}

static void *st_reader(void *arg)
{
	struct stress *st = arg;
	unsigned r = (unsigned)(uintptr_t)&r;

	while (!atomic_load_explicit(&st->stop, memory_order_relaxed)) {
		for (int k = 0; k < ST_KEYS; k++) {
			struct mmc_found fd;
			size_t n = strlen(st->keys[k]);
			int ret;

			r = r * 1103515245u + 12345u;
			if (!is_stable(k) && (r >> 16) % 2)
				continue;
			while ((ret = mmc__lookup(&st->f.c, st->keys[k], n, &fd)) == -EAGAIN)
				atomic_fetch_add_explicit(&st->eagain, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&st->lookups, 1, memory_order_relaxed);
			if (ret < 0 || ret > 1) {
				st_fail(st, "key %d: lookup returned %ld (%ld)", k, ret, 0);
				continue;
			}
			if (is_stable(k) && ret != 1) {
				st_fail(st, "stable key %d missed (%ld %ld)", k, ret, 0);
				continue;
			}
			if (ret == 1) {
				if (fd.len != key_len_of(k) || fd.loc != key_loc_of(k))
					st_fail(st, "key %d: wrong len %ld / loc %ld",
						k, (long)fd.len, (long)fd.loc);
				else if (fd.tier != MMC_TIER_DRAM || fd.idx >= st->f.c.nentries ||
					 (fd.seq & 1))
					st_fail(st, "key %d: bad tier/idx %ld/%ld", k,
						fd.tier, fd.idx);
				atomic_fetch_add_explicit(is_stable(k) ? &st->stable_hits :
							  &st->churn_hits, 1,
							  memory_order_relaxed);
			}
		}
	}
	return NULL;
}

START_TEST(test_stress_lookup)
{
	static struct stress st;
	uint32_t idx[ST_KEYS];
	bool present[ST_KEYS] = { 0 };
	uint32_t dead[8];
	int ndead = 0;
	pthread_t rd[2];
	unsigned r = 12345;
	uint64_t end;

	memset(&st, 0, sizeof(st));
	pthread_mutex_init(&st.why_lock, NULL);
	/* 64 buckets; all keys in buckets 0 and 1: chains of ~16. */
	fix_init(&st.f, 40);
	for (unsigned i = 0, got = 0; got < ST_KEYS; i++) {
		snprintf(st.keys[got], 32, "stress-key-%u", i);
		if ((H(&st.f, st.keys[got], strlen(st.keys[got])) & st.f.ix.mask) < 2)
			got++;
	}
	/* Stable keys land in the middle of chains: churn keys go in first
	 * and keep coming in after them. */
	for (int k = 0; k < ST_KEYS; k++) {
		if (is_stable(k) || k % 3)
			continue;
		idx[k] = ins_commit(&st.f, st.keys[k], strlen(st.keys[k]),
				    key_len_of(k), key_loc_of(k));
		present[k] = true;
	}
	for (int k = 0; k < ST_KEYS; k += ST_KEYS / ST_STABLE) {
		idx[k] = ins_commit(&st.f, st.keys[k], strlen(st.keys[k]),
				    key_len_of(k), key_loc_of(k));
		present[k] = true;
	}
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&rd[i], NULL, st_reader, &st), 0);
	end = now_ns() + ST_RUN_NS;
	while (now_ns() < end) {
		for (int op = 0; op < 256; op++) {
			int k;

			r = r * 1103515245u + 12345u;
			k = (int)((r >> 8) % ST_KEYS);
			if (is_stable(k))
				continue;
			if (!present[k]) {
				uint32_t i;

				if (mmc_index_insert(&st.f.ix, st.keys[k], strlen(st.keys[k]),
						     H(&st.f, st.keys[k], strlen(st.keys[k])),
						     key_len_of(k), MMC_TIER_DRAM,
						     key_loc_of(k), &i))
					continue;   /* full: dead ones go first */
				idx[k] = i;
				mmc_index_set_state(&st.f.ix, i, MMC_ENTRY_COMMITTED);
				present[k] = true;
			} else if ((r >> 20) % 2 && ndead < 8) {
				/* removed, freed later: readers walk through it */
				mmc_index_unlink(&st.f.ix, idx[k], MMC_ENTRY_DEAD);
				dead[ndead++] = idx[k];
				present[k] = false;
			} else {
				mmc_index_set_state(&st.f.ix, idx[k], MMC_ENTRY_EVICTING);
				mmc_index_free(&st.f.ix, idx[k]);
				present[k] = false;
			}
			if (ndead && (r >> 24) % 4 == 0)
				mmc_index_free(&st.f.ix, dead[--ndead]);
			atomic_fetch_add_explicit(&st.writer_ops, 1, memory_order_relaxed);
		}
	}
	atomic_store(&st.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(rd[i], NULL);
	fprintf(stderr, "stress_lookup: %llu writer ops, %llu lookups, %llu stable hits, "
		"%llu churn hits, %llu retries\n",
		(unsigned long long)st.writer_ops, (unsigned long long)st.lookups,
		(unsigned long long)st.stable_hits, (unsigned long long)st.churn_hits,
		(unsigned long long)st.eagain);
	ck_assert_msg(st.bad == 0, "%llu bad lookups, first: %s",
		      (unsigned long long)st.bad, st.why);
	ck_assert_uint_gt(st.writer_ops, 1000);
	ck_assert_uint_gt(st.stable_hits, 1000);
	ck_assert_uint_gt(st.churn_hits, 100);
	expect_all_even(&st.f);
	for (int k = 0; k < ST_KEYS; k++)
		if (present[k])
			expect_found(&st.f, st.keys[k], strlen(st.keys[k]), idx[k],
				     key_len_of(k), key_loc_of(k));
	fix_fini(&st.f);
}
END_TEST

/* ---- stress: pins against the agent's eviction and removal (object.c) ---- */

#define PIN_KEYS 16

struct pinst {
	struct mmc_agent ag;
	struct mmc_session s;
	struct fix f;
	char keys[PIN_KEYS][16];
	_Atomic int stop;
	_Atomic uint64_t pins, violations, holds;
	char why[128];
};

static uint64_t pin_len_of(int k) { return 4096ull * (1 + k % 3) - k; }

static void *pin_reader(void *arg)
{
	struct pinst *p = arg;
	unsigned r = (unsigned)(uintptr_t)&r;

	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		struct mmc_found fd;
		uint32_t slot;
		int k;

		r = r * 1103515245u + 12345u;
		k = (int)((r >> 8) % PIN_KEYS);
		if (mmc__pin(&p->f.c, p->keys[k], strlen(p->keys[k]), &fd, &slot))
			continue;
		atomic_fetch_add_explicit(&p->pins, 1, memory_order_relaxed);
		if (fd.len != pin_len_of(k) && !atomic_fetch_add(&p->violations, 1))
			snprintf(p->why, sizeof(p->why), "key %d: len %llu", k,
				 (unsigned long long)fd.len);
		/* While the pin is held the object must stay: same gen, never
		 * FREE or RESERVED (a reuse). */
		for (int i = 0; i < 300; i++) {
			const struct mmc_entry *e = &p->f.c.entries[fd.idx];
			uint32_t gen = __atomic_load_n(&e->gen, __ATOMIC_ACQUIRE);
			uint8_t state = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);

			if ((gen != fd.gen || state == MMC_ENTRY_FREE ||
			     state == MMC_ENTRY_RESERVED) &&
			    !atomic_fetch_add(&p->violations, 1))
				snprintf(p->why, sizeof(p->why),
					 "idx %u gen %u freed while pinned (gen %u state %u)",
					 fd.idx, fd.gen, gen, state);
			cpu_relax();
		}
		atomic_fetch_add_explicit(&p->holds, 1, memory_order_relaxed);
		mmc__touch(&p->f.c, fd.idx, fd.gen);
		mmc__unpin(&p->f.c, slot);
	}
	return NULL;
}

START_TEST(test_stress_pins_vs_eviction)
{
	static struct pinst p;
	struct mmc_agent *ag = &p.ag;
	struct mmc_ring_hdr *rh;
	pthread_t rd[2];
	unsigned r = 777;
	uint64_t end, inserts = 0, removes = 0, deferred = 0, spared = 0, evicted = 0;

	memset(&p, 0, sizeof(p));
	fix_init(&p.f, 64);
	for (int k = 0; k < PIN_KEYS; k++)
		snprintf(p.keys[k], sizeof(p.keys[k]), "pin-%d", k);
	/* The agent over the fixture's index; its one session owns the pin
	 * table the readers use. */
	mmc_config_defaults(&ag->cfg);
	ag->index = p.f.ix;   /* shares free_next: only the agent writes */
	ag->hdr = ag->index.hdr;
	ag->listen_fd = ag->epoll_fd = ag->signal_fd = ag->stats.fd = -1;
	ck_assert_int_eq(mmc_alloc_create(64ull << 20, &ag->alloc), 0);
	ck_assert_int_eq(mmc_evict_create(ag->index.nentries, 90, 88, &ag->evict), 0);
	ck_assert_int_eq(mmc_objects_init(ag), 0);
	ck_assert_int_eq(mmc_readers_init(&ag->readers, ag->index.nentries), 0);
	p.f.c.data_size = 64ull << 20;
	rh = p.f.ring;
	p.s.state = MMC_SESSION_ACTIVE;
	p.s.id = 1;
	p.s.sock = p.s.ring_fd = -1;
	mmc_ring_bind(&p.s, rh);
	ag->sess.list = &p.s;
	ag->sess.count = 1;

	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&rd[i], NULL, pin_reader, &p), 0);
	end = now_ns() + ST_RUN_NS;
	while (now_ns() < end) {
		int k;
		uint32_t idx;
		uint64_t h;

		r = r * 1103515245u + 12345u;
		k = (int)((r >> 8) % PIN_KEYS);
		h = mmc_key_hash(ag->index.seed, p.keys[k], strlen(p.keys[k]));
		idx = mmc_index_find(&ag->index, p.keys[k], strlen(p.keys[k]), h);
		if (idx == MMC_NO_ENTRY) {
			struct mmc_object_ref ref;

			if (mmc_object_reserve(ag, &p.s, p.keys[k], strlen(p.keys[k]),
					       pin_len_of(k), &ref))
				continue;
			ck_assert_int_eq(mmc_object_commit(ag, &p.s, ref.slot, ref.gen, NULL), 0);
			inserts++;
		} else if ((r >> 20) % 2) {
			uint32_t nd = ag->obj.ndeferred;

			ck_assert_int_eq(mmc_object_remove(ag, p.keys[k], strlen(p.keys[k])), 0);
			removes++;
			deferred += ag->obj.ndeferred > nd;
		} else {
			uint64_t objs = ag->obj.objects;

			if (mmc_object_evict(ag, 1, MMC_EVICT_DROP))
				evicted++;
			else if (objs)
				spared++;
		}
		if ((r >> 24) % 8 == 0)
			mmc_object_reap(ag);
	}
	atomic_store(&p.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(rd[i], NULL);
	/* Readers gone, pins all released: everything dead can go now. */
	mmc_object_reap(ag);
	fprintf(stderr, "stress_pins: %llu inserts, %llu removes (%llu deferred), "
		"%llu evictions, %llu blocked by pins, %llu pins\n",
		(unsigned long long)inserts, (unsigned long long)removes,
		(unsigned long long)deferred, (unsigned long long)evicted,
		(unsigned long long)spared, (unsigned long long)p.pins);
	ck_assert_msg(p.violations == 0, "%llu violations, first: %s",
		      (unsigned long long)p.violations, p.why);
	ck_assert_uint_gt(p.pins, 1000);
	ck_assert_uint_gt(removes + evicted, 1000);
	ck_assert_uint_gt(deferred + spared, 0);      /* pins were seen */
	ck_assert_uint_eq(ag->obj.ndeferred, 0);
	ck_assert_uint_eq(mmc_object_count_pinned(ag), 0);
	ck_assert_uint_eq(ag->index.nfree + ag->obj.objects, ag->index.nentries);
	ck_assert_uint_eq(mmc_evict_count(ag->evict), ag->obj.objects);
	ck_assert_int_eq(mmc_evict_check(ag->evict), 0);
	ck_assert_int_eq(mmc_alloc_check(ag->alloc), 0);
	expect_all_even(&p.f);
	mmc_readers_destroy(&ag->readers);
	mmc_objects_destroy(ag);
	mmc_evict_destroy(ag->evict);
	mmc_alloc_destroy(ag->alloc);
	fix_fini(&p.f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("index");

	add_tests(add_tcase(s, "single", 0),
		  TESTS(test_init_args, test_reserved_invisible_then_committed,
			test_chain_unlink_positions, test_free_bumps_gen_and_reuses_slot,
			test_enospc_when_full, test_key_lengths, test_binary_keys_with_nul,
			test_seq_even_after_every_op));
	add_tests(add_tcase(s, "concurrent", 60),
		  TESTS(test_stress_lookup, test_stress_pins_vs_eviction));
	return run_suite(s);   /* CK_VERBOSITY=verbose lists tests */
}
