/*
 * top_json.c - mmc-top --json: one JSON object per snapshot per line, every
 * figure of the stats file, its rates, the pool's members and the latency
 * histograms (mmc-top.h has the types).
 */
#include <inttypes.h>
#include <stdio.h>

#include "mmc-top.h"

/* Prints v as a JSON string. */
static void json_str(const char *v)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

#define JU(name, v) printf(",\"%s\":%" PRIu64, name, (uint64_t)(v))

void top_print_json(const char *path, const struct snap *sn,
		    const struct rates *r, const struct bpf_view *b)
{
	const struct mmc_stats *st = &sn->st;
	uint64_t now = top_now_ns(CLOCK_MONOTONIC);
	double lookups = (double)st->hits + (double)st->misses;

	printf("{\"time\":%.3f,\"stats_path\":", sn->wall);
	json_str(path);
	JU("agent_pid", st->agent_pid);
	printf(",\"uptime_s\":%.3f", st->start_ns && now > st->start_ns ?
	       (double)(now - st->start_ns) / 1e9 : 0.0);
	JU("hugepages", st->hugepages);
	for (size_t i = 0; i < NFIELDS; i++)
		JU(top_fields[i].name, top_value(st, &top_fields[i]));
	printf(",\"used_pct\":%.3f", st->arena_bytes ? 100.0 *
	       (double)st->used_bytes / (double)st->arena_bytes : 0.0);
	if (lookups > 0)
		printf(",\"hit_ratio\":%.6f", (double)st->hits / lookups);
	else
		printf(",\"hit_ratio\":null");
	if (r->valid) {
		printf(",\"rates\":{\"interval_s\":%.6f", r->interval_s);
		for (size_t i = 0; i < NFIELDS; i++)
			if (top_fields[i].kind == MMC_STAT_COUNTER)
				printf(",\"%s\":%.3f", top_fields[i].name, r->v[i]);
		printf("}");
	} else {
		printf(",\"rates\":null");
	}
	printf(",\"members\":[");
	for (int i = 0; i < sn->nmembers; i++) {
		const struct mmc_member_stats *m = &sn->members[i];

		printf("%s{\"id\":", i ? "," : "");
		json_str(m->id);
		printf(",\"addr\":");
		json_str(m->addr);
		printf(",\"up\":%s", m->up ? "true" : "false");
		JU("rtt_ns", m->rtt_ns);
		JU("bytes_in", m->bytes_in);
		JU("bytes_out", m->bytes_out);
		JU("gets", m->gets);
		JU("hits", m->hits);
		printf("}");
	}
	printf("]");
	printf(",\"bpf\":{\"enabled\":%s", b->on ? "true" : "false");
	if (!b->on) {
		printf(",\"reason\":");
		json_str(b->reason ? b->reason : "off");
		printf("}}\n");
		return;
	}
	printf(",\"lib\":");
	json_str(b->lib);
	printf(",\"agent\":");
	json_str(b->agent);
	printf(",\"since_s\":%.3f", (double)(now - b->since_ns) / 1e9);
	for (int k = 0; k < MMC_LAT_KINDS; k++) {
		const struct mmc_lat_hist *h = &b->h[k];

		printf(",\"%s\":{\"attached\":%s", top_kind_name(k),
#ifdef MMC_WITH_BPF
		       mmc_lat_attached(b->lat, k) ? "true" : "false");
#else
		       "false");
#endif
		JU("count", h->count);
		JU("errors", h->errors);
		JU("bytes", h->bytes);
		JU("total_ns", h->total_ns);
		JU("mean_ns", h->count ? h->total_ns / h->count : 0);
		JU("p50_ns", top_quantile(h, 0.50));
		JU("p99_ns", top_quantile(h, 0.99));
		printf(",\"buckets\":[");
		for (int i = 0; i < MMC_LAT_SLOTS; i++)
			printf("%s%" PRIu64, i ? "," : "",
			       (uint64_t)h->slots[i]);
		printf("]}");
	}
	printf("}}\n");
}

