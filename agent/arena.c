/*
 * arena.c - the two memfds an agent shares: meta (index) and data (values).
 *
 * Data: on 2 MiB hugetlb pages when enough are reserved.  A hugetlb memfd
 * larger than the reserved pool can be created and sized, but mapping it
 * fails with ENOMEM: that is where "auto" falls back to ordinary shared memory
 * with one warning, and "on" refuses to start.  Either way every page is
 * backed before the agent says it is ready (MAP_POPULATE, and fallocate for
 * shmem), so a memory shortage is a start-up error and never a SIGBUS in a
 * client later.  Both memfds are sealed against growing and shrinking, so a
 * client cannot truncate them under the agent either.
 *
 * Meta: ordinary shmem, and once laid out sealed with F_SEAL_FUTURE_WRITE:
 * the agent keeps its writable mapping, nobody can make a new writable one,
 * so clients receive an index they can only read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/memfd.h>

#include "arena.h"
#include "log.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define HUGE_2M (2ull << 20)

/* A memfd of size bytes, every page allocated (fallocate) and mapped
 * (MAP_POPULATE) now, so a shortage is an error here and never a SIGBUS
 * later.  On hugetlb, a pool too small fails here with ENOSPC or ENOMEM. */
static int backed_memfd(const char *name, unsigned flags, uint64_t size,
			int *fd_out, void **map_out)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | flags);
	void *p;
	int ret;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 || fallocate(fd, 0, 0, (off_t)size) < 0) {
		ret = -errno;
		goto fail;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto fail;
	}
	*fd_out = fd;
	*map_out = p;
	return 0;
fail:
	close(fd);
	return ret;
}

/* One "Key:   N kB" figure of /proc/meminfo in bytes (pages for the
 * HugePages_ counts), or -1. */
static int64_t meminfo(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	int64_t v = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		long long n;

		if (strncmp(line, key, klen) || line[klen] != ':' ||
		    sscanf(line + klen + 1, "%lld", &n) != 1)
			continue;
		v = strstr(line, " kB") ? n * 1024 : n;
		break;
	}
	fclose(f);
	return v;
}

/* Reads one number from a file; -1 if there is none ("max" included). */
static int64_t read_num(const char *path)
{
	long long n;
	int64_t v = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &n) == 1 && n >= 0)
		v = n;
	fclose(f);
	return v;
}

/* Bytes this process may still charge to its memory cgroup (v2 memory.max,
 * or v1 memory.limit_in_bytes, less what is in use), or -1 for no limit. */
static int64_t cgroup_room(void)
{
	char line[512], path[700];
	int64_t room = -1;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *dir = strrchr(line, ':');
		int64_t lim, use;
		bool v2 = !strncmp(line, "0::", 3);

		if (!dir || (!v2 && !strstr(line, ":memory:")))
			continue;
		line[strcspn(line, "\n")] = '\0';
		dir++;
		snprintf(path, sizeof(path), v2 ? "/sys/fs/cgroup%s/memory.max" :
			 "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", dir);
		lim = read_num(path);
		snprintf(path, sizeof(path), v2 ? "/sys/fs/cgroup%s/memory.current" :
			 "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", dir);
		use = read_num(path);
		if (lim < 0 || use < 0 || lim >= (INT64_MAX >> 1))
			continue;           /* none, or v1's "unlimited" */
		if (room < 0 || lim - use < room)
			room = lim > use ? lim - use : 0;
	}
	fclose(f);
	return room;
}

int mmc_arena_check_memory(uint64_t data_size, size_t meta_size,
			   enum mmc_hugepages hp)
{
	uint64_t hsize = (data_size + HUGE_2M - 1) & ~(HUGE_2M - 1);
	int64_t avail = meminfo("MemAvailable"), free_huge = meminfo("HugePages_Free");
	int64_t room = cgroup_room();
	uint64_t need = meta_size;

	if (hp != MMC_HUGEPAGES_OFF && free_huge >= 0 &&
	    (uint64_t)free_huge >= hsize / HUGE_2M)
		return 0;                   /* data on hugepages; meta is small */
	if (hp == MMC_HUGEPAGES_ON) {
		log_err("hugepages = on: the arena needs %llu free 2 MiB hugepages, "
			"the kernel has %lld; reserve them with: echo %llu > "
			"/proc/sys/vm/nr_hugepages", (unsigned long long)(hsize / HUGE_2M),
			(long long)(free_huge < 0 ? 0 : free_huge),
			(unsigned long long)(hsize / HUGE_2M));
		return -ENOMEM;
	}
	if (data_size > UINT64_MAX - need)
		need = UINT64_MAX;
	else
		need += data_size;
	if (room >= 0 && (avail < 0 || room < avail))
		avail = room;
	if (avail >= 0 && need > (uint64_t)avail) {
		log_err("not enough memory: the arena (%llu MiB) and its index "
			"(%llu MiB) need %llu MiB, %lld MiB are available%s: lower "
			"[arena] size or max_objects", (unsigned long long)(data_size >> 20),
			(unsigned long long)(meta_size >> 20), (unsigned long long)(need >> 20),
			(long long)(avail >> 20), avail == room ? " to this cgroup" :
			" (MemAvailable)");
		return -ENOMEM;
	}
	return 0;
}

static int seal(int fd, int seals)
{
	return fcntl(fd, F_ADD_SEALS, seals) < 0 ? -errno : 0;
}

int mmc_arena_create(struct mmc_arena *a, uint64_t data_size, size_t meta_size,
		     enum mmc_hugepages hp)
{
	int ret = -EINVAL;

	memset(a, 0, sizeof(*a));
	a->meta_fd = a->data_fd = -1;
	if (hp != MMC_HUGEPAGES_OFF) {
		uint64_t hsize = (data_size + HUGE_2M - 1) & ~(HUGE_2M - 1);

		ret = backed_memfd("mmc-data", MFD_HUGETLB | MFD_HUGE_2MB, hsize,
				   &a->data_fd, &a->data);
		if (!ret) {
			a->hugepages = true;
			data_size = hsize;
		} else if (hp == MMC_HUGEPAGES_ON) {
			log_err("hugepages=on but %llu MiB of 2 MiB hugepages could not be "
				"mapped (%s); reserve them with: echo %llu > "
				"/proc/sys/vm/nr_hugepages",
				(unsigned long long)(hsize >> 20), strerror(-ret),
				(unsigned long long)(hsize / HUGE_2M));
			return ret;
		} else {
			log_warn("arena on 4 KiB pages: %llu hugepages of 2 MiB are not "
				 "reserved (%s); reserve them with: echo %llu > "
				 "/proc/sys/vm/nr_hugepages",
				 (unsigned long long)(hsize / HUGE_2M), strerror(-ret),
				 (unsigned long long)(hsize / HUGE_2M));
		}
	}
	if (!a->hugepages) {
		ret = backed_memfd("mmc-data", 0, data_size, &a->data_fd, &a->data);
		if (ret) {
			log_err("cannot back a %llu MiB arena: %s",
				(unsigned long long)(data_size >> 20), strerror(-ret));
			return ret;
		}
	}
	a->data_size = data_size;
	ret = seal(a->data_fd, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	if (ret)
		goto fail;

	/* The index on 2 MiB pages too when they are there: a lookup is two
	 * dependent loads (bucket, entry), and TLB misses would double them. */
	ret = -1;
	if (a->hugepages) {
		uint64_t hmeta = (meta_size + HUGE_2M - 1) & ~(HUGE_2M - 1);

		ret = backed_memfd("mmc-meta", MFD_HUGETLB | MFD_HUGE_2MB, hmeta,
				   &a->meta_fd, &a->meta);
		if (!ret)
			meta_size = hmeta;
		else
			log_info("index on 4 KiB pages: no hugepages left for it");
	}
	if (ret)
		ret = backed_memfd("mmc-meta", 0, meta_size, &a->meta_fd, &a->meta);
	if (ret)
		goto fail;
	a->meta_size = meta_size;
	return 0;
fail:
	log_err("arena set-up failed: %s", strerror(-ret));
	mmc_arena_destroy(a);
	return ret;
}

int mmc_arena_seal_meta(struct mmc_arena *a)
{
	return seal(a->meta_fd, F_SEAL_GROW | F_SEAL_SHRINK |
		    F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
}

void mmc_arena_destroy(struct mmc_arena *a)
{
	if (a->data)
		munmap(a->data, a->data_size);
	if (a->meta)
		munmap(a->meta, a->meta_size);
	if (a->data_fd >= 0)
		close(a->data_fd);
	if (a->meta_fd >= 0)
		close(a->meta_fd);
	memset(a, 0, sizeof(*a));
	a->meta_fd = a->data_fd = -1;
}
