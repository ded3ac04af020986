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

/* Checking values against the writer's checksum (mmc_set_verify, [agent]
 * verify, off by default).  Every put of a client in mode SAMPLED or
 * ALWAYS stores a crc32c of its value with the object; a read in mode
 * ALWAYS checks the bytes it copied, SAMPLED every 64th copying get of a
 * thread, OFF none.  A value that fails is a miss (-ENOENT), counted in
 * verify_failures, never data.  Views are never checked on their own:
 * mmc_view_verify() checks one on demand. */
enum mmc_verify {
	MMC_VERIFY_OFF     = 0,
	MMC_VERIFY_SAMPLED = 1,
	MMC_VERIFY_ALWAYS  = 2,
	MMC_VERIFY_AGENT   = 3,   /* mmc_set_verify: back to the agent's default */
};
#define MMC_VERIFY_SAMPLE 64u     /* SAMPLED: one get in this many, per thread */

/* A zero-copy read: the committed value, pinned so it is neither evicted
 * nor reused until mmc_release().  Read-only. */
struct mmc_view {
	const void *data;
	size_t      len;
	uint32_t    slot_;    /* private */
	uint32_t    pad_;
	uint64_t    word_;
};

/* ---- counters ----
 *
 * Each list below is the one place a counter is declared: the structs,
 * the agent's stats file, `mmc stat`, mmc-top (text and JSON), the Python
 * binding and the tests all derive from it.  Adding one is one line here
 * (at the end: the structs' layout is ABI) plus the code that counts it.
 *
 * A session's own counters, X(name, what): kept by libshm in the session's
 * ring as it works, read with mmc_client_stats(). */
#define MMC_CLIENT_FIELDS(X) \
	X(hits,        "lookups that found the key (get, getv, acquire)") \
	X(misses,      "lookups that did not") \
	X(gets,        "copying gets and acquires that succeeded") \
	X(get_bytes,   "bytes those returned") \
	X(puts,        "puts committed") \
	X(put_bytes,   "bytes those stored") \
	X(put_exists,  "puts answered: key exists (a success for a cache)") \
	X(exists,      "keys asked about by exists calls") \
	X(removes,     "removes that removed something") \
	X(errors,      "calls that failed for another reason") \
	X(touch_drops, "access records lost: the session's touch log was full") \
	X(verify_failures, "values whose bytes failed their checksum: misses, never data")

#define MMC_FIELD_U64_(name, ...) uint64_t name;
#define MMC_FIELD_ONE_(...) + 1

/* What this session did (its own counters, as it counted them). */
struct mmc_client_stats {
	MMC_CLIENT_FIELDS(MMC_FIELD_U64_)
};

/* The agent's published figures, X(name, kind, unit, what):
 *   kind  GAUGE    a level now (bytes in use, sessions connected)
 *         COUNTER  only grows while one agent runs (rates are its deltas)
 *   unit  COUNT, BYTES or PCT
 * Everything is the agent's own observation except hits, misses, gets,
 * get_bytes, exists and touch_drops, which only clients see (a hit makes
 * no system call): those are the sums of what sessions report, each
 * session's report believed only within what a real client could do
 * (never backwards, never faster than one per nanosecond, or a kB per
 * nanosecond for bytes); what was not believed is counted in
 * counters_clamped (docs/hardening.md). */
#define MMC_STATS_FIELDS(X) \
	X(arena_bytes,        GAUGE,   BYTES, "data region size") \
	X(used_bytes,         GAUGE,   BYTES, "allocated: committed + reserved + dead") \
	X(reserved_bytes,     GAUGE,   BYTES, "held by uncommitted reservations") \
	X(objects,            GAUGE,   COUNT, "committed objects") \
	X(pinned_objects,     GAUGE,   COUNT, "objects pinned by at least one reader") \
	X(reservations,       GAUGE,   COUNT, "uncommitted reservations") \
	X(clients,            GAUGE,   COUNT, "sessions connected now") \
	X(clients_total,      COUNTER, COUNT, "sessions accepted since start") \
	X(clients_rejected,   COUNTER, COUNT, "connections refused (credentials, protocol, limits)") \
	X(hits,               COUNTER, COUNT, "lookups that found the key (clients' reports, bounded)") \
	X(misses,             COUNTER, COUNT, "lookups that did not (clients' reports, bounded)") \
	X(gets,               COUNTER, COUNT, "gets and acquires (clients' reports, bounded)") \
	X(get_bytes,          COUNTER, BYTES, "bytes read by gets (clients' reports, bounded)") \
	X(puts,               COUNTER, COUNT, "objects committed") \
	X(put_bytes,          COUNTER, BYTES, "bytes committed") \
	X(put_exists,         COUNTER, COUNT, "reservations refused: the key exists") \
	X(exists,             COUNTER, COUNT, "keys asked about by exists (clients' reports, bounded)") \
	X(removes,            COUNTER, COUNT, "objects removed on request") \
	X(errors,             COUNTER, COUNT, "requests answered with an error (not exists/absent/busy)") \
	X(evictions,          COUNTER, COUNT, "objects evicted") \
	X(evicted_bytes,      COUNTER, BYTES, "bytes evicted") \
	X(alloc_failures,     COUNTER, COUNT, "reservations refused: arena or index full") \
	X(bad_requests,       COUNTER, COUNT, "malformed requests or messages rejected") \
	X(high_watermark_pct, GAUGE,   PCT,   "eviction starts above this much of the arena") \
	X(low_watermark_pct,  GAUGE,   PCT,   "... and stops below this much") \
	X(max_objects,        GAUGE,   COUNT, "index entries") \
	X(parked,             GAUGE,   COUNT, "requests waiting to be answered (timers, I/O)") \
	X(touch_drops,        COUNTER, COUNT, "access records clients lost, log full (reports, bounded)") \
	X(counters_clamped,   COUNTER, COUNT, "client counter reports not believed (backwards or too fast)") \
	X(quota_refusals,     COUNTER, COUNT, "reservations refused at a [limits] cap (-EDQUOT)") \
	X(pins_ignored,       COUNTER, COUNT, "pins not honoured: a session kept over its pinned-bytes cap") \
	X(active_sessions,    GAUGE,   COUNT, "sessions whose rings the agent polls each turn (others are quiet)") \
	/* The SSD tier (all 0 without one); objects and used_bytes above are DRAM. */ \
	X(ssd_objects,        GAUGE,   COUNT, "objects on SSD") \
	X(ssd_bytes,          GAUGE,   BYTES, "value bytes on SSD") \
	X(ssd_capacity,       GAUGE,   BYTES, "bytes of the tier's regions") \
	X(ssd_inflight,       GAUGE,   COUNT, "SSD I/Os queued or in flight now") \
	X(demotions,          COUNTER, COUNT, "objects written down to SSD") \
	X(demotion_skipped,   COUNTER, COUNT, "objects evicted from DRAM with no copy on SSD") \
	X(demotion_failures,  COUNTER, COUNT, "demotions that failed or could not be queued") \
	X(promotions,         COUNTER, COUNT, "objects read back from SSD into DRAM") \
	X(promotion_failures, COUNTER, COUNT, "reads back that failed: misses") \
	X(ssd_read_bytes,     COUNTER, BYTES, "bytes read from the SSD") \
	X(ssd_write_bytes,    COUNTER, BYTES, "bytes written to the SSD") \
	X(ssd_crc_failures,   COUNTER, COUNT, "SSD reads that failed their checks (misses)") \
	X(ssd_io_errors,      COUNTER, COUNT, "SSD I/Os the device failed") \
	X(verify_failures,    COUNTER, COUNT, "gets whose bytes failed the writer's checksum (reports, bounded)") \
	/* The pool ([cluster]; all 0 without one). */ \
	X(peers_up,           GAUGE,   COUNT, "other members of the pool up now") \
	X(members,            GAUGE,   COUNT, "other members listed after the figures (mmc_agent_members)") \
	X(remote_gets,        COUNTER, COUNT, "local misses asked of the key's home") \
	X(remote_hits,        COUNTER, COUNT, "... answered with a value, now local") \
	X(pushes,             COUNTER, COUNT, "pages sent to their home after a put") \
	X(pushes_dropped,     COUNTER, COUNT, "pushes not sent: home down or too much queued") \
	X(pushes_received,    COUNTER, COUNT, "pages members pushed here, stored") \
	X(records,            COUNTER, COUNT, "push = record: homes told this node holds a page") \
	X(records_received,   COUNTER, COUNT, "push = record: pages members said they hold") \
	X(peer_bytes_in,      COUNTER, BYTES, "bytes received from members") \
	X(peer_bytes_out,     COUNTER, BYTES, "bytes sent to members") \
	X(peer_failures,      COUNTER, COUNT, "calls to members that failed: deadline, refused, broken") \
	X(peer_bad_frames,    COUNTER, COUNT, "malformed frames from members (connection closed)") \
	X(peer_tls_refused,   COUNTER, COUNT, "TLS connections refused: certificate, CA, name, not TLS")

enum mmc_stat_kind { MMC_STAT_GAUGE = 0, MMC_STAT_COUNTER = 1 };
enum mmc_stat_unit { MMC_STAT_COUNT = 0, MMC_STAT_BYTES = 1, MMC_STAT_PCT = 2 };

/* Named figures in struct mmc_stats; the rest of its 80 slots is padding. */
#define MMC_STATS_COUNT (0 MMC_STATS_FIELDS(MMC_FIELD_ONE_))
#define MMC_STATS_SLOTS 80

/* The agent's counters, as it publishes them in its stats file (read with
 * mmc_agent_stats() or, with no session, mmc_stats_read()).  magic, version
 * and size identify the file format; counters only grow while one agent
 * runs (start_ns and agent_pid tell a restart).  680 bytes whatever the
 * list holds: new figures take padding. */
struct mmc_stats {
	uint64_t magic;
	uint32_t version;
	uint32_t size;
	uint64_t updated_ns;       /* CLOCK_MONOTONIC of the last refresh */
	uint64_t start_ns;
	uint32_t agent_pid;
	uint32_t hugepages;
	MMC_STATS_FIELDS(MMC_FIELD_U64_)
	uint64_t pad_[MMC_STATS_SLOTS - MMC_STATS_COUNT];
};

/* One other member of the pool, as its agent sees it (mmc_agent_members,
 * mmc_members_read): 128 bytes. */
#define MMC_MEMBERS_MAX 256
struct mmc_member_stats {
	char     id[64];           /* its node_id, NUL-terminated */
	char     addr[24];         /* host:port it is dialled at (cut to fit) */
	uint32_t up;               /* 1: answers; 0: marked down */
	uint32_t pad_;
	uint64_t rtt_ns;           /* smoothed time to the first byte of an answer */
	uint64_t bytes_in, bytes_out;
	uint64_t gets;             /* GETs asked of it */
	uint64_t hits;             /* ... answered with a value */
};

#endif /* MMC_MMC_T_H */
