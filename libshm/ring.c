/*
 * ring.c - the one road from libshm to the agent: this session's request and
 * completion rings in shared memory.
 *
 * Submitting writes a request into the next free slot and, on flush,
 * publishes the new tail.  Only if the agent has announced that it is going
 * to sleep (hdr->agent_sleeping, read after the tail is published) does the
 * client ring the doorbell pipe, so a busy agent costs no system call.
 *
 * Waiting spins briefly on the completion tail (the agent usually answers in
 * well under a microsecond), then announces cq_waiting and sleeps in poll()
 * on the wake-up pipe *and* the socket: an agent that dies closes the
 * socket, so a waiting client wakes up with -ENOTCONN instead of hanging.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "cpu.h"
#include "probes.h"

/* Spin on the completion ring for up to WAIT_SPIN_NS, yielding the CPU
 * every YIELD_EVERY pauses: on a small machine the agent may be waiting for
 * this very core, and a pause costs 10 to 150 cycles depending on the CPU,
 * so the bound is time, not a count. */
#define WAIT_SPIN_NS 20000
#define YIELD_EVERY 64

int mmc__submit(struct mmc_client *c, uint8_t op, const void *key,
		size_t key_len, uint64_t arg, uint32_t idx, uint32_t gen)
{
	struct mmc_sqe *q;

	if (key_len > MMC_KEY_MAX)
		return -ENAMETOOLONG;
	/* Never more in flight than the completion ring can hold. */
	if (c->sq_tail - c->cq_head >= MMC_CQ_ENTRIES)
		return -EAGAIN;
	q = &c->sq[c->sq_tail % MMC_SQ_ENTRIES];
	q->op = op;
	q->flags = 0;
	q->key_len = (uint16_t)key_len;
	q->tag = c->sq_tail;
	q->arg = arg;
	q->idx = idx;
	q->gen = gen;
	if (key_len)
		memcpy(q->key, key, key_len);
	c->sq_tail++;
	return 0;
}

void mmc__flush(struct mmc_client *c)
{
	uint64_t one = 1;

	atomic_store_explicit(&c->ring->sq_tail, c->sq_tail, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->hdr->agent_sleeping, memory_order_relaxed))
		(void)!write(c->bell_wr, &one, sizeof(one));
}

static int take(struct mmc_client *c, struct mmc_cqe *out)
{
	if (atomic_load_explicit(&c->ring->cq_tail, memory_order_acquire) == c->cq_head)
		return 0;
	*out = c->cq[c->cq_head % MMC_CQ_ENTRIES];
	c->cq_head++;
	atomic_store_explicit(&c->ring->cq_head, c->cq_head, memory_order_release);
	return 1;
}

int mmc__wait(struct mmc_client *c, struct mmc_cqe *out)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->wake_rd, .events = POLLIN },
			{ .fd = c->sock, .events = POLLIN | POLLRDHUP },
		};
		char v[64];

		uint64_t t0 = mmc_probe_now();

		for (unsigned i = 1;; i++) {
			if (take(c, out))
				return 0;
			cpu_relax();
			if (i % YIELD_EVERY)
				continue;
			if (mmc_probe_now() - t0 > WAIT_SPIN_NS)
				break;
			sched_yield();
		}
		if (mmc__alive(c))
			return -ENOTCONN;
		atomic_store(&c->ring->cq_waiting, 1);
		/* Pairs with the agent's fence between publishing cq_tail and
		 * reading cq_waiting: one of us sees the other. */
		atomic_thread_fence(memory_order_seq_cst);
		if (take(c, out)) {
			atomic_store(&c->ring->cq_waiting, 0);
			return 0;
		}
		if (poll(p, 2, -1) < 0 && errno != EINTR) {
			/* A request is left in flight: its answer would be taken
			 * for the next one's.  The session cannot go on. */
			atomic_store(&c->dead, 1);
			return -errno;
		}
		atomic_store(&c->ring->cq_waiting, 0);
		while (read(c->wake_rd, v, sizeof(v)) == sizeof(v))
			;
		if (p[1].revents & (POLLHUP | POLLRDHUP | POLLERR | POLLIN)) {
			if (take(c, out))
				return 0;
			atomic_store(&c->dead, 1);
			return -ENOTCONN;
		}
	}
}

int mmc__call(struct mmc_client *c, uint8_t op, const void *key, size_t key_len,
	      uint64_t arg, uint32_t idx, uint32_t gen, struct mmc_cqe *out)
{
	int ret = mmc__alive(c);

	if (ret)
		return ret;
	pthread_mutex_lock(&c->ring_lock);
	ret = mmc__submit(c, op, key, key_len, arg, idx, gen);
	if (!ret) {
		mmc__flush(c);
		ret = mmc__wait(c, out);
	}
	pthread_mutex_unlock(&c->ring_lock);
	return ret ? ret : out->res;
}
