/*
 * cpu.h - the one place that knows which CPU we run on.
 *
 * cpu_relax() goes in every spin-wait loop (the agent's idle spin, a client
 * waiting for a completion, a reader retrying a torn index entry): it tells
 * the core that this thread only waits, which frees pipeline resources for
 * the sibling hyperthread and saves power.  x86 has `pause`; arm64 (GH200,
 * Ascend nodes) has `yield`; anything else gets a compiler barrier, which is
 * correct, merely less polite.
 */
#ifndef MMC_CPU_H
#define MMC_CPU_H

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* MMC_CPU_H */
