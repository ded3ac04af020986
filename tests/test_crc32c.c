/*
 * test_crc32c.c - common/crc32c.h: the one checksum of the SSD tier (and of
 * checks to come), against the bytewise reference.
 *
 *   vectors      the standard check value ("123456789" -> 0xe3069283) and
 *                32 zero bytes (RFC 3720, iSCSI)
 *   lengths      every length 0..300, and lengths around the 3-stream run
 *                (3 x 4 KiB) and its multiples, at odd alignments: the
 *                instruction path equals the bytewise one
 *   continued    a buffer checked in pieces equals it checked whole
 *   one_bit      any single flipped bit of a 64 KiB value changes the crc
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check-main.h"
#include "crc32c.h"

static unsigned char buf[200000 + 64];

static void fill(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
}

static uint32_t ref(const void *p, size_t n)
{
	return ~mmc_crc32c_sw(~0u, p, n);
}

START_TEST(vectors)
{
	unsigned char zeros[32] = { 0 };

	ck_assert_uint_eq(mmc_crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(ref("123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(mmc_crc32c(0, zeros, sizeof(zeros)), 0x8a9136aau);
	ck_assert_uint_eq(mmc_crc32c(0, "", 0), 0);
}
END_TEST

START_TEST(lengths)
{
	static const size_t around[] = { 12288, 24576, 36864, 65536, 69632, 196608 };

	fill();
	for (size_t n = 0; n <= 300; n++)
		ck_assert_uint_eq(mmc_crc32c(0, buf + 1, n), ref(buf + 1, n));
	for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++)
		for (size_t d = 0; d < 9; d++)
			for (size_t off = 0; off < 3; off++) {
				size_t n = around[i] - 4 + d;

				ck_assert_msg(mmc_crc32c(0, buf + off, n) == ref(buf + off, n),
					      "length %zu at +%zu", n, off);
			}
}
END_TEST

START_TEST(continued)
{
	size_t n = 150001, cut[] = { 0, 1, 4095, 12288, 12289, 100000, n };

	fill();
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		uint32_t c = mmc_crc32c(0, buf, cut[i]);

		ck_assert_uint_eq(mmc_crc32c(c, buf + cut[i], n - cut[i]), ref(buf, n));
	}
}
END_TEST

START_TEST(one_bit)
{
	uint32_t good;

	fill();
	good = mmc_crc32c(0, buf, 65536);
	for (size_t bit = 0; bit < 65536 * 8; bit += 4099) {
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		ck_assert_uint_ne(mmc_crc32c(0, buf, 65536), good);
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	ck_assert_uint_eq(mmc_crc32c(0, buf, 65536), good);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = add_tcase(s, "crc32c", 60);

	add_tests(tc, TESTS(vectors, lengths, continued, one_bit));
	return run_suite(s);
}
