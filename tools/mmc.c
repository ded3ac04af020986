/*
 * mmc.c - the command-line client: put, get, rm, exists, stat.
 *
 *   mmc put KEY FILE|-     store a file (or stdin) under KEY
 *   mmc get KEY            write the value to stdout
 *   mmc rm KEY             remove KEY
 *   mmc exists [--here] KEY...
 *                          one line per key: "KEY 1" or "KEY 0"; exit 0 only
 *                          if all are present.  One batch: in a pool, keys
 *                          anywhere count; --here: on this node only
 *   mmc stat [--json]      the agent's counters
 *
 * The socket is $MMC_SOCKET or /run/mmc/agent.sock.  Exit status: 0 success
 * (a put of an existing key is a success: objects are immutable), 1 a miss or
 * an error, 2 bad usage.  Keys are taken as given, bytes of the argument.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mmc/mmc.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: mmc put KEY FILE|-\n"
		"       mmc get KEY\n"
		"       mmc rm KEY\n"
		"       mmc exists [--here] KEY...\n"
		"       mmc stat [--json]\n"
		"socket: $MMC_SOCKET or " MMC_DEFAULT_SOCKET "\n");
	return 2;
}

/* Reads all of fd into a malloc'd buffer. */
static int slurp(int fd, uint8_t **out, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return -errno;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	*out = buf;
	*len = n;
	return 0;
}

static int cmd_put(mmc_client *c, const char *key, const char *file)
{
	int fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	if (fd < 0) {
		fprintf(stderr, "mmc: %s: %s\n", file, strerror(errno));
		return 1;
	}
	ret = slurp(fd, &buf, &len);
	if (fd)
		close(fd);
	if (ret) {
		fprintf(stderr, "mmc: reading %s: %s\n", file, strerror(-ret));
		return 1;
	}
	ret = mmc_put(c, key, strlen(key), buf, len);
	free(buf);
	if (ret == -EEXIST) {
		fprintf(stderr, "mmc: %s: exists\n", key);
		return 0;
	}
	if (ret) {
		fprintf(stderr, "mmc: put %s: %s\n", key, mmc_strerror(ret));
		return 1;
	}
	return 0;
}

static int cmd_get(mmc_client *c, const char *key)
{
	struct mmc_view v;
	const uint8_t *p;
	size_t left;
	int ret = mmc_acquire(c, key, strlen(key), &v);

	if (ret) {
		fprintf(stderr, "mmc: get %s: %s\n", key, mmc_strerror(ret));
		return 1;
	}
	for (p = v.data, left = v.len; left;) {
		ssize_t w = write(1, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "mmc: writing stdout: %s\n", strerror(errno));
			mmc_release(c, &v);
			return 1;
		}
		p += w;
		left -= (size_t)w;
	}
	mmc_release(c, &v);
	return 0;
}

/* Every figure of struct mmc_stats, from mmc-t.h's one list. */
static const struct { const char *name; size_t off; } stat_fields[] = {
#define FIELD(name, ...) { #name, offsetof(struct mmc_stats, name) },
	MMC_STATS_FIELDS(FIELD)
#undef FIELD
};

/* The pool's other members after the figures: one line each, or a JSON
 * array "members". */
static void members(mmc_client *c, int json)
{
	struct mmc_member_stats *m = calloc(MMC_MEMBERS_MAX, sizeof(*m));
	int n = m ? mmc_agent_members(c, m, MMC_MEMBERS_MAX) : -ENOMEM;

	if (json)
		printf(",\"members\":[");
	for (int i = 0; i < n; i++) {
		if (json)
			printf("%s{\"id\":\"%s\",\"addr\":\"%s\",\"up\":%s,\"rtt_ns\":%" PRIu64
			       ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"gets\":%" PRIu64
			       ",\"hits\":%" PRIu64 "}", i ? "," : "", m[i].id, m[i].addr,
			       m[i].up ? "true" : "false", m[i].rtt_ns, m[i].bytes_in,
			       m[i].bytes_out, m[i].gets, m[i].hits);
		else
			printf("member %s %s %s rtt_us %.1f in %" PRIu64 " out %" PRIu64
			       " gets %" PRIu64 " hits %" PRIu64 "\n", m[i].id, m[i].addr,
			       m[i].up ? "up" : "down", (double)m[i].rtt_ns / 1e3, m[i].bytes_in,
			       m[i].bytes_out, m[i].gets, m[i].hits);
	}
	if (json)
		printf("]");
	if (n < 0)
		fprintf(stderr, "mmc: stat: members: %s\n", mmc_strerror(n));
	free(m);
}

static int cmd_stat(mmc_client *c, int json)
{
	struct mmc_stats s;
	int ret = mmc_agent_stats(c, &s);

	if (ret) {
		fprintf(stderr, "mmc: stat: %s\n", mmc_strerror(ret));
		return 1;
	}
	if (json)
		printf("{\"agent_pid\":%u,\"hugepages\":%s", s.agent_pid,
		       s.hugepages ? "true" : "false");
	else
		printf("%-20s %u\n%-20s %s\n", "agent_pid", s.agent_pid, "hugepages",
		       s.hugepages ? "yes" : "no");
	for (size_t i = 0; i < sizeof(stat_fields) / sizeof(stat_fields[0]); i++) {
		uint64_t v;

		memcpy(&v, (const char *)&s + stat_fields[i].off, sizeof(v));
		printf(json ? ",\"%s\":%" PRIu64 : "%-20s %" PRIu64 "\n",
		       stat_fields[i].name, v);
	}
	members(c, json);
	if (json)
		printf("}\n");
	return 0;
}

/* exists: one batch when every key is well formed (in a pool, the keys
 * not here are asked of their homes together), else key by key so that
 * each bad key gets its own error. */
static int cmd_exists(mmc_client *c, int n, char **keys, bool here)
{
	const void **k = calloc((size_t)n, sizeof(*k));
	size_t *lens = calloc((size_t)n, sizeof(*lens));
	uint8_t *present = calloc((size_t)n, 1);
	bool batch = !here && k && lens && present;
	int rc = 0, ret;

	for (int i = 0; i < n && batch; i++) {
		k[i] = keys[i];
		lens[i] = strlen(keys[i]);
		batch = lens[i] >= 1 && lens[i] <= MMC_KEY_MAX;
	}
	ret = batch ? mmc_exists_batch(c, (size_t)n, k, lens, present, NULL) : 0;
	for (int i = 0; i < n; i++) {
		if (!batch)
			ret = here ? mmc_exists_here(c, keys[i], strlen(keys[i])) :
				mmc_exists(c, keys[i], strlen(keys[i]));
		if (ret < 0) {
			fprintf(stderr, "mmc: exists %s: %s\n", keys[i], mmc_strerror(ret));
			rc = 1;
			continue;
		}
		if (batch)
			ret = present[i];
		printf("%s %d\n", keys[i], ret);
		if (ret != 1)
			rc = 1;
	}
	free(k);
	free(lens);
	free(present);
	return rc;
}

int main(int argc, char **argv)
{
	mmc_client *c;
	int ret, rc = 0;

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage();
		return 0;
	}
	if ((!strcmp(argv[1], "put") && argc != 4) ||
	    ((!strcmp(argv[1], "get") || !strcmp(argv[1], "rm")) && argc != 3) ||
	    (!strcmp(argv[1], "exists") &&
	     (argc < 3 || (argc == 3 && !strcmp(argv[2], "--here")))) ||
	    (!strcmp(argv[1], "stat") && argc > 3))
		return usage();
	ret = mmc_connect(NULL, &c);
	if (ret) {
		const char *s = getenv(MMC_SOCKET_ENV);

		fprintf(stderr, "mmc: cannot connect to %s: %s\n",
			s && *s ? s : MMC_DEFAULT_SOCKET, mmc_strerror(ret));
		return 1;
	}
	if (!strcmp(argv[1], "put")) {
		rc = cmd_put(c, argv[2], argv[3]);
	} else if (!strcmp(argv[1], "get")) {
		rc = cmd_get(c, argv[2]);
	} else if (!strcmp(argv[1], "rm")) {
		ret = mmc_remove(c, argv[2], strlen(argv[2]));
		if (ret) {
			fprintf(stderr, "mmc: rm %s: %s\n", argv[2], mmc_strerror(ret));
			rc = 1;
		}
	} else if (!strcmp(argv[1], "exists")) {
		bool here = !strcmp(argv[2], "--here");

		rc = cmd_exists(c, argc - 2 - here, argv + 2 + here, here);
	} else if (!strcmp(argv[1], "stat")) {
		if (argc == 3 && strcmp(argv[2], "--json")) {
			mmc_disconnect(c);
			return usage();
		}
		rc = cmd_stat(c, argc == 3);
	} else {
		mmc_disconnect(c);
		return usage();
	}
	mmc_disconnect(c);
	return rc;
}
