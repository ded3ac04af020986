/*
 * placement.c - rendezvous hashing over the pool's members (placement.h).
 *
 * A member is its id and a 64-bit seed derived from the id (XXH3), so its
 * weights do not depend on when it was added or on its neighbours.  The
 * weight of member m for a key is XXH3_64bits_withSeed(key hash, m.seed):
 * independent, uniform 64-bit numbers per (key, member), which is all
 * rendezvous hashing needs for balance (each of N members is the home of
 * 1/N of the keys) and for minimal movement (a change of membership only
 * moves the keys whose winner changed).  Ties, at 2^-64 per pair, go to
 * the smaller seed so that every agent breaks them the same.
 *
 * Members live in a small array; homes() is one pass that keeps the best n
 * in insertion order (n is 1 for the home, replicas + 1 at most).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "placement.h"

struct member {
	char id[MMC_NODE_ID_MAX + 1];
	uint64_t seed;
	bool up;
};

struct mmc_placement {
	struct member m[MMC_PLACEMENT_MAX];
	unsigned n;
};

int mmc_placement_create(struct mmc_placement **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void mmc_placement_destroy(struct mmc_placement *p)
{
	free(p);
}

static int find(const struct mmc_placement *p, const char *id)
{
	for (unsigned i = 0; i < p->n; i++)
		if (!strcmp(p->m[i].id, id))
			return (int)i;
	return -ENOENT;
}

int mmc_placement_add(struct mmc_placement *p, const char *id)
{
	size_t len = id ? strlen(id) : 0;
	struct member *m;

	if (!len)
		return -EINVAL;
	if (len > MMC_NODE_ID_MAX)
		return -ENAMETOOLONG;
	if (find(p, id) >= 0)
		return -EEXIST;
	if (p->n == MMC_PLACEMENT_MAX)
		return -ENOSPC;
	m = &p->m[p->n++];
	memcpy(m->id, id, len + 1);
	m->seed = XXH3_64bits(id, len);
	m->up = true;
	return 0;
}

int mmc_placement_remove(struct mmc_placement *p, const char *id)
{
	int i = id ? find(p, id) : -ENOENT;

	if (i < 0)
		return i;
	p->m[i] = p->m[--p->n];   /* order does not matter: weights do */
	return 0;
}

int mmc_placement_set_up(struct mmc_placement *p, const char *id, bool up)
{
	int i = id ? find(p, id) : -ENOENT;

	if (i < 0)
		return i;
	p->m[i].up = up;
	return 0;
}

/* a outranks b for this key. */
static bool above(uint64_t wa, uint64_t sa, uint64_t wb, uint64_t sb)
{
	return wa > wb || (wa == wb && sa < sb);
}

unsigned mmc_placement_homes(const struct mmc_placement *p, uint64_t key_hash,
			     const char **out, unsigned n)
{
	uint64_t w[MMC_PLACEMENT_MAX], s[MMC_PLACEMENT_MAX];
	unsigned got = 0;

	if (n > MMC_PLACEMENT_MAX)
		n = MMC_PLACEMENT_MAX;
	for (unsigned i = 0; i < p->n; i++) {
		const struct member *m = &p->m[i];
		uint64_t wi;
		unsigned at;

		if (!m->up)
			continue;
		wi = XXH3_64bits_withSeed(&key_hash, sizeof(key_hash), m->seed);
		/* Insert into the best-n list, kept sorted, best first. */
		for (at = got; at > 0 && above(wi, m->seed, w[at - 1], s[at - 1]); at--)
			;
		if (at >= n)
			continue;
		if (got < n)
			got++;
		memmove(&w[at + 1], &w[at], (got - 1 - at) * sizeof(w[0]));
		memmove(&s[at + 1], &s[at], (got - 1 - at) * sizeof(s[0]));
		memmove(&out[at + 1], &out[at], (got - 1 - at) * sizeof(out[0]));
		w[at] = wi;
		s[at] = m->seed;
		out[at] = m->id;
	}
	return got;
}

unsigned mmc_placement_count(const struct mmc_placement *p)
{
	return p->n;
}

unsigned mmc_placement_count_up(const struct mmc_placement *p)
{
	unsigned up = 0;

	for (unsigned i = 0; i < p->n; i++)
		up += p->m[i].up;
	return up;
}
