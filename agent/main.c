/*
 * main.c - mmc-agent's command line.
 *
 * Configuration comes from one INI file (--config, default
 * /etc/mmc/mmc-agent.conf when it exists, else built-in defaults), then the
 * flags below override single keys through the same mmc_config_set() the
 * file uses, so a flag and a key can never disagree about what a value means.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: mmc-agent [options]\n"
"  -c, --config FILE      INI configuration (default %s if present)\n"
"  -s, --socket PATH      client socket (default %s)\n"
"  -a, --arena-size SIZE  arena bytes: 64M, 16G, ... (default 1G)\n"
"  -H, --hugepages MODE   auto | on | off (default auto)\n"
"      --stats PATH       stats file (default SOCKET.stats)\n"
"      --max-objects N    index entries (default arena / 32 KiB)\n"
"      --log-level LEVEL  error | warn | info | debug\n"
"      --verify MODE      off | sampled | always: clients' checks of values\n"
"  -h, --help             this text\n"
"  -V, --version          version\n",
		MMC_CONFIG_DEFAULT_PATH, MMC_DEFAULT_SOCKET);
}

struct flag_key { int opt; const char *section, *key; };

static const struct flag_key flag_keys[] = {
	{ 's', "agent", "socket" },
	{ 'a', "arena", "size" },
	{ 'H', "arena", "hugepages" },
	{ 1000, "agent", "stats" },
	{ 1001, "arena", "max_objects" },
	{ 1002, "agent", "log_level" },
	{ 1003, "agent", "verify" },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'c' },
		{ "socket", required_argument, 0, 's' },
		{ "arena-size", required_argument, 0, 'a' },
		{ "hugepages", required_argument, 0, 'H' },
		{ "stats", required_argument, 0, 1000 },
		{ "max-objects", required_argument, 0, 1001 },
		{ "log-level", required_argument, 0, 1002 },
		{ "verify", required_argument, 0, 1003 },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	struct { int opt; const char *val; } flags[32];
	int nflags = 0, c, ret;
	const char *config = NULL;
	struct mmc_config cfg;
	static struct mmc_agent ag;
	char err[256];

	while ((c = getopt_long(argc, argv, "c:s:a:H:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mmc-agent 0.1.0\n");
			return 0;
		case '?':
			usage(stderr);
			return 2;
		default:
			if (nflags < 32)
				flags[nflags++] = (typeof(flags[0])){ c, optarg };
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mmc-agent: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	mmc_config_defaults(&cfg);
	if (config || access(MMC_CONFIG_DEFAULT_PATH, F_OK) == 0) {
		const char *path = config ? config : MMC_CONFIG_DEFAULT_PATH;

		ret = mmc_config_load(&cfg, path, err, sizeof(err));
		if (ret == -ENOENT) {
			fprintf(stderr, "mmc-agent: config %s: not found\n", path);
			return 2;
		}
		if (ret) {
			fprintf(stderr, "mmc-agent: %s\n", err);
			return 2;
		}
	}
	for (int i = 0; i < nflags; i++) {
		for (size_t k = 0; k < sizeof(flag_keys) / sizeof(flag_keys[0]); k++) {
			if (flag_keys[k].opt != flags[i].opt)
				continue;
			ret = mmc_config_set(&cfg, flag_keys[k].section, flag_keys[k].key,
					     flags[i].val, err, sizeof(err));
			if (ret) {
				fprintf(stderr, "mmc-agent: %s\n", err);
				return 2;
			}
		}
	}
	ret = mmc_config_validate(&cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "mmc-agent: %s\n", err);
		return 2;
	}
	/* The stats file follows the socket unless set on its own. */
	if (!cfg.stats_path[0] &&
	    snprintf(cfg.stats_path, sizeof(cfg.stats_path), "%s.stats",
		     cfg.socket_path) >= (int)sizeof(cfg.stats_path)) {
		fprintf(stderr, "mmc-agent: socket path too long to put the stats "
			"file beside it: set [agent] stats\n");
		return 2;
	}
	mmc_log_set_level(cfg.log_level);
	ret = mmc_agent_start(&ag, &cfg);
	if (ret) {
		/* The step that failed said why; this line says what it meant. */
		mmc_agent_stop(&ag);
		fprintf(stderr, "mmc-agent: not started (%s)\n", strerror(-ret));
		return 1;
	}
	ret = mmc_agent_run(&ag);
	mmc_agent_stop(&ag);
	return ret ? 1 : 0;
}
