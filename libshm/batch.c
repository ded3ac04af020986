/*
 * batch.c - batch forms over up to MMC_BATCH_MAX keys.
 *
 * Reads (copies or pinned views) and exists loop over the shared-memory
 * paths (no system call) and fetch what is elsewhere in one pipeline.  Puts
 * and removes are pipelined through the ring in windows of RING_WINDOW
 * requests (ring.c's mmc__pipeline): a whole window of reservations goes
 * out with at most one doorbell, the values are copied once the answers are
 * back, then the window's commits go out together.  Other threads of the
 * client submit and wait meanwhile.  A failure of one key never stops the
 * others; each key's result lands in results[i].
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define RING_WINDOW MMC_PIPELINE_MAX

static int batch_args(mmc_client *c, size_t n, const void *const *keys,
		      const size_t *key_lens)
{
	if (!c || !keys || !key_lens || n > MMC_BATCH_MAX)
		return -EINVAL;
	return mmc__alive(c);
}

/* What a batch read does with each key: copy its value into the caller's
 * buffer (mmc_get_batch) or pin it in place (mmc_acquire_batch, views !=
 * NULL).  results[i] gets the value's length or -errno. */
struct batch_read {
	const void *const *keys;
	const size_t *key_lens;
	void *const *bufs;
	const size_t *buf_lens;
	struct mmc_view *views;
	int64_t *results;
};

/* Reads key i (hash: its hash, or NULL).  With fetch false a key that is
 * elsewhere (SSD tier, or a peer) is MMC__ON_SSD, left to the caller. */
static int read_one(mmc_client *c, const struct batch_read *b, size_t i,
		    const uint64_t *hash, bool fetch)
{
	struct iovec iov;
	size_t len = 0;
	int r;

	if (b->views) {
		r = mmc__acquire(c, b->keys[i], b->key_lens[i], hash, &b->views[i], fetch);
		if (r)
			b->views[i] = (struct mmc_view){ 0 };
		len = r ? 0 : b->views[i].len;
	} else {
		iov = (struct iovec){ .iov_base = b->bufs[i], .iov_len = b->buf_lens[i] };
		r = mmc__getv(c, b->keys[i], b->key_lens[i], hash, &iov, 1, &len, fetch);
	}
	if (r != MMC__ON_SSD)
		b->results[i] = r ? r : (int64_t)len;
	return r;
}

/* A read whose value had to be fetched (ring.c calls it for each as it is
 * answered): the copy into the caller's buffer, or the pin. */
struct fetched {
	mmc_client *c;
	const struct batch_read *b;
	const struct mmc_cqe *cqes;  /* the group's FETCH answers */
	const size_t *later;         /* the group's indexes into keys */
	int ok;
};

static void read_fetched(void *arg, size_t j)
{
	struct fetched *f = arg;
	size_t i = f->later[j];
	/* A FETCH that missed is a miss: not asked again, one at a time.  One
	 * that worked is read (and fetched again alone if it left DRAM since). */
	int r = read_one(f->c, f->b, i, NULL, f->cqes[j].res == 0);

	if (r == MMC__ON_SSD)
		f->b->results[i] = -ENOENT;
	f->ok += !r;
}

/* Reads keys [base, end): from DRAM first; those elsewhere (SSD tier or,
 * in a pool, a peer) are then fetched in one pipeline (up to
 * MMC_PIPELINE_MAX in flight) and read again as each arrives, each read
 * letting the next fetch go.  The fetches in flight hold at most a quarter
 * of the arena by the callers' buffer sizes (a value is no larger than its
 * buffer): fetched values must all fit in DRAM at once, or the later ones
 * push the earlier out before they are read.  Acquires pin each value as
 * it arrives, so they are bounded by the session's pin budget instead
 * (-EDQUOT past it).  A key that left DRAM again before it is read is
 * fetched alone.  Returns how many succeeded, or -errno if the session
 * died. */
static int read_window(mmc_client *c, const struct batch_read *b, size_t base, size_t end)
{
	uint64_t hashes[MMC_PREFETCH_GROUP];
	struct mmc_req reqs[RING_WINDOW];
	struct mmc_cqe cqes[RING_WINDOW];
	size_t later[RING_WINDOW], k = 0;
	int ok = 0, ret;

	for (size_t i = base; i < end; i++) {
		int r;

		if ((i - base) % MMC_PREFETCH_GROUP == 0)
			mmc__prefetch(c, b->keys + i, b->key_lens + i, end - i, hashes);
		r = read_one(c, b, i, &hashes[(i - base) % MMC_PREFETCH_GROUP], false);
		if (r == MMC__ON_SSD) {
			reqs[k] = (struct mmc_req){ .op = MMC_OP_FETCH, .key = b->keys[i],
						    .key_len = (uint16_t)b->key_lens[i],
						    .weight = b->views ? 0 : b->buf_lens[i] };
			later[k++] = i;
			continue;
		}
		ok += !r;
	}
	if (k) {
		struct fetched f = { c, b, cqes, later, 0 };

		/* Each value is read as soon as it is here, while the agent
		 * brings the next ones. */
		if ((ret = mmc__pipeline_each(c, k, reqs, cqes, read_fetched, &f,
					      c->data_size / 4)))
			return ret;
		ok += f.ok;
	}
	return ok;
}

static int read_batch(mmc_client *c, size_t n, const struct batch_read *b)
{
	int ok = 0, ret = 0;

	for (size_t base = 0; base < n && !ret; base += RING_WINDOW) {
		size_t end = base + RING_WINDOW < n ? base + RING_WINDOW : n;
		int r = read_window(c, b, base, end);

		if (r < 0)
			ret = r;
		else
			ok += r;
	}
	return ret ? ret : ok;
}

int mmc_get_batch(mmc_client *c, size_t n, const void *const *keys,
		  const size_t *key_lens, void *const *bufs,
		  const size_t *buf_lens, int64_t *results)
{
	struct batch_read b = { keys, key_lens, bufs, buf_lens, NULL, results };
	int ret = batch_args(c, n, keys, key_lens);

	if (!ret && (!bufs || !buf_lens || !results))
		ret = -EINVAL;
	return ret ? ret : read_batch(c, n, &b);
}

int mmc_acquire_batch(mmc_client *c, size_t n, const void *const *keys,
		      const size_t *key_lens, struct mmc_view *views, int64_t *results)
{
	struct batch_read b = { keys, key_lens, NULL, NULL, views, results };
	int ret = batch_args(c, n, keys, key_lens);

	if (!ret && (!views || !results))
		ret = -EINVAL;
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {   /* not reached, if the session dies */
		results[i] = -ECANCELED;
		views[i] = (struct mmc_view){ 0 };
	}
	ret = read_batch(c, n, &b);
	/* The session died on the way: no pin outlives the failed call. */
	for (size_t i = 0; ret < 0 && i < n; i++)
		if (results[i] >= 0) {
			mmc_release(c, &views[i]);
			results[i] = ret;
		}
	return ret;
}

/* Asks the agent about keys[base + later[0..k)] (not in this node's
 * shared memory): packed into LOOKUPV requests, as many as fit in one's key
 * area (a length byte and the key each, up to MMC_LOOKUPV_MAX), a key too
 * long for a length byte asked alone (LOOKUP); all in one pipeline.
 * r[later[j]] becomes 1 for each key present somewhere in the pool.  0 or
 * -errno. */
static int exists_ask(mmc_client *c, size_t k, const size_t *later, const void *const *keys,
		      const size_t *key_lens, size_t base, int *r)
{
	struct mmc_req reqs[RING_WINDOW];
	struct mmc_cqe cqes[RING_WINDOW];
	size_t first[RING_WINDOW + 1], nreq = 0;
	uint8_t (*area)[MMC_KEY_MAX] = malloc(k * MMC_KEY_MAX);
	int ret;

	if (!area)
		return -ENOMEM;
	for (size_t j = 0; j < k; j++) {
		size_t len = key_lens[base + later[j]];
		struct mmc_req *q = nreq ? &reqs[nreq - 1] : NULL;

		if (len > 255) {             /* alone */
			first[nreq] = j;
			reqs[nreq++] = (struct mmc_req){ .op = MMC_OP_LOOKUP,
				.key = keys[base + later[j]], .key_len = (uint16_t)len };
			continue;
		}
		if (!q || q->op != MMC_OP_LOOKUPV || q->arg == MMC_LOOKUPV_MAX ||
		    q->key_len + 1 + len > MMC_KEY_MAX) {
			first[nreq] = j;
			q = &reqs[nreq];
			*q = (struct mmc_req){ .op = MMC_OP_LOOKUPV, .key = area[nreq] };
			nreq++;
		}
		area[nreq - 1][q->key_len] = (uint8_t)len;
		memcpy(&area[nreq - 1][q->key_len + 1], keys[base + later[j]], len);
		q->key_len = (uint16_t)(q->key_len + 1 + len);
		q->arg++;
	}
	first[nreq] = k;
	ret = mmc__pipeline(c, nreq, reqs, cqes);
	for (size_t q = 0; !ret && q < nreq; q++)
		for (size_t j = first[q]; j < first[q + 1]; j++)
			r[later[j]] = cqes[q].res > 0 && (reqs[q].op == MMC_OP_LOOKUP ||
				      cqes[q].off & (1ull << (j - first[q])));
	free(area);
	return ret;
}

/* Keys [base, end) of an exists batch: r[] gets 1/0 (or a key's -EINVAL /
 * -ENAMETOOLONG) from this node, then, in a pool, the keys not here are
 * asked of the agent (exists_ask: it asks their homes, one request per
 * home).  0, or -errno when the session failed. */
static int exists_window(mmc_client *c, size_t base, size_t end, const void *const *keys,
			 const size_t *key_lens, int *r)
{
	uint64_t hashes[MMC_PREFETCH_GROUP];
	size_t later[RING_WINDOW], k = 0;

	for (size_t i = base; i < end; i++) {
		if ((i - base) % MMC_PREFETCH_GROUP == 0)
			mmc__prefetch(c, keys + i, key_lens + i, end - i, hashes);
		r[i - base] = mmc__exists(c, keys[i], key_lens[i],
					  &hashes[(i - base) % MMC_PREFETCH_GROUP]);
		if (r[i - base] < 0 && r[i - base] != -EINVAL && r[i - base] != -ENAMETOOLONG)
			return r[i - base];
		if (!r[i - base] && c->pool)
			later[k++] = i - base;
	}
	return k ? exists_ask(c, k, later, keys, key_lens, base, r) : 0;
}

int mmc_exists_batch(mmc_client *c, size_t n, const void *const *keys,
		     const size_t *key_lens, uint8_t *present, size_t *prefix)
{
	int r[RING_WINDOW];
	size_t lead = n;
	int count = 0, ret = batch_args(c, n, keys, key_lens);

	if (ret)
		return ret;
	for (size_t base = 0; base < n; base += RING_WINDOW) {
		size_t end = base + RING_WINDOW < n ? base + RING_WINDOW : n;

		/* Without present[] only the prefix is asked: stop at the gap. */
		if (lead != n && !present)
			break;
		if ((ret = exists_window(c, base, end, keys, key_lens, r)))
			return ret;
		for (size_t i = base; i < end; i++) {
			if (present)
				present[i] = r[i - base] == 1;
			if (r[i - base] == 1 && (present || lead == n))
				count++;
			else if (r[i - base] != 1 && lead == n)
				lead = i;
		}
	}
	if (prefix)
		*prefix = lead;
	return count;
}

/* Puts keys [base, end): one pipeline of reservations, the values copied
 * into those that were granted, one pipeline of commits (or aborts, for an
 * impossible location).  results[i] gets each key's answer; returns how
 * many were committed, or -errno when the session failed. */
static int put_window(mmc_client *c, size_t base, size_t end,
		      const void *const *keys, const size_t *key_lens,
		      const void *const *values, const size_t *lens, int *results)
{
	struct mmc_req reqs[RING_WINDOW];
	struct mmc_cqe cqes[RING_WINDOW];
	size_t sent[RING_WINDOW], k = 0, m = 0;
	bool sum = mmc__verify_writes(c);   /* commits carry the values' checksums */
	uint64_t arg = 0;
	int ok = 0, ret;

	for (size_t i = base; i < end; i++) {
		int r = mmc__check_key(keys[i], key_lens[i]);

		if (!r && (!lens[i] || !values[i]))
			r = -EINVAL;
		if (!r && lens[i] > c->data_size)
			r = -E2BIG;
		results[i] = r;
		if (r)
			continue;
		reqs[k] = (struct mmc_req){ .op = MMC_OP_RESERVE, .key = keys[i],
					    .key_len = (uint16_t)key_lens[i],
					    .arg = lens[i] };
		sent[k++] = i;
	}
	if ((ret = mmc__pipeline(c, k, reqs, cqes)))
		return ret;
	/* Copy into each reservation, then commit them all at once. */
	for (size_t j = 0; j < k; j++) {
		size_t i = sent[j];
		const struct mmc_cqe *q = &cqes[j];
		bool bad_loc = q->off > c->data_size || lens[i] > c->data_size - q->off;

		results[i] = q->res;
		if (q->res == -EEXIST)
			CTR_ADD(c, put_exists, 1);
		if (q->res)
			continue;
		if (bad_loc)
			results[i] = -EIO;
		else if (sum)
			arg = MMC_COMMIT_CRC | mmc__copy_crc(c->data + q->off, values[i],
							     lens[i], 0);
		else
			memcpy(c->data + q->off, values[i], lens[i]);
		reqs[m] = (struct mmc_req){ .op = bad_loc ? MMC_OP_ABORT : MMC_OP_COMMIT,
					    .idx = q->idx, .gen = q->gen,
					    .arg = bad_loc ? 0 : arg };
		sent[m++] = i;
	}
	if ((ret = mmc__pipeline(c, m, reqs, cqes)))
		return ret;
	for (size_t j = 0; j < m; j++) {
		size_t i = sent[j];

		if (results[i] == 0)
			results[i] = cqes[j].res;
		if (results[i] == 0) {
			ok++;
			CTR_ADD(c, puts, 1);
			CTR_ADD(c, put_bytes, lens[i]);
		}
	}
	return ok;
}

/* Puts again the keys of [base, end) that the agent refused with -EDQUOT
 * while the window's own reservations held the session's share: now that
 * those are committed, as many as fit go in, and again, while any does.
 * Returns how many were committed, or -errno when the session failed. */
static int put_refused(mmc_client *c, size_t base, size_t end,
		       const void *const *keys, const size_t *key_lens,
		       const void *const *values, const size_t *lens, int *results)
{
	const void *k2[RING_WINDOW], *v2[RING_WINDOW];
	size_t kl2[RING_WINDOW], l2[RING_WINDOW], at[RING_WINDOW];
	int r2[RING_WINDOW], ok = 0, got;

	do {
		size_t m = 0;

		for (size_t i = base; i < end; i++)
			if (results[i] == -EDQUOT) {
				k2[m] = keys[i];
				kl2[m] = key_lens[i];
				v2[m] = values[i];
				l2[m] = lens[i];
				at[m++] = i;
			}
		if (!m)
			break;
		got = put_window(c, 0, m, k2, kl2, v2, l2, r2);
		if (got < 0)
			return got;
		for (size_t j = 0; j < m; j++)
			results[at[j]] = r2[j];
		ok += got;
	} while (got > 0);
	return ok;
}

int mmc_put_batch(mmc_client *c, size_t n, const void *const *keys,
		  const size_t *key_lens, const void *const *values,
		  const size_t *lens, int *results)
{
	int ok = 0, ret = batch_args(c, n, keys, key_lens);

	if (!ret && (!values || !lens || !results))
		ret = -EINVAL;
	for (size_t base = 0; base < n && !ret; base += RING_WINDOW) {
		size_t end = base + RING_WINDOW < n ? base + RING_WINDOW : n;
		int r = put_window(c, base, end, keys, key_lens, values, lens, results);

		/* A window of large values can pass the session's [limits]
		 * share of reserved bytes by itself: the rest go in once the
		 * first are committed. */
		if (r > 0)
			r += put_refused(c, base, end, keys, key_lens, values, lens,
					 results);
		if (r < 0)
			ret = r;
		else
			ok += r;
	}
	return ret ? ret : ok;
}

int mmc_remove_batch(mmc_client *c, size_t n, const void *const *keys,
		     const size_t *key_lens, int *results)
{
	struct mmc_req reqs[RING_WINDOW];
	struct mmc_cqe cqes[RING_WINDOW];
	size_t sent[RING_WINDOW];
	int ok = 0, ret = batch_args(c, n, keys, key_lens);

	if (!ret && !results)
		ret = -EINVAL;
	for (size_t base = 0; base < n && !ret; base += RING_WINDOW) {
		size_t end = base + RING_WINDOW < n ? base + RING_WINDOW : n, k = 0;

		for (size_t i = base; i < end; i++) {
			if ((results[i] = mmc__check_key(keys[i], key_lens[i])))
				continue;
			reqs[k] = (struct mmc_req){ .op = MMC_OP_REMOVE, .key = keys[i],
						    .key_len = (uint16_t)key_lens[i] };
			sent[k++] = i;
		}
		ret = mmc__pipeline(c, k, reqs, cqes);
		for (size_t j = 0; j < k && !ret; j++) {
			results[sent[j]] = cqes[j].res;
			if (!cqes[j].res) {
				ok++;
				CTR_ADD(c, removes, 1);
			}
		}
	}
	return ret ? ret : ok;
}
