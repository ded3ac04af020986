/*
 * config.h - mmc-agent's configuration: defaults, the INI file, flags.
 *
 * The agent reads one INI file (libinih) and then applies command-line flags
 * on top.  Every key is documented in conf/mmc-agent.conf; unknown keys and
 * bad values are errors with the file name and line, never silently ignored,
 * because a typo in a watermark should not become a surprise in production.
 */
#ifndef MMC_AGENT_CONFIG_H
#define MMC_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#define MMC_CONFIG_DEFAULT_PATH "/etc/mmc/mmc-agent.conf"
#define MMC_CONFIG_MAX_IDS 64
#define MMC_CONFIG_MAX_OBJECTS (1u << 26)  /* the largest index (64 Mi entries, 20 GiB) */
#define MMC_CONFIG_PATH_MAX 108   /* sun_path */
#define MMC_CONFIG_FILE_MAX (1 << 20)   /* bytes of a config file */

enum mmc_hugepages { MMC_HUGEPAGES_AUTO = 0, MMC_HUGEPAGES_ON, MMC_HUGEPAGES_OFF };

/* A limit given as an amount, or as a percentage of what it limits (the
 * index's entries, the arena's bytes): "4096", "512M", "25%". */
struct mmc_share {
	uint64_t n;        /* the amount, or the percentage (1..100) */
	bool pct;
};
enum mmc_log_level { MMC_LOG_ERROR = 0, MMC_LOG_WARN, MMC_LOG_INFO, MMC_LOG_DEBUG };
enum mmc_ssd_engine_cfg { MMC_SSD_ENGINE_URING = 0, MMC_SSD_ENGINE_THREADS };
enum mmc_tls_cfg { MMC_TLS_UNSET = 0, MMC_TLS_OFF, MMC_TLS_ON };
enum mmc_push_cfg { MMC_PUSH_PAGE = 0, MMC_PUSH_RECORD };

struct mmc_config {
	/* [agent] */
	char     socket_path[MMC_CONFIG_PATH_MAX];   /* socket = */
	unsigned socket_mode;                        /* socket_mode = 0660 (octal) */
	char     stats_path[MMC_CONFIG_PATH_MAX];    /* stats = ; "" = <socket>.stats */
	enum mmc_log_level log_level;                /* log_level = error|warn|info|debug */
	unsigned spin_us;                            /* spin_us = idle spin before sleeping */
	unsigned verify;                             /* verify = off|sampled|always (enum mmc_verify) */
	/* [arena] */
	uint64_t arena_size;                         /* size = 1G */
	enum mmc_hugepages hugepages;                /* hugepages = auto|on|off */
	uint64_t max_objects;                        /* max_objects = 0 (derive) */
	/* [eviction] */
	unsigned high_watermark;                     /* high_watermark = 90 (percent) */
	unsigned low_watermark;                      /* low_watermark = 88 (percent) */
	/* [access] */
	uid_t    allow_uids[MMC_CONFIG_MAX_IDS];     /* allow_uids = 0 1000 ... */
	size_t   n_allow_uids;
	gid_t    allow_gids[MMC_CONFIG_MAX_IDS];     /* allow_gids = ... */
	size_t   n_allow_gids;
	/* [ssd] */
	char     ssd_path[MMC_CONFIG_PATH_MAX];      /* path = (empty: no SSD tier) */
	uint64_t ssd_size;                           /* size = 0 (a device: all of it) */
	uint64_t ssd_region_size;                    /* region_size = 256M */
	uint64_t ssd_max_objects;                    /* max_objects = 0 (size / 64 KiB) */
	unsigned ssd_queue_depth;                    /* queue_depth = 32 */
	enum mmc_ssd_engine_cfg ssd_engine;          /* engine = io_uring|threads */
	unsigned ssd_flush_on_stop_ms;               /* flush_on_stop_ms = 20000 */
	/* [limits] (limits.h says what each means) */
	unsigned max_sessions;                       /* max_sessions = 4096 */
	unsigned sessions_per_uid;                   /* sessions_per_uid = 1024 */
	unsigned max_handshakes;                     /* max_handshakes = 256 */
	unsigned handshake_timeout_ms;               /* handshake_timeout_ms = 2000 */
	struct mmc_share reservations_per_session;   /* = 25% (of max_objects) */
	struct mmc_share reservations_per_uid;       /* = 50% */
	struct mmc_share reserved_bytes_per_session; /* = 50% (of the arena) */
	struct mmc_share reserved_bytes_per_uid;     /* = 75% */
	unsigned pins_per_session;                   /* pins_per_session = 4096 */
	struct mmc_share pinned_bytes_per_session;   /* = 25% (of the arena) */
	/* [cluster] (peer.h says what each means) */
	char     cluster_node_id[64];                /* node_id = (empty: not in a pool) */
	char     cluster_listen[MMC_CONFIG_PATH_MAX];/* listen = host:port */
	char     cluster_peers[4096];                /* peers = id@host:port, ... */
	char     cluster_etcd[256];                  /* etcd = http://host:2379 (or peers) */
	char     cluster_etcd_prefix[128];           /* etcd_prefix = /mmc/ */
	unsigned cluster_etcd_ttl_s;                 /* etcd_ttl_s = 5 */
	char     cluster_advertise[MMC_CONFIG_PATH_MAX]; /* advertise = (listen) */
	unsigned cluster_tls;                        /* tls = off|on: must be said */
	char     cluster_cert[MMC_CONFIG_PATH_MAX];  /* cert = this node's certificate (PEM) */
	char     cluster_key[MMC_CONFIG_PATH_MAX];   /* key = its private key (PEM) */
	char     cluster_ca[MMC_CONFIG_PATH_MAX];    /* ca = the pool's CA certificate(s) */
	unsigned cluster_replicas;                   /* replicas = 1 */
	unsigned cluster_push;                       /* push = record|page (MMC_PUSH_*) */
	unsigned cluster_timeout_ms;                 /* timeout_ms = 10 */
	unsigned cluster_down_after;                 /* down_after = 3 */
	unsigned cluster_retry_ms;                   /* retry_ms = 200 */
	uint64_t cluster_queue_max;                  /* queue_max = 256M */
	/* [metrics] */
	char     metrics_listen[128];                /* listen = (off); 9464 = 127.0.0.1:9464 */
	/* [debug] */
	unsigned ping_delay_max_ms;                  /* ping_delay_max_ms = 0 */
};

/* Fills every field with its documented default. */
void mmc_config_defaults(struct mmc_config *cfg);

/* Reads an INI file over cfg.  Returns 0, -ENOENT if the file is missing, or
 * -EINVAL after writing "FILE:LINE: why" into err (errlen bytes): also for
 * a path that is not a regular file, a file over MMC_CONFIG_FILE_MAX bytes,
 * a NUL byte, and a key given twice.  cfg is untouched on error. */
int mmc_config_load(struct mmc_config *cfg, const char *path,
		    char *err, size_t errlen);
/* The same on the len bytes at buf (the file's contents; name is what the
 * messages call it). */
int mmc_config_parse(struct mmc_config *cfg, const char *name, const char *buf,
		     size_t len, char *err, size_t errlen);

/* Applies one key: the chokepoint for the file and for flags alike.
 * Returns 0 or -EINVAL with a reason in err. */
int mmc_config_set(struct mmc_config *cfg, const char *section,
		   const char *key, const char *value, char *err, size_t errlen);

/* Checks cross-field rules (low < high watermark, sizes).  0 or -EINVAL. */
int mmc_config_validate(const struct mmc_config *cfg, char *err, size_t errlen);

/* "64M", "16G", "4096", "1T", "512K" -> bytes.  0 or -EINVAL (also on
 * overflow, empty string, trailing junk). */
int mmc_parse_size(const char *s, uint64_t *out);

const char *mmc_log_level_name(enum mmc_log_level l);

#endif /* MMC_AGENT_CONFIG_H */
