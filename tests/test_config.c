/*
 * test_config.c - unit tests of agent/config.c: defaults, the shipped
 * conf/mmc-agent.conf, every key from a file, size parsing, the cross-key
 * rules, error messages that name the line, and user/group names.
 *
 * The shipped config is found through $MMC_SRC (CTest sets it to the source
 * tree) or, when run by hand, relative to this file's own path.
 */
#include <check.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "mmc/mmc-t.h"   /* enum mmc_verify */
#include "check-main.h"

static char tmp_path[64];

/* Writes text to a new temporary file and returns its path. */
static const char *write_tmp(const char *text)
{
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/mmc-test-config.XXXXXX");
	fd = mkstemp(tmp_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return tmp_path;
}

/* Loads text over the defaults; returns what mmc_config_load returned. */
static int load_text(struct mmc_config *cfg, const char *text, char *err,
		     size_t errlen)
{
	int rc;

	mmc_config_defaults(cfg);
	rc = mmc_config_load(cfg, write_tmp(text), err, errlen);
	unlink(tmp_path);
	return rc;
}

static void assert_defaults(const struct mmc_config *c)
{
	ck_assert_str_eq(c->socket_path, "/run/mmc/agent.sock");
	ck_assert_uint_eq(c->socket_mode, 0660);
	ck_assert_str_eq(c->stats_path, "");
	ck_assert_int_eq(c->log_level, MMC_LOG_INFO);
	ck_assert_uint_eq(c->spin_us, 200);
	ck_assert_uint_eq(c->verify, MMC_VERIFY_OFF);
	ck_assert_uint_eq(c->arena_size, 1ull << 30);
	ck_assert_int_eq(c->hugepages, MMC_HUGEPAGES_AUTO);
	ck_assert_uint_eq(c->max_objects, 0);
	ck_assert_uint_eq(c->high_watermark, 90);
	ck_assert_uint_eq(c->low_watermark, 88);
	ck_assert_uint_eq(c->n_allow_uids, 0);
	ck_assert_uint_eq(c->n_allow_gids, 0);
	ck_assert_uint_eq(c->ping_delay_max_ms, 0);
	ck_assert_str_eq(c->ssd_path, "");
	ck_assert_uint_eq(c->ssd_size, 0);
	ck_assert_uint_eq(c->ssd_region_size, 256ull << 20);
	ck_assert_uint_eq(c->ssd_max_objects, 0);
	ck_assert_uint_eq(c->ssd_queue_depth, 32);
	ck_assert_int_eq(c->ssd_engine, MMC_SSD_ENGINE_URING);
	ck_assert_uint_eq(c->ssd_flush_on_stop_ms, 20000);
	ck_assert_uint_eq(c->max_sessions, 4096);
	ck_assert_uint_eq(c->sessions_per_uid, 1024);
	ck_assert_uint_eq(c->max_handshakes, 256);
	ck_assert_uint_eq(c->handshake_timeout_ms, 2000);
	ck_assert(c->reservations_per_session.pct && c->reservations_per_session.n == 25);
	ck_assert(c->reservations_per_uid.pct && c->reservations_per_uid.n == 50);
	ck_assert(c->reserved_bytes_per_session.pct && c->reserved_bytes_per_session.n == 50);
	ck_assert(c->reserved_bytes_per_uid.pct && c->reserved_bytes_per_uid.n == 75);
	ck_assert_uint_eq(c->pins_per_session, 4096);
	ck_assert(c->pinned_bytes_per_session.pct && c->pinned_bytes_per_session.n == 25);
	ck_assert_str_eq(c->cluster_node_id, "");
	ck_assert_str_eq(c->cluster_listen, "");
	ck_assert_str_eq(c->cluster_peers, "");
	ck_assert_str_eq(c->cluster_cert, "");
	ck_assert_str_eq(c->cluster_key, "");
	ck_assert_str_eq(c->cluster_ca, "");
	ck_assert_str_eq(c->cluster_etcd, "");
	ck_assert_str_eq(c->cluster_etcd_prefix, "/mmc/");
	ck_assert_uint_eq(c->cluster_etcd_ttl_s, 5);
	ck_assert_str_eq(c->cluster_advertise, "");
	ck_assert_str_eq(c->metrics_listen, "");
	ck_assert_int_eq(c->cluster_tls, MMC_TLS_UNSET);
	ck_assert_uint_eq(c->cluster_replicas, 1);
	ck_assert_int_eq(c->cluster_push, MMC_PUSH_RECORD);
	ck_assert_uint_eq(c->cluster_timeout_ms, 10);
	ck_assert_uint_eq(c->cluster_down_after, 3);
	ck_assert_uint_eq(c->cluster_retry_ms, 200);
	ck_assert_uint_eq(c->cluster_queue_max, 256ull << 20);
}

START_TEST(defaults)
{
	struct mmc_config c;
	char err[256] = "";

	mmc_config_defaults(&c);
	assert_defaults(&c);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(mmc_log_level_name(MMC_LOG_ERROR), "error");
	ck_assert_str_eq(mmc_log_level_name(MMC_LOG_WARN), "warn");
	ck_assert_str_eq(mmc_log_level_name(MMC_LOG_INFO), "info");
	ck_assert_str_eq(mmc_log_level_name(MMC_LOG_DEBUG), "debug");
}
END_TEST

START_TEST(shipped_conf_is_the_defaults)
{
	char path[4096], src[4096], err[512] = "";
	const char *dir = getenv("MMC_SRC");
	struct mmc_config c;

	if (!dir || !*dir) {
		snprintf(src, sizeof(src), "%s", __FILE__);
		snprintf(path, sizeof(path), "%s/../conf/mmc-agent.conf",
			 dirname(src));
	} else {
		snprintf(path, sizeof(path), "%s/conf/mmc-agent.conf", dir);
	}
	mmc_config_defaults(&c);
	c.spin_us = 7;  /* the file must set every key, these included */
	c.ping_delay_max_ms = 7;
	c.max_sessions = 7;
	c.pinned_bytes_per_session.n = 7;
	ck_assert_msg(mmc_config_load(&c, path, err, sizeof(err)) == 0,
		      "%s: %s", path, err);
	assert_defaults(&c);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(every_key)
{
	struct mmc_config c;
	char err[512] = "";

	ck_assert_msg(load_text(&c,
		"; a comment\n"
		"# another\n"
		"[agent]\n"
		"socket = /tmp/x.sock\n"
		"socket_mode = 0666\n"
		"stats = /tmp/x.stats\n"
		"log_level = debug\n"
		"spin_us = 0\n"
		"verify = always\n"
		"\n"
		"[arena]\n"
		"size = 64GiB\n"
		"hugepages = on\n"
		"max_objects = 1048576\n"
		"[eviction]\n"
		"high_watermark = 95\n"
		"low_watermark = 70   ; inline comments need a semicolon\n"
		"[access]\n"
		"allow_uids = 0, 1000 root\n"
		"  2000,3000\n"
		"allow_gids = root,5\n"
		"[ssd]\n"
		"path = /var/lib/mmc/tier\n"
		"size = 2T\n"
		"region_size = 64M\n"
		"max_objects = 1000000\n"
		"queue_depth = 64\n"
		"engine = threads\n"
		"flush_on_stop_ms = 0\n"
		"[limits]\n"
		"max_sessions = 100\n"
		"sessions_per_uid = 10\n"
		"max_handshakes = 7\n"
		"handshake_timeout_ms = 500\n"
		"reservations_per_session = 300\n"
		"reservations_per_uid = 10%\n"
		"reserved_bytes_per_session = 64M\n"
		"reserved_bytes_per_uid = 100%\n"
		"pins_per_session = 16\n"
		"pinned_bytes_per_session = 1G\n"
		"[debug]\n"
		"ping_delay_max_ms = 2500\n",
		err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.socket_path, "/tmp/x.sock");
	ck_assert_uint_eq(c.socket_mode, 0666);
	ck_assert_str_eq(c.stats_path, "/tmp/x.stats");
	ck_assert_int_eq(c.log_level, MMC_LOG_DEBUG);
	ck_assert_uint_eq(c.spin_us, 0);
	ck_assert_uint_eq(c.verify, MMC_VERIFY_ALWAYS);
	ck_assert_uint_eq(c.arena_size, 64ull << 30);
	ck_assert_int_eq(c.hugepages, MMC_HUGEPAGES_ON);
	ck_assert_uint_eq(c.max_objects, 1048576);
	ck_assert_uint_eq(c.high_watermark, 95);
	ck_assert_uint_eq(c.low_watermark, 70);
	/* "root" is 0 again: duplicates are dropped; the indented line joins */
	ck_assert_uint_eq(c.n_allow_uids, 4);
	ck_assert_uint_eq(c.allow_uids[0], 0);
	ck_assert_uint_eq(c.allow_uids[1], 1000);
	ck_assert_uint_eq(c.allow_uids[2], 2000);
	ck_assert_uint_eq(c.allow_uids[3], 3000);
	ck_assert_uint_eq(c.n_allow_gids, 2);
	ck_assert_uint_eq(c.allow_gids[0], 0);
	ck_assert_uint_eq(c.allow_gids[1], 5);
	ck_assert_uint_eq(c.ping_delay_max_ms, 2500);
	ck_assert_str_eq(c.ssd_path, "/var/lib/mmc/tier");
	ck_assert_uint_eq(c.ssd_size, 2ull << 40);
	ck_assert_uint_eq(c.ssd_region_size, 64ull << 20);
	ck_assert_uint_eq(c.ssd_max_objects, 1000000);
	ck_assert_uint_eq(c.ssd_queue_depth, 64);
	ck_assert_int_eq(c.ssd_engine, MMC_SSD_ENGINE_THREADS);
	ck_assert_uint_eq(c.ssd_flush_on_stop_ms, 0);
	ck_assert_uint_eq(c.max_sessions, 100);
	ck_assert_uint_eq(c.sessions_per_uid, 10);
	ck_assert_uint_eq(c.max_handshakes, 7);
	ck_assert_uint_eq(c.handshake_timeout_ms, 500);
	ck_assert(!c.reservations_per_session.pct && c.reservations_per_session.n == 300);
	ck_assert(c.reservations_per_uid.pct && c.reservations_per_uid.n == 10);
	ck_assert(!c.reserved_bytes_per_session.pct &&
		  c.reserved_bytes_per_session.n == 64ull << 20);
	ck_assert(c.reserved_bytes_per_uid.pct && c.reserved_bytes_per_uid.n == 100);
	ck_assert_uint_eq(c.pins_per_session, 16);
	ck_assert(!c.pinned_bytes_per_session.pct &&
		  c.pinned_bytes_per_session.n == 1ull << 30);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), 0);

	/* an empty value empties a list */
	ck_assert_int_eq(load_text(&c, "[access]\nallow_uids = 1 2\n"
				   "allow_gids =\n", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.n_allow_uids, 2);
	ck_assert_uint_eq(c.n_allow_gids, 0);

	/* an indented key right after a section header is a plain key */
	ck_assert_int_eq(load_text(&c, "[arena]\n    size = 32M\n",
				   err, sizeof(err)), 0);
	ck_assert_uint_eq(c.arena_size, 32ull << 20);
}
END_TEST

static const struct { const char *s; int rc; uint64_t v; } sizes[] = {
	{ "64M", 0, 67108864 },        { "16G", 0, 16ull << 30 },
	{ "4096", 0, 4096 },           { "0", 0, 0 },
	{ "1K", 0, 1024 },             { "512k", 0, 512 << 10 },
	{ "2MiB", 0, 2 << 20 },        { "3gib", 0, 3ull << 30 },
	{ "1T", 0, 1ull << 40 },       { "1TiB", 0, 1ull << 40 },
	{ "16383P", -EINVAL, 0 },      { "18446744073709551615", 0, UINT64_MAX },
	{ "16777215T", 0, 16777215ull << 40 },
	{ "", -EINVAL, 0 },            { "-1", -EINVAL, 0 },
	{ "1X", -EINVAL, 0 },          { "99999999999T", -EINVAL, 0 },
	{ "16777216T", -EINVAL, 0 },   { "18446744073709551616", -EINVAL, 0 },
	{ "+1", -EINVAL, 0 },          { " 1", -EINVAL, 0 },
	{ "1 ", -EINVAL, 0 },          { "1G ", -EINVAL, 0 },
	{ "1.5G", -EINVAL, 0 },        { "G", -EINVAL, 0 },
	{ "1GB", -EINVAL, 0 },         { "1Gi", -EINVAL, 0 },
	{ "1GiBx", -EINVAL, 0 },       { "0x10", -EINVAL, 0 },
	{ "1KM", -EINVAL, 0 },
};

START_TEST(parse_size)
{
	uint64_t v = 12345;
	int rc = mmc_parse_size(sizes[_i].s, &v);

	ck_assert_msg(rc == sizes[_i].rc, "'%s': rc %d, want %d", sizes[_i].s,
		      rc, sizes[_i].rc);
	if (!rc)
		ck_assert_msg(v == sizes[_i].v, "'%s': %llu", sizes[_i].s,
			      (unsigned long long)v);
	else
		ck_assert_uint_eq(v, 12345);     /* untouched on error */
}
END_TEST

START_TEST(watermarks)
{
	struct mmc_config c;
	char err[256];

	mmc_config_defaults(&c);
	for (const char **v = (const char *[]){ "0", "100", "-5", "", "50%",
						 "abc", NULL }; *v; v++)
		ck_assert_int_eq(mmc_config_set(&c, "eviction", "high_watermark",
						*v, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "high_watermark"));
	ck_assert_uint_eq(c.high_watermark, 90);   /* untouched */

	ck_assert_int_eq(mmc_config_set(&c, "eviction", "low_watermark", "90",
					err, sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "low_watermark (90)"));
	ck_assert_int_eq(mmc_config_set(&c, "eviction", "high_watermark", "60",
					err, sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(mmc_config_set(&c, "eviction", "low_watermark", "59",
					err, sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(bad_values)
{
	static const char *const bad[][3] = {
		{ "agent", "socket", "" },
		{ "agent", "socket", "/run/mmc/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaa.sock" },
		{ "agent", "socket_mode", "0999" }, { "agent", "socket_mode", "1777" },
		{ "agent", "socket_mode", "" },     { "agent", "socket_mode", "-1" },
		{ "agent", "log_level", "verbose" }, { "agent", "log_level", "" },
		{ "agent", "spin_us", "1000001" },  { "agent", "spin_us", "-1" },
		{ "agent", "verify", "sometimes" }, { "agent", "verify", "" },
		{ "arena", "size", "1M" },          { "arena", "size", "16777217" },
		{ "arena", "size", "1G # 2G" },     { "arena", "hugepages", "yes" },
		{ "arena", "max_objects", "1023" }, { "arena", "max_objects", "2147483649" },
		{ "arena", "max_objects", "67108865" },
		{ "access", "allow_uids", "4294967295" },
		{ "access", "allow_uids", "no-such-user-mmc" },
		{ "access", "allow_gids", "no-such-group-mmc" },
		{ "ssd", "region_size", "1536K" },  { "ssd", "region_size", "8G" },
		{ "ssd", "size", "1M" },            { "ssd", "queue_depth", "0" },
		{ "ssd", "engine", "aio" },         { "ssd", "max_objects", "10" },
		{ "limits", "max_sessions", "0" },  { "limits", "max_sessions", "2000000" },
		{ "limits", "handshake_timeout_ms", "0" },
		{ "limits", "reservations_per_session", "0%" },
		{ "limits", "reservations_per_session", "101%" },
		{ "limits", "reservations_per_session", "1G" },
		{ "limits", "reserved_bytes_per_uid", "1K" },
		{ "limits", "reserved_bytes_per_uid", "%" },
		{ "limits", "reserved_bytes_per_uid", "25 %" },
		{ "limits", "pins_per_session", "4097" },
		{ "limits", "pinned_bytes_per_session", "-5%" },
		{ "debug", "ping_delay_max_ms", "60001" },
		{ "debug", "ping_delay_max_ms", "1s" },
		{ "agent", "sockett", "/x" },       { "arenas", "size", "1G" },
		{ "", "size", "1G" },
	};
	struct mmc_config c, d;
	char err[256];

	mmc_config_defaults(&c);
	mmc_config_defaults(&d);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(mmc_config_set(&c, bad[i][0], bad[i][1], bad[i][2],
					     err, sizeof(err)) == -EINVAL,
			      "[%s] %s = '%s' accepted", bad[i][0], bad[i][1],
			      bad[i][2]);
		ck_assert_msg(err[0], "no reason for [%s] %s", bad[i][0], bad[i][1]);
	}
	ck_assert_int_eq(memcmp(&c, &d, sizeof(c)), 0);   /* nothing changed */

	mmc_config_set(&c, "arena", "size", "1M", err, sizeof(err));
	ck_assert_ptr_nonnull(strstr(err, "16M"));
	ck_assert_ptr_nonnull(strstr(err, "4096"));
	c.arena_size = 1 << 20;        /* a config that skipped the setter */
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "16 MiB"));
	c.arena_size = (64 << 20) + 4096;
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), 0);
	c.hugepages = MMC_HUGEPAGES_ON;   /* the arena rounds up to 2 MiB */
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), 0);

	/* NULL err is allowed */
	ck_assert_int_eq(mmc_config_set(&c, "x", "y", "z", NULL, 0), -EINVAL);
}
END_TEST

START_TEST(errors_name_the_line)
{
	struct mmc_config c, d;
	char err[512], want[128], line[300], text[400];

	ck_assert_int_eq(load_text(&c, "[agent]\nlog_level = info\n\n"
				   "colour = blue\n", err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: unknown key 'colour' in [agent]",
		 tmp_path);
	ck_assert_str_eq(err, want);

	ck_assert_int_eq(load_text(&c, "[agent]\n[nope]\nx = 1\n", err,
				   sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":3: unknown section [nope]"));

	ck_assert_int_eq(load_text(&c, "size = 1G\n", err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":1: 'size' is outside"));

	ck_assert_int_eq(load_text(&c, "[arena]\nhugepages = off\n\nsize = 12Q\n",
				   err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":4: [arena] size: '12Q'"));

	/* a syntax error before a bad value: the syntax error is first */
	ck_assert_int_eq(load_text(&c, "[arena]\nsize 1G\nhugepages = x\n",
				   err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":2: syntax error"));
	ck_assert_int_eq(load_text(&c, "[arena]\nhugepages = x\nsize 1G\n",
				   err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":2: [arena] hugepages"));

	/* an indented line after a scalar key */
	ck_assert_int_eq(load_text(&c, "[agent]\nsocket = /a\n  log_level = "
				   "debug\n", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":3: indented line"));

	/* a line too long for inih is refused, not split */
	memset(line, 'a', sizeof(line));
	memcpy(line, "stats = /", 9);
	line[sizeof(line) - 1] = '\0';
	snprintf(text, sizeof(text), "[agent]\n%s\nspin_us = 1\n", line);
	ck_assert_int_eq(load_text(&c, text, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":2: line longer than"));

	/* a failed load leaves the config as it was */
	mmc_config_defaults(&d);
	d.spin_us = 3;
	c = d;
	ck_assert_int_eq(mmc_config_load(&c, write_tmp("[agent]\nspin_us = 9\n"
						       "bogus = 1\n"),
					 err, sizeof(err)), -EINVAL);
	unlink(tmp_path);
	ck_assert_uint_eq(c.spin_us, 3);

	ck_assert_int_eq(mmc_config_load(&c, "/nonexistent/mmc.conf", err,
					 sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/mmc.conf"));
}
END_TEST

/* Loads path over the defaults; returns what mmc_config_load returned. */
static int load_path(struct mmc_config *cfg, const char *path, char *err,
		     size_t errlen)
{
	mmc_config_defaults(cfg);
	err[0] = '\0';
	return mmc_config_load(cfg, path, err, errlen);
}

/* A key given twice is an error naming both lines; a list's continuation
 * lines and a section given twice are not. */
START_TEST(duplicate_keys)
{
	struct mmc_config c;
	char err[512];

	ck_assert_int_eq(load_text(&c, "[arena]\nsize = 64M\n[agent]\nspin_us = 1\n"
				   "[arena]\nsize = 32M\n", err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, ":6: [arena] size given twice (first on line 2)"),
		      "%s", err);
	ck_assert_uint_eq(c.arena_size, 1ull << 30);       /* nothing applied */
	ck_assert_int_eq(load_text(&c, "[access]\nallow_uids = 1\nallow_uids = 2\n",
				   err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":3: [access] allow_uids given twice"));
	ck_assert_msg(load_text(&c, "[arena]\nsize = 64M\n[agent]\nspin_us = 1\n"
				"[arena]\nhugepages = off\n[access]\nallow_uids = 1\n"
				"  2 3\n\t4\n", err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.arena_size, 64ull << 20);
	ck_assert_int_eq(c.hugepages, MMC_HUGEPAGES_OFF);
	ck_assert_uint_eq(c.n_allow_uids, 4);
}
END_TEST

/* Only a regular text file of bounded size is read: a FIFO or a device is
 * refused without blocking or spinning, a NUL byte names its line, and a
 * file over MMC_CONFIG_FILE_MAX is refused.  /dev/null means "no settings". */
START_TEST(file_checks)
{
	char dir[] = "/tmp/mmc-test-config-XXXXXX", path[96], err[512];
	static char big[MMC_CONFIG_FILE_MAX + 2];
	struct mmc_config c;
	FILE *f;

	ck_assert(mkdtemp(dir));
	ck_assert_int_eq(load_path(&c, "/dev/zero", err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "/dev/zero: not a regular file"), "%s", err);
	ck_assert_int_eq(load_path(&c, "/dev/null", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.arena_size, 1ull << 30);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(load_path(&c, path, err, sizeof(err)), -EINVAL);   /* no writer: must not block */
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	unlink(path);
	ck_assert_int_eq(load_path(&c, dir, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));

	snprintf(path, sizeof(path), "%s/nul.conf", dir);
	f = fopen(path, "w");
	ck_assert(f);
	fwrite("[agent]\nspin_us = 1\n\0\0\0\n", 1, 24, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(load_path(&c, path, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "nul.conf:3: NUL byte"), "%s", err);
	ck_assert_uint_eq(c.spin_us, 200);
	ck_assert_int_eq(mmc_config_parse(&c, "buf", "\0", 1, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "buf:1: NUL byte"));
	ck_assert_int_eq(mmc_config_parse(&c, "buf", "", 0, err, sizeof(err)), 0);

	memset(big, '#', sizeof(big));
	for (size_t i = 80; i < sizeof(big); i += 80)
		big[i] = '\n';
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	f = fopen(path, "w");
	ck_assert(f);
	ck_assert_uint_eq(fwrite(big, 1, MMC_CONFIG_FILE_MAX + 1, f), MMC_CONFIG_FILE_MAX + 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(load_path(&c, path, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "too large"), "%s", err);
	ck_assert_int_eq(truncate(path, MMC_CONFIG_FILE_MAX), 0);   /* at the limit: read */
	ck_assert_msg(load_path(&c, path, err, sizeof(err)) == 0, "%s", err);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* max_objects beyond what the arena can hold (one MMC_UNIT each). */
START_TEST(objects_fit_the_arena)
{
	struct mmc_config c;
	char err[256];

	mmc_config_defaults(&c);
	c.arena_size = 16ull << 20;
	c.max_objects = 4096;
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), 0);
	c.max_objects = 4097;
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "max_objects") && strstr(err, "16 MiB"), "%s", err);
	c.max_objects = MMC_CONFIG_MAX_OBJECTS;
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(names_resolve)
{
	struct mmc_config c;
	char err[256] = "";

	mmc_config_defaults(&c);
	ck_assert_msg(mmc_config_set(&c, "access", "allow_uids", "root",
				     err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.n_allow_uids, 1);
	ck_assert_uint_eq(c.allow_uids[0], 0);
	ck_assert_msg(mmc_config_set(&c, "access", "allow_gids", "root,\t7",
				     err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.n_allow_gids, 2);
	ck_assert_uint_eq(c.allow_gids[0], 0);
	ck_assert_uint_eq(c.allow_gids[1], 7);
	ck_assert_int_eq(mmc_config_set(&c, "access", "allow_uids",
					 "no-such-user-mmc", err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no-such-user-mmc"));
	ck_assert_uint_eq(c.n_allow_uids, 1);       /* untouched */
}
END_TEST

START_TEST(id_limit)
{
	struct mmc_config c;
	char list[1024] = "", err[256];
	size_t n = 0;

	for (int i = 0; i < MMC_CONFIG_MAX_IDS; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%d ", 100 + i);
	mmc_config_defaults(&c);
	ck_assert_int_eq(mmc_config_set(&c, "access", "allow_uids", list,
					err, sizeof(err)), 0);
	ck_assert_uint_eq(c.n_allow_uids, MMC_CONFIG_MAX_IDS);
	snprintf(list + n, sizeof(list) - n, "99");
	ck_assert_int_eq(mmc_config_set(&c, "access", "allow_uids", list,
					err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "more than"));
}
END_TEST

/* [cluster]: every key, the peers list over continuation lines, and the
 * rules: a node_id needs listen and an explicit tls; tls = on is refused
 * until it is built. */
START_TEST(cluster_keys)
{
	struct mmc_config c;
	char err[512] = "";

	ck_assert_msg(load_text(&c, "[cluster]\nnode_id = node-a\nlisten = 10.0.0.1:7700\n"
				"peers = node-a@10.0.0.1:7700,\n  node-b@10.0.0.2:7700\n"
				"tls = off\ntimeout_ms = 25\ndown_after = 5\nretry_ms = 50\n"
				"queue_max = 64M\n", err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.cluster_node_id, "node-a");
	ck_assert_str_eq(c.cluster_listen, "10.0.0.1:7700");
	ck_assert_str_eq(c.cluster_peers, "node-a@10.0.0.1:7700, node-b@10.0.0.2:7700");
	ck_assert_int_eq(c.cluster_tls, MMC_TLS_OFF);
	ck_assert_uint_eq(c.cluster_timeout_ms, 25);
	ck_assert_uint_eq(c.cluster_down_after, 5);
	ck_assert_uint_eq(c.cluster_retry_ms, 50);
	ck_assert_uint_eq(c.cluster_queue_max, 64ull << 20);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), 0);

	c.cluster_tls = MMC_TLS_UNSET;              /* not said */
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "say it"), "%s", err);
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "tls", "on", err, sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "needs cert, key and ca"), "%s", err);
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "cert", "/etc/mmc/a.pem", err,
					sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "key", "/etc/mmc/a.key", err,
					sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "ca", "/etc/mmc/ca.pem", err,
					sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.cluster_cert, "/etc/mmc/a.pem");
	ck_assert_str_eq(c.cluster_ca, "/etc/mmc/ca.pem");
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "tls", "unset", err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "tls", "off", err, sizeof(err)), 0);
	c.cluster_listen[0] = '\0';
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "listen"), "%s", err);

	ck_assert_int_eq(mmc_config_set(&c, "cluster", "timeout_ms", "0", err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "node_id",
					"0123456789012345678901234567890123456789"
					"012345678901234567890123", err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "longer than 63 bytes"), "%s", err);
	/* etcd: a URL, and not together with peers */
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "listen", "10.0.0.1:7700", err,
					sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "etcd", "http://10.0.0.9:2379", err,
					sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "peers and etcd"), "%s", err);
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "peers", "", err, sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "etcd", "10.0.0.9:2379", err,
					sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "not an http"), "%s", err);
	ck_assert_int_eq(mmc_config_set(&c, "cluster", "etcd_ttl_s", "1", err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(mmc_config_set(&c, "metrics", "listen", "9464", err, sizeof(err)), 0);
	ck_assert_str_eq(c.metrics_listen, "9464");
	/* no tls said: the agent would not start */
	ck_assert_int_eq(load_text(&c, "[cluster]\nnode_id = a\nlisten = :7700\n",
				   err, sizeof(err)), 0);
	ck_assert_int_eq(mmc_config_validate(&c, err, sizeof(err)), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = add_tcase(s, "config", 0);

	add_tests(tc, TESTS(defaults, shipped_conf_is_the_defaults, every_key));
	tcase_add_loop_test(tc, parse_size, 0, sizeof(sizes) / sizeof(sizes[0]));
	add_tests(tc, TESTS(watermarks, bad_values, errors_name_the_line, duplicate_keys,
			    file_checks, objects_fit_the_arena, names_resolve, id_limit,
			    cluster_keys));
	return run_suite(s);
}
