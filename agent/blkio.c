/*
 * blkio.c - the SSD tier's block I/O: io_uring, or pread/pwrite threads.
 *
 * Both engines keep a table of queue_depth request records; a request's
 * record holds what the caller must get back (its cookie) and what the
 * device must return (its length: a short transfer is an error here, since
 * the tier only ever reads what it wrote).  Records are taken and given back
 * by the agent's thread only.
 *
 * io_uring: the file is registered as fixed file 0 and every memory region
 * the tier uses as fixed buffers, cut in pieces of at most 1 GiB (the
 * kernel's limit per buffer); a request whose buffer lies inside one piece
 * goes as READ_FIXED/WRITE_FIXED, any other as a plain READ/WRITE (still
 * O_DIRECT, still no copy).  If registering buffers fails (RLIMIT_MEMLOCK
 * too low for a large arena) the engine works unregistered.  An eventfd
 * registered with the ring tells the event loop about completions.
 *
 * threads: up to 8 workers take requests from a queue under a mutex, loop
 * over pread/pwrite until the whole length moved, put the record on a done
 * list and write the eventfd.  The same contract, slower per request.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blkio.h"

#define GIB (1ull << 30)
#define MAX_PIECES 1024
#define MAX_THREADS 8

struct rec {
	uint64_t cookie;
	size_t   len;            /* all pieces together */
	struct iovec iov[MMC_BLKIO_IOV_MAX];   /* a vectored write's pieces */
	int      niov;           /* 0: one buffer (buf) */
	/* threads engine */
	bool     write;
	void    *buf;
	uint64_t off;
	int64_t  res;
	uint32_t next;           /* queue / free list link */
};

#define NONE UINT32_MAX

struct mmc_blkio {
	enum mmc_blkio_engine engine;
	int fd, efd;
	unsigned depth, inflight;
	struct rec *recs;
	uint32_t free_head;
	/* io_uring */
	struct io_uring ring;
	bool ring_up;
	struct iovec *pieces;
	unsigned npieces;
	unsigned queued;         /* prepared, not yet submitted */
	/* threads */
	pthread_t threads[MAX_THREADS];
	unsigned nthreads;
	pthread_mutex_t lock;
	pthread_cond_t work;
	uint32_t pend_head, pend_tail;   /* submitted, not yet taken */
	uint32_t done_head;              /* finished, not yet reaped */
	uint32_t local_head, local_tail; /* queued, not yet submitted */
	bool stop;
};

static uint32_t rec_take(struct mmc_blkio *b)
{
	uint32_t i = b->free_head;

	if (i != NONE)
		b->free_head = b->recs[i].next;
	return i;
}

static void rec_give(struct mmc_blkio *b, uint32_t i)
{
	b->recs[i].next = b->free_head;
	b->free_head = i;
}

/* ---- io_uring ---- */

static int uring_open(struct mmc_blkio *b, const struct mmc_blkio_config *cfg,
		      const char **why)
{
	int ret = io_uring_queue_init(b->depth, &b->ring, 0);

	if (ret) {
		*why = "io_uring_setup failed (io_uring disabled by sysctl or "
		       "seccomp, or an old kernel)";
		return ret;
	}
	b->ring_up = true;
	ret = io_uring_register_files(&b->ring, &b->fd, 1);
	if (ret) {
		*why = "io_uring cannot register the tier file";
		return ret;
	}
	b->pieces = calloc(MAX_PIECES, sizeof(*b->pieces));
	if (!b->pieces)
		return -ENOMEM;
	for (unsigned r = 0; r < cfg->nregions; r++) {
		char *p = cfg->regions[r].base;
		size_t left = cfg->regions[r].len;

		while (left && b->npieces < MAX_PIECES) {
			size_t n = left < GIB ? left : GIB;

			b->pieces[b->npieces].iov_base = p;
			b->pieces[b->npieces++].iov_len = n;
			p += n;
			left -= n;
		}
	}
	/* Unregistered I/O still works: registration only saves pinning the
	 * pages on every request. */
	if (b->npieces && io_uring_register_buffers(&b->ring, b->pieces, b->npieces))
		b->npieces = 0;
	ret = io_uring_register_eventfd(&b->ring, b->efd);
	if (ret)
		*why = "io_uring cannot register its eventfd";
	return ret;
}

static int uring_queue(struct mmc_blkio *b, bool write, void *buf, size_t len,
		       uint64_t off, uint32_t rec)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	int piece = -1;

	if (!sqe)
		return -EAGAIN;
	if (b->recs[rec].niov) {     /* vectored: one device request, no copy */
		io_uring_prep_writev(sqe, 0, b->recs[rec].iov, (unsigned)b->recs[rec].niov, off);
		sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data64(sqe, rec);
		b->queued++;
		return 0;
	}
	for (unsigned i = 0; i < b->npieces; i++) {
		char *base = b->pieces[i].iov_base;

		if ((char *)buf >= base && (char *)buf + len <= base + b->pieces[i].iov_len) {
			piece = (int)i;
			break;
		}
	}
	if (piece >= 0 && write)
		io_uring_prep_write_fixed(sqe, 0, buf, (unsigned)len, off, piece);
	else if (piece >= 0)
		io_uring_prep_read_fixed(sqe, 0, buf, (unsigned)len, off, piece);
	else if (write)
		io_uring_prep_write(sqe, 0, buf, (unsigned)len, off);
	else
		io_uring_prep_read(sqe, 0, buf, (unsigned)len, off);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, rec);
	b->queued++;
	return 0;
}

static unsigned uring_reap(struct mmc_blkio *b, struct mmc_blkio_done *out, unsigned max)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (n < max && io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		uint32_t i = (uint32_t)io_uring_cqe_get_data64(cqe);
		struct rec *r = &b->recs[i];

		out[n].cookie = r->cookie;
		out[n].res = cqe->res < 0 ? cqe->res :
			(size_t)cqe->res == r->len ? cqe->res : -EIO;
		io_uring_cqe_seen(&b->ring, cqe);
		rec_give(b, i);
		b->inflight--;
		n++;
	}
	return n;
}

/* ---- threads ---- */

static void *worker(void *arg)
{
	struct mmc_blkio *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		uint32_t i;
		struct rec *r;
		size_t done = 0;
		uint64_t one = 1;

		while (b->pend_head == NONE && !b->stop)
			pthread_cond_wait(&b->work, &b->lock);
		if (b->pend_head == NONE)
			break;
		i = b->pend_head;
		r = &b->recs[i];
		b->pend_head = r->next;
		if (b->pend_head == NONE)
			b->pend_tail = NONE;
		pthread_mutex_unlock(&b->lock);
		if (r->niov) {           /* vectored write: once whole, else by piece */
			ssize_t k = pwritev(b->fd, r->iov, r->niov, (off_t)r->off);

			if (k == (ssize_t)r->len)
				done = r->len;
			for (int v = 0, at = 0; done < r->len && v < r->niov; v++) {
				k = pwrite(b->fd, r->iov[v].iov_base, r->iov[v].iov_len,
					   (off_t)(r->off + (uint64_t)at));
				if (k != (ssize_t)r->iov[v].iov_len) {
					r->res = k < 0 ? -errno : -EIO;
					break;
				}
				at += (int)k;
				if (v + 1 == r->niov)
					done = r->len;
			}
		}
		while (!r->niov && done < r->len) {
			ssize_t k = r->write ?
				pwrite(b->fd, (char *)r->buf + done, r->len - done, (off_t)(r->off + done)) :
				pread(b->fd, (char *)r->buf + done, r->len - done, (off_t)(r->off + done));

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				r->res = k < 0 ? -errno : -EIO;
				break;
			}
			done += (size_t)k;
		}
		if (done == r->len)
			r->res = (int64_t)done;
		pthread_mutex_lock(&b->lock);
		r->next = b->done_head;
		b->done_head = i;
		(void)!write(b->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static int threads_open(struct mmc_blkio *b)
{
	unsigned n = b->depth < MAX_THREADS ? b->depth : MAX_THREADS;

	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->work, NULL);
	b->pend_head = b->pend_tail = b->done_head = NONE;
	b->local_head = b->local_tail = NONE;
	for (; b->nthreads < n; b->nthreads++) {
		int ret = pthread_create(&b->threads[b->nthreads], NULL, worker, b);

		if (ret)
			return -ret;
	}
	return 0;
}

static int threads_queue(struct mmc_blkio *b, bool write, void *buf, size_t len,
			 uint64_t off, uint32_t i)
{
	struct rec *r = &b->recs[i];

	r->write = write;
	r->buf = buf;
	r->off = off;
	r->res = 0;
	r->next = NONE;
	if (b->local_tail == NONE)
		b->local_head = i;
	else
		b->recs[b->local_tail].next = i;
	b->local_tail = i;
	return 0;
}

static void threads_submit(struct mmc_blkio *b)
{
	if (b->local_head == NONE)
		return;
	pthread_mutex_lock(&b->lock);
	if (b->pend_tail == NONE)
		b->pend_head = b->local_head;
	else
		b->recs[b->pend_tail].next = b->local_head;
	b->pend_tail = b->local_tail;
	pthread_cond_broadcast(&b->work);
	pthread_mutex_unlock(&b->lock);
	b->local_head = b->local_tail = NONE;
}

static unsigned threads_reap(struct mmc_blkio *b, struct mmc_blkio_done *out, unsigned max)
{
	unsigned n = 0;

	pthread_mutex_lock(&b->lock);
	while (n < max && b->done_head != NONE) {
		uint32_t i = b->done_head;

		b->done_head = b->recs[i].next;
		out[n].cookie = b->recs[i].cookie;
		out[n].res = b->recs[i].res;
		rec_give(b, i);
		b->inflight--;
		n++;
	}
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* ---- the contract ---- */

int mmc_blkio_open(const struct mmc_blkio_config *cfg, struct mmc_blkio **out,
		   const char **why)
{
	struct mmc_blkio *b;
	int ret;

	*why = "out of memory";
	if (!cfg->queue_depth || cfg->queue_depth > 4096 || cfg->nregions > 8) {
		*why = "queue depth must be 1..4096";
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->engine = cfg->engine;
	b->fd = cfg->fd;
	b->depth = cfg->queue_depth;
	b->recs = calloc(b->depth, sizeof(*b->recs));
	b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!b->recs || b->efd < 0) {
		ret = b->recs ? -errno : -ENOMEM;
		goto fail;
	}
	b->free_head = NONE;
	for (uint32_t i = b->depth; i-- > 0;)
		rec_give(b, i);
	ret = b->engine == MMC_BLKIO_URING ? uring_open(b, cfg, why) : threads_open(b);
	if (ret) {
		if (b->engine == MMC_BLKIO_THREADS)
			*why = "cannot start the I/O threads";
		goto fail;
	}
	*out = b;
	return 0;
fail:
	mmc_blkio_close(b);
	return ret;
}

void mmc_blkio_close(struct mmc_blkio *b)
{
	struct mmc_blkio_done d[64];

	if (!b)
		return;
	mmc_blkio_submit(b);
	while (b->inflight) {
		uint64_t v;

		if (!mmc_blkio_reap(b, d, 64) && b->engine == MMC_BLKIO_URING && b->ring_up) {
			struct io_uring_cqe *cqe;

			if (io_uring_wait_cqe(&b->ring, &cqe))
				break;
		} else if (b->engine == MMC_BLKIO_THREADS) {
			(void)!read(b->efd, &v, sizeof(v));   /* nonblocking: spin */
		}
	}
	if (b->engine == MMC_BLKIO_THREADS && b->nthreads) {
		pthread_mutex_lock(&b->lock);
		b->stop = true;
		pthread_cond_broadcast(&b->work);
		pthread_mutex_unlock(&b->lock);
		for (unsigned i = 0; i < b->nthreads; i++)
			pthread_join(b->threads[i], NULL);
		pthread_cond_destroy(&b->work);
		pthread_mutex_destroy(&b->lock);
	}
	if (b->ring_up)
		io_uring_queue_exit(&b->ring);
	if (b->efd >= 0)
		close(b->efd);
	free(b->pieces);
	free(b->recs);
	free(b);
}

static int queue(struct mmc_blkio *b, bool write, void *buf, size_t len,
		 uint64_t off, uint64_t cookie, const struct iovec *iov, int niov)
{
	uint32_t i;
	int ret;

	if (b->inflight >= b->depth || (i = rec_take(b)) == NONE)
		return -EAGAIN;
	b->recs[i].cookie = cookie;
	b->recs[i].len = len;
	b->recs[i].niov = niov;
	for (int v = 0; v < niov; v++)
		b->recs[i].iov[v] = iov[v];
	ret = b->engine == MMC_BLKIO_URING ? uring_queue(b, write, buf, len, off, i) :
		threads_queue(b, write, buf, len, off, i);
	if (ret) {
		rec_give(b, i);
		return ret;
	}
	b->inflight++;
	return 0;
}

int mmc_blkio_read(struct mmc_blkio *b, void *buf, size_t len, uint64_t off,
		   uint64_t cookie)
{
	return queue(b, false, buf, len, off, cookie, NULL, 0);
}

int mmc_blkio_write(struct mmc_blkio *b, const void *buf, size_t len, uint64_t off,
		    uint64_t cookie)
{
	return queue(b, true, (void *)buf, len, off, cookie, NULL, 0);
}

int mmc_blkio_writev(struct mmc_blkio *b, const struct iovec *iov, int niov,
		     uint64_t off, uint64_t cookie)
{
	size_t len = 0;

	if (niov < 1 || niov > MMC_BLKIO_IOV_MAX)
		return -EINVAL;
	for (int v = 0; v < niov; v++)
		len += iov[v].iov_len;
	return queue(b, true, NULL, len, off, cookie, iov, niov);
}

int mmc_blkio_submit(struct mmc_blkio *b)
{
	int ret;

	if (b->engine == MMC_BLKIO_THREADS) {
		threads_submit(b);
		return 0;
	}
	if (!b->queued)
		return 0;
	ret = io_uring_submit(&b->ring);
	if (ret < 0)
		return ret;
	b->queued -= (unsigned)ret < b->queued ? (unsigned)ret : b->queued;
	return 0;
}

unsigned mmc_blkio_reap(struct mmc_blkio *b, struct mmc_blkio_done *out, unsigned max)
{
	return b->engine == MMC_BLKIO_URING ? uring_reap(b, out, max) :
		threads_reap(b, out, max);
}

unsigned mmc_blkio_inflight(const struct mmc_blkio *b)
{
	return b->inflight;
}

int mmc_blkio_event_fd(const struct mmc_blkio *b)
{
	return b->efd;
}

const char *mmc_blkio_engine_name(const struct mmc_blkio *b)
{
	return b->engine == MMC_BLKIO_URING ? "io_uring" : "threads";
}
