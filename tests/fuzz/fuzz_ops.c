/*
 * fuzz_ops.c - libFuzzer harness: a client's ring of requests, through the
 * agent's real request path (ring.c takes and copies them, ops.c decodes
 * and checks them, object.c, request.c and the timers do the work).
 *
 * Input: byte 0 holds flags (bit 0: the client says it sleeps; bit 1: it
 * moves sq_head; bit 2: it moves cq_head, by bytes 1-4), the rest is up
 * to 64 requests of sizeof(struct mmc_sqe) bytes each, as the client would
 * write them (the last one padded with zeros).  The ring is served until it
 * has nothing more to give or the agent closed the session; then the
 * session ends, every object is removed, and nothing may be left: no
 * reservation, no byte in use, allocator and eviction order consistent.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz-agent.h"
#include "ring.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A session as the handshake leaves one, on a fresh ring (no socket). */
static struct mmc_session *new_session(struct mmc_agent *ag)
{
	size_t rsize = mmc_ring_region_size();
	struct mmc_session *s = calloc(1, sizeof(*s));
	struct mmc_ring_hdr *r = mmap(NULL, rsize, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (!s || r == MAP_FAILED)
		abort();
	s->sock = s->ring_fd = -1;
	s->id = ++ag->sess.next_id;
	s->state = MMC_SESSION_ACTIVE;
	mmc_ring_layout(r, s->id);
	mmc_ring_set_limits(r, ag->limits.pins_per_session,
			    ag->limits.pinned_bytes_per_session);
	mmc_ring_bind(s, r);
	s->use = mmc_limits_uid(&ag->limits, 0, true);
	s->use->sessions++;
	s->next = ag->sess.list;
	if (s->next)
		s->next->pprev = &s->next;
	s->pprev = &ag->sess.list;
	ag->sess.list = s;
	ag->sess.count++;
	ag->sess.established++;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mmc_agent *ag = fuzz_agent();
	struct mmc_session *s;
	uint32_t n, moved = 0;
	uint8_t flags;

	if (size < 1)
		return 0;
	flags = data[0];
	if (size >= 5)
		memcpy(&moved, data + 1, 4);
	data++;
	size--;
	n = (uint32_t)((size + sizeof(struct mmc_sqe) - 1) / sizeof(struct mmc_sqe));
	if (n > 64)
		n = 64;
	s = new_session(ag);
	for (uint32_t i = 0; i < n; i++) {
		size_t off = (size_t)i * sizeof(struct mmc_sqe);
		size_t len = size - off < sizeof(struct mmc_sqe) ? size - off :
			     sizeof(struct mmc_sqe);

		memset(&s->sq[i], 0, sizeof(s->sq[i]));
		memcpy(&s->sq[i], data + off, len);
	}
	atomic_store(&s->ring->cq_waiting, flags & 1);
	if (flags & 2)
		atomic_store(&s->ring->sq_head, moved);
	if (flags & 4)
		atomic_store(&s->ring->cq_head, moved);
	atomic_store(&s->ring->sq_tail, n);
	/* Serve as the loop would, reading answers as a client would. */
	for (int round = 0; round < 8 && !s->closed && mmc_ring_pending(s); round++) {
		mmc_ring_serve_max(ag, s, 16);
		if (!s->closed && !(flags & 4))
			atomic_store(&s->ring->cq_head, atomic_load(&s->ring->cq_tail));
	}
	if (!s->closed)
		mmc_session_close(ag, s, NULL);
	fuzz_agent_settle(ag);
	return 0;
}
