/*
 * config.c - mmc-agent's configuration: defaults, the INI file, flags.
 *
 * The story of a setting: mmc_config_defaults() gives every field the value
 * documented in conf/mmc-agent.conf; mmc_config_load() reads the INI file
 * with libinih; main() applies command-line flags; mmc_config_validate()
 * checks the rules that span several keys.  The file and the flags both go
 * through mmc_config_set(), which knows every key and parses each in one
 * place, so a key means the same thing wherever it comes from.  The keys
 * are one table: section, name, the field, how to parse it, its bounds.
 *
 * Reading the INI file (libinih, line numbers, continuation lines,
 * duplicate keys, the checks on the file itself) is config_file.c's part.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config-int.h"
#include "config.h"
#include "mmc/mmc-t.h"

#define ARENA_MIN   (16ull << 20)
#define ARENA_ALIGN 4096ull

_Static_assert(sizeof(((struct mmc_config *)0)->cluster_peers) >= MMC_CONFIG_LIST_MAX,
	       "a joined list fits its longest field");

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const huge_names[]  = { "auto", "on", "off" };
static const char *const engine_names[] = { "io_uring", "threads" };
static const char *const verify_names[] = { "off", "sampled", "always" };  /* enum mmc_verify */
static const char *const tls_names[] = { "unset", "off", "on" };     /* MMC_TLS_* */
static const char *const push_names[] = { "page", "record" };        /* MMC_PUSH_* */

int __attribute__((format(printf, 3, 4)))
mmc_config__seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Every field gets the default that conf/mmc-agent.conf documents. */
void mmc_config_defaults(struct mmc_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s",
		 MMC_DEFAULT_SOCKET);
	cfg->socket_mode = 0660;
	cfg->log_level = MMC_LOG_INFO;
	cfg->spin_us = 200;
	cfg->verify = MMC_VERIFY_OFF;    /* bench/README.md, "Integrity" */
	cfg->arena_size = 1ull << 30;
	cfg->hugepages = MMC_HUGEPAGES_AUTO;
	cfg->high_watermark = 90;
	cfg->low_watermark = 88;
	cfg->ssd_region_size = 256ull << 20;
	cfg->ssd_queue_depth = 32;
	cfg->ssd_flush_on_stop_ms = 20000;
	cfg->max_sessions = 4096;
	cfg->sessions_per_uid = 1024;
	cfg->max_handshakes = 256;
	cfg->handshake_timeout_ms = 2000;
	cfg->reservations_per_session = (struct mmc_share){ 25, true };
	cfg->reservations_per_uid = (struct mmc_share){ 50, true };
	cfg->reserved_bytes_per_session = (struct mmc_share){ 50, true };
	cfg->reserved_bytes_per_uid = (struct mmc_share){ 75, true };
	cfg->pins_per_session = MMC_VIEWS_MAX;
	cfg->pinned_bytes_per_session = (struct mmc_share){ 25, true };
	cfg->cluster_replicas = 1;
	cfg->cluster_push = MMC_PUSH_RECORD;   /* docs/cluster.md, "Page or record" */
	cfg->cluster_timeout_ms = 10;       /* a prefetch budget: docs/cluster.md */
	cfg->cluster_down_after = 3;
	cfg->cluster_retry_ms = 200;
	cfg->cluster_queue_max = 256ull << 20;
	snprintf(cfg->cluster_etcd_prefix, sizeof(cfg->cluster_etcd_prefix), "/mmc/");
	cfg->cluster_etcd_ttl_s = 5;
}

/* The name the config file uses for l; "?" for a value out of range. */
const char *mmc_log_level_name(enum mmc_log_level l)
{
	return (unsigned)l < 4 ? level_names[l] : "?";
}

/* Digits, then at most one of K/M/G/T (any case, "iB" may follow); powers of
 * 1024.  No sign, no spaces, no fractions: a size is never a guess. */
int mmc_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *p = s, *u;
	unsigned shift = 0;
	uint64_t n = 0;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -EINVAL;
		n = n * 10 + d;
	}
	if (*p) {
		if (!(u = strchr(units, toupper((unsigned char)*p))))
			return -EINVAL;
		shift = 10 * (unsigned)(u - units + 1);
		if ((p[1] && strcasecmp(p + 1, "iB")) || n > (UINT64_MAX >> shift))
			return -EINVAL;
	}
	*out = n << shift;
	return 0;
}

/* A plain decimal number in [lo, hi]; 0 or -EINVAL ("" and junk too). */
static int parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Index of s (any case) in names[0..n), or -1. */
static int pick(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcasecmp(s, names[i]))
			return i;
	return -1;
}

/* Looks one user or group name up: 0, -ENOENT, or -errno from NSS. */
static int lookup_id(const char *name, bool group, uint32_t *id)
{
	for (size_t len = 4096;; len *= 4) {
		struct passwd pw, *pwp = NULL;
		struct group gr, *grp = NULL;
		char *buf = malloc(len);
		int rc;

		if (!buf)
			return -ENOMEM;
		rc = group ? getgrnam_r(name, &gr, buf, len, &grp)
			   : getpwnam_r(name, &pw, buf, len, &pwp);
		if (!rc && (grp || pwp))
			*id = group ? (uint32_t)grp->gr_gid : (uint32_t)pwp->pw_uid;
		free(buf);
		if (rc == ERANGE && len < (1u << 20))
			continue;
		if (rc && rc != ENOENT && rc != ESRCH)
			return -rc;
		return (grp || pwp) ? 0 : -ENOENT;
	}
}

/* Parses "0 1000, alice,bob" into ids[] (MMC_CONFIG_MAX_IDS at most,
 * duplicates dropped): digits are an id, anything else a name.  On error
 * ids[] and *n are untouched and why says which word was wrong. */
static int parse_ids(const char *v, bool group, uint32_t *ids, size_t *n,
		     char *why, size_t whylen)
{
	const char *what = group ? "group" : "user";
	uint32_t tmp[MMC_CONFIG_MAX_IDS], id = 0;
	size_t cnt = 0, len, i;
	char tok[256];
	uint64_t num;
	int rc;

	for (; *v; v += len) {
		if (!(len = strcspn(v, " \t,"))) {
			len = 1;
			continue;
		}
		if (len >= sizeof(tok))
			return mmc_config__seterr(why, whylen, "%s name too long", what);
		memcpy(tok, v, len);
		tok[len] = '\0';
		if (isdigit((unsigned char)tok[0])) {
			if (parse_uint(tok, 0, UINT32_MAX - 1, &num))
				return mmc_config__seterr(why, whylen, "'%s' is not a %s id",
					      tok, what);
			id = (uint32_t)num;
		} else if ((rc = lookup_id(tok, group, &id))) {
			return mmc_config__seterr(why, whylen, "%s '%s': %s", what, tok,
				      rc == -ENOENT ? "no such name" : strerror(-rc));
		}
		for (i = 0; i < cnt && tmp[i] != id; i++)
			;
		if (i == cnt && cnt == MMC_CONFIG_MAX_IDS)
			return mmc_config__seterr(why, whylen, "more than %d ids",
				      MMC_CONFIG_MAX_IDS);
		if (i == cnt)
			tmp[cnt++] = id;
	}
	memcpy(ids, tmp, cnt * sizeof(*ids));
	*n = cnt;
	return 0;
}

_Static_assert(sizeof(uid_t) == sizeof(uint32_t) &&
	       sizeof(gid_t) == sizeof(uint32_t), "ids are 32 bits");

/* ---- the keys ----
 *
 * One row per key: where the value goes and how it is parsed.  The parse
 * functions write into the field only when the whole value is good, and
 * otherwise leave a reason in why (the row's hint says what a good value
 * looks like).  Adding a key is one row here, one field in config.h, and
 * its documentation in conf/mmc-agent.conf. */

struct key;
typedef int parse_fn(const struct key *k, struct mmc_config *cfg, const char *v,
		     char *why, size_t whylen);

struct key {
	const char *section, *name;
	parse_fn *parse;
	size_t off;                /* offsetof(struct mmc_config, field) */
	size_t size;               /* sizeof the field (numbers) */
	uint64_t min, max;         /* numbers; 0 is also allowed when zero_ok */
	uint64_t align;            /* sizes: a multiple of this (default 4096) */
	bool zero_ok;              /* numbers: 0 too; paths: "" too */
	bool group;                /* id lists: group names, not user names */
	bool bytes;                /* shares: a size (64M), not a count */
	const char *const *names;  /* enums: the values, in enum order */
	int nnames;
	size_t count_off;          /* id lists: offsetof the count field */
	const char *hint;          /* follows 'VALUE' in the reason for a bad value */
};

#define FIELD(f) .off = offsetof(struct mmc_config, f), \
		 .size = sizeof(((struct mmc_config *)0)->f)

static void *field(struct mmc_config *cfg, const struct key *k)
{
	return (char *)cfg + k->off;
}

static void store_uint(struct mmc_config *cfg, const struct key *k, uint64_t n)
{
	if (k->size == sizeof(uint64_t))
		*(uint64_t *)field(cfg, k) = n;
	else
		*(unsigned *)field(cfg, k) = (unsigned)n;
}

static int bad(const struct key *k, const char *v, char *why, size_t whylen)
{
	snprintf(why, whylen, "'%.64s'%s", v, k->hint);
	return -EINVAL;
}

static int parse_path(const struct key *k, struct mmc_config *cfg, const char *v,
		      char *why, size_t whylen)
{
	if (!*v && !k->zero_ok) {
		snprintf(why, whylen, "must not be empty");
		return -EINVAL;
	}
	if (strlen(v) >= k->size) {
		snprintf(why, whylen, "longer than %zu bytes", k->size - 1);
		return -EINVAL;
	}
	strcpy(field(cfg, k), v);
	return 0;
}

static int parse_mode(const struct key *k, struct mmc_config *cfg, const char *v,
		      char *why, size_t whylen)
{
	char *end;
	unsigned long m = strtoul(v, &end, 8);

	if (*v < '0' || *v > '7' || *end || m > k->max)
		return bad(k, v, why, whylen);
	store_uint(cfg, k, m);
	return 0;
}

static int parse_enum(const struct key *k, struct mmc_config *cfg, const char *v,
		      char *why, size_t whylen)
{
	int i = pick(v, k->names, k->nnames);

	if (i < 0)
		return bad(k, v, why, whylen);
	*(int *)field(cfg, k) = i + (k->names == tls_names + 1);   /* 0: unset */
	return 0;
}

static int parse_number(const struct key *k, struct mmc_config *cfg, const char *v,
			char *why, size_t whylen)
{
	uint64_t n;

	if (parse_uint(v, k->zero_ok ? 0 : k->min, k->max, &n) ||
	    (k->zero_ok && n && n < k->min))
		return bad(k, v, why, whylen);
	store_uint(cfg, k, n);
	return 0;
}

static int parse_bytes(const struct key *k, struct mmc_config *cfg, const char *v,
		       char *why, size_t whylen)
{
	uint64_t n;

	if (mmc_parse_size(v, &n)) {
		snprintf(why, whylen, "'%.64s' is not a size (bytes, or K/M/G/T, "
			 "e.g. 64G)", v);
		return -EINVAL;
	}
	if (!(k->zero_ok && !n) &&
	    (n < k->min || n > k->max || n % (k->align ? k->align : ARENA_ALIGN)))
		return bad(k, v, why, whylen);
	store_uint(cfg, k, n);
	return 0;
}

/* "25%" (1..100), or an amount: a size for byte limits, else a count in
 * [min, max]. */
static int parse_share(const struct key *k, struct mmc_config *cfg, const char *v,
		       char *why, size_t whylen)
{
	size_t len = strlen(v);
	struct mmc_share sh = { 0, false };
	char num[32];

	if (len && v[len - 1] == '%') {
		if (len >= sizeof(num))
			return bad(k, v, why, whylen);
		memcpy(num, v, len - 1);
		num[len - 1] = '\0';
		if (parse_uint(num, 1, 100, &sh.n))
			return bad(k, v, why, whylen);
		sh.pct = true;
	} else if (k->bytes ? mmc_parse_size(v, &sh.n) || sh.n < k->min :
		   parse_uint(v, k->min, k->max, &sh.n)) {
		return bad(k, v, why, whylen);
	}
	*(struct mmc_share *)field(cfg, k) = sh;
	return 0;
}

static int parse_id_list(const struct key *k, struct mmc_config *cfg, const char *v,
			 char *why, size_t whylen)
{
	return parse_ids(v, k->group, field(cfg, k),
			 (size_t *)((char *)cfg + k->count_off), why, whylen);
}

static const struct key keys[] = {
	{ .section = "agent", .name = "socket", .parse = parse_path,
	  FIELD(socket_path) },
	{ .section = "agent", .name = "socket_mode", .parse = parse_mode,
	  FIELD(socket_mode), .max = 0777,
	  .hint = " is not an octal mode 0000..0777 (e.g. 0660)" },
	{ .section = "agent", .name = "stats", .parse = parse_path,
	  FIELD(stats_path), .zero_ok = true },
	{ .section = "agent", .name = "log_level", .parse = parse_enum,
	  FIELD(log_level), .names = level_names, .nnames = 4,
	  .hint = ": use error, warn, info or debug" },
	{ .section = "agent", .name = "spin_us", .parse = parse_number,
	  FIELD(spin_us), .max = 1000000, .hint = ": microseconds, 0..1000000" },
	{ .section = "agent", .name = "verify", .parse = parse_enum,
	  FIELD(verify), .names = verify_names, .nnames = 3,
	  .hint = ": use off, sampled or always" },
	{ .section = "arena", .name = "size", .parse = parse_bytes,
	  FIELD(arena_size), .min = ARENA_MIN, .max = UINT64_MAX,
	  .hint = ": must be at least 16M and a multiple of 4096 bytes" },
	{ .section = "arena", .name = "hugepages", .parse = parse_enum,
	  FIELD(hugepages), .names = huge_names, .nnames = 3,
	  .hint = ": use auto, on or off" },
	{ .section = "arena", .name = "max_objects", .parse = parse_number,
	  FIELD(max_objects), .min = 1024, .max = MMC_CONFIG_MAX_OBJECTS,
	  .zero_ok = true, .hint = ": 0 (derive from size) or 1024..67108864" },
	{ .section = "eviction", .name = "high_watermark", .parse = parse_number,
	  FIELD(high_watermark), .min = 1, .max = 99, .hint = ": a percentage, 1..99" },
	{ .section = "eviction", .name = "low_watermark", .parse = parse_number,
	  FIELD(low_watermark), .min = 1, .max = 99, .hint = ": a percentage, 1..99" },
	{ .section = "access", .name = "allow_uids", .parse = parse_id_list,
	  FIELD(allow_uids), .count_off = offsetof(struct mmc_config, n_allow_uids) },
	{ .section = "access", .name = "allow_gids", .parse = parse_id_list,
	  FIELD(allow_gids), .group = true,
	  .count_off = offsetof(struct mmc_config, n_allow_gids) },
	{ .section = "ssd", .name = "path", .parse = parse_path,
	  FIELD(ssd_path), .zero_ok = true },
	{ .section = "ssd", .name = "size", .parse = parse_bytes, FIELD(ssd_size),
	  .zero_ok = true, .min = 16ull << 20, .max = UINT64_MAX,
	  .hint = ": 0 (a block device, all of it) or at least 16M, a multiple of 4096" },
	{ .section = "ssd", .name = "region_size", .parse = parse_bytes,
	  FIELD(ssd_region_size), .min = 1ull << 20, .max = 4ull << 30, .align = 1ull << 20,
	  .hint = ": 1M..4G, a multiple of 1M" },
	{ .section = "ssd", .name = "max_objects", .parse = parse_number,
	  FIELD(ssd_max_objects), .min = 1024, .max = 1ull << 33, .zero_ok = true,
	  .hint = ": 0 (size / 64 KiB) or 1024..8589934592" },
	{ .section = "ssd", .name = "queue_depth", .parse = parse_number,
	  FIELD(ssd_queue_depth), .min = 1, .max = 1024, .hint = ": 1..1024" },
	{ .section = "ssd", .name = "engine", .parse = parse_enum, FIELD(ssd_engine),
	  .names = engine_names, .nnames = 2, .hint = ": use io_uring or threads" },
	{ .section = "ssd", .name = "flush_on_stop_ms", .parse = parse_number,
	  FIELD(ssd_flush_on_stop_ms), .max = 3600000,
	  .hint = ": milliseconds, 0..3600000 (0: DRAM-only pages are lost at a stop)" },
	{ .section = "limits", .name = "max_sessions", .parse = parse_number,
	  FIELD(max_sessions), .min = 1, .max = 1 << 20,
	  .hint = ": sessions, 1..1048576" },
	{ .section = "limits", .name = "sessions_per_uid", .parse = parse_number,
	  FIELD(sessions_per_uid), .min = 1, .max = 1 << 20,
	  .hint = ": sessions, 1..1048576" },
	{ .section = "limits", .name = "max_handshakes", .parse = parse_number,
	  FIELD(max_handshakes), .min = 1, .max = 65536,
	  .hint = ": connections, 1..65536" },
	{ .section = "limits", .name = "handshake_timeout_ms", .parse = parse_number,
	  FIELD(handshake_timeout_ms), .min = 1, .max = 60000,
	  .hint = ": milliseconds, 1..60000" },
	{ .section = "limits", .name = "reservations_per_session", .parse = parse_share,
	  FIELD(reservations_per_session), .min = 1, .max = MMC_CONFIG_MAX_OBJECTS,
	  .hint = ": a count (1..67108864) or a percentage of max_objects (e.g. 25%)" },
	{ .section = "limits", .name = "reservations_per_uid", .parse = parse_share,
	  FIELD(reservations_per_uid), .min = 1, .max = MMC_CONFIG_MAX_OBJECTS,
	  .hint = ": a count (1..67108864) or a percentage of max_objects (e.g. 50%)" },
	{ .section = "limits", .name = "reserved_bytes_per_session", .parse = parse_share,
	  FIELD(reserved_bytes_per_session), .min = MMC_UNIT, .bytes = true,
	  .hint = ": a size (at least 4K, e.g. 8G) or a percentage of the arena (e.g. 50%)" },
	{ .section = "limits", .name = "reserved_bytes_per_uid", .parse = parse_share,
	  FIELD(reserved_bytes_per_uid), .min = MMC_UNIT, .bytes = true,
	  .hint = ": a size (at least 4K, e.g. 8G) or a percentage of the arena (e.g. 75%)" },
	{ .section = "limits", .name = "pins_per_session", .parse = parse_number,
	  FIELD(pins_per_session), .min = 1, .max = MMC_VIEWS_MAX,
	  .hint = ": views, 1..4096" },
	{ .section = "limits", .name = "pinned_bytes_per_session", .parse = parse_share,
	  FIELD(pinned_bytes_per_session), .min = MMC_UNIT, .bytes = true,
	  .hint = ": a size (at least 4K, e.g. 16G) or a percentage of the arena (e.g. 25%)" },
	{ .section = "cluster", .name = "node_id", .parse = parse_path,
	  FIELD(cluster_node_id), .zero_ok = true },
	{ .section = "cluster", .name = "listen", .parse = parse_path,
	  FIELD(cluster_listen), .zero_ok = true },
	{ .section = "cluster", .name = "peers", .parse = parse_path,
	  FIELD(cluster_peers), .zero_ok = true },
	{ .section = "cluster", .name = "tls", .parse = parse_enum, FIELD(cluster_tls),
	  .names = tls_names + 1, .nnames = 2, .hint = ": use off or on" },
	{ .section = "cluster", .name = "etcd", .parse = parse_path,
	  FIELD(cluster_etcd), .zero_ok = true },
	{ .section = "cluster", .name = "etcd_prefix", .parse = parse_path,
	  FIELD(cluster_etcd_prefix) },
	{ .section = "cluster", .name = "etcd_ttl_s", .parse = parse_number,
	  FIELD(cluster_etcd_ttl_s), .min = 2, .max = 3600, .hint = ": seconds, 2..3600" },
	{ .section = "cluster", .name = "advertise", .parse = parse_path,
	  FIELD(cluster_advertise), .zero_ok = true },
	{ .section = "cluster", .name = "cert", .parse = parse_path,
	  FIELD(cluster_cert), .zero_ok = true },
	{ .section = "cluster", .name = "key", .parse = parse_path,
	  FIELD(cluster_key), .zero_ok = true },
	{ .section = "cluster", .name = "ca", .parse = parse_path,
	  FIELD(cluster_ca), .zero_ok = true },
	{ .section = "cluster", .name = "push", .parse = parse_enum, FIELD(cluster_push),
	  .names = push_names, .nnames = 2, .hint = ": use page or record" },
	{ .section = "cluster", .name = "replicas", .parse = parse_number,
	  FIELD(cluster_replicas), .min = 1, .max = 8, .hint = ": copies on distinct nodes, 1..8" },
	{ .section = "cluster", .name = "timeout_ms", .parse = parse_number,
	  FIELD(cluster_timeout_ms), .min = 1, .max = 60000,
	  .hint = ": milliseconds, 1..60000" },
	{ .section = "cluster", .name = "down_after", .parse = parse_number,
	  FIELD(cluster_down_after), .min = 1, .max = 1000, .hint = ": failures, 1..1000" },
	{ .section = "cluster", .name = "retry_ms", .parse = parse_number,
	  FIELD(cluster_retry_ms), .min = 1, .max = 600000,
	  .hint = ": milliseconds, 1..600000" },
	{ .section = "cluster", .name = "queue_max", .parse = parse_bytes,
	  FIELD(cluster_queue_max), .min = 1ull << 20, .max = 1ull << 40,
	  .hint = ": 1M..1T, a multiple of 4096" },
	{ .section = "metrics", .name = "listen", .parse = parse_path,
	  FIELD(metrics_listen), .zero_ok = true },
	{ .section = "debug", .name = "ping_delay_max_ms", .parse = parse_number,
	  FIELD(ping_delay_max_ms), .max = 60000,
	  .hint = ": milliseconds, 0..60000 (0: pings are never delayed)" },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS <= MMC_CONFIG_KEYS_MAX, "MMC_CONFIG_KEYS_MAX holds every key");

int mmc_config__find_key(const char *section, const char *key)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(section, keys[i].section) && !strcmp(key, keys[i].name))
			return (int)i;
	return -1;
}

/* The one place a value enters a config: finds [section] key in the table,
 * parses v with its row, or returns -EINVAL with err saying why and leaves
 * cfg as it was.  Rules that involve two keys wait for mmc_config_validate(). */
int mmc_config_set(struct mmc_config *cfg, const char *section,
		   const char *key, const char *v, char *err, size_t errlen)
{
	bool known_section = false;
	char why[192];

	if (!section || !key || !v)
		return mmc_config__seterr(err, errlen, "missing section, key or value");
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		if (strcmp(section, k->section))
			continue;
		known_section = true;
		if (strcmp(key, k->name))
			continue;
		if (k->parse(k, cfg, v, why, sizeof(why)))
			return mmc_config__seterr(err, errlen, "[%s] %s: %s", section, key, why);
		return 0;
	}
	if (!*section)
		return mmc_config__seterr(err, errlen, "'%s' is outside any [section]", key);
	if (!known_section)
		return mmc_config__seterr(err, errlen, "unknown section [%s]", section);
	return mmc_config__seterr(err, errlen, "unknown key '%s' in [%s]", key, section);
}

/* The rules no single key can check: watermark order, path room, and the
 * arena's size again for a config that did not come through the setter. */
int mmc_config_validate(const struct mmc_config *cfg, char *err, size_t errlen)
{
	size_t slen = strnlen(cfg->socket_path, MMC_CONFIG_PATH_MAX);
	unsigned long long size = cfg->arena_size;

	if (!slen || slen >= MMC_CONFIG_PATH_MAX)
		return mmc_config__seterr(err, errlen, "[agent] socket: must be 1..%d bytes",
			      MMC_CONFIG_PATH_MAX - 1);
	if (!cfg->stats_path[0] && slen + sizeof(".stats") > MMC_CONFIG_PATH_MAX)
		return mmc_config__seterr(err, errlen, "[agent] socket: at most %zu bytes "
			      "when stats is empty (it becomes <socket>.stats)",
			      MMC_CONFIG_PATH_MAX - sizeof(".stats"));
	if (size < ARENA_MIN || size % ARENA_ALIGN)
		return mmc_config__seterr(err, errlen, "[arena] size: %llu bytes; the arena "
			      "must be at least 16 MiB and a multiple of 4096 "
			      "bytes", size);
	if (cfg->max_objects && (cfg->max_objects < 1024 ||
				 cfg->max_objects > MMC_CONFIG_MAX_OBJECTS))
		return mmc_config__seterr(err, errlen, "[arena] max_objects: 0 or "
			      "1024..67108864");
	/* Each object takes at least MMC_UNIT bytes of the arena: more index
	 * entries than that can never be used, and each costs memory. */
	if (cfg->max_objects > size / MMC_UNIT)
		return mmc_config__seterr(err, errlen, "[arena] max_objects: %llu objects can "
			      "never fit in a %llu MiB arena (at most %llu, one "
			      "%u-byte unit each): lower max_objects or raise size",
			      (unsigned long long)cfg->max_objects, size >> 20,
			      size / MMC_UNIT, MMC_UNIT);
	if (cfg->high_watermark < 1 || cfg->high_watermark > 99 ||
	    cfg->low_watermark < 1 || cfg->low_watermark > 99 ||
	    cfg->low_watermark >= cfg->high_watermark)
		return mmc_config__seterr(err, errlen, "[eviction] low_watermark (%u) must be "
			      "below high_watermark (%u), both 1..99 percent",
			      cfg->low_watermark, cfg->high_watermark);
	if (cfg->cluster_node_id[0] && !cfg->cluster_listen[0])
		return mmc_config__seterr(err, errlen, "[cluster] node_id is set: listen = host:port "
			      "is needed too");
	if (cfg->cluster_etcd[0] && cfg->cluster_peers[0])
		return mmc_config__seterr(err, errlen, "[cluster] peers and etcd: members come from one "
			      "of them; keep one");
	if (cfg->cluster_etcd[0] && strncmp(cfg->cluster_etcd, "http://", 7) &&
	    strncmp(cfg->cluster_etcd, "https://", 8))
		return mmc_config__seterr(err, errlen, "[cluster] etcd: '%s' is not an http:// or "
			      "https:// URL", cfg->cluster_etcd);
	if (cfg->cluster_node_id[0] && cfg->cluster_tls == MMC_TLS_UNSET)
		return mmc_config__seterr(err, errlen, "[cluster] tls: say it: on (mutual TLS: cert, "
			      "key and ca) or off (pages in the clear between nodes)");
	if (cfg->cluster_node_id[0] && cfg->cluster_tls == MMC_TLS_ON &&
	    (!cfg->cluster_cert[0] || !cfg->cluster_key[0] || !cfg->cluster_ca[0]))
		return mmc_config__seterr(err, errlen, "[cluster] tls = on needs cert, key and ca "
			      "(PEM files: this node's certificate, its key, the pool's CA)");
	if (cfg->n_allow_uids > MMC_CONFIG_MAX_IDS ||
	    cfg->n_allow_gids > MMC_CONFIG_MAX_IDS)
		return mmc_config__seterr(err, errlen, "[access] more than %d ids",
			      MMC_CONFIG_MAX_IDS);
	return 0;
}
