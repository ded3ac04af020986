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

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static inline uint32_t mmc_crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
	uint64_t c = crc;

	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	for (; n; p++, n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p);
	return (uint32_t)c;
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
__attribute__((target("+crc")))
static inline uint32_t mmc_crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		crc = __builtin_aarch64_crc32cx(crc, v);
	}
	for (; n; p++, n--)
		crc = __builtin_aarch64_crc32cb(crc, *p);
	return crc;
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

/* crc32c of n bytes at p, continuing from crc (0 to start). */
static inline uint32_t mmc_crc32c(uint32_t crc, const void *p, size_t n)
{
	crc = ~crc;
	crc = mmc_crc32c_have_hw() ? mmc_crc32c_hw(crc, p, n) : mmc_crc32c_sw(crc, p, n);
	return ~crc;
}

#endif /* MMC_CRC32C_H */
