/*
 * tier_ssd.h - the SSD tier: objects that left DRAM, on NVMe, surviving an
 * agent restart.
 *
 * An engine behind an opaque handle (memcached's extstore is the model): a
 * config, a result enum with a string function, and calls that queue work
 * and report it finished through events.  It knows nothing of the DRAM
 * index, sessions or pins; object.c decides what goes down (demotion) and
 * what comes back (promotion) and handles the events.
 *
 * Objects are written log-structured into large regions, front to back,
 * straight from the arena (no copy); a region is sealed with its table of
 * contents and evicted whole, oldest first, when space is needed.  Reads go
 * straight into the arena and are checked (magic, key, length, generation,
 * crc32c) before anyone may see them.  docs/tiers.md tells the whole story.
 *
 * Life: mmc_ssd_open() (file, superblock, geometry, hash seed) before the
 * arena exists; mmc_ssd_attach() (index in the meta region, recovery of
 * what the file holds, I/O engine over the arena) once it does;
 * mmc_ssd_close() seals what is open and waits for every I/O.
 */
#ifndef MMC_AGENT_TIER_SSD_H
#define MMC_AGENT_TIER_SSD_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "blkio.h"
#include "ssd_index.h"     /* MMC_SSD_NONE */

struct mmc_ssd;

struct mmc_ssd_config {
	const char *path;          /* a file (created, preallocated) or a block device */
	uint64_t size;             /* bytes; 0 with a block device: all of it */
	uint64_t region_size;      /* bytes per region (a multiple of 1 MiB) */
	uint64_t max_objects;      /* index capacity (DRAM cost ~38 B each) */
	unsigned queue_depth;      /* I/Os in flight at most */
	enum mmc_blkio_engine engine;
};

enum mmc_ssd_result {
	MMC_SSD_OK = 0,
	MMC_SSD_IOERR,             /* the device failed the I/O */
	MMC_SSD_CORRUPT,           /* read back, but not what was written: a miss */
	MMC_SSD_GONE,              /* cleared or evicted while in flight */
};
const char *mmc_ssd_result_str(enum mmc_ssd_result r);

enum mmc_ssd_event_kind { MMC_SSD_WRITTEN = 1, MMC_SSD_READ };

struct mmc_ssd_event {
	uint64_t cookie;
	enum mmc_ssd_event_kind kind;
	enum mmc_ssd_result result;
	uint32_t slot;             /* WRITTEN ok: the object's index slot */
	uint32_t gen;              /* WRITTEN ok: its generation */
	uint32_t value_crc;        /* READ ok: the crc32c the value was checked against */
};

struct mmc_ssd_stats {
	uint64_t objects, bytes;           /* on SSD now (values) */
	uint64_t capacity;                 /* bytes of regions */
	uint64_t regions, regions_used;
	uint64_t writes, write_bytes;      /* objects written, bytes to the device */
	uint64_t reads, read_bytes;
	uint64_t io_errors, crc_failures;
	uint64_t evicted_regions, evicted_objects;
	uint64_t lost_removals;            /* removals a restart may undo */
	uint64_t recovered;                /* objects found at start */
	uint64_t recovery_ns;
	uint64_t inflight;                 /* I/Os now */
};

/* Opens (creating and preallocating if needed) the tier's file and reads
 * its superblock: *seed gets the hash seed key hashes must use (a new one
 * when the file is new or its geometry changed, then formatted).  0, or
 * -errno with one line naming the path in err. */
int mmc_ssd_open(const struct mmc_ssd_config *cfg, uint64_t *seed,
		 struct mmc_ssd **out, char *err, size_t errlen);
/* Bytes of meta region the tier's index needs (mmc_ssd_attach's tags). */
size_t mmc_ssd_shared_size(const struct mmc_ssd *s);
/* Builds the index over tags (zeroed, mmc_ssd_shared_size() bytes, in the
 * meta region) from what the file holds, and starts the I/O engine over
 * [arena, arena + arena_len).  0 or -errno with one line in err. */
int mmc_ssd_attach(struct mmc_ssd *s, void *tags, void *arena, size_t arena_len,
		   char *err, size_t errlen);
/* Seals the open region, waits for every I/O, closes the file. */
void mmc_ssd_close(struct mmc_ssd *s);

/* Queues a write of an object: len bytes at value (readable up to len
 * rounded up to 512 bytes: an arena block), under key with hash.  crc, if
 * not NULL, is the writer's crc32c of the value (the index entry's), stamped
 * as is: bytes that changed since the writer computed it then fail the
 * check of every read back (a miss), as they would in DRAM.  NULL: the tier
 * computes one.  The value must stay unchanged until the WRITTEN event.
 * 0, -E2BIG (larger than a region holds), -EAGAIN (no room in flight or no
 * region to write: try later), -EIO (the tier is failing). */
int mmc_ssd_write(struct mmc_ssd *s, const void *key, uint16_t key_len,
		  uint64_t hash, const void *value, uint64_t len, const uint32_t *crc,
		  uint64_t cookie);
/* Queues a read of the object in slot into dst (header then value: dst
 * must hold mmc_ssd_read_size(len) bytes, the value lands at dst +
 * mmc_ssd_value_gap()).  The key is compared when it is back.  0, -ENOENT
 * (slot empty), -EAGAIN. */
int mmc_ssd_read(struct mmc_ssd *s, uint32_t slot, const void *key, uint16_t key_len,
		 void *dst, uint64_t cookie);
size_t mmc_ssd_read_size(const struct mmc_ssd *s, uint64_t len);
size_t mmc_ssd_value_gap(const struct mmc_ssd *s);
/* Sends queued I/O.  0 or -errno. */
int mmc_ssd_submit(struct mmc_ssd *s);
/* Finished work, up to max events; never blocks. */
unsigned mmc_ssd_poll(struct mmc_ssd *s, struct mmc_ssd_event *ev, unsigned max);
/* I/O queued or in flight (0: nothing to poll). */
unsigned mmc_ssd_busy(const struct mmc_ssd *s);
int mmc_ssd_event_fd(const struct mmc_ssd *s);

/* The slot of the object with hash (MMC_SSD_NONE), its length and gen. */
uint32_t mmc_ssd_find(const struct mmc_ssd *s, uint64_t hash);
int mmc_ssd_get(const struct mmc_ssd *s, uint32_t slot, uint64_t *len, uint32_t *gen);
/* Is (slot, gen) still that object?  (Regions are evicted behind the
 * caller's back: a link to a slot is only good with its gen.) */
int mmc_ssd_valid(const struct mmc_ssd *s, uint32_t slot, uint64_t hash, uint32_t gen);
/* Is the copy in (a valid) slot among the next to be evicted?  The caller
 * may write it again, to the newest region. */
bool mmc_ssd_aging(struct mmc_ssd *s, uint32_t slot);
/* Removes an object (and records the removal, so a restart does not bring
 * it back). */
void mmc_ssd_remove(struct mmc_ssd *s, uint32_t slot);
/* Removes every object, durably. */
void mmc_ssd_clear(struct mmc_ssd *s);

void mmc_ssd_get_stats(const struct mmc_ssd *s, struct mmc_ssd_stats *st);
const char *mmc_ssd_engine(const struct mmc_ssd *s);

#endif /* MMC_AGENT_TIER_SSD_H */
