/*
 * stats.c - the agent's always-on counters, as a world-readable file.
 *
 * struct mmc_stats (mmc-t.h) is mapped from a small file next to the
 * socket (default /run/mmc/agent.sock.stats, mode 0644) so that mmc-top and
 * monitoring can read it with no session and no privilege.  The agent
 * rewrites it on every refresh: on a timer in the event loop, and on demand
 * when a client asks (MMC_OP_STAT), which first settles dead sessions so the
 * numbers a test reads after a client's death are exact.
 *
 * Each figure comes from the module that owns it: object counts and
 * evictions from object.c, bytes from the allocator, pins from a scan of
 * the pin tables (readers.c), sessions and what clients counted about
 * themselves from session.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "object.h"
#include "readers.h"
#include "stats.h"
#include "tier_ssd.h"
#include "timer.h"

int mmc_stats_open(struct mmc_agent *ag)
{
	int fd = open(ag->cfg.stats_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
		      O_NOFOLLOW, 0644);
	struct mmc_stats *st;

	if (fd < 0 || fchmod(fd, 0644) < 0 || ftruncate(fd, sizeof(*st)) < 0) {
		int ret = -errno;

		log_err("cannot create stats file %s: %s", ag->cfg.stats_path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (st == MAP_FAILED) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	memset(st, 0, sizeof(*st));
	st->version = MMC_STATS_VERSION;
	st->size = sizeof(*st);
	st->start_ns = mmc_now_ns();
	st->agent_pid = (uint32_t)getpid();
	ag->stats.st = st;
	ag->stats.fd = fd;
	mmc_stats_refresh(ag);
	atomic_thread_fence(memory_order_release);
	st->magic = MMC_STATS_MAGIC;   /* last: readers check it first */
	return 0;
}

void mmc_stats_refresh(struct mmc_agent *ag)
{
	struct mmc_stats *st = ag->stats.st;
	struct mmc_client_counters sum = ag->sess.gone;
	_Atomic uint64_t *acc = (_Atomic uint64_t *)&sum;
	uint64_t clients = 0, parked = 0;

	if (!st)
		return;
	for (struct mmc_session *s = ag->sess.list; s; s = s->next) {
		const _Atomic uint64_t *c;

		if (s->closed || s->state != MMC_SESSION_ACTIVE)
			continue;
		clients++;
		parked += s->parked;
		c = (const _Atomic uint64_t *)&s->ring->counters;
		for (size_t i = 0; i < sizeof(sum) / sizeof(uint64_t); i++)
			acc[i] += atomic_load_explicit(&c[i], memory_order_relaxed);
	}
	st->hugepages = ag->arena.hugepages;
	st->arena_bytes = mmc_alloc_capacity(ag->alloc);
	st->used_bytes = mmc_alloc_used(ag->alloc);
	st->reserved_bytes = ag->obj.reserved_bytes;
	st->reservations = ag->obj.reservations;
	st->objects = ag->obj.objects;
	st->pinned_objects = mmc_object_count_pinned(ag);
	st->clients = clients;
	st->clients_total = ag->sess.accepted;
	st->clients_rejected = ag->sess.rejected;
	st->hits = sum.hits;
	st->misses = sum.misses;
	st->gets = sum.gets;
	st->get_bytes = sum.get_bytes;
	st->puts = sum.puts;
	st->put_bytes = sum.put_bytes;
	st->put_exists = sum.put_exists;
	st->exists = sum.exists;
	st->removes = sum.removes;
	st->errors = sum.errors;
	st->evictions = ag->obj.evictions;
	st->evicted_bytes = ag->obj.evicted_bytes;
	st->alloc_failures = ag->obj.alloc_failures;
	st->bad_requests = ag->sess.bad_requests;
	st->high_watermark_pct = ag->cfg.high_watermark;
	st->low_watermark_pct = ag->cfg.low_watermark;
	st->max_objects = ag->index.nentries;
	st->parked = parked;
	st->demotions = ag->obj.demotions;
	st->demotion_skipped = ag->obj.demotion_skipped;
	st->demotion_failures = ag->obj.demotion_failures;
	st->promotions = ag->obj.promotions;
	st->promotion_failures = ag->obj.promotion_failures;
	if (ag->ssd) {
		struct mmc_ssd_stats ss;

		mmc_ssd_get_stats(ag->ssd, &ss);
		st->ssd_objects = ss.objects;
		st->ssd_bytes = ss.bytes;
		st->ssd_capacity = ss.capacity;
		st->ssd_read_bytes = ss.read_bytes;
		st->ssd_write_bytes = ss.write_bytes;
		st->ssd_crc_failures = ss.crc_failures;
		st->ssd_io_errors = ss.io_errors;
		st->ssd_inflight = ss.inflight;
	}
	st->updated_ns = mmc_now_ns();
}

void mmc_stats_settle(struct mmc_agent *ag, struct mmc_session *keep)
{
	mmc_session_reap(ag, mmc_now_ms(), keep);
	mmc_readers_drain_all(ag);
	mmc_object_reap(ag);
	mmc_stats_refresh(ag);
}

void mmc_stats_close(struct mmc_agent *ag)
{
	if (!ag->stats.st)
		return;
	munmap(ag->stats.st, sizeof(*ag->stats.st));
	close(ag->stats.fd);
	unlink(ag->cfg.stats_path);
	ag->stats.st = NULL;
}
