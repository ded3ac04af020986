/*
 * verify.c - the writer's checksum of a value, and readers' checks of it.
 *
 * Every put of a client whose mode is not OFF computes a crc32c of the value
 * (common/crc32c.h) and sends it with its commit; the agent keeps it in the
 * read-only index entry (MMC_ENTRY_CRC).  A copying get checks the bytes it
 * copied, after the copy, against that entry's crc: always, once in
 * MMC_VERIFY_SAMPLE gets of a thread (SAMPLED), or never (OFF).  A view
 * is checked only when asked (mmc_view_verify): checking every acquire
 * would read every byte, which zero copy exists to avoid.
 *
 * Why the crc may be read without the seqlock: it is set in the same
 * seqlock section that makes the entry COMMITTED and never changes while
 * the object lives, and the reader holds a pin on (idx, gen), taken while
 * the entry was committed at the seq it looked up (lookup.c).  The agent
 * neither frees nor reuses a pinned entry, so crc and flags are those of
 * the object whose bytes were copied.
 *
 * All of libshm's crcs are computed here: crc32c.h keeps its tables per
 * translation unit and builds them on first use, which mmc_connect() does
 * once per process (pthread_once) before any thread can need them.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "client.h"
#include "crc32c.h"

/* Copies and checksums in pieces this large, each still in cache when
 * it is read the second time. */
#define COPY_CHUNK (64u << 10)

_Thread_local uint32_t mmc__verify_tick;

static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	(void)mmc_crc32c(0, "", 0);   /* builds the shift tables */
}

void mmc__verify_init(struct mmc_client *c)
{
	uint32_t mode = c->hdr->verify;

	pthread_once(&crc_once, crc_init);
	atomic_store_explicit(&c->verify, mode <= MMC_VERIFY_ALWAYS ? (int)mode :
			      MMC_VERIFY_ALWAYS, memory_order_relaxed);
}

int mmc_set_verify(mmc_client *c, int mode)
{
	if (!c || mode < MMC_VERIFY_OFF || mode > MMC_VERIFY_AGENT)
		return -EINVAL;
	if (mmc__forked(c))
		return -ECHILD;
	if (mode == MMC_VERIFY_AGENT)
		mode = c->hdr->verify <= MMC_VERIFY_ALWAYS ? (int)c->hdr->verify :
			MMC_VERIFY_ALWAYS;
	atomic_store_explicit(&c->verify, mode, memory_order_relaxed);
	return 0;
}

uint32_t mmc__copy_crc(void *dst, const void *src, size_t n, uint32_t crc)
{
	for (size_t done = 0, k; done < n; done += k) {
		k = n - done < COPY_CHUNK ? n - done : COPY_CHUNK;
		memcpy((char *)dst + done, (const char *)src + done, k);
		crc = mmc_crc32c(crc, (const char *)src + done, k);
	}
	return crc;
}

uint32_t mmc__crc(const void *p, size_t n)
{
	return mmc_crc32c(0, p, n);
}

/* The checksum the writer stored for the pinned object (idx): 1 with *crc,
 * or 0 when it stored none. */
static int stored_crc(const struct mmc_client *c, uint32_t idx, uint32_t *crc)
{
	const struct mmc_entry *e = &c->entries[idx];

	/* Acquire: the agent may stamp a crc on a committed entry (in a pool),
	 * storing the crc before the flag (agent/index.c). */
	if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & MMC_ENTRY_CRC))
		return 0;
	*crc = __atomic_load_n(&e->crc, __ATOMIC_RELAXED);
	return 1;
}

/* A check of the pinned object (idx, gen) failed: counted, and the object
 * is dropped (only that one: a newer object under its key stays) so that
 * the next put of the key stores good bytes.  The key is the entry's own
 * (immutable while pinned).  The agent's answer does not matter. */
static void failed(struct mmc_client *c, uint32_t idx, uint32_t gen)
{
	const struct mmc_entry *e = &c->entries[idx];
	uint16_t key_len = __atomic_load_n(&e->key_len, __ATOMIC_RELAXED);
	uint8_t key[MMC_KEY_MAX];
	struct mmc_cqe cqe;

	CTR_ADD(c, verify_failures, 1);
	if (!key_len || key_len > MMC_KEY_MAX)
		return;
	memcpy(key, e->key, key_len);
	(void)mmc__call(c, MMC_OP_REMOVE, key, key_len, MMC_REMOVE_EXACT, idx, gen, &cqe);
}

/* Calls fn on each piece of the first len bytes of iov, in order. */
static void iov_each(const struct iovec *iov, int iovcnt, size_t len,
		     void (*fn)(void *p, size_t n, void *arg), void *arg)
{
	size_t done = 0;

	for (int i = 0; i < iovcnt && done < len; i++) {
		size_t n = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		fn(iov[i].iov_base, n, arg);
		done += n;
	}
}

static void crc_piece(void *p, size_t n, void *crc)
{
	*(uint32_t *)crc = mmc_crc32c(*(uint32_t *)crc, p, n);
}

static void zero_piece(void *p, size_t n, void *unused)
{
	memset(p, 0, n);
}

int mmc__verify_copy(struct mmc_client *c, const struct mmc_found *f,
		     const struct iovec *iov, int iovcnt)
{
	uint32_t want, crc = 0;

	if (!stored_crc(c, f->idx, &want))
		return 0;
	iov_each(iov, iovcnt, f->len, crc_piece, &crc);
	if (crc == want)
		return 1;
	iov_each(iov, iovcnt, f->len, zero_piece, NULL);   /* never data */
	failed(c, f->idx, f->gen);
	return -ENOENT;
}

int mmc_view_verify(mmc_client *c, const struct mmc_view *v)
{
	uint32_t idx, want;

	if (!c || !v || !v->word_ || v->slot_ >= MMC_PIN_SLOTS)
		return -EINVAL;
	if (mmc__forked(c))
		return -ECHILD;
	/* Only a view this session holds: its pin keeps the entry. */
	if (atomic_load_explicit(&c->pins[v->slot_], memory_order_relaxed) != v->word_)
		return -EINVAL;
	idx = MMC_OBJ_IDX(v->word_);
	if (idx >= c->nentries)
		return -EINVAL;
	if (!stored_crc(c, idx, &want))
		return 0;
	if (mmc_crc32c(0, v->data, v->len) == want)
		return 1;
	failed(c, idx, MMC_OBJ_GEN(v->word_));
	return -ENOENT;
}
