/*
 * ops.c - libshm's public calls on single objects.
 *
 * Reads (get, getv, acquire, exists) run entirely in shared memory: a lookup,
 * a pin, a copy, an unpin, an access record, a counter - no system call.
 * Writes reserve space through the ring (ring.c), fill it in place and commit
 * it; until the commit no reader can see the key, so a crash mid-copy leaves
 * nothing half-written behind (the agent frees the reservation).
 */
#include <errno.h>
#include <sys/mman.h>
#include <string.h>

#include "client.h"
#include "keyhash.h"
#include "probes.h"

unsigned short mmc_get_semaphore __attribute__((section(".probes"), used));
unsigned short mmc_put_semaphore __attribute__((section(".probes"), used));
unsigned short mmc_miss_semaphore __attribute__((section(".probes"), used));

static uint64_t get_probe_start(void)
{
	return mmc_probe_start(MMC_PROBE_ACTIVE(get) || MMC_PROBE_ACTIVE(miss));
}

/* Local hits are timed one in MMC_HIT_SAMPLE per thread (the first
 * included) into the session's histogram, which the agent folds into
 * /metrics: two clock reads on every hit would cost a zero-copy hit a
 * fifth of its time. */
static _Thread_local unsigned hit_tick;

static uint64_t hit_sample_start(void)
{
	return hit_tick++ % MMC_HIT_SAMPLE ? 0 : mmc_probe_now();
}

static void hit_sample_end(struct mmc_client *c, uint64_t h0)
{
	uint64_t ns = mmc_probe_now() - h0;
	unsigned b = 0;

	while (b < MMC_HIT_BUCKETS && ns > MMC_HIT_BUCKET0_NS << b)
		b++;
	atomic_fetch_add_explicit(&c->ring->hit_hist.bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->ring->hit_hist.sum_ns, ns, memory_order_relaxed);
}

/* Asks the agent to bring key back from its SSD tier: 0 once it is in
 * DRAM, -ENOENT, or the session's error. */
static int fetch_one(struct mmc_client *c, const void *key, size_t key_len)
{
	struct mmc_cqe cqe;

	return mmc__call(c, MMC_OP_FETCH, key, key_len, 0, 0, 0, &cqe);
}

/* Counts a new pin of len bytes against the session's pinned-bytes cap:
 * 0, or -EDQUOT (nothing counted).  Small objects count nothing: the pin
 * table's size bounds them. */
static int pin_charge(struct mmc_client *c, uint64_t len)
{
	if (!c->pin_bytes_max || len <= c->pin_small)
		return 0;
	if (atomic_fetch_add_explicit(&c->pinned_large, len, memory_order_relaxed) +
	    len > c->pin_bytes_max) {
		atomic_fetch_sub_explicit(&c->pinned_large, len, memory_order_relaxed);
		return -EDQUOT;
	}
	return 0;
}

/* Unpins slot, a pin of len bytes. */
static void read_end(struct mmc_client *c, uint32_t slot, uint64_t len)
{
	mmc__unpin(c, slot);
	if (c->pin_bytes_max && len > c->pin_small)
		atomic_fetch_sub_explicit(&c->pinned_large, len, memory_order_relaxed);
}

/* Pins key for reading: from DRAM, or - when it is only on the SSD tier,
 * or the agent is in a pool, and fetch is true - once the agent brought it
 * back (one ring round trip around an SSD read or a peer's answer; without
 * fetch: MMC__ON_SSD, uncounted; *h0 is then 0: not a local hit to time).
 * Counts the hit or miss and records the access. */
static int read_begin(struct mmc_client *c, const void *key, size_t key_len,
		      const uint64_t *hash, struct mmc_found *f, uint32_t *slot,
		      uint64_t t0, bool fetch, uint64_t *h0)
{
	int ret = mmc__check_key(key, key_len);
	uint64_t h = 0;

	if (!ret)
		ret = mmc__alive(c);
	if (!ret) {
		h = hash ? *hash : mmc_key_hash(c->seed, key, key_len);
		ret = mmc__pin_h(c, key, key_len, h, f, slot);
	}
	/* Elsewhere: on the SSD tier, or (in a pool) perhaps at the key's home. */
	if (ret == -ENOENT && (c->pool || mmc__on_ssd(c, h))) {
		if (!fetch)
			return MMC__ON_SSD;
		*h0 = 0;
		ret = fetch_one(c, key, key_len);
		if (!ret)
			ret = mmc__pin_h(c, key, key_len, h, f, slot);
	}
	if (!ret && (ret = pin_charge(c, f->len)))
		mmc__unpin(c, *slot);
	if (ret == -ENOENT) {
		CTR_ADD(c, misses, 1);
		MMC_PROBE_MISS(t0, key_len);
	} else if (!ret) {
		CTR_ADD(c, hits, 1);
		mmc__touch(c, f->idx, f->gen);
	} else {
		CTR_ADD(c, errors, 1);
	}
	return ret;
}

int mmc_get(mmc_client *c, const void *key, size_t key_len,
	    void *buf, size_t buf_len, size_t *out_len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = buf_len };

	return mmc_getv(c, key, key_len, &iov, 1, out_len);
}

int mmc_getv(mmc_client *c, const void *key, size_t key_len,
	     const struct iovec *iov, int iovcnt, size_t *out_len)
{
	return mmc__getv(c, key, key_len, NULL, iov, iovcnt, out_len, true);
}

int mmc__getv(struct mmc_client *c, const void *key, size_t key_len,
	      const uint64_t *hash, const struct iovec *iov, int iovcnt,
	      size_t *out_len, bool fetch)
{
	uint64_t t0 = get_probe_start(), h0;
	struct mmc_found f;
	uint32_t slot;
	size_t room = 0, done = 0;
	int ret;

	if (!c || !iov || iovcnt < 1 || iovcnt > (int)MMC_IOV_MAX)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return -EINVAL;
		room += iov[i].iov_len;
	}
	h0 = hit_sample_start();
	ret = read_begin(c, key, key_len, hash, &f, &slot, t0, fetch, &h0);
	if (ret) {
		if (ret != MMC__ON_SSD)
			MMC_PROBE_GET(t0, 0, ret);
		return ret;
	}
	if (out_len)
		*out_len = f.len;
	if (f.len > room) {
		read_end(c, slot, f.len);
		MMC_PROBE_GET(t0, 0, -EMSGSIZE);
		return -EMSGSIZE;
	}
	for (int i = 0; i < iovcnt && done < f.len; i++) {
		size_t n = iov[i].iov_len < f.len - done ? iov[i].iov_len : f.len - done;

		memcpy(iov[i].iov_base, c->data + f.loc + done, n);
		done += n;
	}
	/* After the copy, still pinned: the bytes the caller gets. */
	if (mmc__verify_due(c) && (ret = mmc__verify_copy(c, &f, iov, iovcnt)) < 0) {
		read_end(c, slot, f.len);
		MMC_PROBE_GET(t0, 0, ret);
		return ret;
	}
	read_end(c, slot, f.len);
	if (h0)
		hit_sample_end(c, h0);
	CTR_ADD(c, gets, 1);
	CTR_ADD(c, get_bytes, f.len);
	MMC_PROBE_GET(t0, f.len, 0);
	return 0;
}

int mmc_acquire(mmc_client *c, const void *key, size_t key_len, struct mmc_view *v)
{
	return mmc__acquire(c, key, key_len, NULL, v, true);
}

int mmc__acquire(struct mmc_client *c, const void *key, size_t key_len,
		 const uint64_t *hash, struct mmc_view *v, bool fetch)
{
	uint64_t t0 = get_probe_start(), h0;
	struct mmc_found f;
	uint32_t slot;
	int ret;

	if (!c || !v)
		return -EINVAL;
	h0 = hit_sample_start();
	ret = read_begin(c, key, key_len, hash, &f, &slot, t0, fetch, &h0);
	if (ret) {
		if (ret != MMC__ON_SSD)
			MMC_PROBE_GET(t0, 0, ret);
		return ret;
	}
	v->data = c->data + f.loc;
	v->len = f.len;
	v->slot_ = slot;
	v->word_ = MMC_OBJ_WORD(f.idx, f.gen);
	if (h0)
		hit_sample_end(c, h0);
	CTR_ADD(c, gets, 1);
	CTR_ADD(c, get_bytes, f.len);
	MMC_PROBE_GET(t0, f.len, 0);
	return 0;
}

int mmc_release(mmc_client *c, struct mmc_view *v)
{
	if (c && mmc__forked(c))
		return -ECHILD;   /* the pin table is the parent's */
	if (!c || !v || v->slot_ >= MMC_PIN_SLOTS || !v->word_ ||
	    atomic_load_explicit(&c->pins[v->slot_], memory_order_relaxed) != v->word_)
		return -EINVAL;
	read_end(c, v->slot_, v->len);
	v->word_ = 0;
	v->data = NULL;
	return 0;
}

int mmc_exists(mmc_client *c, const void *key, size_t key_len)
{
	struct mmc_cqe cqe;
	int ret = mmc__exists(c, key, key_len, NULL);

	if (ret || !c->pool)
		return ret;
	ret = mmc__call(c, MMC_OP_LOOKUP, key, key_len, 0, 0, 0, &cqe);
	return ret < 0 ? ret : ret > 0;
}

int mmc_exists_here(mmc_client *c, const void *key, size_t key_len)
{
	return mmc__exists(c, key, key_len, NULL);
}

int mmc__exists(struct mmc_client *c, const void *key, size_t key_len,
		const uint64_t *hash)
{
	struct mmc_found f;
	uint64_t h;
	int ret = mmc__check_key(key, key_len);

	if (!ret)
		ret = mmc__alive(c);
	if (ret)
		return ret;
	CTR_ADD(c, exists, 1);
	h = hash ? *hash : mmc_key_hash(c->seed, key, key_len);
	ret = mmc__lookup_h(c, key, key_len, h, &f);
	/* Absent from DRAM but on SSD: present (a get brings it back). */
	return ret == 0 ? mmc__on_ssd(c, h) : ret;
}

/* On 4 KiB pages the first write to each page of a reservation faults in
 * this process: 256 traps for a 1 MiB value, five times the copy itself.
 * One madvise maps the whole range instead (writes only: the hit path stays
 * free of system calls; hugepage arenas need none of this). */
static void prefault_for_write(struct mmc_client *c, uint64_t off, size_t len)
{
	uint64_t start = off & ~(uint64_t)(MMC_UNIT - 1);

	if (c->hdr->hugepages || len < 4 * MMC_UNIT)
		return;
	(void)madvise(c->data + start, off + len - start, MADV_POPULATE_WRITE);
}

int mmc_reserve(mmc_client *c, const void *key, size_t key_len, size_t len,
		struct mmc_reservation *r)
{
	struct mmc_cqe cqe;
	int ret = mmc__check_key(key, key_len);

	if (!ret && (!c || !r || !len))
		ret = -EINVAL;
	if (!ret && len > c->data_size)
		ret = -E2BIG;
	if (!ret)
		ret = mmc__call(c, MMC_OP_RESERVE, key, key_len, len, 0, 0, &cqe);
	if (ret) {
		if (c && ret == -EEXIST)
			CTR_ADD(c, put_exists, 1);
		else if (c && ret != -EBUSY)   /* contention, not an error */
			CTR_ADD(c, errors, 1);
		return ret;
	}
	if (cqe.off > c->data_size || len > c->data_size - cqe.off || cqe.len != len)
		return -EIO;
	r->data = c->data + cqe.off;
	r->len = len;
	prefault_for_write(c, cqe.off, len);
	r->idx_ = cqe.idx;
	r->gen_ = cqe.gen;
	return 0;
}

/* Commits (with the value's checksum when crc is not NULL) or aborts; the
 * reservation is spent either way. */
static int finish(mmc_client *c, struct mmc_reservation *r, uint8_t op,
		  const uint32_t *crc)
{
	struct mmc_cqe cqe;
	int ret;

	if (!c || !r || !r->data)
		return -EINVAL;
	ret = mmc__call(c, op, NULL, 0, crc ? MMC_COMMIT_CRC | *crc : 0,
			r->idx_, r->gen_, &cqe);
	if (!ret && op == MMC_OP_COMMIT) {
		CTR_ADD(c, puts, 1);
		CTR_ADD(c, put_bytes, r->len);
	} else if (ret) {
		CTR_ADD(c, errors, 1);
	}
	r->data = NULL;
	return ret;
}

int mmc_commit(mmc_client *c, struct mmc_reservation *r)
{
	uint64_t t0 = mmc_probe_start(MMC_PROBE_ACTIVE(put));
	size_t len = r ? r->len : 0;
	uint32_t crc = 0;
	bool sum = c && r && r->data && mmc__verify_writes(c);
	int ret;

	/* The bytes as they are in the arena now: what readers will check. */
	if (sum)
		crc = mmc__crc(r->data, r->len);
	ret = finish(c, r, MMC_OP_COMMIT, sum ? &crc : NULL);

	MMC_PROBE_PUT(t0, len, ret);
	return ret;
}

int mmc_abort(mmc_client *c, struct mmc_reservation *r)
{
	return finish(c, r, MMC_OP_ABORT, NULL);
}

int mmc_putv(mmc_client *c, const void *key, size_t key_len,
	     const struct iovec *iov, int iovcnt)
{
	uint64_t t0 = mmc_probe_start(MMC_PROBE_ACTIVE(put));
	struct mmc_reservation r;
	size_t len = 0, done = 0;
	uint32_t crc = 0;
	bool sum;
	int ret;

	if (!c || !iov || iovcnt < 1 || iovcnt > (int)MMC_IOV_MAX)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return -EINVAL;
		len += iov[i].iov_len;
	}
	ret = mmc_reserve(c, key, key_len, len, &r);
	if (ret) {
		MMC_PROBE_PUT(t0, 0, ret);
		return ret;
	}
	/* The checksum is the source's, copied piece by piece while in
	 * cache: what the caller meant to store. */
	sum = mmc__verify_writes(c);
	for (int i = 0; i < iovcnt; i++) {
		if (sum)
			crc = mmc__copy_crc((uint8_t *)r.data + done, iov[i].iov_base,
					    iov[i].iov_len, crc);
		else
			memcpy((uint8_t *)r.data + done, iov[i].iov_base, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	ret = finish(c, &r, MMC_OP_COMMIT, sum ? &crc : NULL);
	MMC_PROBE_PUT(t0, len, ret);
	return ret;
}

int mmc_put(mmc_client *c, const void *key, size_t key_len,
	    const void *value, size_t len)
{
	struct iovec iov = { .iov_base = (void *)value, .iov_len = len };

	return mmc_putv(c, key, key_len, &iov, 1);
}

int mmc_remove(mmc_client *c, const void *key, size_t key_len)
{
	struct mmc_cqe cqe;
	int ret = mmc__check_key(key, key_len);

	if (ret)
		return ret;
	ret = mmc__call(c, MMC_OP_REMOVE, key, key_len, 0, 0, 0, &cqe);
	if (!ret)
		CTR_ADD(c, removes, 1);
	return ret;
}

int mmc_ping(mmc_client *c, unsigned delay_us)
{
	struct mmc_cqe cqe;

	return mmc__call(c, MMC_OP_NOP, NULL, 0, delay_us, 0, 0, &cqe);
}

int mmc_clear(mmc_client *c)
{
	struct mmc_cqe cqe;

	return mmc__call(c, MMC_OP_CLEAR, NULL, 0, 0, 0, 0, &cqe);
}
