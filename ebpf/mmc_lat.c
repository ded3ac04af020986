/*
 * mmc_lat.c - loads mmc_lat.bpf.c (embedded by `bpftool gen skeleton` as
 * mmc_lat.skel.h), attaches it to libshm's USDT probes, reads histograms.
 *
 * The story of one mmc_lat_open():
 *   1. mmc_lat_bpf__open_and_load(): the bpf() system call is the first
 *      thing that needs privilege, so a user without root or CAP_BPF +
 *      CAP_PERFMON fails here with -EPERM and nothing is left behind.
 *   2. bpf_program__attach_usdt() for mmc:get, mmc:put, mmc:miss in the
 *      library and mmc:promote in the agent's executable: libbpf
 *      reads the library's .note.stapsdt notes, finds each probe's address,
 *      argument specs and semaphore, and opens one uprobe per call site with
 *      the semaphore as ref_ctr_offset, so the kernel itself raises libshm's
 *      semaphores in every process that maps the file.  A probe that the
 *      library does not have (-ENOENT) is skipped; having none is an error.
 *   3. mmc_lat_read() sums the per-CPU array over possible CPUs.
 *
 * Everything is undone by mmc_lat_close() or, if the tool dies, by the
 * kernel when the descriptors close.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>
#include <bpf/bpf.h>

#include "mmc_lat_loader.h"
#include "mmc_lat.skel.h"

struct mmc_lat {
	struct mmc_lat_bpf *skel;
	struct bpf_link *links[MMC_LAT_KINDS];
	int ncpus;
	struct mmc_lat_hist *percpu;   /* ncpus values, lookup buffer */
	char path[4096];
};

static int lat_debug;

/* libbpf's printer: silent unless mmc_lat_set_debug(1). */
static int lat_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!lat_debug)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void mmc_lat_set_debug(int on)
{
	lat_debug = on;
}

const char *mmc_lat_kind_name(enum mmc_lat_kind kind)
{
	switch (kind) {
	case MMC_LAT_GET:  return "get";
	case MMC_LAT_PUT:  return "put";
	case MMC_LAT_MISS: return "miss";
	case MMC_LAT_PROMOTE: return "promote";
	default:           return "?";
	}
}

const char *mmc_lat_strerror(int err)
{
	switch (err) {
	case -EPERM:
		return "BPF not permitted (need root or CAP_BPF+CAP_PERFMON): "
		       "latency histograms off";
	case -EACCES:
		return "BPF program refused by the kernel (EACCES): "
		       "latency histograms off";
	case -ENOENT:
		return "libmmc not found or has no mmc:* USDT probes: "
		       "latency histograms off";
	case -EOPNOTSUPP:
	case -ENOSYS:
		return "kernel lacks BPF USDT support (uprobes, BPF cookies): "
		       "latency histograms off";
	case -ENOMEM:
		return "out of memory loading BPF: latency histograms off";
	default:
		return "BPF load or attach failed: latency histograms off";
	}
}

/* Program of one kind in the skeleton. */
static struct bpf_program *lat_prog(struct mmc_lat_bpf *skel, int kind)
{
	switch (kind) {
	case MMC_LAT_GET:  return skel->progs.mmc_get;
	case MMC_LAT_PUT:  return skel->progs.mmc_put;
	case MMC_LAT_MISS: return skel->progs.mmc_miss;
	default:           return skel->progs.mmc_promote;
	}
}

int mmc_lat_open(const char *lib_path, const char *agent_path, pid_t pid,
		 struct mmc_lat **out)
{
	struct mmc_lat *l;
	int err, attached = 0, first_err = 0;

	*out = NULL;
	if (!lib_path || !*lib_path || strlen(lib_path) >= sizeof(l->path))
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	snprintf(l->path, sizeof(l->path), "%s", lib_path);
	libbpf_set_print(lat_print);

	l->ncpus = libbpf_num_possible_cpus();
	if (l->ncpus <= 0) {
		err = l->ncpus ? l->ncpus : -EINVAL;
		goto fail;
	}
	l->percpu = calloc(l->ncpus, sizeof(*l->percpu));
	if (!l->percpu) {
		err = -ENOMEM;
		goto fail;
	}

	l->skel = mmc_lat_bpf__open();
	if (!l->skel) {
		err = errno ? -errno : -ENOMEM;
		goto fail;
	}
	err = mmc_lat_bpf__load(l->skel);
	if (err)
		goto fail;

	for (int k = 0; k < MMC_LAT_KINDS; k++) {
		const char *where = k == MMC_LAT_PROMOTE ? agent_path : l->path;

		if (!where)
			continue;
		l->links[k] = bpf_program__attach_usdt(lat_prog(l->skel, k), pid,
						       where, "mmc",
						       mmc_lat_kind_name(k), NULL);
		if (l->links[k]) {
			attached++;
			continue;
		}
		if (!first_err)
			first_err = errno ? -errno : -EINVAL;
	}
	if (!attached) {
		err = first_err;
		goto fail;
	}
	*out = l;
	return 0;
fail:
	mmc_lat_close(l);
	return err < 0 ? err : -EINVAL;
}

void mmc_lat_close(struct mmc_lat *l)
{
	if (!l)
		return;
	for (int k = 0; k < MMC_LAT_KINDS; k++)
		bpf_link__destroy(l->links[k]);
	mmc_lat_bpf__destroy(l->skel);
	free(l->percpu);
	free(l);
}

int mmc_lat_attached(const struct mmc_lat *l, enum mmc_lat_kind kind)
{
	return l && kind < MMC_LAT_KINDS && l->links[kind] != NULL;
}

const char *mmc_lat_path(const struct mmc_lat *l)
{
	return l->path;
}

int mmc_lat_read(struct mmc_lat *l, struct mmc_lat_hist out[MMC_LAT_KINDS])
{
	size_t vsz = sizeof(*l->percpu) * l->ncpus;

	memset(out, 0, sizeof(*out) * MMC_LAT_KINDS);
	for (__u32 k = 0; k < MMC_LAT_KINDS; k++) {
		int err = bpf_map__lookup_elem(l->skel->maps.hists, &k, sizeof(k),
					       l->percpu, vsz, 0);
		if (err)
			return err;
		for (int c = 0; c < l->ncpus; c++) {
			const struct mmc_lat_hist *h = &l->percpu[c];

			for (int i = 0; i < MMC_LAT_SLOTS; i++)
				out[k].slots[i] += h->slots[i];
			out[k].count += h->count;
			out[k].total_ns += h->total_ns;
			out[k].bytes += h->bytes;
			out[k].errors += h->errors;
		}
	}
	return 0;
}

uint64_t mmc_lat_quantile(const struct mmc_lat_hist *h, double q)
{
	uint64_t n = 0, cum = 0;
	double target;

	for (int i = 0; i < MMC_LAT_SLOTS; i++)
		n += h->slots[i];
	if (!n)
		return 0;
	if (q <= 0)
		q = 1e-9;
	if (q > 1)
		q = 1;
	target = q * (double)n;
	for (int i = 0; i < MMC_LAT_SLOTS; i++) {
		double lo, hi;

		if (!h->slots[i] || (double)(cum + h->slots[i]) < target) {
			cum += h->slots[i];
			continue;
		}
		lo = i ? (double)(1ull << i) : 0.0;
		hi = i < 63 ? (double)(1ull << (i + 1)) : 18446744073709551615.0;
		return (uint64_t)(lo + (hi - lo) * (target - (double)cum) /
				  (double)h->slots[i]);
	}
	return UINT64_MAX;   /* not reached: target <= n */
}
