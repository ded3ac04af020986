/*
 * log.h - leveled logging to stderr for mmc-agent.
 *
 * One line per event, "mmc-agent[pid]: LEVEL: message".  Under systemd the
 * journal adds the timestamp; the level is also given as a "<N>" sd-daemon
 * prefix when stderr is the journal, so `journalctl -p warning` works.
 */
#ifndef MMC_AGENT_LOG_H
#define MMC_AGENT_LOG_H

#include "config.h"

void mmc_log_set_level(enum mmc_log_level l);
void mmc_log(enum mmc_log_level l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)   mmc_log(MMC_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  mmc_log(MMC_LOG_WARN, __VA_ARGS__)
#define log_info(...)  mmc_log(MMC_LOG_INFO, __VA_ARGS__)
#define log_debug(...) mmc_log(MMC_LOG_DEBUG, __VA_ARGS__)

#endif
