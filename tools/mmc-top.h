/*
 * mmc-top.h - what mmc-top.c (reading, the screen, batch text) and
 * top_json.c (the --json lines) share.
 */
#ifndef MMC_TOOLS_MMC_TOP_H
#define MMC_TOOLS_MMC_TOP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mmc/mmc.h"
#ifdef MMC_WITH_BPF
#include "mmc_lat_loader.h"
#else
#define MMC_LAT_SLOTS 64
enum { MMC_LAT_GET, MMC_LAT_PUT, MMC_LAT_MISS, MMC_LAT_PROMOTE, MMC_LAT_KINDS };
struct mmc_lat_hist {
	uint64_t slots[MMC_LAT_SLOTS], count, total_ns, bytes, errors;
};
#endif

struct snap {
	struct mmc_stats st;
	uint64_t mono_ns;      /* our CLOCK_MONOTONIC when read */
	double wall;           /* our CLOCK_REALTIME when read */
	int nmembers;          /* the pool's other members (mmc_members_read) */
	struct mmc_member_stats members[MMC_MEMBERS_MAX];
};

/* Every figure of struct mmc_stats, from mmc-t.h's one list: what the
 * text, the JSON and the rates walk. */
struct top_field {
	const char *name;
	size_t off;
	enum mmc_stat_kind kind;
	enum mmc_stat_unit unit;
};
extern const struct top_field top_fields[];
#define NFIELDS MMC_STATS_COUNT

/* The value of figure f in st. */
uint64_t top_value(const struct mmc_stats *st, const struct top_field *f);

/* Rates per second of every counter between two snapshots; valid = 0
 * before the second one or across an agent restart. */
struct rates {
	int valid;
	double interval_s;
	double v[NFIELDS];
};

struct bpf_view {
	int on;
	const char *reason;    /* why off, one line */
	char lib[PATH_MAX];
	char agent[PATH_MAX];  /* empty: mmc:promote not traced */
	uint64_t since_ns;     /* monotonic time of attach */
	struct mmc_lat_hist h[MMC_LAT_KINDS];
#ifdef MMC_WITH_BPF
	struct mmc_lat *lat;
#endif
};

/* mmc-top.c */
uint64_t top_now_ns(clockid_t clk);
const char *top_kind_name(int k);
/* q-quantile of h in ns, 0 if empty or without BPF. */
uint64_t top_quantile(const struct mmc_lat_hist *h, double q);

/* top_json.c: one line, one JSON object for the snapshot. */
void top_print_json(const char *path, const struct snap *sn, const struct rates *r,
		    const struct bpf_view *b);

#endif /* MMC_TOOLS_MMC_TOP_H */
