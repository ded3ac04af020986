/*
 * ring.c - the one road from libshm to the agent: this session's request and
 * completion rings in shared memory, shared by every thread of the client.
 *
 * Tags.  Every request in flight owns one of MMC_CQ_ENTRIES waiter slots;
 * its tag is (sequence << 8 | slot), which the agent copies into the
 * answer.  Answers may come in any order (the agent parks requests that
 * wait for I/O while it answers the others), and each lands in the slot its
 * tag names.  Holding a slot until its owner has read the answer is what
 * keeps a session's requests in flight within what the completion ring can
 * hold.
 *
 * Submitting (under sq_lock, held only to write and publish): claim a
 * slot, write the request at sq_tail, and on flush publish the new tail.
 * Only if the agent has announced that it is going to sleep
 * (hdr->agent_sleeping) or that it does not watch this ring (the ring's
 * agent_watching: the session was quiet), both read after the tail is
 * published, does the client ring the doorbell (a one-byte message on the
 * session's socket), so a busy agent costs an active session no system
 * call.
 *
 * Waiting (no lock held while spinning): spin on the own slot, taking
 * whatever answers have arrived (whoever wins the reaping flag files every
 * answer into its slot, and wakes sleepers only if it filed one of theirs)
 * for a few microseconds - the agent usually answers in well under one.  Then sleep: one thread at a time, the poller,
 * announces cq_waiting and sleeps in poll() on the session's socket, where
 * the agent sends a wake-up (an agent that dies closes the socket, so a
 * waiting client wakes up with -ENOTCONN instead of hanging); the others wait on cq_cond until the
 * poller files their answer or leaves.  A thread waiting for one answer
 * never blocks another thread's submission.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "cpu.h"
#include "probes.h"

/* Spin on the completion ring for up to WAIT_SPIN_NS, yielding the CPU
 * every YIELD_EVERY pauses: on a small machine the agent may be waiting for
 * this very core, and a pause costs 10 to 150 cycles depending on the CPU,
 * so the bound is time, not a count. */
#define WAIT_SPIN_NS 20000
/* A pipeline with more requests in flight expects a stream of answers:
 * FETCHes from the SSD tier come back every ~40 us at 64 KiB, and a client
 * that slept between them (20 us of spin) woke late for each and fell
 * behind, then copied its backlog with the device idle at the end of the
 * batch.  One bench/ssd.sh run pair, 64 KiB, one client: 86 %, 86 % of
 * fio with 20 us; 93 %, 100 % with 200 us. */
#define STREAM_SPIN_NS 200000
#define YIELD_EVERY 64

#define SLOT_BITS 8
_Static_assert(MMC_CQ_ENTRIES == 1u << SLOT_BITS, "a tag's slot is its low byte");

enum { SLOT_FREE = 0, SLOT_BUSY, SLOT_DONE };

/* ---- waiter slots ---- */

/* Claims a free slot (sq_lock held: claimers never race each other, only
 * owners freeing theirs): the one freed last first (its lines are warm),
 * else the next free one.  The slot number, or -1 when all are taken. */
static int slot_claim(struct mmc_client *c)
{
	unsigned hint = atomic_load_explicit(&c->slot_hint, memory_order_relaxed);

	for (unsigned n = 0; n < MMC_CQ_ENTRIES; n++) {
		unsigned slot = (hint + n) % MMC_CQ_ENTRIES;

		if (atomic_load_explicit(&c->waiters[slot].state,
					 memory_order_acquire) == SLOT_FREE)
			return (int)slot;
	}
	return -1;
}

/* Gives a slot back (no lock held) and wakes a submitter waiting for one. */
static void slot_free(struct mmc_client *c, unsigned slot)
{
	/* seq_cst here and in mmc__submit's increment + re-check: either the
	 * waiter sees the slot free, or this sees the waiter. */
	atomic_exchange(&c->waiters[slot].state, SLOT_FREE);
	atomic_store_explicit(&c->slot_hint, slot, memory_order_relaxed);
	if (atomic_load(&c->slot_waiters)) {
		pthread_mutex_lock(&c->sq_lock);
		pthread_cond_broadcast(&c->slot_cond);
		pthread_mutex_unlock(&c->sq_lock);
	}
}

/* ---- submitting ---- */

int mmc__submit(struct mmc_client *c, uint8_t op, const void *key,
		size_t key_len, uint64_t arg, uint32_t idx, uint32_t gen,
		bool wait_slot, uint32_t *tag)
{
	struct mmc_sqe *q;
	int slot;

	if (key_len > MMC_KEY_MAX)
		return -ENAMETOOLONG;
	while ((slot = slot_claim(c)) < 0) {
		if (!wait_slot)
			return -EAGAIN;
		/* Every slot is in flight for other threads: they collect
		 * their answers without this lock, then free them. */
		mmc__flush(c);
		atomic_fetch_add(&c->slot_waiters, 1);
		if ((slot = slot_claim(c)) < 0)
			pthread_cond_wait(&c->slot_cond, &c->sq_lock);
		atomic_fetch_sub(&c->slot_waiters, 1);
		if (slot >= 0)
			break;
		if (mmc__alive(c))
			return -ENOTCONN;
	}
	*tag = (c->tag_seq++ << SLOT_BITS) | (uint32_t)slot;
	c->waiters[slot].tag = *tag;
	atomic_store_explicit(&c->waiters[slot].state, SLOT_BUSY, memory_order_release);
	atomic_store_explicit(&c->slot_hint, (unsigned)slot + 1, memory_order_relaxed);
	q = &c->sq[c->sq_tail % MMC_SQ_ENTRIES];
	q->op = op;
	q->flags = 0;
	q->key_len = (uint16_t)key_len;
	q->tag = *tag;
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
	uint8_t bell = MMC_MSG_BELL;

	atomic_store_explicit(&c->ring->sq_tail, c->sq_tail, memory_order_release);
	/* Pairs with the agent's fence before it sleeps, and before it stops
	 * watching this ring (agent/activity.c): one of us sees the other. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->hdr->agent_sleeping, memory_order_relaxed) ||
	    !atomic_load_explicit(&c->ring->agent_watching, memory_order_relaxed))
		/* Never blocks: a full socket already holds a doorbell. */
		(void)!send(c->sock, &bell, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* ---- waiting ---- */

/* Files every answer the agent posted into the slot its tag names
 * (answers with a tag no request in flight holds are dropped).  Only the
 * holder of the reaping flag may (reap_try / reap_lock); returns how many
 * answers were filed for slots other than mine. */
static unsigned reap(struct mmc_client *c, unsigned mine)
{
	uint32_t tail = atomic_load_explicit(&c->ring->cq_tail, memory_order_acquire);
	unsigned others = 0;

	if (c->cq_head == tail)
		return 0;
	while (c->cq_head != tail) {
		const struct mmc_cqe *e = &c->cq[c->cq_head % MMC_CQ_ENTRIES];
		unsigned slot = e->tag % MMC_CQ_ENTRIES;
		struct mmc_waiter *w = &c->waiters[slot];

		if (atomic_load_explicit(&w->state, memory_order_acquire) == SLOT_BUSY &&
		    w->tag == e->tag) {
			w->cqe = *e;
			atomic_store_explicit(&w->state, SLOT_DONE, memory_order_release);
			others += slot != mine;
		}
		c->cq_head++;
	}
	atomic_store_explicit(&c->ring->cq_head, c->cq_head, memory_order_release);
	return others;
}

static bool reap_try(struct mmc_client *c)
{
	return !atomic_exchange_explicit(&c->reaping, 1, memory_order_acquire);
}

static void reap_unlock(struct mmc_client *c)
{
	atomic_store_explicit(&c->reaping, 0, memory_order_release);
}

/* Answers were filed for other threads: wake those asleep on cq_cond.  The
 * fence pairs with the sleeper's: it counts itself, then re-checks its
 * slot before it waits (under cq_lock). */
static void wake_sleepers(struct mmc_client *c)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->cq_sleepers, memory_order_relaxed)) {
		pthread_mutex_lock(&c->cq_lock);
		pthread_cond_broadcast(&c->cq_cond);
		pthread_mutex_unlock(&c->cq_lock);
	}
}

/* Reaps under cq_lock (the slow path), waiting for a fast-path reaper to
 * finish first; wakes the sleepers itself when it filed their answers. */
static void reap_locked(struct mmc_client *c, unsigned mine)
{
	unsigned others;

	while (!reap_try(c))
		cpu_relax();
	others = reap(c, mine);
	reap_unlock(c);
	if (others && c->cq_sleepers)
		pthread_cond_broadcast(&c->cq_cond);
}

static bool done(const struct mmc_waiter *w)
{
	return atomic_load_explicit(&w->state, memory_order_acquire) == SLOT_DONE;
}

/* Reads the wake-ups the agent sent on the socket; true if the socket
 * says the agent is gone (EOF, an error, or anything but a wake-up). */
static bool drain_wakeups(struct mmc_client *c)
{
	uint8_t msg[64];

	for (;;) {
		ssize_t n = recv(c->sock, msg, sizeof(msg), MSG_DONTWAIT);

		if (n == 1 && msg[0] == MMC_MSG_WAKE)
			continue;
		return !(n < 0 && (errno == EAGAIN || errno == EINTR));
	}
}

/* The slow path: sleep until w (slot mine) is done (cq_lock held on entry
 * and exit).  0, or -errno when the session died meanwhile. */
static int sleep_for(struct mmc_client *c, struct mmc_waiter *w, unsigned mine)
{
	for (;;) {
		struct pollfd p = { .fd = c->sock, .events = POLLIN | POLLRDHUP };
		int r, ret, gone;

		reap_locked(c, mine);
		if (done(w))
			return 0;
		if ((ret = mmc__alive(c)))
			return ret;
		if (c->poller) {         /* someone polls for all of us */
			atomic_fetch_add(&c->cq_sleepers, 1);
			if (!done(w))
				pthread_cond_wait(&c->cq_cond, &c->cq_lock);
			atomic_fetch_sub(&c->cq_sleepers, 1);
			continue;
		}
		c->poller = true;
		atomic_store(&c->ring->cq_waiting, 1);
		/* Pairs with the agent's fence between publishing cq_tail and
		 * reading cq_waiting: one of us sees the other. */
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load(&c->ring->cq_tail) != atomic_load(&c->ring->cq_head) ||
		    done(w)) {
			atomic_store(&c->ring->cq_waiting, 0);
			c->poller = false;
			continue;
		}
		pthread_mutex_unlock(&c->cq_lock);
		r = poll(&p, 1, -1);
		ret = errno;
		pthread_mutex_lock(&c->cq_lock);
		atomic_store(&c->ring->cq_waiting, 0);
		c->poller = false;
		gone = r > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
		if (r > 0 && !gone)
			gone = drain_wakeups(c);
		if (r < 0 && ret != EINTR) {
			/* Requests are left in flight: the session cannot go on. */
			atomic_store(&c->dead, 1);
			return -ret;
		}
		if (gone) {
			reap_locked(c, mine);
			if (done(w))
				return 0;
			atomic_store(&c->dead, 1);
			return -ENOTCONN;
		}
	}
}

/* mmc__wait, spinning for up to spin_ns before it sleeps. */
static int wait_spin(struct mmc_client *c, uint32_t tag, struct mmc_cqe *out,
		     uint64_t spin_ns)
{
	unsigned slot = tag % MMC_CQ_ENTRIES;
	struct mmc_waiter *w = &c->waiters[slot];
	uint64_t t0 = mmc_probe_now();
	int ret = 0;

	for (unsigned i = 1; !done(w); i++) {
		if (atomic_load_explicit(&c->ring->cq_tail, memory_order_relaxed) !=
		    atomic_load_explicit(&c->ring->cq_head, memory_order_relaxed) &&
		    reap_try(c)) {
			unsigned others = reap(c, slot);

			reap_unlock(c);
			if (others)
				wake_sleepers(c);
			continue;
		}
		cpu_relax();
		if (i % YIELD_EVERY)
			continue;
		if (mmc_probe_now() - t0 > spin_ns) {
			pthread_mutex_lock(&c->cq_lock);
			ret = sleep_for(c, w, slot);
			/* Leaving: another sleeper may have to take over polling. */
			if (c->cq_sleepers)
				pthread_cond_broadcast(&c->cq_cond);
			pthread_mutex_unlock(&c->cq_lock);
			break;
		}
		sched_yield();
	}
	if (!ret)
		*out = w->cqe;
	/* Also when the session died: no answer can come any more, and a
	 * thread waiting for a slot must get to see that. */
	slot_free(c, slot);
	return ret;
}

int mmc__wait(struct mmc_client *c, uint32_t tag, struct mmc_cqe *out)
{
	return wait_spin(c, tag, out, WAIT_SPIN_NS);
}

int mmc__call(struct mmc_client *c, uint8_t op, const void *key, size_t key_len,
	      uint64_t arg, uint32_t idx, uint32_t gen, struct mmc_cqe *out)
{
	uint32_t tag;
	int ret = mmc__alive(c);

	if (ret)
		return ret;
	pthread_mutex_lock(&c->sq_lock);
	ret = mmc__submit(c, op, key, key_len, arg, idx, gen, true, &tag);
	if (!ret)
		mmc__flush(c);
	pthread_mutex_unlock(&c->sq_lock);
	if (!ret)
		ret = mmc__wait(c, tag, out);
	return ret ? ret : out->res;
}

int mmc__pipeline(struct mmc_client *c, size_t n, const struct mmc_req *reqs,
		  struct mmc_cqe *cqes)
{
	return mmc__pipeline_each(c, n, reqs, cqes, NULL, NULL, 0);
}

/* In flight: a ring of (tag, request) in the order they were sent, oldest
 * at head; the oldest is waited for first, and each answer makes room for
 * the next request, so the pipeline never drains between groups. */
int mmc__pipeline_each(struct mmc_client *c, size_t n, const struct mmc_req *reqs,
		       struct mmc_cqe *cqes, void (*on_done)(void *arg, size_t i), void *arg,
		       uint64_t budget)
{
	uint32_t tags[MMC_PIPELINE_MAX];
	size_t sent[MMC_PIPELINE_MAX], next = 0, head = 0, k = 0;
	uint64_t weight = 0;           /* of the requests in flight */
	int ret;

	while (next < n || k) {
		size_t failed[MMC_PIPELINE_MAX], nf = 0, was = k;

		pthread_mutex_lock(&c->sq_lock);
		while (next < n && k < MMC_PIPELINE_MAX && nf < MMC_PIPELINE_MAX &&
		       (!k || !budget || weight + reqs[next].weight <= budget)) {
			const struct mmc_req *q = &reqs[next];
			size_t at = (head + k) % MMC_PIPELINE_MAX;

			ret = mmc__submit(c, q->op, q->key, q->key_len, q->arg, q->idx,
					  q->gen, k == 0, &tags[at]);
			if (ret == -EAGAIN)
				break;      /* collect answers first: they free slots */
			if (ret) {
				memset(&cqes[next], 0, sizeof(cqes[next]));
				cqes[next].res = ret;
				failed[nf++] = next++;
				continue;
			}
			sent[at] = next++;
			weight += q->weight;
			k++;
		}
		if (k > was)               /* no doorbell for nothing new */
			mmc__flush(c);
		pthread_mutex_unlock(&c->sq_lock);
		for (size_t j = 0; on_done && j < nf; j++)   /* never sent: done now */
			on_done(arg, failed[j]);
		if (!k) {
			if (next < n && (ret = mmc__alive(c)))
				return ret;
			continue;
		}
		if ((ret = wait_spin(c, tags[head], &cqes[sent[head]],
				     k > 1 ? STREAM_SPIN_NS : WAIT_SPIN_NS)))
			return ret;
		if (on_done)
			on_done(arg, sent[head]);
		weight -= reqs[sent[head]].weight;
		head = (head + 1) % MMC_PIPELINE_MAX;
		k--;
	}
	return 0;
}
