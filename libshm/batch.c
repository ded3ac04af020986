/*
 * batch.c - batch forms over up to MMC_BATCH_MAX keys.
 *
 * Reads and exists loop over the shared-memory paths (no system call).  Puts
 * and removes are pipelined through the ring in windows of RING_WINDOW
 * requests: a whole window of reservations goes out with at most one
 * doorbell, the values are copied as the answers come back, then the window's
 * commits go out together.  A failure of one key never stops the others; each
 * key's result lands in results[i].
 */
#include <errno.h>
#include <string.h>

#include "client.h"

#define RING_WINDOW 128

static int batch_args(mmc_client *c, size_t n, const void *const *keys,
		      const size_t *key_lens)
{
	if (!c || !keys || !key_lens || n > MMC_BATCH_MAX)
		return -EINVAL;
	return mmc__alive(c);
}

int mmc_get_batch(mmc_client *c, size_t n, const void *const *keys,
		  const size_t *key_lens, void *const *bufs,
		  const size_t *buf_lens, int64_t *results)
{
	uint64_t hashes[MMC_PREFETCH_GROUP];
	int ok = 0, ret = batch_args(c, n, keys, key_lens);

	if (!ret && (!bufs || !buf_lens || !results))
		ret = -EINVAL;
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {
		struct iovec iov = { .iov_base = bufs[i], .iov_len = buf_lens[i] };
		size_t len = 0;
		int r;

		if (i % MMC_PREFETCH_GROUP == 0)
			mmc__prefetch(c, keys + i, key_lens + i, n - i, hashes);
		r = mmc__getv(c, keys[i], key_lens[i], &hashes[i % MMC_PREFETCH_GROUP],
			      &iov, 1, &len);

		results[i] = r ? r : (int64_t)len;
		ok += !r;
	}
	return ok;
}

int mmc_exists_batch(mmc_client *c, size_t n, const void *const *keys,
		     const size_t *key_lens, uint8_t *present, size_t *prefix)
{
	uint64_t hashes[MMC_PREFETCH_GROUP];
	size_t lead = n;
	int count = 0, ret = batch_args(c, n, keys, key_lens);

	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {
		int r;

		if (i % MMC_PREFETCH_GROUP == 0)
			mmc__prefetch(c, keys + i, key_lens + i, n - i, hashes);
		r = mmc__exists(c, keys[i], key_lens[i], &hashes[i % MMC_PREFETCH_GROUP]);

		if (r < 0 && r != -EINVAL && r != -ENAMETOOLONG)
			return r;
		if (present)
			present[i] = r == 1;
		if (r == 1)
			count++;
		else if (lead == n)
			lead = i;
		/* Without present[] only the prefix is asked: stop at the gap. */
		if (lead != n && !present)
			break;
	}
	if (prefix)
		*prefix = lead;
	return count;
}

/* Publishes what was submitted and waits for n answers, in order. */
static int collect(mmc_client *c, size_t n, struct mmc_cqe *cqes)
{
	if (!n)
		return 0;
	mmc__flush(c);
	for (size_t i = 0; i < n; i++) {
		int r = mmc__wait(c, &cqes[i]);

		if (r)
			return r;
	}
	return 0;
}

/* One window of the ring: submits op for every key of [base, end) that
 * passes the checks (with lens[i] as the value length when lens is given),
 * flushes, and waits for their answers.  results[i] gets each key's early
 * error or 0; sent[0..*k) the submitted keys; cqes[0..*k) their answers.
 * Returns 0, or -errno when the session failed (agent gone). */
static int window(mmc_client *c, uint8_t op, size_t base, size_t end,
		  const void *const *keys, const size_t *key_lens,
		  const void *const *values, const size_t *lens, int *results,
		  size_t *sent, struct mmc_cqe *cqes, size_t *k)
{
	*k = 0;
	for (size_t i = base; i < end; i++) {
		int r = mmc__check_key(keys[i], key_lens[i]);

		if (!r && lens && (!lens[i] || !values[i]))
			r = -EINVAL;
		if (!r && lens && lens[i] > c->data_size)
			r = -E2BIG;
		if (!r)
			r = mmc__submit(c, op, keys[i], key_lens[i],
					lens ? lens[i] : 0, 0, 0);
		results[i] = r;
		if (!r)
			sent[(*k)++] = i;
	}
	return collect(c, *k, cqes);
}

int mmc_put_batch(mmc_client *c, size_t n, const void *const *keys,
		  const size_t *key_lens, const void *const *values,
		  const size_t *lens, int *results)
{
	struct mmc_cqe cqes[RING_WINDOW];
	size_t sent[RING_WINDOW];
	int ok = 0, ret = batch_args(c, n, keys, key_lens);

	if (!ret && (!values || !lens || !results))
		ret = -EINVAL;
	if (ret)
		return ret;
	pthread_mutex_lock(&c->ring_lock);
	for (size_t base = 0; base < n && !ret; base += RING_WINDOW) {
		size_t end = base + RING_WINDOW < n ? base + RING_WINDOW : n, k, m = 0;

		ret = window(c, MMC_OP_RESERVE, base, end, keys, key_lens, values,
			     lens, results, sent, cqes, &k);
		/* Copy into each reservation, then commit the window at once. */
		for (size_t j = 0; j < k && !ret; j++) {
			size_t i = sent[j];
			struct mmc_cqe *q = &cqes[j];

			results[i] = q->res;
			if (q->res == -EEXIST)
				CTR_ADD(c, put_exists, 1);
			if (q->res)
				continue;
			if (q->off > c->data_size || lens[i] > c->data_size - q->off) {
				results[i] = -EIO;
				mmc__submit(c, MMC_OP_ABORT, NULL, 0, 0, q->idx, q->gen);
			} else {
				memcpy(c->data + q->off, values[i], lens[i]);
				mmc__submit(c, MMC_OP_COMMIT, NULL, 0, 0, q->idx, q->gen);
			}
			sent[m++] = i;
		}
		if (!ret)
			ret = collect(c, m, cqes);
		for (size_t j = 0; j < m && !ret; j++) {
			size_t i = sent[j];

			if (results[i] == 0)
				results[i] = cqes[j].res;
			if (results[i] == 0) {
				ok++;
				CTR_ADD(c, puts, 1);
				CTR_ADD(c, put_bytes, lens[i]);
			}
		}
	}
	pthread_mutex_unlock(&c->ring_lock);
	return ret ? ret : ok;
}

int mmc_remove_batch(mmc_client *c, size_t n, const void *const *keys,
		     const size_t *key_lens, int *results)
{
	struct mmc_cqe cqes[RING_WINDOW];
	size_t sent[RING_WINDOW];
	int ok = 0, ret = batch_args(c, n, keys, key_lens);

	if (!ret && !results)
		ret = -EINVAL;
	if (ret)
		return ret;
	pthread_mutex_lock(&c->ring_lock);
	for (size_t base = 0; base < n && !ret; base += RING_WINDOW) {
		size_t end = base + RING_WINDOW < n ? base + RING_WINDOW : n, k;

		ret = window(c, MMC_OP_REMOVE, base, end, keys, key_lens, NULL, NULL,
			     results, sent, cqes, &k);
		for (size_t j = 0; j < k && !ret; j++) {
			results[sent[j]] = cqes[j].res;
			if (!cqes[j].res) {
				ok++;
				CTR_ADD(c, removes, 1);
			}
		}
	}
	pthread_mutex_unlock(&c->ring_lock);
	return ret ? ret : ok;
}
