/*
 * metrics.h - the agent's figures for Prometheus: GET /metrics over HTTP
 * (libmicrohttpd), and the latency histograms only the agent can measure.
 *
 * Off unless [metrics] listen is set; a bare port listens on loopback
 * (127.0.0.1), a host:port where it says.  The server runs inside the
 * agent's loop (libmicrohttpd's epoll mode, its descriptor watched like the
 * others): a scrape reads the agent's own figures with no lock and no
 * thread, and a slow or silent HTTP client costs a connection slot (16 at
 * most, 5 s idle at most), never the loop's time.
 *
 * Exposed: every figure of MMC_STATS_FIELDS (counters as mmc_NAME_total,
 * gauges as mmc_NAME), one mmc_member_up{member=...} per member of the
 * pool, and the histograms below (mmc_NAME_seconds).
 */
#ifndef MMC_AGENT_METRICS_H
#define MMC_AGENT_METRICS_H

#include <stdint.h>

#include "layout-t.h"

struct mmc_agent;
struct MHD_Daemon;

/* Latency histograms, X(name, first bucket's bound in ns, help): the
 * agent's own measurements, and local hits as clients report a sample of
 * them (a hit makes no system call; stats.c folds each session's
 * histogram within bounds, as its counters). */
#define MMC_HISTS(X) \
	X(remote_get, 10000, "a local miss asked of the key's home, until its value is here") \
	X(promotion,  10000, "a page read back from the SSD tier into DRAM") \
	X(local_hit,  MMC_HIT_BUCKET0_NS, "a local hit in a client, lookup to copy done or " \
	  "view taken (one in 64 lookups per client thread is timed)")

enum mmc_hist_id {
#define MMC_HIST_ID_(name, base, help) MMC_HIST_##name,
	MMC_HISTS(MMC_HIST_ID_)
#undef MMC_HIST_ID_
	MMC_HIST_COUNT
};

/* Doubling from each one's first bound (10 us .. 327 ms for the agent's,
 * 128 ns .. 4.2 ms for local hits), then +Inf. */
#define MMC_HIST_BUCKETS 16

struct mmc_hist {
	uint64_t bucket[MMC_HIST_BUCKETS + 1];   /* not cumulative; last: +Inf */
	uint64_t count, sum_ns;
};

struct mmc_metrics {
	struct MHD_Daemon *httpd;    /* NULL: [metrics] off */
	struct mmc_hist hist[MMC_HIST_COUNT];
};

/* Starts the HTTP server when [metrics] listen is set: 0, or -errno
 * (logged with the address). */
int mmc_metrics_start(struct mmc_agent *ag);
void mmc_metrics_stop(struct mmc_agent *ag);
/* The descriptor the loop watches (-1: off), and what it calls when that
 * is readable and now and then (idle connections time out). */
int mmc_metrics_fd(struct mmc_agent *ag);
void mmc_metrics_run(struct mmc_agent *ag);

/* Counts one latency of ns nanoseconds. */
void mmc_metrics_observe(struct mmc_metrics *m, enum mmc_hist_id h, uint64_t ns);
/* Adds n latencies in bucket b (MMC_HIST_BUCKETS: +Inf) and sum_ns to
 * their total: a client's sampled hits, folded. */
void mmc_metrics_add(struct mmc_metrics *m, enum mmc_hist_id h, unsigned b, uint64_t n,
		     uint64_t sum_ns);

#endif /* MMC_AGENT_METRICS_H */
