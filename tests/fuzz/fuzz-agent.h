/*
 * fuzz-agent.h - an agent in the fuzzer's own process, built once: the
 * real modules (arena memfds of 16 MiB, index, allocator, eviction,
 * objects, readers, timers, [limits]) without a listening socket or a
 * stats file, so a harness can hand the real code a hello or a ring of
 * requests per input.  Its limits are small, so that inputs reach the
 * -EDQUOT paths; its [debug] ping delay is allowed, so that they reach
 * parked requests and their cancellation.  Header-only: each harness is a
 * program of its own.
 */
#ifndef MMC_FUZZ_AGENT_H
#define MMC_FUZZ_AGENT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "agent.h"
#include "log.h"

#define FUZZ_NENTRIES 1024u
#define FUZZ_ARENA    (16ull << 20)

static inline struct mmc_agent *fuzz_agent(void)
{
	static struct mmc_agent ag;
	static int ready;
	int ret;

	if (ready)
		return &ag;
	mmc_log_set_level(MMC_LOG_ERROR);
	memset(&ag, 0, sizeof(ag));
	mmc_config_defaults(&ag.cfg);
	ag.cfg.ping_delay_max_ms = 1000;
	ag.cfg.reservations_per_session = (struct mmc_share){ 64, false };
	ag.cfg.reserved_bytes_per_session = (struct mmc_share){ 25, true };
	ag.cfg.pinned_bytes_per_session = (struct mmc_share){ 25, true };
	ag.cfg.max_sessions = 8;
	ag.listen_fd = ag.signal_fd = ag.stats.fd = ag.sess.spare_fd = -1;
	ret = mmc_arena_create(&ag.arena, FUZZ_ARENA, mmc_index_meta_size(FUZZ_NENTRIES),
			       MMC_HUGEPAGES_OFF);
	if (!ret)
		ret = mmc_index_init(&ag.index, ag.arena.meta, ag.arena.meta_size,
				     FUZZ_NENTRIES, 0x5eed);
	if (!ret)
		ret = mmc_alloc_create(ag.arena.data_size, &ag.alloc);
	if (!ret)
		ret = mmc_evict_create(FUZZ_NENTRIES, 90, 88, &ag.evict);
	if (!ret)
		ret = mmc_objects_init(&ag);
	if (!ret)
		ret = mmc_readers_init(&ag.readers, FUZZ_NENTRIES);
	if (!ret)
		ret = mmc_timers_init(&ag.timers);
	if (!ret)
		ret = mmc_limits_init(&ag.limits, &ag.cfg, FUZZ_NENTRIES, ag.arena.data_size);
	if (ret || (ag.epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		fprintf(stderr, "fuzz agent: set-up failed (%d)\n", ret);
		abort();
	}
	ag.hdr = ag.index.hdr;
	ag.hdr->version = MMC_LAYOUT_VERSION;
	ag.hdr->data_size = ag.arena.data_size;
	atomic_store(&ag.hdr->agent_state, MMC_AGENT_RUNNING);
	ready = 1;
	return &ag;
}

/* After each input: nothing may be left of it.  Every object removed and
 * freed, no reservation, no byte in use, the structures consistent - a
 * violation is a finding (abort). */
static inline void fuzz_agent_settle(struct mmc_agent *ag)
{
	mmc_session_free_zombies(ag);
	mmc_object_clear(ag);
	mmc_object_reap(ag);
	if (ag->obj.objects || ag->obj.reservations || ag->obj.reserved_bytes ||
	    ag->obj.ndeferred || mmc_alloc_used(ag->alloc) || ag->sess.count ||
	    ag->sess.established || ag->sess.parked || ag->limits.nuids ||
	    mmc_alloc_check(ag->alloc) || mmc_evict_check(ag->evict)) {
		fprintf(stderr, "fuzz agent: state left behind: objects %llu "
			"reservations %llu used %llu deferred %u sessions %u uids %u\n",
			(unsigned long long)ag->obj.objects,
			(unsigned long long)ag->obj.reservations,
			(unsigned long long)mmc_alloc_used(ag->alloc), ag->obj.ndeferred,
			ag->sess.count, ag->limits.nuids);
		abort();
	}
}

#endif /* MMC_FUZZ_AGENT_H */
