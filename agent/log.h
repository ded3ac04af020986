/*
 * log.h - leveled logging to stderr for mmc-agent.
 *
 * One line per event, "mmc-agent[pid]: LEVEL: message".  Under systemd the
 * journal adds the timestamp; the level is also given as a "<N>" sd-daemon
 * prefix when stderr is the journal, so `journalctl -p warning` works.
 *
 * Errors, warnings and notes are rate-limited per call site: a client can
 * make the agent log (a malformed hello, a corrupted ring), and thousands
 * of them must not become thousands of lines.  Each site prints at most
 * MMC_LOG_BURST lines per MMC_LOG_WINDOW_MS; the line that reaches the
 * limit says so, and the next line printed says how many were dropped.
 * Debug lines, asked for by the operator, are never dropped.
 */
#ifndef MMC_AGENT_LOG_H
#define MMC_AGENT_LOG_H

#include <stdint.h>

#include "config.h"

#define MMC_LOG_BURST     10
#define MMC_LOG_WINDOW_MS 10000

/* The state of one call site (a static in the macros below). */
struct mmc_log_site {
	uint64_t window_ms;      /* start of the current window, 0 = none yet */
	uint32_t printed;        /* lines printed in it */
	uint32_t dropped;        /* lines dropped since the last printed one */
};

void mmc_log_set_level(enum mmc_log_level l);
/* Prints one line at level l (when the level is enabled), unless site (may
 * be NULL: never dropped) has used its burst in the current window. */
void mmc_log(struct mmc_log_site *site, enum mmc_log_level l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define mmc_log_rl(l, ...) do { \
	static struct mmc_log_site site_; \
	mmc_log(&site_, (l), __VA_ARGS__); \
} while (0)

#define log_err(...)   mmc_log_rl(MMC_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  mmc_log_rl(MMC_LOG_WARN, __VA_ARGS__)
#define log_info(...)  mmc_log_rl(MMC_LOG_INFO, __VA_ARGS__)
#define log_debug(...) mmc_log(NULL, MMC_LOG_DEBUG, __VA_ARGS__)

#endif
