/*
 * probes.h - USDT probes of libshm (provider "mmc"), for ebpf/ and mmc-top.
 *
 * Every probe has a semaphore: a tracer that attaches (libbpf does, through
 * the uprobe ref_ctr) increments it, and only then does libshm read the clock
 * and fire the probe.  Nobody watching = one predictable load and branch per
 * call, no clock read and no trap.
 *
 *   mmc:get   (u64 latency_ns, u64 bytes, s32 res)   copying get or acquire;
 *                                                   res 0 = hit, <0 = -errno
 *   mmc:put   (u64 latency_ns, u64 bytes, s32 res)   copying put or commit
 *   mmc:miss  (u64 latency_ns, u32 key_len)          a get/acquire that missed
 */
#ifndef MMC_LIBSHM_PROBES_H
#define MMC_LIBSHM_PROBES_H

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdint.h>
#include <time.h>

extern unsigned short mmc_get_semaphore;
extern unsigned short mmc_put_semaphore;
extern unsigned short mmc_miss_semaphore;

#define MMC_PROBE_ACTIVE(name) \
	__builtin_expect(__atomic_load_n(&mmc_##name##_semaphore, __ATOMIC_RELAXED), 0)

/* Clock for probes and bounded spins (vDSO: no system call here). */
static inline uint64_t mmc_probe_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* t0 is 0 when nobody was watching at the start of the call. */
static inline uint64_t mmc_probe_start(int active)
{
	return active ? mmc_probe_now() : 0;
}

#define MMC_PROBE_GET(t0, bytes, res) do { if (t0) \
	STAP_PROBE3(mmc, get, mmc_probe_now() - (t0), (uint64_t)(bytes), (int32_t)(res)); } while (0)
#define MMC_PROBE_PUT(t0, bytes, res) do { if (t0) \
	STAP_PROBE3(mmc, put, mmc_probe_now() - (t0), (uint64_t)(bytes), (int32_t)(res)); } while (0)
#define MMC_PROBE_MISS(t0, key_len) do { if (t0) \
	STAP_PROBE2(mmc, miss, mmc_probe_now() - (t0), (uint32_t)(key_len)); } while (0)

#endif
