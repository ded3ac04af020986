/*
 * tier_ssd-int.h - the SSD tier's private state, shared by its two files:
 * tier_ssd.c (writes, reads, regions, events) and ssd_recover.c (opening,
 * formatting, recovery, closing).  Nothing outside the tier includes it.
 */
#ifndef MMC_AGENT_TIER_SSD_INT_H
#define MMC_AGENT_TIER_SSD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "blkio.h"
#include "ssd_format-t.h"
#include "ssd_index.h"
#include "tier_ssd.h"

#define SSD_NONE UINT32_MAX
#define MAX_OPS 4096           /* objects in flight (each 1-2 I/Os) */
#define NTABLES 4              /* regions open or being sealed at once */
#define GROUP_MAX 16           /* objects one write request carries, at most */

enum region_state { REGION_FREE = 0, REGION_OPEN, REGION_SEALING, REGION_SEALED };

struct ssd_table {             /* an open region's table, then its seal I/O */
	struct mmc_ssd_entry *buf; /* max_entries, then room for the trailer */
	uint32_t n;
	bool busy;
};

struct ssd_region {
	enum region_state state;
	uint64_t seq;              /* sealed: FIFO order (0 = none yet) */
	uint64_t write_off;        /* bytes of objects written */
	uint32_t inflight;         /* object writes not yet back */
	bool seal_pending;         /* sealing waits for a free op */
	struct ssd_table *table;   /* OPEN, SEALING */
	uint32_t *slots;           /* index slots of its objects (may be stale) */
	uint32_t nslots, slots_cap;
};

enum op_kind { OP_WRITE = 1, OP_READ, OP_SEAL, OP_GROUP };

struct ssd_io {
	bool write;
	void *buf;                 /* one buffer, or ... */
	size_t len;
	uint64_t off;
	void *buf2;                /* ... (write) a second one right after it */
	size_t len2;
};

/* Objects appended to the open region one after the other, written as one
 * request (an OP_GROUP op) that starts and ends on a sector: each object's
 * header block and value, then zeros up to the sector.  The members' ops
 * complete with it. */
struct ssd_group {
	uint64_t len;              /* bytes, padding included once sent */
	uint32_t n;                /* members */
	uint32_t ops[GROUP_MAX];
	int niov;
	struct iovec iov[2 * GROUP_MAX + 1];
};

struct ssd_op {
	/* zeroed by op_take up to key */
	uint64_t cookie;
	enum op_kind kind;
	uint8_t nio, pending, failed;
	uint16_t key_len;
	uint32_t region, entry, slot, gen, len;
	uint64_t hash;
	struct ssd_io io[2];
	struct mmc_ssd_event ev;   /* once done, until a poll hands it out */
	uint32_t next;             /* free list, FIFO of ops to issue, done list */
	uint8_t key[256];
};

struct mmc_ssd {
	struct mmc_ssd_config cfg;
	char path[256];
	int fd;
	bool direct;               /* O_DIRECT (else the page cache is in the way) */
	uint32_t sector;           /* write alignment, >= 4096 */
	uint32_t lead;             /* an object's header block (the header at
				    * its end) and the unit objects are laid
				    * out in: the device's direct I/O alignment,
				    * at least the header (512), at most sector */
	uint64_t region_size;
	uint32_t nregions;
	uint32_t max_entries;      /* table entries per region */
	uint64_t hash_seed, clear_seq, next_seq;
	uint64_t oldest_seq;       /* of the oldest region in use; 0: to be found */
	uint32_t next_gen;
	bool failing;
	struct mmc_ssd_super sb;

	struct ssd_region *regions;
	uint32_t open;             /* the open region, SSD_NONE */
	uint32_t next_region;
	struct ssd_table tables[NTABLES];

	struct mmc_ssd_index index;
	struct mmc_blkio *io;
	struct ssd_op *ops;
	uint32_t op_free, ops_used;
	uint32_t wait_head, wait_tail;   /* ops whose I/O the engine has no room for */
	uint32_t done_head, done_tail;   /* ops whose events wait for a poll */
	void *hdrs;                /* MAX_OPS header sectors, one per op */
	struct ssd_group *groups;  /* MAX_OPS, one per op (OP_GROUP ops use it) */
	uint32_t group;            /* the OP_GROUP op being filled, SSD_NONE */
	void *zeros;               /* a sector of zeros: a group's padding */
	struct mmc_ssd_stats st;
};

/* tier_ssd.c */
uint64_t mmc_ssd__region_off(const struct mmc_ssd *s, uint32_t r);
void mmc_ssd__region_drop(struct mmc_ssd *s, uint32_t r);
/* Seals region r: table and trailer go out once its object writes are
 * back (at once if none is in flight). */
void mmc_ssd__seal(struct mmc_ssd *s, uint32_t r);

/* ssd_recover.c */
int mmc_ssd__write_super(struct mmc_ssd *s);
/* Remembers that slot holds an object of region r (for its eviction). */
void mmc_ssd__region_add_slot(struct mmc_ssd *s, uint32_t r, uint32_t slot);

/* op's header sector (zeroed by the writer): the header is its last bytes. */
static inline void *mmc_ssd__op_hdr(struct mmc_ssd *s, const struct ssd_op *op)
{
	return (char *)s->hdrs + (size_t)(op - s->ops) * s->sector;
}

#endif /* MMC_AGENT_TIER_SSD_INT_H */
