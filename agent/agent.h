/*
 * agent.h - one mmc-agent: which module owns which part of its state.
 *
 * The agent is a single-threaded event loop that owns everything; each
 * part below belongs to one file, which alone changes it (its header has
 * the types and the contract):
 *
 *   cfg      config.c   the settings, from the INI file and flags
 *   arena    arena.c    the meta and data memfds (hugepages, sealing)
 *   index    index.c    the key index in the meta region (writer side)
 *   alloc    alloc.c    the data-region allocator (opaque)
 *   evict    evict.c    eviction order and watermarks (opaque)
 *   ssd      tier_ssd.c the SSD tier (opaque; ssd_recover.c, blkio.c)
 *   obj      object.c   an object's life: reserve, commit, remove, free;
 *            object_tier.c  the same across tiers: demote, promote
 *            object_remote.c  and across nodes: fetch, push, serve;
 *            object_lookup.c  what members hold (lookups, records)
 *   remote   peer.c     the other agents of the pool (opaque; placement.c)
 *   readers  readers.c  clients' pin tables and touch logs, as read by us
 *   sess     session.c  client sessions: socket, handshake, tear-down;
 *                       activity.c picks the rings polled each turn, ring.c
 *                       serves them, ops.c decodes requests, request.c
 *                       parks the ones answered later
 *   limits   limits.c   [limits]: what one session or uid may hold
 *   timers   timer.c    everything the loop does on a schedule
 *   stats    stats.c    the world-readable stats file
 *   metrics  metrics.c  GET /metrics (Prometheus), latency histograms
 *            loop.c     start-up, the event loop, shutdown
 *
 * Being the only writer of the index and the allocator is what lets
 * clients read without locks: see docs/index-concurrency.md.  Two kinds of
 * thread help the loop and touch none of this: the SSD tier's I/O workers
 * (engine = threads) and the etcd client (members_etcd.c), which hands
 * member lists over through an eventfd.  docs/agent.md
 * follows one put and one get through these files.
 */
#ifndef MMC_AGENT_AGENT_H
#define MMC_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "layout-t.h"
#include "proto-t.h"
#include "alloc.h"
#include "arena.h"
#include "config.h"
#include "evict.h"
#include "index.h"
#include "limits.h"
#include "metrics.h"
#include "object.h"
#include "readers.h"
#include "session.h"
#include "stats.h"
#include "timer.h"

/* The event loop's own schedule (loop.c). */
struct mmc_loop {
	struct mmc_timer stats;      /* refresh the stats file, reap sessions */
	struct mmc_timer touch;      /* drain touch logs while spinning */
	struct mmc_timer poll;       /* look at the sockets while busy */
	struct mmc_timer reap;       /* retry deferred frees */
	struct mmc_timer handshake;  /* the oldest hello's deadline */
	uint64_t reap_every_ns;      /* backs off while pins keep objects */
	uint64_t polled_ns;          /* last look at the events */
	uint64_t peer_ns;            /* last event from the pool's members */
	bool poll_due;
	uint64_t touched_ns;         /* last drain that found records */
};

struct mmc_agent {
	struct mmc_config cfg;
	struct mmc_arena arena;
	struct mmc_index index;
	struct mmc_alloc *alloc;
	struct mmc_evict *evict;
	struct mmc_ssd *ssd;         /* tier_ssd.c (opaque), NULL: DRAM only */
	struct mmc_remote *remote;   /* object_remote.c, NULL: not in a pool */
	struct mmc_objects obj;
	struct mmc_readers readers;
	struct mmc_sessions sess;
	struct mmc_limits limits;
	struct mmc_timers timers;
	struct mmc_stats_file stats;
	struct mmc_metrics metrics;  /* metrics.c: /metrics, latency histograms */
	struct mmc_loop loop;
	struct mmc_meta_hdr *hdr;    /* = index.hdr: agent state for clients */
	int listen_fd, epoll_fd, signal_fd;
	unsigned long socket_ino;    /* the socket file we bound (0: none) */
	bool started;                /* mmc_agent_start() succeeded */
	volatile int stop;
};

#endif /* MMC_AGENT_AGENT_H */
