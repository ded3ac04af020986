/*
 * baseline.c - what mmc-bench compares the library with: the cost of the
 * clock, a one-core memcpy baseline, and get's control over arena pages.
 *
 * The memcpy baseline runs in the parent, on one core, before the clients
 * start: "read" copies random value-sized chunks of a private working set as
 * large as the gets touch (capped at 1 GiB) into one buffer, which is what a
 * copying get does; "write" copies one hot buffer into random chunks, which
 * is what a put does.  With --batch B the one buffer becomes B buffers used
 * in turn, as a batch moves B values from or into B distinct buffers: at
 * 1-4 MiB values that is 32-128 MiB, out of cache, and a plain memcpy then
 * runs at 60-70 % of its one-buffer speed on the reference VM.  Its memory is of the arena's kind (shmem on 4 KiB
 * pages, or hugetlb 2 MiB pages), and it is measured before and after the
 * clients, the mean used.  With memcached or Redis there is no arena: the
 * working set is shmem on 4 KiB pages, sized the same way.
 *
 * A "control" (mode.control) adds, for get, the same memcpy over the arena's
 * own pages through views held outside the clock, by client 0 alone before
 * and after the phase: on a VM where the placement of memory moves a plain
 * memcpy by 20 %, that ratio isolates what the library itself adds.
 *
 * measure_clock() reads the clock source and times two back-to-back
 * clock_gettime calls: every latency the benchmark reports includes one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/memfd.h>

#include "bench.h"

void measure_clock(struct clock_info *ci)
{
	struct hist *h = calloc(1, sizeof(*h));
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

	snprintf(ci->source, sizeof(ci->source), "unknown");
	if (f) {
		if (fgets(ci->source, sizeof(ci->source), f))
			ci->source[strcspn(ci->source, "\n")] = '\0';
		fclose(f);
	}
	ci->overhead_ns_median = ci->overhead_ns_min = NAN;
	if (!h)
		return;
	for (int i = 0; i < 200000; i++) {
		uint64_t t0 = now_ns();

		h_add(h, now_ns() - t0);
	}
	ci->overhead_ns_median = h_quantile(h, 0.5);
	ci->overhead_ns_min = (double)h->min;
	free(h);
}

/* ------------------------------------------------------------------------ */
/* the memcpy baseline */

/* Copies size-byte chunks at random among nchunks for at least min_ns. */
static double copy_loop(const struct baseline *bl, uint64_t size, bool to_ws,
			uint64_t min_ns, uint64_t seed)
{
	uint64_t rng = seed, n = 0, t0 = now_ns(), t;

	do {
		for (int i = 0; i < 16; i++) {
			uint8_t *chunk = bl->ws + rng_below(&rng, (uint32_t)bl->nchunks) *
				bl->stride;
			uint8_t *hot = bl->hot + ((n + (uint64_t)i) % bl->nhot) * bl->stride;

			if (to_ws)
				memcpy(chunk, hot, size);
			else
				memcpy(hot, chunk, size);
		}
		n += 16;
		__asm__ volatile("" ::: "memory");
		t = now_ns();
	} while (t - t0 < min_ns);
	return (double)(n * size) / (double)(t - t0);   /* bytes/ns = GB/s */
}

void baseline_free(struct baseline *bl)
{
	if (bl->ws)
		munmap(bl->ws, bl->ws_bytes);
	if (bl->hot)
		munmap(bl->hot, bl->hot_len);
	bl->ws = bl->hot = NULL;
}

/* A shared memfd mapping of len bytes, populated, or NULL. */
static void *map_memfd(uint64_t len, unsigned flags)
{
	int fd = memfd_create("mmc-bench-baseline", MFD_CLOEXEC | flags);
	void *p = MAP_FAILED;

	if (fd < 0)
		return NULL;
	if (!ftruncate(fd, (off_t)len) &&
	    ((flags & MFD_HUGETLB) || !fallocate(fd, 0, 0, (off_t)len)))
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* The working set is memory of the arena's kind (agent/arena.c): a shmem
 * memfd on 4 KiB pages, or a hugetlb memfd on 2 MiB pages when the arena
 * has them (transparent hugepages if no hugetlb pages are left).  Anonymous
 * 4 KiB memory copies measurably slower than shmem here, and the point is
 * that only the library differs. */
int baseline_setup(const struct bench *b, struct baseline *bl)
{
	uint64_t size = b->o.size, stride = (size + 4095) & ~4095ull;
	uint64_t nchunks = b->o.count;
	void *hot;

	if (nchunks * stride > BASE_WS_CAP)
		nchunks = BASE_WS_CAP / stride ? BASE_WS_CAP / stride : 1;
	bl->nchunks = nchunks;
	bl->stride = stride;
	bl->ws_bytes = nchunks * stride;
	bl->nhot = b->o.batch > 1 ? b->o.batch : 1;
	bl->hot_len = stride * bl->nhot;
	bl->hugepages = b->hugepages;
	if (b->hugepages) {
		bl->ws_bytes = (bl->ws_bytes + (2u << 20) - 1) & ~((2ull << 20) - 1);
		bl->ws = map_memfd(bl->ws_bytes, MFD_HUGETLB | MFD_HUGE_2MB);
		bl->memory = "hugetlb";
		if (!bl->ws) {
			void *p = mmap(NULL, bl->ws_bytes, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			bl->ws = p == MAP_FAILED ? NULL : p;
			if (bl->ws)
				madvise(bl->ws, bl->ws_bytes, MADV_HUGEPAGE);
			bl->memory = "thp";
		}
	} else {
		bl->ws = map_memfd(bl->ws_bytes, 0);
		bl->memory = "shmem";
	}
	hot = mmap(NULL, bl->hot_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bl->hot = hot == MAP_FAILED ? NULL : hot;
	if (!bl->ws || !bl->hot) {
		baseline_free(bl);
		return -ENOMEM;
	}
	/* Not inherited by the clients (fork would copy its page tables). */
	madvise(bl->hot, bl->hot_len, MADV_NOHUGEPAGE);
	madvise(bl->ws, bl->ws_bytes, MADV_DONTFORK);
	madvise(bl->hot, bl->hot_len, MADV_DONTFORK);
	for (uint64_t i = 0; i < nchunks; i++)
		memcpy(bl->ws + i * stride, b->pool, size);   /* fault in, non-zero */
	for (uint64_t i = 0; i < bl->nhot; i++)
		memcpy(bl->hot + i * stride, b->pool, size);
	/* an untimed round, 50 ms or the measurement's length if shorter */
	copy_loop(bl, size, false, (b->o.baseline_ms < 50 ? b->o.baseline_ms : 50) *
		  1000000ull, b->o.seed);
	return 0;
}

/* One measurement: --baseline-ms (0.3 s by default) of each direction. */
void baseline_measure(const struct bench *b, struct baseline *bl, bool after)
{
	uint64_t ns = b->o.baseline_ms * 1000000ull;
	double r = copy_loop(bl, b->o.size, false, ns, b->o.seed + 1 + after);
	double w = copy_loop(bl, b->o.size, true, ns, b->o.seed + 3 + after);

	if (!after) {
		bl->read_before = bl->read_gbps = r;
		bl->write_before = bl->write_gbps = w;
		bl->read_after = bl->write_after = NAN;
		return;
	}
	bl->read_after = r;
	bl->write_after = w;
	bl->read_gbps = (bl->read_before + r) / 2;
	bl->write_gbps = (bl->write_before + w) / 2;
}

/* ------------------------------------------------------------------------ */
/* get's control, in client 0 */

/* The same copy mmc_get does (arena pages -> the private buffer, random
 * keys) with the lookup and pin outside the clock: views are acquired
 * untimed, only the memcpy is timed.  Same pages, same TLB, same moment as
 * the phase, so get / control isolates what the library adds even where the
 * parent's baseline memory is placed differently. */
double control_get(struct worker *w)
{
	uint64_t busy = 0, bytes = 0, t_end = now_ns() + 300000000ull;
	unsigned n = 0;

	while (n < 16 || now_ns() < t_end) {
		uint32_t k = rng_below(&w->rng, w->b->o.count);
		struct mmc_view v;
		uint64_t t0;
		int ret = mmc_acquire(w->c, hot_key(w, k), KEY_LEN, &v);

		if (ret)
			die_worker(w, k, "control copy: %s", mmc_strerror(ret));
		t0 = now_ns();
		memcpy(w->buf, v.data, v.len);
		__asm__ volatile("" ::: "memory");
		busy += now_ns() - t0;
		bytes += v.len;
		mmc_release(w->c, &v);
		n++;
	}
	return busy ? (double)bytes / (double)busy : NAN;
}
