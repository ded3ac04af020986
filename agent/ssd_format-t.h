/*
 * ssd_format-t.h - the SSD tier's file, byte for byte (types only).
 *
 *   0                 superblock (4 KiB)
 *   4 KiB + i * R     region i, R = region_size bytes:
 *
 *     [object][object]...[object]  ...free...  [table][trailer 4 KiB]
 *      object = a header block (A bytes, the header - key, length,
 *               generation, crc32c - in its last 512, zeros before it),
 *               then the value padded to A; A is the device's direct
 *               I/O alignment, at least 512 (the superblock's
 *               obj_align).  A read fetches header and value in one
 *               request: 64 KiB + 512 B for a 64 KiB value on a device
 *               of 512-byte sectors.  Objects written together are one
 *               write request padded with zeros to 4 KiB (ext4 takes its
 *               inode lock exclusively for a direct write that is not a
 *               multiple of its block), so a burst of 64 KiB demotions
 *               writes 64.5 KiB per object, not 68 (version 2)
 *      table  = one entry per object (and per removal) of the region
 *      trailer = where the table is, its crc, the region's sequence number
 *
 * Regions are written front to back and sealed by writing table and
 * trailer last, after every object of the region is on the device: a
 * region without a valid trailer was cut short by a crash and is free at
 * the next start.  Recovery reads trailers and tables only (docs/tiers.md).
 * All integers little-endian (the tier is for x86-64 and arm64 hosts);
 * every checksum is crc32c.
 */
#ifndef MMC_AGENT_SSD_FORMAT_T_H
#define MMC_AGENT_SSD_FORMAT_T_H

#include <stdint.h>

#define MMC_SSD_MAGIC      0x3144535343434d4dull  /* "MMCCSSD1" */
#define MMC_SSD_TRAILER    0x31524c5254434d4dull  /* "MMCTRLR1" */
#define MMC_SSD_OBJ_MAGIC  0x4a424f4du            /* "MOBJ" */
#define MMC_SSD_VERSION    2u
#define MMC_SSD_SB_SIZE    4096u
#define MMC_SSD_HDR_SIZE   512u
#define MMC_SSD_TRAILER_SIZE 4096u
#define MMC_SSD_SECTOR     512u      /* unit of offsets in tables */
/* Unit of every write (a group of objects, a table, the superblock): the
 * block of file systems and the physical sector of NVMe drives.  ext4
 * takes the inode lock exclusively for a direct write that is not a
 * multiple of its block: 64 KiB + 512 B writes ran at 0.78 GB/s, 68 KiB
 * ones at 1.8. */
#define MMC_SSD_IO_ALIGN   4096u

struct mmc_ssd_super {
	uint64_t magic;
	uint32_t version;
	uint32_t sb_crc;           /* crc32c of the struct with this field 0 */
	uint64_t file_size;        /* bytes the tier uses */
	uint64_t region_size;
	uint32_t nregions;
	uint32_t pad_;             /* the write unit (MMC_SSD_IO_ALIGN or more) */
	uint64_t hash_seed;        /* key hashes are stable across restarts */
	uint64_t clear_seq;        /* regions with a lower seq were cleared */
	uint64_t created_ns;       /* CLOCK_REALTIME at format */
	uint32_t obj_align;        /* A above: objects' unit (version 2) */
	uint32_t pad2_;
};

struct mmc_ssd_obj_hdr {
	uint32_t magic;
	uint32_t hdr_crc;          /* crc32c of the header with this field 0 */
	uint32_t gen;
	uint32_t value_crc;        /* crc32c of the value's len bytes */
	uint64_t value_len;
	uint64_t hash;
	uint16_t key_len;
	uint8_t  pad_[6];
	uint8_t  key[256];
	uint8_t  fill_[MMC_SSD_HDR_SIZE - 296];
};
_Static_assert(sizeof(struct mmc_ssd_obj_hdr) == MMC_SSD_HDR_SIZE, "one sector");

enum mmc_ssd_entry_kind {
	MMC_SSD_ENT_OBJECT = 1,    /* an object written in this region */
	MMC_SSD_ENT_REMOVED = 2,   /* object hash/gen (of any region) was removed */
	MMC_SSD_ENT_DEAD = 3,      /* an object whose write failed: skip */
};

struct mmc_ssd_entry {
	uint64_t hash;
	uint32_t off;              /* 512-byte units from the region's start */
	uint32_t len;
	uint32_t gen;
	uint32_t kind;
};

struct mmc_ssd_trailer {
	uint64_t magic;
	uint64_t seq;              /* order of sealing, for FIFO and recovery */
	uint32_t region;           /* its own number, against misplaced data */
	uint32_t nentries;
	uint32_t table_off;        /* bytes from the region's start */
	uint32_t table_crc;
	uint32_t trailer_crc;      /* crc32c of this struct with this field 0 */
	uint32_t pad_;
};

#endif /* MMC_AGENT_SSD_FORMAT_T_H */
