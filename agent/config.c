/*
 * config.c - mmc-agent's configuration: defaults, the INI file, flags.
 *
 * The story of a setting: mmc_config_defaults() gives every field the value
 * documented in conf/mmc-agent.conf; mmc_config_load() reads the INI file
 * with libinih; main() applies command-line flags; mmc_config_validate()
 * checks the rules that span several keys.  The file and the flags both go
 * through mmc_config_set(), which knows every key and parses each in one
 * place, so a key means the same thing wherever it comes from.
 *
 * libinih hands us key/value pairs but not line numbers (the distribution
 * builds it without INI_HANDLER_LINENO), so the loader feeds it through its
 * own fgets-style reader that counts lines and sees each line as inih is
 * about to (key, continuation, section).  The reader also catches what
 * inih would get wrong silently: a line longer than inih's buffer would be
 * split and its tail parsed as a line of its own.  Indented continuation
 * lines are allowed only for the id lists, which can outgrow one line; the
 * loader joins them and sets the whole list again, so a list key always
 * replaces, never appends.  A load that fails leaves cfg untouched.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "mmc/mmc-t.h"

#define ARENA_MIN   (16ull << 20)
#define ARENA_ALIGN 4096ull
#define LIST_MAX    4096              /* a joined allow_* value */

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const huge_names[]  = { "auto", "on", "off" };

/* Writes a reason into err when the caller gave room for one; -EINVAL. */
static int __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
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
	cfg->arena_size = 1ull << 30;
	cfg->hugepages = MMC_HUGEPAGES_AUTO;
	cfg->high_watermark = 90;
	cfg->low_watermark = 88;
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
			return seterr(why, whylen, "%s name too long", what);
		memcpy(tok, v, len);
		tok[len] = '\0';
		if (isdigit((unsigned char)tok[0])) {
			if (parse_uint(tok, 0, UINT32_MAX - 1, &num))
				return seterr(why, whylen, "'%s' is not a %s id",
					      tok, what);
			id = (uint32_t)num;
		} else if ((rc = lookup_id(tok, group, &id))) {
			return seterr(why, whylen, "%s '%s': %s", what, tok,
				      rc == -ENOENT ? "no such name" : strerror(-rc));
		}
		for (i = 0; i < cnt && tmp[i] != id; i++)
			;
		if (i == cnt && cnt == MMC_CONFIG_MAX_IDS)
			return seterr(why, whylen, "more than %d ids",
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

/* The one place a value enters a config: parses v for [section] key and
 * stores it, or returns -EINVAL with err saying why and leaves cfg as it
 * was.  Rules that involve two keys wait for mmc_config_validate(). */
int mmc_config_set(struct mmc_config *cfg, const char *section,
		   const char *key, const char *v, char *err, size_t errlen)
{
	char why[192];
	uint64_t n;
	int i;

#define IS(s, k) (!strcmp(section, s) && !strcmp(key, k))
#define BAD(...) do { snprintf(why, sizeof(why), __VA_ARGS__);		\
		return seterr(err, errlen, "[%s] %s: %s", section, key, why); \
	} while (0)
	if (!section || !key || !v)
		return seterr(err, errlen, "missing section, key or value");
	if (IS("agent", "socket") || IS("agent", "stats")) {
		if (!*v && key[1] == 'o')
			BAD("must not be empty");
		if (strlen(v) >= MMC_CONFIG_PATH_MAX)
			BAD("path longer than %d bytes", MMC_CONFIG_PATH_MAX - 1);
		strcpy(key[1] == 'o' ? cfg->socket_path : cfg->stats_path, v);
	} else if (IS("agent", "socket_mode")) {
		char *end;
		unsigned long m = strtoul(v, &end, 8);

		if (*v < '0' || *v > '7' || *end || m > 0777)
			BAD("'%.64s' is not an octal mode 0000..0777 (e.g. 0660)", v);
		cfg->socket_mode = (unsigned)m;
	} else if (IS("agent", "log_level")) {
		if ((i = pick(v, level_names, 4)) < 0)
			BAD("'%.64s': use error, warn, info or debug", v);
		cfg->log_level = (enum mmc_log_level)i;
	} else if (IS("agent", "spin_us")) {
		if (parse_uint(v, 0, 1000000, &n))
			BAD("'%.64s': microseconds, 0..1000000", v);
		cfg->spin_us = (unsigned)n;
	} else if (IS("arena", "size")) {
		if (mmc_parse_size(v, &n))
			BAD("'%.64s' is not a size (bytes, or K/M/G/T, e.g. 64G)", v);
		if (n < ARENA_MIN || n % ARENA_ALIGN)
			BAD("'%.64s': must be at least 16M and a multiple of 4096 "
			    "bytes", v);
		cfg->arena_size = n;
	} else if (IS("arena", "hugepages")) {
		if ((i = pick(v, huge_names, 3)) < 0)
			BAD("'%.64s': use auto, on or off", v);
		cfg->hugepages = (enum mmc_hugepages)i;
	} else if (IS("arena", "max_objects")) {
		if (parse_uint(v, 0, MMC_CONFIG_MAX_OBJECTS, &n) || (n && n < 1024))
			BAD("'%.64s': 0 (derive from size) or 1024..67108864", v);
		cfg->max_objects = n;
	} else if (IS("eviction", "high_watermark") ||
		   IS("eviction", "low_watermark")) {
		if (parse_uint(v, 1, 99, &n))
			BAD("'%.64s': a percentage, 1..99", v);
		if (key[0] == 'h')
			cfg->high_watermark = (unsigned)n;
		else
			cfg->low_watermark = (unsigned)n;
	} else if (IS("access", "allow_uids") || IS("access", "allow_gids")) {
		bool g = key[6] == 'g';

		if (parse_ids(v, g, g ? (uint32_t *)cfg->allow_gids
				      : (uint32_t *)cfg->allow_uids,
			      g ? &cfg->n_allow_gids : &cfg->n_allow_uids,
			      why, sizeof(why)))
			return seterr(err, errlen, "[%s] %s: %s", section,
				      key, why);
	} else if (!*section) {
		return seterr(err, errlen, "'%s' is outside any [section]", key);
	} else if (strcmp(section, "agent") && strcmp(section, "arena") &&
		   strcmp(section, "eviction") && strcmp(section, "access")) {
		return seterr(err, errlen, "unknown section [%s]", section);
	} else {
		return seterr(err, errlen, "unknown key '%s' in [%s]", key,
			      section);
	}
#undef BAD
#undef IS
	return 0;
}

/* The rules no single key can check: watermark order, path room, and the
 * arena's size again for a config that did not come through the setter. */
int mmc_config_validate(const struct mmc_config *cfg, char *err, size_t errlen)
{
	size_t slen = strnlen(cfg->socket_path, MMC_CONFIG_PATH_MAX);
	unsigned long long size = cfg->arena_size;

	if (!slen || slen >= MMC_CONFIG_PATH_MAX)
		return seterr(err, errlen, "[agent] socket: must be 1..%d bytes",
			      MMC_CONFIG_PATH_MAX - 1);
	if (!cfg->stats_path[0] && slen + sizeof(".stats") > MMC_CONFIG_PATH_MAX)
		return seterr(err, errlen, "[agent] socket: at most %zu bytes "
			      "when stats is empty (it becomes <socket>.stats)",
			      MMC_CONFIG_PATH_MAX - sizeof(".stats"));
	if (size < ARENA_MIN || size % ARENA_ALIGN)
		return seterr(err, errlen, "[arena] size: %llu bytes; the arena "
			      "must be at least 16 MiB and a multiple of 4096 "
			      "bytes", size);
	if (cfg->max_objects && (cfg->max_objects < 1024 ||
				 cfg->max_objects > MMC_CONFIG_MAX_OBJECTS))
		return seterr(err, errlen, "[arena] max_objects: 0 or "
			      "1024..67108864");
	if (cfg->high_watermark < 1 || cfg->high_watermark > 99 ||
	    cfg->low_watermark < 1 || cfg->low_watermark > 99 ||
	    cfg->low_watermark >= cfg->high_watermark)
		return seterr(err, errlen, "[eviction] low_watermark (%u) must be "
			      "below high_watermark (%u), both 1..99 percent",
			      cfg->low_watermark, cfg->high_watermark);
	if (cfg->n_allow_uids > MMC_CONFIG_MAX_IDS ||
	    cfg->n_allow_gids > MMC_CONFIG_MAX_IDS)
		return seterr(err, errlen, "[access] more than %d ids",
			      MMC_CONFIG_MAX_IDS);
	return 0;
}

/* State of one mmc_config_load(): the line counter and the first error. */
struct loader {
	FILE *f;
	struct mmc_config cfg;      /* the copy we parse into */
	int line;                   /* line the reader last returned */
	bool cont;                  /* inih will take that line as a continuation */
	int err_line;               /* first error, 0 = none */
	char why[256];
	char last_key[64];          /* inih's prev_name: "" after a [section] */
	char list[LIST_MAX];        /* the allow_* value joined so far */
};

/* Records the first error and the line it came from. */
static void __attribute__((format(printf, 2, 3)))
fail(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->err_line)
		return;
	ld->err_line = ld->line;
	va_start(ap, fmt);
	vsnprintf(ld->why, sizeof(ld->why), fmt, ap);
	va_end(ap);
}

/* inih's line reader: counts lines, refuses lines inih would split, and
 * classifies each line the way inih's parser is about to. */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	size_t len;
	char *s;
	int c;

	if (!fgets(str, num, ld->f))
		return NULL;
	ld->line++;
	len = strlen(str);
	if (len && str[len - 1] != '\n' && !feof(ld->f)) {
		while ((c = getc(ld->f)) != EOF && c != '\n')
			;
		fail(ld, "line longer than %d bytes", num - 3);
		str[0] = '\0';
	}
	for (s = str; isspace((unsigned char)*s); s++)
		;
	ld->cont = false;
	if (!*s || *s == ';' || *s == '#')
		return str;                    /* blank or comment */
	if (ld->last_key[0] && s > str)
		ld->cont = true;               /* indented, after a key */
	else if (*s == '[')
		ld->last_key[0] = '\0';        /* a section header */
	return str;
}

/* inih's handler: one key = value, or one continuation line of the last
 * key, which only the allow_* lists accept: the loader joins the pieces
 * and sets the whole list again. */
static int on_key(void *user, const char *section, const char *key,
		  const char *value)
{
	struct loader *ld = user;
	bool list = !strcmp(section, "access") && !strncmp(key, "allow_", 6);
	size_t used = strlen(ld->list);
	char why[256];

	if (ld->cont) {
		if (!list) {
			fail(ld, "indented line continues '%s', which takes "
			     "one line (unindent it)", key);
			return 0;
		}
		if (used + 1 + strlen(value) >= sizeof(ld->list)) {
			fail(ld, "[%s] %s: list too long", section, key);
			return 0;
		}
		ld->list[used] = ' ';
		strcpy(ld->list + used + 1, value);
		value = ld->list;
	} else {
		snprintf(ld->last_key, sizeof(ld->last_key), "%s", key);
		snprintf(ld->list, sizeof(ld->list), "%s", value);
	}
	if (mmc_config_set(&ld->cfg, section, key, value, why, sizeof(why))) {
		fail(ld, "%s", why);
		return 0;
	}
	return 1;
}

/* Parses path into a copy of *cfg and copies it back only if every line
 * was good: 0, -ENOENT (or another -errno) if the file cannot be opened,
 * -EINVAL with "FILE:LINE: why" for the first bad line. */
int mmc_config_load(struct mmc_config *cfg, const char *path,
		    char *err, size_t errlen)
{
	struct loader *ld;
	int rc;

	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return -ENOMEM;
	ld->f = fopen(path, "re");
	if (!ld->f) {
		rc = -errno;
		seterr(err, errlen, "%s: %s", path, strerror(-rc));
		free(ld);
		return rc;
	}
	ld->cfg = *cfg;
	rc = ini_parse_stream(read_line, ld, on_key, ld);
	if (ferror(ld->f)) {
		seterr(err, errlen, "%s: read error", path);
		rc = -EIO;
	} else if (rc < 0) {
		seterr(err, errlen, "%s: out of memory", path);
		rc = -ENOMEM;
	} else if (rc > 0 && (!ld->err_line || rc < ld->err_line)) {
		seterr(err, errlen, "%s:%d: syntax error (expected [section] "
		       "or key = value)", path, rc);
		rc = -EINVAL;
	} else if (ld->err_line) {
		seterr(err, errlen, "%s:%d: %s", path, ld->err_line, ld->why);
		rc = -EINVAL;
	} else {
		*cfg = ld->cfg;
	}
	fclose(ld->f);
	free(ld);
	return rc;
}
