/*
 * keyhash.h - the key hash both the agent (writer) and libshm (readers) use.
 * Both sides must agree bit for bit, so it lives in exactly one place.
 */
#ifndef MMC_KEYHASH_H
#define MMC_KEYHASH_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

static inline uint64_t mmc_key_hash(uint64_t seed, const void *key, size_t len)
{
	return XXH3_64bits_withSeed(key, len, seed);
}

#endif /* MMC_KEYHASH_H */
