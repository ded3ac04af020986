/*
 * stats.h - the agent's counters, published as a world-readable file.
 *
 * struct mmc_stats (public, mmc-t.h) is mapped from a small file next to
 * the socket (default /run/mmc/agent.sock.stats, mode 0644) so that mmc-top
 * and monitoring read it with no session and no privilege (libshm's
 * mmc_stats_read()).
 *
 * Every figure is one line of MMC_STATS_FIELDS (mmc-t.h).  Counters live
 * here, in v[], indexed by that list: the module that sees an event adds
 * to it with MMC_COUNT(ag, name, n).  Gauges are measured from their
 * owners at each refresh.  What only clients see (hits, misses, ...) is
 * folded in from their sessions' counters, within bounds (mmc_stats_fold).
 */
#ifndef MMC_AGENT_STATS_H
#define MMC_AGENT_STATS_H

#include <stdint.h>

#include "mmc/mmc-t.h"

struct mmc_agent;
struct mmc_session;
struct mmc_stats;

enum mmc_stat_id {
#define MMC_STAT_ID_(name, ...) MMC_STAT_ID_##name,
	MMC_STATS_FIELDS(MMC_STAT_ID_)
#undef MMC_STAT_ID_
	MMC_STAT_IDS
};

/* Adds n to counter name (an MMC_STATS_FIELDS name); the value of a figure. */
#define MMC_COUNT(ag, name, n) ((ag)->stats.v[MMC_STAT_ID_##name] += (n))
#define MMC_STAT(ag, name)     ((ag)->stats.v[MMC_STAT_ID_##name])

/* The client counters the agent believes, within bounds, X(name, most per
 * nanosecond): a real client cannot go faster than a hit per ns (or a kB
 * of reads per ns), nor ever count backwards. */
#define MMC_FOLDED_FIELDS(X) \
	X(hits, 1) X(misses, 1) X(gets, 1) X(get_bytes, 1000) X(exists, 1) \
	X(touch_drops, 1) X(verify_failures, 1)

enum mmc_fold_id {
#define MMC_FOLD_ID_(name, rate) MMC_FOLD_##name,
	MMC_FOLDED_FIELDS(MMC_FOLD_ID_)
#undef MMC_FOLD_ID_
	MMC_FOLD_IDS
};

/* One session's reports, as far as they were believed (session.h holds it). */
struct mmc_fold {
	uint64_t seen[MMC_FOLD_IDS];  /* the raw values last read */
	uint64_t hit_seen[MMC_HIT_BUCKETS + 2];   /* its hit histogram's, sum last */
	uint64_t ns;                  /* when */
};

struct mmc_stats_file {
	struct mmc_stats *st;     /* the mapping, NULL when not open */
	int fd;
	unsigned long ino;        /* the file we created */
	uint64_t v[MMC_STAT_IDS]; /* every figure, counters kept up to date */
};

/* Creates the stats file at cfg.stats_path, not yet readable as stats (no
 * magic).  The path must be free or hold a stats file whose agent is gone
 * (replaced); anything else - another file, a live agent's stats - is left
 * alone.  0 or -errno (logged). */
int mmc_stats_open(struct mmc_agent *ag);
/* Fills the file and makes it readable (magic last): the agent is ready. */
void mmc_stats_publish(struct mmc_agent *ag);
/* Rewrites every field from the modules' counters. */
void mmc_stats_refresh(struct mmc_agent *ag);
/* What a client asking for stats must see: sessions whose clients died are
 * closed first (their hang-ups handled), the busy sessions' touch records
 * drained and counters folded (the asker's too), deferred frees done while
 * a pin scan is cheap, then the file is refreshed.  Its cost does not grow
 * with idle sessions. */
void mmc_stats_settle(struct mmc_agent *ag, struct mmc_session *asker);
/* Adds what session s reported about itself since the last fold to the
 * agent's figures, within bounds (a report that goes backwards or faster
 * than MMC_FOLDED_FIELDS allows is cut, and counted in counters_clamped).
 * Called when a session ends, when it asks for stats, and on refreshes. */
void mmc_stats_fold(struct mmc_agent *ag, struct mmc_session *s, uint64_t now_ns);
/* Unmaps the file and removes it if it is still the one we created. */
void mmc_stats_close(struct mmc_agent *ag);

#endif /* MMC_AGENT_STATS_H */
