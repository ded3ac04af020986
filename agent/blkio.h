/*
 * blkio.h - asynchronous block I/O for the SSD tier: one file, reads and
 * writes straight between memory and the device, completions collected by
 * the event loop.
 *
 * An engine behind an opaque handle with two implementations of one
 * contract:
 *
 *   io_uring  (blkio_uring.c)   O_DIRECT; the arena and the tier's own
 *             buffers registered as fixed buffers (pieces of at most
 *             1 GiB), the file as a fixed file: no copy, no page pinning
 *             per I/O, one system call per batch of submissions.
 *   threads   (blkio_threads.c) the same with pread/pwrite on a few worker
 *             threads, for kernels or sandboxes without io_uring (disabled
 *             by sysctl, seccomp'd by a container runtime).
 *
 * Requests are queued with mmc_blkio_read/write (at most queue_depth in
 * flight, -EAGAIN beyond), sent with mmc_blkio_submit, and come back through
 * mmc_blkio_reap as (cookie, result) pairs in any order; the engine's
 * mmc_blkio_event_fd becomes readable when completions wait, so the event
 * loop can sleep in epoll.  Single-threaded use: the agent's loop.
 */
#ifndef MMC_AGENT_BLKIO_H
#define MMC_AGENT_BLKIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define MMC_BLKIO_IOV_MAX 40   /* a write group of the SSD tier: 2 x 16 + 1 */

struct mmc_blkio;

enum mmc_blkio_engine { MMC_BLKIO_URING = 0, MMC_BLKIO_THREADS };

struct mmc_blkio_region {      /* memory I/O goes to and from */
	void  *base;
	size_t len;
};

struct mmc_blkio_config {
	int fd;                       /* opened O_DIRECT by the caller */
	unsigned queue_depth;         /* requests in flight at most */
	enum mmc_blkio_engine engine;
	/* Memory that I/O uses, registered once where the engine can (an
	 * arena, a tier's header and table buffers); any other memory works
	 * too, unregistered. */
	struct mmc_blkio_region regions[8];
	unsigned nregions;
};

/* One finished request: the cookie given at submission and the result
 * (bytes transferred, or -errno; a short transfer is reported as -EIO). */
struct mmc_blkio_done {
	uint64_t cookie;
	int64_t  res;
};

/* Opens an engine over cfg->fd.  0 or -errno: for io_uring, -ENOSYS or
 * -EPERM mean "not available here" (the caller may take the threads
 * engine).  *why gets a static one-line reason on failure. */
int mmc_blkio_open(const struct mmc_blkio_config *cfg, struct mmc_blkio **out,
		   const char **why);
/* Waits for every request in flight, then frees the engine (the file
 * stays open: it is the caller's). */
void mmc_blkio_close(struct mmc_blkio *b);

/* Queues a read of len bytes at file offset off into buf (or a write from
 * buf).  buf, len and off must meet the file's O_DIRECT alignment.
 * 0 or -EAGAIN (queue_depth requests in flight already). */
int mmc_blkio_read(struct mmc_blkio *b, void *buf, size_t len, uint64_t off,
		   uint64_t cookie);
int mmc_blkio_write(struct mmc_blkio *b, const void *buf, size_t len, uint64_t off,
		    uint64_t cookie);
/* Queues one write of niov (1..MMC_BLKIO_IOV_MAX) pieces to consecutive
 * bytes at off: one request to the device (a header and a value that live
 * apart in memory).  Unregistered, still no copy.  0 or -EAGAIN/-EINVAL. */
int mmc_blkio_writev(struct mmc_blkio *b, const struct iovec *iov, int niov,
		     uint64_t off, uint64_t cookie);
/* Sends what was queued.  0 or -errno. */
int mmc_blkio_submit(struct mmc_blkio *b);
/* Takes up to max finished requests; never blocks.  Returns how many. */
unsigned mmc_blkio_reap(struct mmc_blkio *b, struct mmc_blkio_done *out, unsigned max);
/* Requests queued or in flight. */
unsigned mmc_blkio_inflight(const struct mmc_blkio *b);
/* Readable while completions wait (drain it with mmc_blkio_reap; the loop
 * reads the fd itself to rearm it). */
int mmc_blkio_event_fd(const struct mmc_blkio *b);
/* "io_uring" or "threads". */
const char *mmc_blkio_engine_name(const struct mmc_blkio *b);

#endif /* MMC_AGENT_BLKIO_H */
