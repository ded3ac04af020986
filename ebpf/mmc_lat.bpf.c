// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mmc_lat.bpf.c - latency histograms of libshm calls, from its USDT probes.
 *
 * libshm (libmmc.so) fires three semaphore-guarded probes (libshm/probes.h):
 *
 *   mmc:get   (u64 latency_ns, u64 bytes, s32 res)
 *   mmc:put   (u64 latency_ns, u64 bytes, s32 res)
 *   mmc:miss  (u64 latency_ns, u32 key_len)
 *
 * and the agent one (agent/probes.h): an object read back from SSD,
 *
 *   mmc:promote (u64 latency_ns, u64 bytes, s32 res)
 *
 * The user side (mmc_lat.c) attaches one program per probe with
 * bpf_program__attach_usdt(); libbpf passes the semaphore's offset to the
 * uprobe (ref_ctr_offset), so the kernel raises libshm's semaphore in every
 * process that maps the library while we are attached, and libshm starts to
 * read the clock and fire.  Each program files the event into bucket
 * log2(latency_ns) of its kind's histogram in a per-CPU array (mmc_lat.h);
 * nothing is sent to user space per event.
 *
 * CO-RE: built against the vendored vmlinux.h; reads no kernel structure,
 * so the object loads on any kernel with USDT support (BPF cookies, 5.15+).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "mmc_lat.h"

/* GPL-compatible: usdt.bpf.h reads arguments with bpf_probe_read_user(). */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MMC_LAT_KINDS);
	__type(key, __u32);
	__type(value, struct mmc_lat_hist);
} hists SEC(".maps");

/* floor(log2(v)) for v > 0, 0 for v == 0; branch-free per half. */
static __always_inline __u32 log2_32(__u32 v)
{
	__u32 shift, r;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 log2_64(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? log2_32(hi) + 32 : log2_32((__u32)v);
}

/* Files one event.  Per-CPU values, but a uprobe program can be preempted
 * by another task firing the same probe on this CPU, hence atomic adds
 * (uncontended, so cheap). */
static __always_inline void record(__u32 kind, __u64 ns, __u64 bytes, int res)
{
	struct mmc_lat_hist *h;
	__u32 slot;

	h = bpf_map_lookup_elem(&hists, &kind);
	if (!h)
		return;
	slot = log2_64(ns);
	if (slot >= MMC_LAT_SLOTS)
		slot = MMC_LAT_SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->total_ns, ns);
	if (res < 0)
		__sync_fetch_and_add(&h->errors, 1);
	else
		__sync_fetch_and_add(&h->bytes, bytes);
}

SEC("usdt")
int BPF_USDT(mmc_get, __u64 latency_ns, __u64 bytes, int res)
{
	record(MMC_LAT_GET, latency_ns, bytes, res);
	return 0;
}

SEC("usdt")
int BPF_USDT(mmc_put, __u64 latency_ns, __u64 bytes, int res)
{
	record(MMC_LAT_PUT, latency_ns, bytes, res);
	return 0;
}

/* A miss has no value: count it as an error, bytes stays 0. */
SEC("usdt")
int BPF_USDT(mmc_miss, __u64 latency_ns, __u32 key_len)
{
	record(MMC_LAT_MISS, latency_ns, 0, -1);
	return 0;
}

SEC("usdt")
int BPF_USDT(mmc_promote, __u64 latency_ns, __u64 bytes, int res)
{
	record(MMC_LAT_PROMOTE, latency_ns, bytes, res);
	return 0;
}
