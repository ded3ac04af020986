/*
 * stats.h - the agent's counters, published as a world-readable file.
 *
 * struct mmc_stats (public, mmc-t.h) is mapped from a small file next to
 * the socket (default /run/mmc/agent.sock.stats, mode 0644) so that mmc-top
 * and monitoring read it with no session and no privilege (libshm's
 * mmc_stats_read()).  The counters themselves live with the modules that
 * own them; this file only gathers them.
 */
#ifndef MMC_AGENT_STATS_H
#define MMC_AGENT_STATS_H

struct mmc_agent;
struct mmc_session;
struct mmc_stats;

struct mmc_stats_file {
	struct mmc_stats *st;     /* the mapping, NULL when not open */
	int fd;
	unsigned long ino;        /* the file we created */
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
 * closed first (but not keep, the asker), touch records drained and
 * deferred frees done, then the file is refreshed. */
void mmc_stats_settle(struct mmc_agent *ag, struct mmc_session *keep);
/* Unmaps the file and removes it if it is still the one we created. */
void mmc_stats_close(struct mmc_agent *ag);

#endif /* MMC_AGENT_STATS_H */
