/*
 * mmc_lat.h - what the BPF side (mmc_lat.bpf.c) and the user side
 * (mmc_lat.c, mmc-top) agree on: one latency histogram per USDT probe kind.
 *
 * libshm fires mmc:get, mmc:put and mmc:miss (libshm/probes.h), the agent
 * mmc:promote (agent/probes.h), each with a latency in ns as first argument.  The BPF programs file each event
 * into bucket log2(latency_ns) of the probe's histogram: bucket i counts
 * latencies in [2^i, 2^(i+1)) ns, bucket 0 also takes 0 and 1 ns.  The map is
 * a per-CPU array indexed by enum mmc_lat_kind; the reader sums the CPUs.
 *
 * Types only; included by both sides, so only __u64-style types: the BPF
 * side gets them from vmlinux.h, the user side from <linux/types.h>.
 */
#ifndef MMC_EBPF_MMC_LAT_H
#define MMC_EBPF_MMC_LAT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MMC_LAT_SLOTS 64   /* log2 buckets: 2^63 ns is ~292 years */

enum mmc_lat_kind {
	MMC_LAT_GET  = 0,  /* mmc:get  (latency_ns, bytes, res) */
	MMC_LAT_PUT  = 1,  /* mmc:put  (latency_ns, bytes, res) */
	MMC_LAT_MISS = 2,  /* mmc:miss (latency_ns, key_len) */
	MMC_LAT_PROMOTE = 3, /* mmc:promote (latency_ns, bytes, res), in the agent */
	MMC_LAT_KINDS
};

/* One probe's histogram, one CPU's share of it in the map. */
struct mmc_lat_hist {
	__u64 slots[MMC_LAT_SLOTS]; /* slots[i]: events with log2(ns) == i */
	__u64 count;                /* events, = sum of slots */
	__u64 total_ns;             /* sum of latencies: mean = total_ns / count */
	__u64 bytes;                /* get/put: value bytes of calls with res 0 */
	__u64 errors;               /* get/put: calls with res < 0 (miss too) */
};

#endif /* MMC_EBPF_MMC_LAT_H */
