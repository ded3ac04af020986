/*
 * agent.h - the state of one mmc-agent and the interfaces between its parts.
 *
 * The agent is a single-threaded event loop (loop.c) that owns everything:
 *
 *   arena.c    creates the meta and data memfds (hugepages, sealing, backing)
 *   index.c    the key index in the meta region (writer side)
 *   alloc.c    the data-region allocator (agent-private bookkeeping)
 *   evict.c    LRU order, pin scans, watermark eviction, deferred frees
 *   session.c  client sessions: accept, credentials, handshake, ring memfd,
 *              and tear-down that drops pins and reservations at once
 *   ops.c      the requests clients send through their rings
 *   stats.c    the world-readable stats file
 *   loop.c     epoll, bounded spinning, signals, sd_notify
 *
 * Being the only writer of the index and the allocator is what lets clients
 * read without locks: see docs/index-concurrency.md.
 */
#ifndef MMC_AGENT_AGENT_H
#define MMC_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout-t.h"
#include "proto-t.h"
#include "config.h"
#include "index.h"
#include "alloc.h"
#include "session.h"

#define MMC_MAX_CLIENTS 1024
#define MMC_HANDSHAKE_MS 5000

struct mmc_arena {
	int      meta_fd, data_fd;
	void    *meta;
	size_t   meta_size;
	void    *data;
	uint64_t data_size;
	bool     hugepages;
};

enum session_state { SESSION_HANDSHAKE = 0, SESSION_ACTIVE };

struct mmc_session {
	int      sock;
	int      ring_fd;
	int      bell_rd, wake_wr;   /* our ends of the doorbell / wake-up pipes */
	int      peer[2];            /* the client's ends, until the welcome */
	enum session_state state;
	uint32_t id;
	pid_t    pid;
	uid_t    uid;
	gid_t    gid;
	uint64_t accepted_ms;
	struct mmc_ring_hdr *ring;
	size_t   ring_size;
	struct mmc_sqe *sq;
	struct mmc_cqe *cq;
	_Atomic uint64_t *pins;
	_Atomic uint64_t *touch;
	uint32_t reservations;    /* RESERVED entries owned by this session */
	uint32_t res_first;       /* their list (idx + 1, 0 = none), see ops.c */
	uint32_t sq_seen;         /* agent's private copy of sq_head */
	uint32_t cq_seen;         /* agent's private copy of cq_tail */
	bool     closed;          /* torn down; freed after this epoll batch */
	struct mmc_watch w_sock, w_sq;
	struct mmc_session *next; /* all sessions (still valid once closed) */
	struct mmc_session *zombie_next;
};

/* Counters the agent keeps itself (clients' own are summed in). */
struct mmc_agent_counters {
	uint64_t evictions, evicted_bytes, alloc_failures, bad_requests;
	uint64_t clients_total, clients_rejected;
	struct mmc_client_counters gone;   /* summed from closed sessions */
};

struct mmc_agent {
	struct mmc_config cfg;
	struct mmc_arena arena;
	struct mmc_index index;
	struct mmc_alloc *alloc;
	struct mmc_meta_hdr *hdr;
	struct mmc_stats *stats;
	int stats_fd;
	int listen_fd, epoll_fd, signal_fd;
	struct mmc_session *sessions;
	struct mmc_session *zombies;  /* closed, freed at the end of a loop turn */
	uint32_t nsessions;
	uint32_t next_client_id;
	struct mmc_agent_counters ctr;
	/* agent-private per-entry arrays (index.nentries long) */
	uint32_t *owner;          /* RESERVED: owning session id */
	uint32_t *lru_prev, *lru_next;
	uint32_t lru_head, lru_tail;  /* MMC_NO_ENTRY when empty */
	uint32_t *mark;           /* scan stamps (evict.c) */
	uint32_t mark_epoch;
	uint32_t *deferred;       /* DEAD entries waiting for their pins to go */
	uint32_t ndeferred, deferred_cap;
	uint64_t objects, reserved_bytes, reservations;
	volatile int stop;
};

/* arena.c */
int mmc_arena_create(struct mmc_arena *a, uint64_t data_size, size_t meta_size,
		     enum mmc_hugepages hp);
int mmc_arena_seal_meta(struct mmc_arena *a);
void mmc_arena_destroy(struct mmc_arena *a);

/* evict.c */
int mmc_evict_init(struct mmc_agent *ag);
void mmc_evict_destroy(struct mmc_agent *ag);
void mmc_lru_push(struct mmc_agent *ag, uint32_t idx);   /* most recent */
void mmc_lru_remove(struct mmc_agent *ag, uint32_t idx);
void mmc_lru_touch(struct mmc_agent *ag, uint32_t idx);
/* Drains every session's touch log into LRU order; returns the records. */
uint64_t mmc_touch_drain(struct mmc_agent *ag);
/* Makes room for a reservation of bytes: evicts LRU-first down to the low
 * watermark when bytes would pass the high one.  Never evicts pinned
 * objects.  Returns 0 or -ENOSPC (nothing more can go). */
/* Evicts unpinned LRU objects until want bytes went; returns bytes freed. */
uint64_t mmc_evict_bytes(struct mmc_agent *ag, uint64_t want);
int mmc_evict_for(struct mmc_agent *ag, uint64_t bytes);
/* Evicts unpinned LRU objects until one more allocation of bytes succeeds.
 * 0 with *off set, or -ENOSPC. */
int mmc_evict_alloc(struct mmc_agent *ag, uint64_t bytes, uint64_t *off);
/* Removes a linked COMMITTED object: freed now, or DEAD until unpinned. */
void mmc_object_remove(struct mmc_agent *ag, uint32_t idx);
/* Frees what it can of DEAD entries whose pins are gone. */
void mmc_deferred_reap(struct mmc_agent *ag);
/* Objects pinned by at least one session now. */
uint64_t mmc_count_pinned(struct mmc_agent *ag);
/* Removes every committed object (one pin scan for all). */
void mmc_object_clear(struct mmc_agent *ag);
/* Frees an entry's data and its slot (no pins may exist). */
void mmc_object_free(struct mmc_agent *ag, uint32_t idx);

/* session.c */
int mmc_listen(struct mmc_agent *ag);
void mmc_session_accept(struct mmc_agent *ag);
void mmc_session_readable(struct mmc_agent *ag, struct mmc_session *s);
void mmc_session_close(struct mmc_agent *ag, struct mmc_session *s, const char *why);
/* Closes sessions whose peer is gone (poll, no waiting) or whose handshake
 * timed out. */
void mmc_session_reap(struct mmc_agent *ag, uint64_t now_ms,
		      const struct mmc_session *keep);
/* Frees closed sessions (no epoll event can refer to them any more). */
void mmc_session_free_zombies(struct mmc_agent *ag);

/* ops.c */
/* A session's reservations are a list threaded through the LRU link arrays
 * (an entry is RESERVED or COMMITTED, so on one list at a time): begin puts
 * idx on it and counts its bytes, end takes it off. */
void mmc_reservation_begin(struct mmc_agent *ag, struct mmc_session *s, uint32_t idx);
void mmc_reservation_end(struct mmc_agent *ag, struct mmc_session *s, uint32_t idx);
/* Runs the pending requests of one session; returns how many. */
unsigned mmc_ring_process(struct mmc_agent *ag, struct mmc_session *s);
bool mmc_ring_pending(const struct mmc_session *s);

/* stats.c */
int mmc_stats_open(struct mmc_agent *ag);
void mmc_stats_refresh(struct mmc_agent *ag);
void mmc_stats_close(struct mmc_agent *ag);

uint64_t mmc_now_ns(void);
uint64_t mmc_now_ms(void);

#endif /* MMC_AGENT_AGENT_H */
