/*
 * config-int.h - what config.c (the keys) and config_file.c (the INI file)
 * share, and nothing else includes.
 */
#ifndef MMC_AGENT_CONFIG_INT_H
#define MMC_AGENT_CONFIG_INT_H

#include <stddef.h>

#define MMC_CONFIG_KEYS_MAX 96     /* rows of config.c's key table, at most */
#define MMC_CONFIG_LIST_MAX 4096   /* a value joined from continuation lines */

/* The row of [section] key in config.c's table, or -1. */
int mmc_config__find_key(const char *section, const char *key);
/* Writes a reason into err when the caller gave room for one; -EINVAL. */
int __attribute__((format(printf, 3, 4)))
mmc_config__seterr(char *err, size_t errlen, const char *fmt, ...);

#endif /* MMC_AGENT_CONFIG_INT_H */
