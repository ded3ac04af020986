/*
 * layout-t.h - the shared-memory layout that mmc-agent and libshm both map.
 *
 * Types only (haproxy's "-t.h" convention): no functions, no globals.  Every
 * structure here lives in memory shared between processes that map it at
 * different addresses, so nothing holds a pointer: positions are byte offsets
 * from the start of the region they live in, or entry indices, and every one
 * of them is checked against the region's size before it is used.
 *
 * Three kinds of region exist (docs/arena.md draws them):
 *
 *   meta  one memfd per agent: header + hash buckets + index entries.  The
 *         agent is its only writer; it seals the memfd with
 *         F_SEAL_FUTURE_WRITE so clients can map it read-only and nothing
 *         else.  Clients look keys up here without any system call.
 *   data  one memfd per agent (2 MiB hugetlb pages when reserved): the
 *         values.  Clients map it read-write because they fill reserved
 *         space in place; the agent decides who may write where.
 *   ring  one memfd per client session: request/completion rings, the
 *         client's pin table and its access ("touch") log, and its own
 *         counters.  Only that client and the agent map it, so a client that
 *         scribbles here corrupts only its own requests.
 *
 * Stats (struct mmc_stats, public in mmc-t.h) are a fourth, file-backed
 * region so that tools without a session (mmc-top) can read them with no
 * privilege at all.
 *
 * This header is private to the agent and libshm: installed programs see
 * only include/mmc/.
 */
#ifndef MMC_LAYOUT_T_H
#define MMC_LAYOUT_T_H

#include <stdint.h>
#include <stdatomic.h>

#include "mmc/mmc-t.h"    /* the public limits, and struct mmc_stats */

#define MMC_LAYOUT_VERSION 5u     /* meta and ring regions (4: value checksums,
				   5: the hit latency histogram) */
#define MMC_STATS_VERSION 3u      /* the stats file (struct mmc_stats grows into its pad; 3: 80 slots) */
#define MMC_META_MAGIC  0x314154454d434d4dull /* "MMCMETA1" */
#define MMC_RING_MAGIC  0x31474e4952434d4dull /* "MMCRING1" */
#define MMC_STATS_MAGIC 0x3154415453434d4dull /* "MMCSTAT1" */

/* The stats file: struct mmc_stats, then this table of the pool's members
 * (struct mmc_stats.members of them), rewritten at each refresh under a
 * sequence number (odd while it is written). */
struct mmc_members_table {
	_Atomic uint64_t seq;
	uint64_t count;
	struct mmc_member_stats m[MMC_MEMBERS_MAX];
};

#define MMC_CACHELINE    64

/* Where an object's bytes are.  Only DRAM exists today; the others are
 * reserved so that an entry can point at another tier without a layout
 * change: a client that finds a non-DRAM entry asks the agent (MMC_OP_FETCH). */
enum mmc_tier {
	MMC_TIER_NONE   = 0,
	MMC_TIER_DRAM   = 1,  /* loc = byte offset of the value in the data region */
	MMC_TIER_SSD    = 2,  /* loc = byte offset in a tier file, loc_dev = file */
	MMC_TIER_DEVICE = 3,  /* loc = device offset, loc_dev = device ordinal */
	MMC_TIER_REMOTE = 4,  /* loc = remote handle, loc_dev = peer id */
};

/* Entry life cycle: FREE -> RESERVED -> COMMITTED -> (DEAD) -> FREE.
 * Readers accept only COMMITTED.  RESERVED is a writer's private space;
 * DEAD means removed or evicted but still pinned by some reader. */
enum mmc_entry_state {
	MMC_ENTRY_FREE      = 0,
	MMC_ENTRY_RESERVED  = 1,
	MMC_ENTRY_COMMITTED = 2,
	MMC_ENTRY_DEAD      = 3,
	MMC_ENTRY_EVICTING  = 4,  /* transient: agent is checking pins */
};

/* One index entry.  Protocol (docs/index-concurrency.md): the agent makes
 * seq odd, changes fields, makes seq even again.  A reader copies what it
 * needs between two equal even reads of seq.  gen changes every time the
 * slot is handed to a new object, so (index, gen) names one object forever. */
struct mmc_entry {
	_Atomic uint32_t seq;
	uint32_t gen;
	uint8_t  state;       /* enum mmc_entry_state */
	uint8_t  tier;        /* enum mmc_tier */
	uint16_t key_len;
	uint32_t next;        /* hash chain: entry index + 1, 0 ends the chain */
	uint64_t hash;        /* XXH3-64 of the key, seeded by meta header */
	uint64_t value_len;   /* bytes the writer declared */
	uint64_t loc;         /* tier-specific location (see enum mmc_tier) */
	uint32_t loc_dev;
	uint32_t flags;       /* MMC_ENTRY_CRC; bit 0 is the agent's own */
	uint8_t  key[MMC_KEY_MAX];
	uint32_t crc;         /* with MMC_ENTRY_CRC: crc32c of the value */
	uint8_t  pad_[12];
};                            /* 320 bytes, five cache lines */

/* entry.flags: crc holds the writer's crc32c of the value (common/crc32c.h),
 * as it sent it with its commit (or as the SSD tier stamped it).  Set
 * before the entry turns COMMITTED, in the same seqlock section, and never
 * changed while the object lives: a reader that holds a pin on (idx, gen)
 * may read crc and flags at any time (docs/index-concurrency.md). */
#define MMC_ENTRY_CRC 2u

/* A hash bucket: head of a chain and a seqlock over the chain's shape. */
struct mmc_bucket {
	_Atomic uint32_t seq;
	uint32_t head;        /* entry index + 1, 0 = empty */
};

enum mmc_agent_state {
	MMC_AGENT_STARTING = 0,
	MMC_AGENT_RUNNING  = 1,
	MMC_AGENT_STOPPING = 2,   /* clean shutdown: clients fail every call */
};

/* Objects on the SSD tier, as clients see them: a table of key hashes in
 * buckets of one cache line.  A key whose hash is present is on SSD (its
 * full key is checked when the agent reads it back), so exists() and the
 * batch prefix count it, and a get asks the agent to bring it back
 * (MMC_OP_FETCH).  A hash lives in its home bucket (MMC_SSD_HOME) or, if
 * that was full, in one of the following ones; overflow says so.
 * Each tag is one atomic word: a reader needs no seqlock. */
#define MMC_SSD_WAYS 7
struct mmc_ssd_bucket {
	_Atomic uint64_t tag[MMC_SSD_WAYS];  /* MMC_SSD_TAG(hash), 0 = empty */
	_Atomic uint64_t overflow;           /* 1: look on in the next bucket */
};
#define MMC_SSD_TAG(hash) ((hash) ? (hash) : 1ull)
/* A hash's home bucket of n: the high half of the hash scaled to n (any n,
 * not only powers of two: the table is sized to its objects exactly). */
#define MMC_SSD_HOME(hash, n) ((uint32_t)(((hash) >> 32) * (uint64_t)(n) >> 32))

/* Start of the meta region. */
struct mmc_meta_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint64_t meta_size;         /* bytes in the meta memfd */
	uint64_t data_size;         /* bytes in the data memfd */
	uint64_t buckets_off;       /* byte offset of struct mmc_bucket[nbuckets] */
	uint64_t entries_off;       /* byte offset of struct mmc_entry[nentries] */
	uint32_t nbuckets;          /* power of two */
	uint32_t nentries;
	uint64_t hash_seed;
	uint64_t agent_epoch;       /* random, new at every agent start */
	uint64_t ssd_off;           /* byte offset of struct mmc_ssd_bucket[ssd_nbuckets] */
	uint32_t ssd_nbuckets;      /* 0 = no SSD tier */
	uint32_t ssd_pad_;
	uint32_t agent_pid;
	uint32_t hugepages;         /* 1 if the data region is on 2 MiB pages */
	uint32_t verify;            /* [agent] verify: enum mmc_verify, the
				     * default of every client (mmc_set_verify) */
	uint32_t pool;              /* 1: in a pool ([cluster]): a local miss
				     * asks the agent (MMC_OP_FETCH) */
	_Atomic uint32_t agent_state __attribute__((aligned(MMC_CACHELINE)));
	_Atomic uint32_t agent_sleeping; /* agent is (about to be) in epoll_wait */
};

/* ---- per-client ring region ---- */

enum mmc_op {
	MMC_OP_NOP     = 0,  /* ping */
	MMC_OP_RESERVE = 1,  /* key, arg = value length -> idx, gen, off */
	MMC_OP_COMMIT  = 2,  /* idx, gen, arg = MMC_COMMIT_CRC | checksum, or 0 */
	MMC_OP_ABORT   = 3,  /* idx, gen */
	MMC_OP_REMOVE  = 4,  /* key; arg = MMC_REMOVE_EXACT: only if it is (idx, gen) */
	MMC_OP_STAT    = 5,  /* refresh the stats region now */
	MMC_OP_FETCH   = 6,  /* key: bring a non-DRAM object into DRAM */
	MMC_OP_CLEAR   = 7,  /* remove every committed object */
	MMC_OP_LOOKUP  = 8,  /* key: is it anywhere in the pool? res 1 or 0 */
	MMC_OP_LOOKUPV = 9,  /* keys packed in key[] (below): res = how many are
				anywhere in the pool, off = a bit per key (1 << i) */
	MMC_OP_MAX_
};

/* A LOOKUPV's key[] holds arg keys (1..MMC_LOOKUPV_MAX), each a length
 * byte (1..255) and its bytes, key_len bytes in all with nothing after the
 * last: one request asks for as many keys as fit, so a batch_exists of
 * 128 engine keys (~70 bytes) is 32 requests, not 128. */
#define MMC_LOOKUPV_MAX 64u

/* mmc_sqe.arg of a COMMIT: MMC_COMMIT_CRC | the crc32c of the value, or 0
 * (no checksum); of a REMOVE: MMC_REMOVE_EXACT removes only the object
 * (idx, gen) under key, 0 whatever object is there. */
#define MMC_COMMIT_CRC   (1ull << 32)
#define MMC_REMOVE_EXACT 1ull

struct mmc_sqe {
	uint8_t  op;          /* enum mmc_op */
	uint8_t  flags;
	uint16_t key_len;
	uint32_t tag;         /* copied to the completion */
	uint64_t arg;
	uint32_t idx;
	uint32_t gen;
	uint8_t  key[MMC_KEY_MAX];
	uint8_t  pad_[40];
};                            /* 320 bytes */

struct mmc_cqe {
	uint32_t tag;
	int32_t  res;         /* 0 or -errno */
	uint64_t off;         /* RESERVE: byte offset in the data region */
	uint64_t len;
	uint32_t idx;
	uint32_t gen;
};                            /* 32 bytes */

/* What a client counts about itself (mmc-t.h's MMC_CLIENT_FIELDS), in
 * 16 words.  Written only by that client (relaxed atomic adds), so nothing
 * here is trusted: the agent folds the figures only clients see into its
 * own counters within bounds (agent/stats.c), and takes the rest from what
 * it did itself. */
#define MMC_FIELD_ATOMIC_(name, ...) _Atomic uint64_t name;
#define MMC_CLIENT_COUNT (0 MMC_CLIENT_FIELDS(MMC_FIELD_ONE_))
struct mmc_client_counters {
	MMC_CLIENT_FIELDS(MMC_FIELD_ATOMIC_)
	_Atomic uint64_t pad_[16 - MMC_CLIENT_COUNT];
};

/* A sample of this client's local hits (MMC_HIT_SAMPLE: one in that many
 * per thread, the first included), by latency: bucket b counts hits of at
 * most MMC_HIT_BUCKET0_NS << b, the last every longer one; sum_ns their
 * total.  Written only by that client, so the agent folds it within bounds
 * like the counters (/metrics: mmc_local_hit_seconds). */
#define MMC_HIT_BUCKETS     16u
#define MMC_HIT_BUCKET0_NS  128ull
#define MMC_HIT_SAMPLE      64u
struct mmc_hit_hist {
	_Atomic uint64_t bucket[MMC_HIT_BUCKETS + 1];
	_Atomic uint64_t sum_ns;
};

#define MMC_SQ_ENTRIES    256u
#define MMC_CQ_ENTRIES    256u
#define MMC_PIN_SLOTS     MMC_VIEWS_MAX  /* one pin per view */
#define MMC_TOUCH_SLOTS   8192u

/* A pin or touch word: ((uint64_t)(idx + 1) << 32) | gen; 0 = empty. */
#define MMC_OBJ_WORD(idx, gen) ((((uint64_t)(idx) + 1) << 32) | (uint32_t)(gen))
#define MMC_OBJ_IDX(w)         ((uint32_t)((w) >> 32) - 1)
#define MMC_OBJ_GEN(w)         ((uint32_t)(w))

struct mmc_ring_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t client_id;
	uint32_t sq_entries, cq_entries, pin_slots, touch_slots;
	uint64_t sq_off, cq_off, pins_off, touch_off;
	uint64_t size;
	/* [limits] for this session, set before the welcome: libshm claims pin
	 * slots below pin_max only, and refuses a pin of an object larger than
	 * pin_small when its large pins would then pass pin_bytes_max bytes. */
	uint32_t pin_max;
	uint32_t pad0_;
	uint64_t pin_bytes_max;
	uint64_t pin_small;

	/* agent: 1 while it polls this ring every turn; 0 while the session is
	 * quiet and the client must ring the doorbell after publishing (as it
	 * must whenever hdr->agent_sleeping is set). */
	_Atomic uint32_t agent_watching __attribute__((aligned(MMC_CACHELINE)));

	/* producer/consumer indices, one cache line each; free-running u32 */
	_Atomic uint32_t sq_tail  __attribute__((aligned(MMC_CACHELINE))); /* client */
	_Atomic uint32_t sq_head  __attribute__((aligned(MMC_CACHELINE))); /* agent */
	_Atomic uint32_t cq_tail  __attribute__((aligned(MMC_CACHELINE))); /* agent */
	_Atomic uint32_t cq_head  __attribute__((aligned(MMC_CACHELINE))); /* client */
	_Atomic uint32_t cq_waiting;   /* client: "I am going to sleep, write cq_efd" */
	_Atomic uint32_t touch_tail __attribute__((aligned(MMC_CACHELINE))); /* client */
	_Atomic uint32_t touch_head __attribute__((aligned(MMC_CACHELINE))); /* agent */
	_Atomic uint32_t pin_hwm    __attribute__((aligned(MMC_CACHELINE))); /* client */
	struct mmc_client_counters counters __attribute__((aligned(MMC_CACHELINE)));
	struct mmc_hit_hist hit_hist __attribute__((aligned(MMC_CACHELINE)));
};

/* ---- stats region (file-backed, world-readable) ----
 * struct mmc_stats itself is public (mmc-t.h): tools read it with
 * mmc_stats_read().  The agent writes magic last, after everything else. */

#endif /* MMC_LAYOUT_T_H */
