/*
 * crc32c.h - the one checksum of mmc: crc32c (Castagnoli, the iSCSI and
 * ext4 CRC).  The SSD tier stamps every object and table with it; checks of
 * values in DRAM and on the wire to peers are meant to use the same one.
 *
 * Both targets have it as an instruction (SSE 4.2 crc32 on x86-64, the CRC
 * extension on arm64), at several GB/s per core with no table; anything
 * else gets a bytewise table.  (ISA-L would do the same, but Debian's
 * libisal packages are not multi-arch: installing the arm64 one for the
 * cross build removes the amd64 one.)
 */
#ifndef MMC_CRC32C_H
#define MMC_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * One crc32 instruction has a latency of three cycles and a throughput of
 * one, so a single chain of them runs at a third of what the core can do.
 * Long buffers go in runs of three MMC_CRC_STRIDE-byte streams, each with
 * its own chain, joined by a "shift" (the crc of STRIDE zero bytes after
 * a value: linear, four table lookups, tables built once).  Raw crcs here
 * (no inversion): crc(c, A|B) = shift(crc(c, A)) ^ crc(0, B).
 */
#define MMC_CRC_STRIDE 4096u

/* Built by mmc_crc32c_hw_init() on the first mmc_crc32c(). */
static uint32_t mmc_crc_shift_tab[4][256];
static int mmc_crc_shift_ready;

static inline uint32_t mmc_crc_shift(uint32_t c)
{
	return mmc_crc_shift_tab[0][c & 0xff] ^ mmc_crc_shift_tab[1][(c >> 8) & 0xff] ^
		mmc_crc_shift_tab[2][(c >> 16) & 0xff] ^ mmc_crc_shift_tab[3][c >> 24];
}

/* The body of mmc_crc32c_hw for an 8-byte instruction CRC64(c, v) and a
 * 1-byte one CRC8(c, b): three streams while the tables are there and the
 * buffer is long, then one. */
#define MMC_CRC_BODY(CRC64, CRC8)                                              \
	while (n >= 3 * MMC_CRC_STRIDE && mmc_crc_shift_ready) {               \
		uint64_t c0 = crc, c1 = 0, c2 = 0;                             \
		for (size_t i = 0; i < MMC_CRC_STRIDE; i += 8) {               \
			uint64_t v0, v1, v2;                                   \
			memcpy(&v0, p + i, 8);                                 \
			memcpy(&v1, p + MMC_CRC_STRIDE + i, 8);                \
			memcpy(&v2, p + 2 * MMC_CRC_STRIDE + i, 8);            \
			c0 = CRC64(c0, v0);                                    \
			c1 = CRC64(c1, v1);                                    \
			c2 = CRC64(c2, v2);                                    \
		}                                                              \
		crc = mmc_crc_shift(mmc_crc_shift((uint32_t)c0) ^ (uint32_t)c1) ^ \
			(uint32_t)c2;                                          \
		p += 3 * MMC_CRC_STRIDE;                                       \
		n -= 3 * MMC_CRC_STRIDE;                                       \
	}                                                                      \
	for (; n >= 8; p += 8, n -= 8) {                                       \
		uint64_t v;                                                    \
		memcpy(&v, p, 8);                                              \
		crc = (uint32_t)CRC64(crc, v);                                 \
	}                                                                      \
	for (; n; p++, n--)                                                    \
		crc = CRC8(crc, *p);                                           \
	return crc

#if defined(__x86_64__)
#define MMC_CRC64_X86(c, v) __builtin_ia32_crc32di((c), (v))
#define MMC_CRC8_X86(c, b)  __builtin_ia32_crc32qi((c), (b))

__attribute__((target("sse4.2")))
static inline uint32_t mmc_crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
	MMC_CRC_BODY(MMC_CRC64_X86, MMC_CRC8_X86);
}

static inline int mmc_crc32c_have_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#define MMC_CRC64_ARM(c, v) __builtin_aarch64_crc32cx((uint32_t)(c), (v))
#define MMC_CRC8_ARM(c, b)  __builtin_aarch64_crc32cb((c), (b))

__attribute__((target("+crc")))
static inline uint32_t mmc_crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
	MMC_CRC_BODY(MMC_CRC64_ARM, MMC_CRC8_ARM);
}

static inline int mmc_crc32c_have_hw(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}
#else
static inline uint32_t mmc_crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
	(void)p;
	(void)n;
	return crc;
}

static inline int mmc_crc32c_have_hw(void)
{
	return 0;
}
#endif

/* Bytewise, reflected polynomial 0x82f63b78: for CPUs without the
 * instruction (and to check the instruction's result in tests). */
static inline uint32_t mmc_crc32c_sw(uint32_t crc, const unsigned char *p, size_t n)
{
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return crc;
}

/* The shift tables: the shift of each bit of a crc over MMC_CRC_STRIDE
 * zero bytes (by the instruction itself), then every byte value of each of
 * the four crc bytes as the XOR of its bits'. */
static inline void mmc_crc32c_hw_init(void)
{
	static const unsigned char zero[MMC_CRC_STRIDE];
	uint32_t bit[32];

	if (mmc_crc_shift_ready || !mmc_crc32c_have_hw())
		return;
	for (int i = 0; i < 32; i++)
		bit[i] = mmc_crc32c_hw(1u << i, zero, sizeof(zero));
	for (int k = 0; k < 4; k++)
		for (int b = 0; b < 256; b++) {
			uint32_t v = 0;

			for (int j = 0; j < 8; j++)
				if (b & (1 << j))
					v ^= bit[8 * k + j];
			mmc_crc_shift_tab[k][b] = v;
		}
	mmc_crc_shift_ready = 1;
}

/* crc32c of n bytes at p, continuing from crc (0 to start).  The first
 * call builds the tables (a few microseconds) and should come from one
 * thread before others call: the agent's tier makes all its checks in the
 * event loop's thread. */
static inline uint32_t mmc_crc32c(uint32_t crc, const void *p, size_t n)
{
	crc = ~crc;
	if (mmc_crc32c_have_hw()) {
		mmc_crc32c_hw_init();
		crc = mmc_crc32c_hw(crc, p, n);
	} else {
		crc = mmc_crc32c_sw(crc, p, n);
	}
	return ~crc;
}

#endif /* MMC_CRC32C_H */
