/*
 * probes.h - USDT probes of the agent (provider "mmc"), for ebpf/ and
 * mmc-top; libshm/probes.h has the clients' ones.
 *
 * Semaphore-guarded like libshm's: the clock is read only while a tracer
 * is attached (libbpf raises the semaphore through the uprobe's ref_ctr).
 *
 *   mmc:promote (u64 latency_ns, u64 bytes, s32 res)
 *       an object read back from the SSD tier into DRAM: from the FETCH
 *       that started the read to the object committed (res 0) or given up
 *       (res -ENOENT: a read error, a failed check, a remove meanwhile).
 *       bytes is the value's length.
 */
#ifndef MMC_AGENT_PROBES_H
#define MMC_AGENT_PROBES_H

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdint.h>

#include "timer.h"      /* mmc_now_ns */

extern unsigned short mmc_promote_semaphore;

/* 0 when nobody watches: the probe then does not fire. */
static inline uint64_t mmc_agent_probe_start(unsigned short *sem)
{
	return __builtin_expect(__atomic_load_n(sem, __ATOMIC_RELAXED), 0) ?
		mmc_now_ns() : 0;
}

#define MMC_PROBE_PROMOTE(t0, bytes, res) do { if (t0) \
	STAP_PROBE3(mmc, promote, mmc_now_ns() - (t0), (uint64_t)(bytes), \
		    (int32_t)(res)); } while (0)

#endif /* MMC_AGENT_PROBES_H */
