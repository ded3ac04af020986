/*
 * report.c - mmc-bench's results: a phase's processes merged into one
 * phase_report, and the only two places that format output.
 *
 * aggregate() runs in the parent after every client has exited: counts are
 * summed, histograms merged, and throughput is taken over the phase's wall
 * time, from the earliest start to the latest end minus that process's
 * verification time.  GB/s/proc is the mean over processes of bytes / busy
 * time, the figure the one-core memcpy baseline and get's control compare
 * with.  ops are keys (a batched call of B keys is B ops), latencies are per
 * call.  A --mix phase also gets its gets and puts apart: their latencies,
 * and the gets' own rate (keys per second spent inside get calls, summed
 * over processes), the figure that compares gets alone across stores.
 *
 * print_text() is for people: a header (agent, run, clock, baseline), one
 * row per phase, the controls and a legend.  print_json() is one object on
 * stdout, also for a failed run ({"ok":false,"error":...}), for scripts
 * and tests/test_bench.sh.  Neither prints anything a client computed
 * until every client has succeeded.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

const char *fmt_bytes(uint64_t b, char *buf, size_t len)
{
	if (b >= (1ull << 30) && !(b % (1ull << 30)))
		snprintf(buf, len, "%" PRIu64 " GiB", b >> 30);
	else if (b >= (1ull << 20) && !(b % (1ull << 20)))
		snprintf(buf, len, "%" PRIu64 " MiB", b >> 20);
	else if (b >= (1ull << 10) && !(b % (1ull << 10)))
		snprintf(buf, len, "%" PRIu64 " KiB", b >> 10);
	else if (b >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", (double)b / (1 << 20));
	else
		snprintf(buf, len, "%" PRIu64 " B", b);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* aggregation */

static void summarize(struct lat_summary *s, const struct hist *h)
{
	s->samples = h->n;
	s->p50 = s->p99 = s->mean = s->min = s->max = NAN;
	if (!h->n)
		return;
	s->p50 = h_quantile(h, 0.50);
	s->p99 = h_quantile(h, 0.99);
	s->mean = (double)h->sum / (double)h->n;
	s->min = (double)h->min;
	s->max = (double)h->max;
}

void aggregate(struct report *rep, int p, const struct mode *m,
	       const struct shared *sh)
{
	const struct proc_result *res = &sh->res[p * sh->nprocs];
	int nprocs = sh->nprocs;
	struct phase_report *o = &rep->ph[p];
	struct hist *h = calloc(3, sizeof(*h)), *hg = h ? h + 1 : NULL, *hp = h ? h + 2 : NULL;
	uint64_t first = UINT64_MAX, last = 0;
	double pp = 0, grate = 0;
	int active = 0;

	memset(o, 0, sizeof(*o));
	o->mode = m;
	o->procs = nprocs;
	o->batch = m->batched ? rep->b->o.batch : 1;
	for (int i = 0; i < nprocs; i++) {
		const struct proc_result *r = &res[i];
		uint64_t busy = r->end_ns - r->start_ns - r->verify_ns;

		o->ops += r->ops;
		o->calls += r->calls;
		o->gets += r->gets;
		o->puts += r->puts;
		o->bytes += r->bytes;
		o->exists += r->exists;
		o->verified += r->verified;
		o->faults += r->faults;
		if (h) {
			h_merge(h, &r->lat);
			h_merge(hg, r->lat_get.n ? &r->lat_get : &r->lat);
			h_merge(hp, &r->lat_put);
		}
		/* gets alone: keys per ns inside get calls, this process */
		if (r->lat_get.n && r->lat_get.sum)
			grate += (double)r->lat_get.n * o->batch / (double)r->lat_get.sum;
		else if (!r->puts && r->lat.n && r->lat.sum)
			grate += (double)r->lat.n * o->batch / (double)r->lat.sum;
		if (!r->ops)
			continue;
		if (r->start_ns < first)
			first = r->start_ns;
		if (r->end_ns - r->verify_ns > last)
			last = r->end_ns - r->verify_ns;
		if (busy) {
			pp += (double)r->bytes / (double)busy;
			active++;
		}
	}
	o->wall_s = last > first ? (double)(last - first) / 1e9 : NAN;
	o->ops_per_s = (double)o->ops / o->wall_s;
	o->gbps = (double)o->bytes / o->wall_s / 1e9;
	o->per_proc_gbps = active ? pp / active : NAN;
	o->p50 = o->p99 = o->mean = o->min = o->max = NAN;
	o->get_lat.p50 = o->get_lat.p99 = o->put_lat.p50 = o->put_lat.p99 = NAN;
	o->get_keys_per_s = NAN;
	if (h) {
		struct lat_summary all;

		summarize(&all, h);
		o->lat_samples = all.samples;
		o->p50 = all.p50;
		o->p99 = all.p99;
		o->mean = all.mean;
		o->min = all.min;
		o->max = all.max;
		summarize(&o->get_lat, hg);
		summarize(&o->put_lat, hp);
	}
	free(h);
	if (m->keys == KEYS_RANDOM && grate > 0)
		o->get_keys_per_s = grate * 1e9;
	o->baseline_gbps = m->base == BASE_READ ? rep->base.read_gbps :
		m->base == BASE_WRITE ? rep->base.write_gbps : NAN;
	o->ratio = o->per_proc_gbps / o->baseline_gbps;
	o->control_gbps = m->control ?
		(sh->control_gbps[p] + sh->control_after[p]) / 2 : NAN;
	o->control_ratio = o->per_proc_gbps / o->control_gbps;
}

static const char *base_name(enum baseline_kind k)
{
	return k == BASE_READ ? "read" : k == BASE_WRITE ? "write" : NULL;
}

/* ------------------------------------------------------------------------ */
/* text */

static double spread(double a, double b)
{
	return fabs(a - b) / ((a + b) / 2);
}

void print_text(const struct report *rep)
{
	const struct bench *b = rep->b;
	char s1[32], s2[32], s3[32];

	if (!strcmp(b->store->name, "mmc"))
		printf("mmc-bench: agent %s, arena %s on %s pages\n", b->socket_path,
		       fmt_bytes(b->arena_bytes, s1, sizeof(s1)),
		       b->hugepages ? "2 MiB" : "4 KiB");
	else
		printf("mmc-bench: %s at %s:%d (loopback TCP)\n", b->store->name,
		       b->host, b->port);
	if (b->o.batch)
		printf("  batched: up to %u keys a call; ops count keys, latencies are"
		       " per call\n", b->o.batch);
	if (b->o.mix < 100)
		printf("  mixed: %u%% of get-phase calls are gets, the rest replace one"
		       " of %u private keys per process%s\n", b->o.mix, b->wset,
		       b->o.batch ? " (all of them at once)" : "");
	printf("  values %s x %u keys = %s, %d process%s, seed %" PRIu64 ", verify %s\n",
	       fmt_bytes(b->o.size, s1, sizeof(s1)), b->o.count,
	       fmt_bytes(b->o.size * b->o.count, s2, sizeof(s2)), b->o.procs,
	       b->o.procs == 1 ? "" : "es", b->o.seed,
	       b->o.verify_all ? "every op" : b->o.warmup == WARMUP_PASS ?
	       "every 64th op + a full warm-up pass" : "every 64th op");
	printf("  clock: %s, two back-to-back clock_gettime: median %.0f ns, min %.0f ns"
	       " (every latency below includes one)\n",
	       rep->clock.source, rep->clock.overhead_ns_median, rep->clock.overhead_ns_min);
	printf("  memcpy baseline, 1 core, %s working set%s, %s on %s pages, %s chunks"
	       " (before / after the clients):\n"
	       "    read  (random chunk -> one buffer, as a get)  %6.2f GB/s  (%.2f / %.2f)\n"
	       "    write (one buffer -> random chunk, as a put)  %6.2f GB/s  (%.2f / %.2f)\n",
	       fmt_bytes(rep->base.ws_bytes, s1, sizeof(s1)),
	       rep->base.ws_bytes < OUT_OF_CACHE ? " (< 64 MiB: may be cache-resident)" : "",
	       rep->base.memory, rep->base.hugepages ? "2 MiB" : "4 KiB",
	       fmt_bytes(b->o.size, s3, sizeof(s3)),
	       rep->base.read_gbps, rep->base.read_before, rep->base.read_after,
	       rep->base.write_gbps, rep->base.write_before, rep->base.write_after);
	if (spread(rep->base.read_before, rep->base.read_after) > 0.1 ||
	    spread(rep->base.write_before, rep->base.write_after) > 0.1)
		printf("  warning: the baseline moved by more than 10%% during the run:"
		       " the machine is busy, ratios are rough\n");
	printf("\n%-5s %5s %10s %12s %8s %10s %10s %10s %10s %10s %8s %8s\n",
	       "mode", "procs", "ops", "ops/s", "GB/s", "GB/s/proc", "p50 ns", "p99 ns",
	       "mean ns", "vs memcpy", "faults", "verified");
	for (int p = 0; p < rep->nphases; p++) {
		const struct phase_report *o = &rep->ph[p];
		char ratio[32];

		if (isnan(o->ratio))
			snprintf(ratio, sizeof(ratio), "-");
		else
			snprintf(ratio, sizeof(ratio), "%.0f%% %s", 100 * o->ratio,
				 base_name(o->mode->base));
		char gb[16] = "-", gbp[16] = "-";

		if (o->mode->copies) {
			snprintf(gb, sizeof(gb), "%.2f", o->gbps);
			snprintf(gbp, sizeof(gbp), "%.2f", o->per_proc_gbps);
		}
		printf("%-5s %5d %10" PRIu64 " %12.0f %8s %10s %10.0f %10.0f %10.0f %10s"
		       " %8" PRIu64 " %8" PRIu64 "%s\n",
		       o->mode->name, o->procs, o->ops, o->ops_per_s, gb, gbp,
		       o->p50, o->p99, o->mean, ratio, o->faults, o->verified,
		       o->exists ? " (some puts found the key present)" : "");
	}
	printf("\n");
	for (int p = 0; p < rep->nphases; p++) {
		const struct phase_report *o = &rep->ph[p];

		if (!o->puts)
			continue;
		printf("  %s mixed: %" PRIu64 " gets (p50 %.0f ns, p99 %.0f ns; alone %.0f"
		       " keys/s), %" PRIu64 " puts (p50 %.0f ns, p99 %.0f ns)\n\n",
		       o->mode->name, o->gets, o->get_lat.p50, o->get_lat.p99,
		       o->get_keys_per_s, o->puts, o->put_lat.p50, o->put_lat.p99);
	}
	for (int p = 0; p < rep->nphases; p++)
		if (!isnan(rep->ph[p].control_gbps))
			printf("  %s control: memcpy from the arena's own pages through views held"
			       " outside the clock\n    (client 0 alone, before and after the phase)"
			       " %.2f GB/s; %s per process = %.0f%% of it\n\n",
			       rep->ph[p].mode->name, rep->ph[p].control_gbps,
			       rep->ph[p].mode->name, 100 * rep->ph[p].control_ratio);
	for (int p = 0; p < rep->nphases; p++)
		printf("  %-5s %s\n", rep->ph[p].mode->name, rep->ph[p].mode->what);
	printf("  GB/s = 1e9 bytes/s over the phase's wall time, verification excluded;"
	       " GB/s/proc and\n  'vs memcpy' compare one process with the one-core"
	       " baseline; faults = page faults\n  taken by clients during the"
	       " measured loop.%s\n", b->o.batch ? "  ops are keys; p50/p99/mean are"
	       " per call (batch)." : "");
}

/* ------------------------------------------------------------------------ */
/* JSON */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* "name":v (null when not a finite number), then a comma if asked. */
static void json_num(const char *name, double v, bool comma)
{
	if (isnan(v) || isinf(v))
		printf("\"%s\":null", name);
	else
		printf("\"%s\":%.6g", name, v);
	if (comma)
		putchar(',');
}

/* "name":{samples, p50, p99, mean, min, max}, */
static void json_lat(const char *name, const struct lat_summary *s)
{
	printf("\"%s\":{\"samples\":%" PRIu64 ",", name, s->samples);
	json_num("p50", s->p50, true);
	json_num("p99", s->p99, true);
	json_num("mean", s->mean, true);
	json_num("min", s->min, true);
	json_num("max", s->max, false);
	printf("},");
}

void print_json(const struct report *rep)
{
	const struct bench *b = rep->b;

	printf("{\"tool\":\"mmc-bench\",\"version\":1,\"ok\":%s,", rep->ok ? "true" : "false");
	if (!rep->ok) {
		printf("\"error\":");
		json_str(rep->error);
		printf(",\"errors\":1}\n");
		return;
	}
	printf("\"errors\":0,\"config\":{\"store\":");
	json_str(b->store->name);
	printf(",\"server\":");
	if (strcmp(b->store->name, "mmc")) {
		printf("\"%s:%d\"", b->host, b->port);
		printf(",\"socket\":null");
	} else {
		printf("null,\"socket\":");
		json_str(b->socket_path);
	}
	printf(",\"size\":%" PRIu64 ",\"count\":%u,\"procs\":%d,\"batch\":%u,"
	       "\"mix\":%u,\"write_set\":%u,\"mode\":", b->o.size, b->o.count,
	       b->o.procs, b->o.batch, b->o.mix, b->wset);
	json_str(b->o.mode);
	printf(",\"seed\":%" PRIu64 ",\"verify\":\"%s\",\"verify_every\":%u,\"warmup\":",
	       b->o.seed, b->o.verify_all ? "all" : "sample", b->verify_every);
	if (b->o.warmup == WARMUP_PASS)
		printf("\"pass\"");
	else
		printf("%" PRIu64, b->o.warmup_ops);
	printf(",\"key_len\":%zu,\"baseline_ms\":%" PRIu64 "},", KEY_LEN,
	       b->o.baseline_ms);
	if (strcmp(b->store->name, "mmc"))
		printf("\"agent\":null,");
	else
		printf("\"agent\":{\"arena_bytes\":%" PRIu64 ",\"hugepages\":%s,"
		       "\"high_watermark_pct\":%" PRIu64 ",\"max_objects\":%" PRIu64 "},",
		       b->arena_bytes, b->hugepages ? "true" : "false", b->high_pct,
		       b->max_objects);
	printf("\"clock\":{\"source\":");
	json_str(rep->clock.source);
	putchar(',');
	json_num("overhead_ns_median", rep->clock.overhead_ns_median, true);
	json_num("overhead_ns_min", rep->clock.overhead_ns_min, false);
	printf("},\"baseline\":{\"working_set_bytes\":%" PRIu64 ",\"chunk_bytes\":%" PRIu64
	       ",\"stride_bytes\":%" PRIu64 ",\"hugepages\":%s,\"memory\":\"%s\",",
	       rep->base.ws_bytes, b->o.size, rep->base.stride,
	       rep->base.hugepages ? "true" : "false", rep->base.memory);
	json_num("read_gbps", rep->base.read_gbps, true);
	json_num("write_gbps", rep->base.write_gbps, true);
	json_num("read_gbps_before", rep->base.read_before, true);
	json_num("read_gbps_after", rep->base.read_after, true);
	json_num("write_gbps_before", rep->base.write_before, true);
	json_num("write_gbps_after", rep->base.write_after, false);
	printf("},\"results\":[");
	for (int p = 0; p < rep->nphases; p++) {
		const struct phase_report *o = &rep->ph[p];
		const char *bn = base_name(o->mode->base);

		printf("%s{\"mode\":\"%s\",\"procs\":%d,\"batch\":%u,\"ops\":%" PRIu64
		       ",\"calls\":%" PRIu64 ",\"gets\":%" PRIu64 ",\"puts\":%" PRIu64
		       ",\"bytes\":%" PRIu64 ",\"errors\":0,\"exists\":%" PRIu64
		       ",\"verified\":%" PRIu64 ",\"faults\":%" PRIu64 ",\"copies\":%s,",
		       p ? "," : "", o->mode->name, o->procs, o->batch, o->ops, o->calls,
		       o->gets, o->puts, o->bytes, o->exists, o->verified, o->faults,
		       o->mode->copies ? "true" : "false");
		json_num("wall_s", o->wall_s, true);
		json_num("ops_per_s", o->ops_per_s, true);
		/* A view moves no bytes: no GB/s for modes that do not copy. */
		json_num("gbps", o->mode->copies ? o->gbps : NAN, true);
		json_num("per_proc_gbps", o->mode->copies ? o->per_proc_gbps : NAN, true);
		printf("\"latency_ns\":{\"samples\":%" PRIu64 ",", o->lat_samples);
		json_num("p50", o->p50, true);
		json_num("p99", o->p99, true);
		json_num("mean", o->mean, true);
		json_num("min", o->min, true);
		json_num("max", o->max, false);
		printf("},");
		json_lat("get_latency_ns", &o->get_lat);
		json_lat("put_latency_ns", &o->put_lat);
		json_num("get_keys_per_s", o->get_keys_per_s, true);
		printf("\"baseline\":");
		if (bn)
			printf("\"%s\",", bn);
		else
			printf("null,");
		json_num("memcpy_ratio", o->ratio, true);
		json_num("arena_memcpy_gbps", o->control_gbps, true);
		json_num("arena_memcpy_ratio", o->control_ratio, false);
		putchar('}');
	}
	printf("]}\n");
}
