/*
 * tier_ssd.c - the SSD tier: a log of regions on a file or block device.
 *
 * Writes.  One region is open at a time.  An object is appended to it as a
 * header block (the header - key, length, generation, crc32c of the value -
 * at its end; 512 bytes where the device allows) followed by the value
 * straight from the arena, no copy.  Objects appended one after the other
 * form a write group: one request of their headers and values, sent when
 * it ends on a 4 KiB sector (8 values of 64 KiB) or at the next submit,
 * padded with zeros to the sector (ext4 serialises smaller direct writes).
 * Its table entry goes into the region's
 * table in memory.  When the next object does not fit, the region is
 * sealed: once all its object writes are back, the table and the trailer
 * (where the table is, its crc, the region's sequence number) are written
 * in one I/O at the region's end.  Until then the region's objects are
 * readable but would not survive a crash.
 *
 * Space.  A new region is a free one or, when none is, the oldest sealed
 * one, evicted whole (its objects leave the index).  The index is capped
 * too (max_objects): a full index also evicts the oldest region.  FIFO over
 * regions is what makes writes sequential and recovery a scan of trailers;
 * LRU order comes from above, since a page that is used again comes back to
 * DRAM and is written again when DRAM lets it go (docs/tiers.md).
 *
 * Reads.  Header and value come back in one I/O into the caller's buffer,
 * then everything is checked against what the index says: magic, header
 * crc, generation, length, the full key, the value's crc32c.  Anything else
 * is a miss (MMC_SSD_CORRUPT) and the object leaves the index.
 *
 * Removals are recorded in the open region's table (REMOVED entries), and
 * clear() raises clear_seq in the superblock, so a restart does not bring
 * back what was removed.  Recovery and formatting are in ssd_recover.c.
 *
 * Queueing.  Up to MAX_OPS objects may be in flight; their I/Os go to the
 * engine (blkio.c) as its queue depth allows, the rest wait in a FIFO that
 * every poll drains, so a batch of 128 promotions is one burst of reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "tier_ssd-int.h"

static uint64_t pad_to(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

const char *mmc_ssd_result_str(enum mmc_ssd_result r)
{
	switch (r) {
	case MMC_SSD_OK:      return "ok";
	case MMC_SSD_IOERR:   return "I/O error";
	case MMC_SSD_CORRUPT: return "corrupt (failed its checks)";
	case MMC_SSD_GONE:    return "gone (cleared or evicted meanwhile)";
	}
	return "?";
}

uint64_t mmc_ssd__region_off(const struct mmc_ssd *s, uint32_t r)
{
	return MMC_SSD_SB_SIZE + (uint64_t)r * s->region_size;
}

size_t mmc_ssd_read_size(const struct mmc_ssd *s, uint64_t len)
{
	return s->sector + pad_to(len, s->sector);
}

size_t mmc_ssd_value_gap(const struct mmc_ssd *s)
{
	return s->sector;
}

unsigned mmc_ssd_busy(const struct mmc_ssd *s)
{
	return s->ops_used + (s->io ? mmc_blkio_inflight(s->io) : 0);
}

int mmc_ssd_event_fd(const struct mmc_ssd *s)
{
	return s->io ? mmc_blkio_event_fd(s->io) : -1;
}

const char *mmc_ssd_engine(const struct mmc_ssd *s)
{
	return s->io ? mmc_blkio_engine_name(s->io) : "none";
}

/* ---- ops and their I/O ---- */

static struct ssd_op *op_take(struct mmc_ssd *s)
{
	uint32_t i = s->op_free;

	if (i == SSD_NONE)
		return NULL;
	s->op_free = s->ops[i].next;
	memset(&s->ops[i], 0, offsetof(struct ssd_op, key));
	s->ops[i].next = SSD_NONE;
	s->ops_used++;
	return &s->ops[i];
}

static void op_give(struct mmc_ssd *s, struct ssd_op *op)
{
	op->next = s->op_free;
	s->op_free = (uint32_t)(op - s->ops);
	s->ops_used--;
}

/* Queues op's I/Os (op->nio of them, in op->io) behind the ones waiting. */
static void op_issue(struct mmc_ssd *s, struct ssd_op *op)
{
	op->next = SSD_NONE;
	if (s->wait_tail == SSD_NONE)
		s->wait_head = (uint32_t)(op - s->ops);
	else
		s->ops[s->wait_tail].next = (uint32_t)(op - s->ops);
	s->wait_tail = (uint32_t)(op - s->ops);
}

/* Hands waiting I/Os to the engine while it has room. */
static void pump(struct mmc_ssd *s)
{
	while (s->wait_head != SSD_NONE) {
		struct ssd_op *op = &s->ops[s->wait_head];
		uint32_t idx = (uint32_t)(op - s->ops);

		/* queue_depth I/Os in flight, as fio's iodepth: reads and
		 * writes together. */
		if (mmc_blkio_inflight(s->io) + op->nio > s->cfg.queue_depth)
			break;
		for (unsigned k = 0; k < op->nio; k++) {
			struct ssd_io *io = &op->io[k];
			uint64_t cookie = (uint64_t)idx << 8 | k;
			const struct ssd_group *gr = &s->groups[idx];
			int r = op->kind == OP_GROUP ?
				mmc_blkio_writev(s->io, gr->iov, gr->niov, io->off, cookie) :
				io->write ? mmc_blkio_write(s->io, io->buf, io->len, io->off, cookie) :
				mmc_blkio_read(s->io, io->buf, io->len, io->off, cookie);

			if (r) {   /* cannot happen below the depth: fail the I/O */
				op->failed = 1;
				op->pending--;
			}
		}
		s->wait_head = op->next;
		if (s->wait_head == SSD_NONE)
			s->wait_tail = SSD_NONE;
	}
}

/* ---- write groups ---- */

/* Sends the group being filled, padded with zeros to the sector: the
 * region's next object starts a new group on a sector boundary. */
static void group_flush(struct mmc_ssd *s)
{
	struct ssd_op *g;
	struct ssd_group *gr;
	uint64_t pad;

	if (s->group == SSD_NONE)
		return;
	g = &s->ops[s->group];
	gr = &s->groups[s->group];
	s->group = SSD_NONE;
	pad = pad_to(g->io[0].off + gr->len, s->sector) - (g->io[0].off + gr->len);
	if (pad) {
		gr->iov[gr->niov++] = (struct iovec){ s->zeros, pad };
		gr->len += pad;
		s->regions[g->region].write_off += pad;
	}
	g->io[0].len = gr->len;
	op_issue(s, g);
}

/* Appends object op (header block, then value) to the group being filled,
 * or to a new one (an op mmc_ssd_write kept free); sends the group once it
 * ends on a sector or is full.  A burst of demotions of 64 KiB values makes
 * groups of 8 (8 x 64.5 KiB ends on 4 KiB); a lone one is padded. */
static void group_add(struct mmc_ssd *s, struct ssd_op *op)
{
	struct ssd_group *gr;
	struct ssd_op *g;

	if (s->group == SSD_NONE) {
		g = op_take(s);
		g->kind = OP_GROUP;
		g->region = op->region;
		g->nio = g->pending = 1;
		g->io[0] = (struct ssd_io){ .write = true, .off = op->io[0].off };
		s->group = (uint32_t)(g - s->ops);
		s->groups[s->group].len = s->groups[s->group].n = 0;
		s->groups[s->group].niov = 0;
	}
	g = &s->ops[s->group];
	gr = &s->groups[s->group];
	gr->ops[gr->n++] = (uint32_t)(op - s->ops);
	gr->iov[gr->niov++] = (struct iovec){ op->io[0].buf, op->io[0].len };
	gr->iov[gr->niov++] = (struct iovec){ op->io[0].buf2, op->io[0].len2 };
	gr->len += op->io[0].len + op->io[0].len2;
	if ((g->io[0].off + gr->len) % s->sector == 0 || gr->n == GROUP_MAX)
		group_flush(s);
}

static void write_done(struct mmc_ssd *s, struct ssd_op *op, struct mmc_ssd_event *ev);
static void op_done(struct mmc_ssd *s, struct ssd_op *op);

/* The group's request is back: so are its objects' writes. */
static void group_done(struct mmc_ssd *s, struct ssd_op *g)
{
	struct ssd_group *gr = &s->groups[g - s->ops];

	s->st.write_bytes += gr->len;
	for (uint32_t i = 0; i < gr->n; i++) {
		struct ssd_op *op = &s->ops[gr->ops[i]];

		op->failed = g->failed;
		write_done(s, op, &op->ev);
		op_done(s, op);
	}
	op_give(s, g);
}

int mmc_ssd_submit(struct mmc_ssd *s)
{
	if (!s->io)
		return 0;
	group_flush(s);
	pump(s);
	return mmc_blkio_submit(s->io);
}

/* ---- regions ---- */

/* Evicts the oldest sealed region: its objects leave the index.  Returns
 * the region, or SSD_NONE when none is sealed. */
static uint32_t evict_oldest(struct mmc_ssd *s)
{
	uint32_t best = SSD_NONE;

	for (uint32_t r = 0; r < s->nregions; r++)
		if (s->regions[r].state == REGION_SEALED &&
		    (best == SSD_NONE || s->regions[r].seq < s->regions[best].seq))
			best = r;
	if (best == SSD_NONE)
		return best;
	mmc_ssd__region_drop(s, best);
	s->st.evicted_regions++;
	return best;
}

void mmc_ssd__region_drop(struct mmc_ssd *s, uint32_t r)
{
	struct ssd_region *g = &s->regions[r];

	for (uint32_t i = 0; i < g->nslots; i++) {
		uint32_t slot = g->slots[i];

		if (mmc_ssd_index_tag(&s->index, slot) &&
		    mmc_ssd_index_loc(&s->index, slot)->region == r) {
			s->st.bytes -= mmc_ssd_index_loc(&s->index, slot)->len;
			mmc_ssd_index_remove(&s->index, slot);
			s->st.evicted_objects++;
		}
	}
	g->nslots = 0;
	g->state = REGION_FREE;
	s->oldest_seq = 0;
	g->seq = 0;
	s->st.regions_used--;
}

/* A table buffer no region is using, or NULL. */
static struct ssd_table *table_free(struct mmc_ssd *s)
{
	for (int i = 0; i < NTABLES; i++)
		if (!s->tables[i].busy)
			return &s->tables[i];
	return NULL;
}

/* Makes a region the open one.  0 or -EAGAIN (the other table buffer is
 * still being written, or nothing can be evicted yet). */
static int region_open(struct mmc_ssd *s)
{
	struct ssd_table *t = table_free(s);
	uint32_t r = SSD_NONE;

	if (!t)
		return -EAGAIN;
	for (uint32_t i = 0; i < s->nregions && r == SSD_NONE; i++) {
		uint32_t c = (s->next_region + i) % s->nregions;

		if (s->regions[c].state == REGION_FREE)
			r = c;
	}
	if (r == SSD_NONE && (r = evict_oldest(s)) == SSD_NONE)
		return -EAGAIN;
	s->next_region = (r + 1) % s->nregions;
	/* Its sequence number is its place in write order: eviction (oldest
	 * first) and recovery (applied in order) follow it. */
	s->regions[r] = (struct ssd_region){ .state = REGION_OPEN, .seq = s->next_seq++,
		.slots = s->regions[r].slots, .slots_cap = s->regions[r].slots_cap };
	t->busy = true;
	t->n = 0;
	s->regions[r].table = t;
	s->open = r;
	s->st.regions_used++;
	return 0;
}

/* Bytes the table and trailer of a region with n entries take. */
static uint64_t tail_bytes(const struct mmc_ssd *s, uint32_t n)
{
	return pad_to((uint64_t)n * sizeof(struct mmc_ssd_entry), s->sector) +
		MMC_SSD_TRAILER_SIZE;
}

/* Writes table and trailer of region r once its object writes are back. */
void mmc_ssd__seal(struct mmc_ssd *s, uint32_t r)
{
	struct ssd_region *g = &s->regions[r];
	struct ssd_table *t = g->table;
	uint64_t tpad = pad_to((uint64_t)t->n * sizeof(struct mmc_ssd_entry), s->sector);
	struct mmc_ssd_trailer *tr = (void *)((char *)t->buf + tpad);
	struct ssd_op *op;

	g->state = REGION_SEALING;
	if (s->group != SSD_NONE && s->ops[s->group].region == r)
		group_flush(s);         /* its last objects go now */
	if (g->inflight)
		return;                 /* the last object write calls again */
	op = op_take(s);
	if (!op) {                      /* retried by the next poll */
		g->seal_pending = true;
		return;
	}
	g->seal_pending = false;
	memset((char *)t->buf + t->n * sizeof(struct mmc_ssd_entry), 0,
	       tpad - t->n * sizeof(struct mmc_ssd_entry) + MMC_SSD_TRAILER_SIZE);
	tr->magic = MMC_SSD_TRAILER;
	tr->seq = g->seq;
	tr->region = r;
	tr->nentries = t->n;
	tr->table_off = (uint32_t)(s->region_size - MMC_SSD_TRAILER_SIZE - tpad);
	tr->table_crc = mmc_crc32c(0, t->buf, (size_t)t->n * sizeof(struct mmc_ssd_entry));
	tr->trailer_crc = mmc_crc32c(0, tr, sizeof(*tr));
	op->kind = OP_SEAL;
	op->region = r;
	op->nio = op->pending = 1;
	op->io[0] = (struct ssd_io){ .write = true, .buf = t->buf, .len = tpad + MMC_SSD_TRAILER_SIZE,
		.off = mmc_ssd__region_off(s, r) + tr->table_off };
	op_issue(s, op);
	s->st.write_bytes += op->io[0].len;
}

static void seal_done(struct mmc_ssd *s, struct ssd_op *op)
{
	struct ssd_region *g = &s->regions[op->region];

	if (op->failed)
		s->st.io_errors++;   /* readable now, not after a restart */
	g->table->busy = false;
	g->table = NULL;
	g->state = REGION_SEALED;
}

/* Appends an entry to the open region's table; the region is sealed and
 * another opened when the entry (and room) does not fit.  Returns the
 * entry's index, or -EAGAIN. */
static int64_t table_add(struct mmc_ssd *s, uint64_t need, const struct mmc_ssd_entry *e)
{
	for (int tries = 0; tries < 2; tries++) {
		struct ssd_region *g;

		if (s->open == SSD_NONE && region_open(s))
			return -EAGAIN;
		g = &s->regions[s->open];
		if (g->table->n < s->max_entries &&
		    g->write_off + need + tail_bytes(s, g->table->n + 1) <= s->region_size) {
			struct mmc_ssd_entry *slot = &g->table->buf[g->table->n];

			*slot = *e;
			slot->off = (uint32_t)(g->write_off / MMC_SSD_SECTOR);
			g->write_off += need;
			return g->table->n++;
		}
		mmc_ssd__seal(s, s->open);
		s->open = SSD_NONE;
	}
	return -EAGAIN;
}

/* ---- writes ---- */

int mmc_ssd_write(struct mmc_ssd *s, const void *key, uint16_t key_len,
		  uint64_t hash, const void *value, uint64_t len, const uint32_t *crc,
		  uint64_t cookie)
{
	uint64_t need = s->lead + pad_to(len, s->lead);
	struct mmc_ssd_entry e = { .hash = hash, .len = (uint32_t)len, .kind = MMC_SSD_ENT_OBJECT };
	struct mmc_ssd_obj_hdr *h;
	struct ssd_op *op;
	char *sec;
	int64_t ent;

	if (!s->io || !key_len || key_len > sizeof(h->key))
		return -EINVAL;
	if (len > UINT32_MAX || need + tail_bytes(s, 1) > s->region_size)
		return -E2BIG;
	if (s->failing)
		return -EIO;
	/* Its op, perhaps a new group's, and one table_add may take to seal
	 * the full region. */
	if (s->ops_used + 3 > MAX_OPS)
		return -EAGAIN;
	op = op_take(s);
	e.gen = s->next_gen;
	ent = table_add(s, need, &e);
	if (ent < 0) {
		op_give(s, op);
		return -EAGAIN;
	}
	s->next_gen++;
	sec = mmc_ssd__op_hdr(s, op);
	memset(sec, 0, s->sector);
	h = (struct mmc_ssd_obj_hdr *)(sec + s->sector - sizeof(*h));
	h->magic = MMC_SSD_OBJ_MAGIC;
	h->gen = e.gen;
	h->value_len = len;
	h->hash = hash;
	h->key_len = key_len;
	memcpy(h->key, key, key_len);
	h->value_crc = crc ? *crc : mmc_crc32c(0, value, len);
	h->hdr_crc = mmc_crc32c(0, h, sizeof(*h));
	op->kind = OP_WRITE;
	op->cookie = cookie;
	op->region = s->open;
	op->entry = (uint32_t)ent;
	op->gen = e.gen;
	op->hash = hash;
	op->len = (uint32_t)len;
	/* Header block and value, adjacent on the device, go with the
	 * group's request. */
	op->nio = op->pending = 1;
	op->io[0] = (struct ssd_io){ .write = true, .buf = sec + s->sector - s->lead,
		.len = s->lead, .buf2 = (void *)value, .len2 = pad_to(len, s->lead),
		.off = mmc_ssd__region_off(s, s->open) +
		       (uint64_t)s->regions[s->open].table->buf[ent].off * MMC_SSD_SECTOR };
	s->regions[s->open].inflight++;
	group_add(s, op);
	return 0;
}

static void write_done(struct mmc_ssd *s, struct ssd_op *op, struct mmc_ssd_event *ev)
{
	struct ssd_region *g = &s->regions[op->region];
	struct mmc_ssd_entry *ent = &g->table->buf[op->entry];
	struct mmc_ssd_loc loc = { .region = op->region, .off = ent->off, .len = op->len,
				   .gen = op->gen };

	ev->kind = MMC_SSD_WRITTEN;
	ev->cookie = op->cookie;
	ev->result = op->failed ? MMC_SSD_IOERR : MMC_SSD_OK;
	if (op->failed)
		s->st.io_errors++;
	if (ent->kind != MMC_SSD_ENT_OBJECT)    /* cleared meanwhile */
		ev->result = op->failed ? ev->result : MMC_SSD_GONE;
	if (ev->result == MMC_SSD_OK) {
		uint32_t old = mmc_ssd_index_find(&s->index, op->hash);

		if (old != MMC_SSD_NONE)         /* an older copy of the key */
			mmc_ssd_remove(s, old);
		ev->slot = mmc_ssd_index_insert(&s->index, op->hash, &loc);
		while (ev->slot == MMC_SSD_NONE && evict_oldest(s) != SSD_NONE)
			ev->slot = mmc_ssd_index_insert(&s->index, op->hash, &loc);
		if (ev->slot == MMC_SSD_NONE) {
			ev->result = MMC_SSD_GONE;
		} else {
			ev->gen = op->gen;
			mmc_ssd__region_add_slot(s, op->region, ev->slot);
			s->st.writes++;
			s->st.bytes += op->len;
		}
	}
	if (ev->result != MMC_SSD_OK)
		ent->kind = MMC_SSD_ENT_DEAD;
	if (!--g->inflight && g->state == REGION_SEALING)
		mmc_ssd__seal(s, op->region);
}

/* ---- reads ---- */

int mmc_ssd_read(struct mmc_ssd *s, uint32_t slot, const void *key, uint16_t key_len,
		 void *dst, uint64_t cookie)
{
	const struct mmc_ssd_loc *loc;
	struct ssd_op *op;

	if (!s->io || slot >= s->index.nbuckets * MMC_SSD_WAYS ||
	    !mmc_ssd_index_tag(&s->index, slot) || key_len > sizeof(op->key))
		return -ENOENT;
	op = op_take(s);
	if (!op)
		return -EAGAIN;
	loc = mmc_ssd_index_loc(&s->index, slot);
	op->kind = OP_READ;
	op->cookie = cookie;
	op->slot = slot;
	op->region = loc->region;
	op->gen = loc->gen;
	op->len = loc->len;
	op->hash = mmc_ssd_index_tag(&s->index, slot);
	op->key_len = key_len;
	memcpy(op->key, key, key_len);
	op->nio = op->pending = 1;
	/* Header block and value; the value lands at dst + sector. */
	op->io[0] = (struct ssd_io){ .buf = (char *)dst + s->sector - s->lead,
		.len = s->lead + pad_to(loc->len, s->lead),
		.off = mmc_ssd__region_off(s, loc->region) + (uint64_t)loc->off * MMC_SSD_SECTOR };
	op_issue(s, op);
	return 0;
}

/* Where a read's header landed: right before the value. */
static struct mmc_ssd_obj_hdr *read_hdr(const struct mmc_ssd *s, const struct ssd_op *op)
{
	return (struct mmc_ssd_obj_hdr *)((char *)op->io[0].buf + s->lead) - 1;
}

/* Is what landed at dst the object op asked for? */
static bool read_checks(const struct mmc_ssd *s, const struct ssd_op *op)
{
	struct mmc_ssd_obj_hdr *h = read_hdr(s, op), copy;

	if (h->magic != MMC_SSD_OBJ_MAGIC || h->gen != op->gen ||
	    h->value_len != op->len || h->key_len != op->key_len ||
	    memcmp(h->key, op->key, op->key_len))
		return false;
	copy = *h;
	copy.hdr_crc = 0;
	return mmc_crc32c(0, &copy, sizeof(copy)) == h->hdr_crc &&
		mmc_crc32c(0, (char *)(h + 1), op->len) == h->value_crc;
}

static void read_done(struct mmc_ssd *s, struct ssd_op *op, struct mmc_ssd_event *ev)
{
	ev->kind = MMC_SSD_READ;
	ev->cookie = op->cookie;
	s->st.read_bytes += op->io[0].len;
	if (op->failed) {
		ev->result = MMC_SSD_IOERR;
		s->st.io_errors++;
		return;
	}
	if (read_checks(s, op)) {
		ev->result = MMC_SSD_OK;
		ev->value_crc = read_hdr(s, op)->value_crc;
		s->st.reads++;
		return;
	}
	ev->result = MMC_SSD_CORRUPT;
	s->st.crc_failures++;
	/* Never again: the copy on the device is not the object. */
	if (mmc_ssd_valid(s, op->slot, op->hash, op->gen))
		mmc_ssd_remove(s, op->slot);
}

/* ---- events ---- */

/* A finished op's event waits on the done list until a poll takes it. */
static void op_done(struct mmc_ssd *s, struct ssd_op *op)
{
	op->next = SSD_NONE;
	if (s->done_tail == SSD_NONE)
		s->done_head = (uint32_t)(op - s->ops);
	else
		s->ops[s->done_tail].next = (uint32_t)(op - s->ops);
	s->done_tail = (uint32_t)(op - s->ops);
}

unsigned mmc_ssd_poll(struct mmc_ssd *s, struct mmc_ssd_event *ev, unsigned max)
{
	struct mmc_blkio_done d[64];
	unsigned n = 0, got;

	if (!s->io)
		return 0;
	for (uint32_t r = 0; r < s->nregions; r++)   /* seals short of an op */
		if (s->regions[r].seal_pending)
			mmc_ssd__seal(s, r);
	/* Every completion is handled now (index, regions, seals); the events
	 * are handed out as the caller has room for them. */
	while ((got = mmc_blkio_reap(s->io, d, 64))) {
		/* The device first: what waits for its room goes now, before
		 * the checks below (a crc32c of every value read) leave the
		 * queue short while they run. */
		mmc_ssd_submit(s);
		for (unsigned i = 0; i < got; i++) {
			struct ssd_op *op = &s->ops[d[i].cookie >> 8];

			if (d[i].res < 0)
				op->failed = 1;
			if (--op->pending)
				continue;
			if (op->kind == OP_SEAL) {
				seal_done(s, op);
				op_give(s, op);
				continue;
			}
			if (op->kind == OP_GROUP) {
				group_done(s, op);
				continue;
			}
			if (op->kind == OP_WRITE)
				write_done(s, op, &op->ev);
			else
				read_done(s, op, &op->ev);
			op_done(s, op);
		}
	}
	while (n < max && s->done_head != SSD_NONE) {
		struct ssd_op *op = &s->ops[s->done_head];

		s->done_head = op->next;
		if (s->done_head == SSD_NONE)
			s->done_tail = SSD_NONE;
		ev[n++] = op->ev;
		op_give(s, op);
	}
	mmc_ssd_submit(s);
	return n;
}

/* ---- the index seen from outside ---- */

uint32_t mmc_ssd_find(const struct mmc_ssd *s, uint64_t hash)
{
	return mmc_ssd_index_find(&s->index, hash);
}

int mmc_ssd_get(const struct mmc_ssd *s, uint32_t slot, uint64_t *len, uint32_t *gen)
{
	const struct mmc_ssd_loc *loc;

	if (slot >= s->index.nbuckets * MMC_SSD_WAYS || !mmc_ssd_index_tag(&s->index, slot))
		return -ENOENT;
	loc = mmc_ssd_index_loc(&s->index, slot);
	*len = loc->len;
	*gen = loc->gen;
	return 0;
}

int mmc_ssd_valid(const struct mmc_ssd *s, uint32_t slot, uint64_t hash, uint32_t gen)
{
	return slot < s->index.nbuckets * MMC_SSD_WAYS &&
		mmc_ssd_index_tag(&s->index, slot) == MMC_SSD_TAG(hash) &&
		mmc_ssd_index_loc(&s->index, slot)->gen == gen;
}

/* The FIFO of regions, oldest first: a copy in the first AGING_FRACTION of
 * it is the next to be evicted.  Rewriting such a copy when its object
 * leaves DRAM again (object.c) moves a page that is still in use to the
 * newest region: the tier then keeps what is used, as an LRU would, not
 * what was written last, for a few per cent more writes (bench/README.md,
 * the trace with an SSD tier). */
#define AGING_FRACTION 4

bool mmc_ssd_aging(struct mmc_ssd *s, uint32_t slot)
{
	uint64_t seq;

	if (!s->oldest_seq) {
		s->oldest_seq = s->next_seq;
		for (uint32_t r = 0; r < s->nregions; r++)
			if (s->regions[r].state != REGION_FREE && s->regions[r].seq < s->oldest_seq)
				s->oldest_seq = s->regions[r].seq;
	}
	seq = s->regions[mmc_ssd_index_loc(&s->index, slot)->region].seq;
	return seq - s->oldest_seq < (s->next_seq - s->oldest_seq) / AGING_FRACTION;
}

void mmc_ssd_remove(struct mmc_ssd *s, uint32_t slot)
{
	const struct mmc_ssd_loc *loc;
	struct mmc_ssd_entry e = { .kind = MMC_SSD_ENT_REMOVED };

	if (slot >= s->index.nbuckets * MMC_SSD_WAYS || !mmc_ssd_index_tag(&s->index, slot))
		return;
	loc = mmc_ssd_index_loc(&s->index, slot);
	e.hash = mmc_ssd_index_tag(&s->index, slot);
	e.gen = loc->gen;
	s->st.bytes -= loc->len;
	mmc_ssd_index_remove(&s->index, slot);
	/* Recorded so a restart does not bring it back; when no region can
	 * take the entry now, it comes back until it is evicted (a miss
	 * then, never wrong bytes: it is the object that was removed). */
	if (table_add(s, 0, &e) < 0)
		s->st.lost_removals++;
}

void mmc_ssd_clear(struct mmc_ssd *s)
{
	mmc_ssd_index_clear(&s->index);
	s->st.bytes = 0;
	/* Regions opened before the clear are ignored at the next start
	 * (their seq is below clear_seq); what comes next goes to a new one.
	 * In flight writes to them complete as GONE. */
	for (uint32_t r = 0; r < s->nregions; r++) {
		struct ssd_table *t = s->regions[r].table;

		if (t)
			for (uint32_t i = 0; i < t->n; i++)
				t->buf[i].kind = MMC_SSD_ENT_DEAD;
		if (s->regions[r].state == REGION_SEALED)
			mmc_ssd__region_drop(s, r);
	}
	if (s->open != SSD_NONE) {
		mmc_ssd__seal(s, s->open);
		s->open = SSD_NONE;
	}
	s->clear_seq = s->next_seq;
	if (mmc_ssd__write_super(s))
		s->st.io_errors++;
}

void mmc_ssd_get_stats(const struct mmc_ssd *s, struct mmc_ssd_stats *st)
{
	*st = s->st;
	st->objects = s->index.count;
	st->capacity = (uint64_t)s->nregions * s->region_size;
	st->regions = s->nregions;
	st->inflight = s->io ? mmc_blkio_inflight(s->io) : 0;
}
