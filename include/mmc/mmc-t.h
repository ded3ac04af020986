/*
 * mmc-t.h - the types and limits of libshm's public API (types only; the
 * functions are in mmc.h, which includes this file).
 *
 * Everything here is stable API: the limits a caller must respect, the
 * handles of a zero-copy write and read, and the counters the agent
 * publishes.  The shared-memory layouts that the agent and libshm agree on
 * (index entries, rings, the socket protocol) are private to them and may
 * change between versions without a caller noticing.
 */
#ifndef MMC_MMC_T_H
#define MMC_MMC_T_H

#include <stddef.h>
#include <stdint.h>

#define MMC_KEY_MAX    256u     /* keys are 1..MMC_KEY_MAX bytes, binary */
#define MMC_BATCH_MAX  16384u   /* most keys one batch call accepts */
#define MMC_IOV_MAX    255u     /* most pieces of one gather put / scatter get */
#define MMC_VIEWS_MAX  4096u    /* views (mmc_acquire) one session may hold */
#define MMC_UNIT       4096u    /* a value occupies a multiple of this in the arena */

#define MMC_DEFAULT_SOCKET "/run/mmc/agent.sock"
#define MMC_SOCKET_ENV     "MMC_SOCKET"    /* overrides the default socket */

typedef struct mmc_client mmc_client;

/* A zero-copy write: space in the arena that only this session can see
 * until mmc_commit().  Fill data[0..len) and commit, or abort. */
struct mmc_reservation {
	void    *data;
	size_t   len;
	uint32_t idx_;        /* private */
	uint32_t gen_;
};

/* A zero-copy read: the committed value, pinned so it is neither evicted
 * nor reused until mmc_release().  Read-only. */
struct mmc_view {
	const void *data;
	size_t      len;
	uint32_t    slot_;    /* private */
	uint32_t    pad_;
	uint64_t    word_;
};

/* What this session did (its own counters, as the agent also sees them). */
struct mmc_client_stats {
	uint64_t hits, misses, gets, get_bytes, puts, put_bytes, put_exists;
	uint64_t exists, removes, errors, touch_drops;
};

/* The agent's counters, as it publishes them in its stats file (read with
 * mmc_agent_stats() or, with no session, mmc_stats_read()).  magic, version
 * and size identify the file format; counters only grow while one agent
 * runs (start_ns and agent_pid tell a restart). */
struct mmc_stats {
	uint64_t magic;
	uint32_t version;
	uint32_t size;
	uint64_t updated_ns;       /* CLOCK_MONOTONIC of the last refresh */
	uint64_t start_ns;
	uint32_t agent_pid;
	uint32_t hugepages;
	uint64_t arena_bytes;      /* data region size */
	uint64_t used_bytes;       /* allocated: committed + reserved + dead */
	uint64_t reserved_bytes;   /* uncommitted reservations */
	uint64_t objects;          /* committed objects */
	uint64_t pinned_objects;   /* objects pinned by at least one reader */
	uint64_t reservations;
	uint64_t clients;          /* connected now */
	uint64_t clients_total;    /* accepted since start */
	uint64_t clients_rejected; /* refused: credentials or protocol */
	uint64_t hits, misses, gets, get_bytes, puts, put_bytes, put_exists;
	uint64_t exists, removes, errors;
	uint64_t evictions, evicted_bytes;
	uint64_t alloc_failures;   /* reservations refused: arena full */
	uint64_t bad_requests;     /* malformed requests rejected */
	uint64_t high_watermark_pct, low_watermark_pct;
	uint64_t max_objects;
	uint64_t parked;           /* requests waiting to be answered (timers, I/O) */
	/* The SSD tier (all 0 without one).  objects/used_bytes above are DRAM. */
	uint64_t ssd_objects, ssd_bytes;      /* on SSD now: objects, value bytes */
	uint64_t ssd_capacity;                /* bytes of regions */
	uint64_t demotions;                   /* objects written down to SSD */
	uint64_t demotion_skipped;            /* evicted from DRAM without an SSD copy */
	uint64_t demotion_failures;           /* writes that failed or could not go */
	uint64_t promotions;                  /* objects read back into DRAM */
	uint64_t promotion_failures;          /* reads that failed: misses */
	uint64_t ssd_read_bytes, ssd_write_bytes;  /* to and from the device */
	uint64_t ssd_crc_failures;            /* read back but not what was written */
	uint64_t ssd_io_errors;
	uint64_t ssd_inflight;                /* I/Os now */
	uint64_t pad_[2];
};

#endif /* MMC_MMC_T_H */
