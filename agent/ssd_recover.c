/*
 * ssd_recover.c - the SSD tier's start and end: the file, the superblock,
 * recovery of what a previous agent left, and a clean close.
 *
 * Open.  The file is created and preallocated (fallocate) to its size, or
 * it is a block device used whole; O_DIRECT when the filesystem allows.
 * The superblock says the geometry (size, region size, sector) and the key
 * hash seed.  A superblock that is missing, damaged or of another geometry
 * means a new tier: a new seed, all regions free (what was there is lost,
 * which for a cache is a cold start, said once in the log).
 *
 * Recovery.  Every region's trailer is read; those whose magic, crc, region
 * number and sequence (above the last clear) check out are sealed regions.
 * Their tables are read and applied oldest first: objects enter the index,
 * removal entries take out what they name, failed writes are skipped.  A
 * region without a good trailer was being written when the agent stopped:
 * it is free.  Nothing but trailers and tables is read, so recovery costs
 * one read per region plus one per table (docs/tiers.md has the numbers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "tier_ssd-int.h"

#define MIB (1ull << 20)

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int seterr(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int seterr(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

#define LOCK_WAIT_MS 5000

static void *aligned(size_t align, size_t len)
{
	void *p = NULL;

	return posix_memalign(&p, align, len) ? NULL : memset(p, 0, len);
}

/* Opens path: O_DIRECT if the filesystem takes it, created 0600 if it is
 * not there.  Sets s->fd, s->direct, s->sector, s->lead. */
static int open_file(struct mmc_ssd *s, char *err, size_t errlen)
{
	struct statx sx;

	s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC | O_DIRECT, 0600);
	s->direct = s->fd >= 0;
	if (s->fd < 0 && errno == EINVAL)
		s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->fd < 0)
		return seterr(err, errlen, -errno, "[ssd] path %s: %s", s->path,
			      strerror(errno));
	/* Two agents on one tier would overwrite each other's regions.  A
	 * killed agent's lock outlives it until the kernel has torn its
	 * io_uring down (in flight writes finish first): wait that long. */
	for (int ms = 0; flock(s->fd, LOCK_EX | LOCK_NB); ms += 20) {
		if (errno != EWOULDBLOCK || ms >= LOCK_WAIT_MS)
			return seterr(err, errlen, -errno, "[ssd] path %s: %s", s->path,
				      errno == EWOULDBLOCK ? "in use by another process "
				      "(another mmc-agent?)" : strerror(errno));
		if (!ms)
			log_info("[ssd] path %s: locked; waiting up to %d s for the "
				 "previous agent's I/O to end", s->path, LOCK_WAIT_MS / 1000);
		poll(NULL, 0, 20);
	}
	if (!s->direct)
		log_warn("[ssd] path %s: O_DIRECT not supported there; I/O goes "
			 "through the page cache", s->path);
	/* Writes go in whole sectors of at least 4 KiB (ext4 serialises
	 * smaller direct writes); reads may start at the device's own direct
	 * I/O alignment, often 512 B: the header right before the value, not
	 * its whole sector.  Without STATX_DIOALIGN, reads are whole sectors. */
	s->sector = s->lead = MMC_SSD_IO_ALIGN;
	if (!statx(s->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) &&
	    (sx.stx_mask & STATX_DIOALIGN)) {
		uint32_t a = sx.stx_dio_offset_align > sx.stx_dio_mem_align ?
			sx.stx_dio_offset_align : sx.stx_dio_mem_align;

		if (a > s->sector)
			s->sector = a;
		s->lead = a > MMC_SSD_HDR_SIZE ? a : MMC_SSD_HDR_SIZE;
	}
	if (!s->direct)                      /* the page cache takes any */
		s->lead = MMC_SSD_HDR_SIZE;
	if (s->sector > 4096 || (s->sector & (s->sector - 1)))
		return seterr(err, errlen, -EINVAL, "[ssd] path %s: direct I/O "
			      "alignment %u is not supported (512..4096)",
			      s->path, s->sector);
	return 0;
}

/* The file's size: the configured one, preallocated; a block device's own. */
static int size_file(struct mmc_ssd *s, char *err, size_t errlen)
{
	struct stat st;
	uint64_t dev = 0, want = s->cfg.size;

	if (fstat(s->fd, &st) < 0)
		return seterr(err, errlen, -errno, "[ssd] path %s: %s", s->path,
			      strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(s->fd, BLKGETSIZE64, &dev) < 0)
			return seterr(err, errlen, -errno, "[ssd] path %s: cannot "
				      "read the device size: %s", s->path, strerror(errno));
		if (!want)
			want = dev;
		if (want > dev)
			return seterr(err, errlen, -ENOSPC, "[ssd] path %s: size %llu "
				      "is larger than the device (%llu bytes)", s->path,
				      (unsigned long long)want, (unsigned long long)dev);
	} else if (!S_ISREG(st.st_mode)) {
		return seterr(err, errlen, -EINVAL, "[ssd] path %s: not a regular "
			      "file or block device", s->path);
	} else if (!want) {
		return seterr(err, errlen, -EINVAL, "[ssd] path %s: a file needs "
			      "[ssd] size", s->path);
	} else if ((uint64_t)st.st_size < want || st.st_blocks * 512 < (off_t)want) {
		int r = fallocate(s->fd, 0, 0, (off_t)want);

		if (r && errno != EOPNOTSUPP)
			return seterr(err, errlen, -errno, "[ssd] path %s: cannot "
				      "allocate %llu bytes: %s", s->path,
				      (unsigned long long)want, strerror(errno));
		if (r && ftruncate(s->fd, (off_t)want) < 0)
			return seterr(err, errlen, -errno, "[ssd] path %s: %s",
				      s->path, strerror(errno));
	}
	s->cfg.size = want;
	return 0;
}

int mmc_ssd__write_super(struct mmc_ssd *s)
{
	struct mmc_ssd_super *sb = aligned(s->sector, MMC_SSD_SB_SIZE);
	int ret = 0;

	if (!sb)
		return -ENOMEM;
	s->sb.clear_seq = s->clear_seq;
	s->sb.sb_crc = 0;
	s->sb.sb_crc = mmc_crc32c(0, &s->sb, sizeof(s->sb));
	*sb = s->sb;
	if (pwrite(s->fd, sb, MMC_SSD_SB_SIZE, 0) != MMC_SSD_SB_SIZE || fdatasync(s->fd))
		ret = -EIO;
	free(sb);
	return ret;
}

/* Reads the superblock; true if it is ours and of this geometry. */
static bool read_super(struct mmc_ssd *s, bool *foreign)
{
	struct mmc_ssd_super *sb = aligned(s->sector, MMC_SSD_SB_SIZE), copy;
	bool ok = false;

	*foreign = false;
	if (!sb)
		return false;
	if (pread(s->fd, sb, MMC_SSD_SB_SIZE, 0) == MMC_SSD_SB_SIZE &&
	    sb->magic == MMC_SSD_MAGIC) {
		copy = *sb;
		copy.sb_crc = 0;
		*foreign = true;
		ok = sb->version == MMC_SSD_VERSION &&
			mmc_crc32c(0, &copy, sizeof(copy)) == sb->sb_crc &&
			sb->file_size == s->cfg.size && sb->region_size == s->region_size &&
			sb->nregions == s->nregions && sb->pad_ == s->sector &&
			sb->obj_align == s->lead;
		if (ok)
			s->sb = *sb;
	}
	free(sb);
	return ok;
}

int mmc_ssd_open(const struct mmc_ssd_config *cfg, uint64_t *seed,
		 struct mmc_ssd **out, char *err, size_t errlen)
{
	struct mmc_ssd *s = calloc(1, sizeof(*s));
	bool foreign;
	int ret;

	if (!s)
		return seterr(err, errlen, -ENOMEM, "[ssd]: out of memory");
	s->cfg = *cfg;
	s->fd = -1;
	s->open = SSD_NONE;
	snprintf(s->path, sizeof(s->path), "%s", cfg->path);
	s->region_size = cfg->region_size;
	if ((ret = open_file(s, err, errlen)) || (ret = size_file(s, err, errlen)))
		goto fail;
	/* Unless told: pages of 64 KiB (SGLang's are tens of KiB to MiBs). */
	if (!s->cfg.max_objects)
		s->cfg.max_objects = s->cfg.size / (64 << 10) > 1024 ?
			s->cfg.size / (64 << 10) : 1024;
	s->nregions = (uint32_t)((s->cfg.size - MMC_SSD_SB_SIZE) / s->region_size);
	if (s->nregions < 2) {
		ret = seterr(err, errlen, -EINVAL, "[ssd] path %s: %llu bytes hold "
			     "fewer than two regions of %llu MiB", s->path,
			     (unsigned long long)s->cfg.size,
			     (unsigned long long)(s->region_size / MIB));
		goto fail;
	}
	if (!read_super(s, &foreign)) {
		if (foreign)
			log_warn("[ssd] %s: written with another geometry, another "
				 "format version or damaged: starting it empty", s->path);
		memset(&s->sb, 0, sizeof(s->sb));
		s->sb.magic = MMC_SSD_MAGIC;
		s->sb.version = MMC_SSD_VERSION;
		s->sb.file_size = s->cfg.size;
		s->sb.region_size = s->region_size;
		s->sb.nregions = s->nregions;
		s->sb.pad_ = s->sector;
		s->sb.obj_align = s->lead;
		s->sb.created_ns = now_ns(CLOCK_REALTIME);
		if (getrandom(&s->sb.hash_seed, sizeof(s->sb.hash_seed), 0) != 8)
			s->sb.hash_seed = now_ns(CLOCK_MONOTONIC) * 0x9e3779b97f4a7c15ull;
		s->sb.clear_seq = 1;
		s->clear_seq = 1;
		if ((ret = mmc_ssd__write_super(s))) {
			ret = seterr(err, errlen, ret, "[ssd] path %s: cannot write its "
				     "superblock: %s", s->path, strerror(-ret));
			goto fail;
		}
	}
	s->clear_seq = s->sb.clear_seq;
	s->next_seq = s->clear_seq;
	s->hash_seed = s->sb.hash_seed;
	*seed = s->hash_seed;
	*out = s;
	return 0;
fail:
	mmc_ssd_close(s);
	return ret;
}

size_t mmc_ssd_shared_size(const struct mmc_ssd *s)
{
	return mmc_ssd_index_shared_size(s->cfg.max_objects);
}

void mmc_ssd__region_add_slot(struct mmc_ssd *s, uint32_t r, uint32_t slot)
{
	struct ssd_region *g = &s->regions[r];

	if (g->nslots == g->slots_cap) {
		uint32_t cap = g->slots_cap ? g->slots_cap * 2 : 64;
		uint32_t *p = realloc(g->slots, cap * sizeof(*p));

		if (!p)   /* the object stays indexed; eviction just misses it */
			return;
		g->slots = p;
		g->slots_cap = cap;
	}
	g->slots[g->nslots++] = slot;
}

/* Takes slot out of the index while recovering (no removal is recorded:
 * the table being applied says it already). */
static void unindex(struct mmc_ssd *s, uint32_t slot)
{
	s->st.bytes -= mmc_ssd_index_loc(&s->index, slot)->len;
	mmc_ssd_index_remove(&s->index, slot);
}

/* Applies one sealed region's table to the index. */
static void apply_table(struct mmc_ssd *s, uint32_t r, const struct mmc_ssd_entry *t,
			uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct mmc_ssd_loc loc = { .region = r, .off = t[i].off, .len = t[i].len,
					   .gen = t[i].gen };
		uint32_t slot = mmc_ssd_index_find(&s->index, t[i].hash);

		if (t[i].gen >= s->next_gen)
			s->next_gen = t[i].gen + 1;
		if (t[i].kind == MMC_SSD_ENT_REMOVED) {
			if (slot != MMC_SSD_NONE && mmc_ssd_index_loc(&s->index, slot)->gen == t[i].gen)
				unindex(s, slot);
			continue;
		}
		if (t[i].kind != MMC_SSD_ENT_OBJECT)
			continue;
		if ((uint64_t)t[i].off * MMC_SSD_SECTOR + s->lead + t[i].len > s->region_size)
			continue;   /* a table that lies: skip the entry */
		if (slot != MMC_SSD_NONE)
			unindex(s, slot);
		slot = mmc_ssd_index_insert(&s->index, t[i].hash, &loc);
		if (slot == MMC_SSD_NONE)
			continue;   /* over max_objects: the oldest stay out */
		mmc_ssd__region_add_slot(s, r, slot);
		s->st.bytes += t[i].len;
	}
}

struct sealed {                 /* a sealed region found at start */
	uint64_t seq;
	uint32_t region, nentries, table_crc;
};

static int by_seq(const void *a, const void *b)
{
	uint64_t x = ((const struct sealed *)a)->seq, y = ((const struct sealed *)b)->seq;

	return x < y ? -1 : x > y;
}

/* Finds the sealed regions and rebuilds the index from their tables. */
static int recover(struct mmc_ssd *s)
{
	size_t tsize = (size_t)s->max_entries * sizeof(struct mmc_ssd_entry);
	struct mmc_ssd_entry *table = aligned(s->sector, tsize + s->sector);
	struct mmc_ssd_trailer *tr = aligned(s->sector, MMC_SSD_TRAILER_SIZE);
	struct sealed *found = calloc(s->nregions, sizeof(*found));
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	uint32_t n = 0;
	int ret = 0;

	if (!table || !tr || !found) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t r = 0; r < s->nregions; r++) {
		uint64_t end = mmc_ssd__region_off(s, r) + s->region_size;
		struct mmc_ssd_trailer copy;

		if (pread(s->fd, tr, MMC_SSD_TRAILER_SIZE, (off_t)(end - MMC_SSD_TRAILER_SIZE)) !=
		    MMC_SSD_TRAILER_SIZE)
			continue;
		copy = *tr;
		copy.trailer_crc = 0;
		if (tr->magic != MMC_SSD_TRAILER || tr->region != r || tr->seq < s->clear_seq ||
		    tr->nentries > s->max_entries ||
		    mmc_crc32c(0, &copy, sizeof(copy)) != tr->trailer_crc)
			continue;
		found[n++] = (struct sealed){ tr->seq, r, tr->nentries, tr->table_crc };
		if (tr->seq >= s->next_seq)
			s->next_seq = tr->seq + 1;
	}
	qsort(found, n, sizeof(*found), by_seq);
	for (uint32_t i = 0; i < n; i++) {
		size_t bytes = (size_t)found[i].nentries * sizeof(struct mmc_ssd_entry);
		size_t pad = (bytes + s->sector - 1) / s->sector * s->sector;
		uint64_t at = mmc_ssd__region_off(s, found[i].region) + s->region_size -
			MMC_SSD_TRAILER_SIZE - pad;

		if ((pad && pread(s->fd, table, pad, (off_t)at) != (ssize_t)pad) ||
		    mmc_crc32c(0, table, bytes) != found[i].table_crc)
			continue;   /* a torn table: the region is lost, and free */
		s->regions[found[i].region].state = REGION_SEALED;
		s->regions[found[i].region].seq = found[i].seq;
		s->st.regions_used++;
		apply_table(s, found[i].region, table, found[i].nentries);
	}
	s->st.recovered = s->index.count;
	s->st.recovery_ns = now_ns(CLOCK_MONOTONIC) - t0;
out:
	free(table);
	free(tr);
	free(found);
	return ret;
}

int mmc_ssd_attach(struct mmc_ssd *s, void *tags, void *arena, size_t arena_len,
		   char *err, size_t errlen)
{
	struct mmc_blkio_config bc = {
		.fd = s->fd, .queue_depth = s->cfg.queue_depth, .engine = s->cfg.engine,
	};
	size_t tbytes;
	const char *why;
	int ret;

	/* A region fits this many table entries: objects of 4 KiB and more
	 * fill it by bytes first; smaller ones seal it early. */
	s->max_entries = (uint32_t)(s->region_size / 4096);
	tbytes = (size_t)s->max_entries * sizeof(struct mmc_ssd_entry) + 2 * MMC_SSD_TRAILER_SIZE;
	s->regions = calloc(s->nregions, sizeof(*s->regions));
	s->ops = calloc(MAX_OPS, sizeof(*s->ops));
	s->hdrs = aligned(4096, (size_t)MAX_OPS * s->sector);
	s->groups = calloc(MAX_OPS, sizeof(*s->groups));
	s->zeros = aligned(4096, s->sector);
	s->group = SSD_NONE;
	for (int i = 0; i < NTABLES; i++)
		if (!(s->tables[i].buf = aligned(4096, tbytes)))
			return seterr(err, errlen, -ENOMEM, "[ssd]: out of memory");
	if (!s->regions || !s->ops || !s->hdrs || !s->groups || !s->zeros)
		return seterr(err, errlen, -ENOMEM, "[ssd]: out of memory");
	s->op_free = SSD_NONE;
	for (uint32_t i = MAX_OPS; i-- > 0;) {
		s->ops[i].next = s->op_free;
		s->op_free = i;
	}
	s->wait_head = s->wait_tail = SSD_NONE;
	s->done_head = s->done_tail = SSD_NONE;
	ret = mmc_ssd_index_init(&s->index, tags, mmc_ssd_shared_size(s), s->cfg.max_objects);
	if (ret)
		return seterr(err, errlen, ret, "[ssd]: index of %llu objects: %s",
			      (unsigned long long)s->cfg.max_objects, strerror(-ret));
	ret = recover(s);
	if (ret)
		return seterr(err, errlen, ret, "[ssd] path %s: recovery failed: %s",
			      s->path, strerror(-ret));
	bc.queue_depth = s->cfg.queue_depth + 2;     /* an op's I/Os: 1 */
	bc.regions[bc.nregions++] = (struct mmc_blkio_region){ arena, arena_len };
	bc.regions[bc.nregions++] = (struct mmc_blkio_region){ s->hdrs, (size_t)MAX_OPS * s->sector };
	for (int i = 0; i < NTABLES; i++)
		bc.regions[bc.nregions++] = (struct mmc_blkio_region){ s->tables[i].buf, tbytes };
	ret = mmc_blkio_open(&bc, &s->io, &why);
	if (ret && bc.engine == MMC_BLKIO_URING) {
		log_warn("[ssd] %s (%s): using the threads engine", why, strerror(-ret));
		bc.engine = MMC_BLKIO_THREADS;
		ret = mmc_blkio_open(&bc, &s->io, &why);
	}
	if (ret)
		return seterr(err, errlen, ret, "[ssd] path %s: %s: %s", s->path, why,
			      strerror(-ret));
	log_info("[ssd] %s: %llu MiB in %u regions of %llu MiB, %s engine, "
		 "%llu objects recovered in %.1f ms", s->path,
		 (unsigned long long)(s->cfg.size / MIB), s->nregions,
		 (unsigned long long)(s->region_size / MIB), mmc_blkio_engine_name(s->io),
		 (unsigned long long)s->st.recovered, (double)s->st.recovery_ns / 1e6);
	return 0;
}

/* Waits until the tier has nothing in flight (at the end only). */
static void drain(struct mmc_ssd *s)
{
	struct mmc_ssd_event ev[64];

	while (mmc_ssd_busy(s)) {
		struct pollfd p = { .fd = mmc_blkio_event_fd(s->io), .events = POLLIN };
		uint64_t v;

		mmc_ssd_submit(s);
		if (mmc_ssd_poll(s, ev, 64))
			continue;
		if (poll(&p, 1, 100) > 0)
			(void)!read(p.fd, &v, sizeof(v));
	}
}

void mmc_ssd_close(struct mmc_ssd *s)
{
	if (!s)
		return;
	if (s->io) {
		/* Seal what is open, so it survives the restart. */
		if (s->open != SSD_NONE) {
			uint32_t r = s->open;

			s->open = SSD_NONE;
			if (s->regions[r].table->n) {
				mmc_ssd__seal(s, r);
			} else {   /* nothing in it: free, not an empty sealed region */
				s->regions[r].table->busy = false;
				s->regions[r].table = NULL;
				s->regions[r].state = REGION_FREE;
				s->st.regions_used--;
			}
		}
		drain(s);
		mmc_blkio_close(s->io);
	}
	if (s->fd >= 0) {
		fdatasync(s->fd);
		/* Now, not when the io_uring's teardown drops its reference. */
		flock(s->fd, LOCK_UN);
		close(s->fd);
	}
	if (s->regions)
		for (uint32_t r = 0; r < s->nregions; r++)
			free(s->regions[r].slots);
	mmc_ssd_index_destroy(&s->index);
	free(s->regions);
	free(s->ops);
	free(s->hdrs);
	free(s->groups);
	free(s->zeros);
	for (int i = 0; i < NTABLES; i++)
		free(s->tables[i].buf);
	free(s);
}
