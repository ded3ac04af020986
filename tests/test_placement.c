/*
 * test_placement.c - rendezvous placement (agent/placement.c): balance,
 * minimal movement when members join, leave or go down, replicas, order
 * independence, and bad input.  Keys are XXH3 hashes of "key-N", as the
 * agent's own key hashes are.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "check-main.h"
#include "placement.h"

#define KEYS 40000u

static uint64_t key(unsigned i)
{
	char k[32];
	int n = snprintf(k, sizeof(k), "key-%u", i);

	return XXH3_64bits(k, (size_t)n);
}

static struct mmc_placement *pool(const char *const *ids, unsigned n)
{
	struct mmc_placement *p;

	ck_assert_int_eq(mmc_placement_create(&p), 0);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(mmc_placement_add(p, ids[i]), 0);
	return p;
}

static const char *home(const struct mmc_placement *p, unsigned k)
{
	const char *h = NULL;

	ck_assert_uint_eq(mmc_placement_homes(p, key(k), &h, 1), 1);
	return h;
}

static const char *const ids[] = { "node-a", "node-b", "node-c", "node-d" };

/* Three members: each is home to a third of the keys (+-2 points). */
START_TEST(balance)
{
	struct mmc_placement *p = pool(ids, 3);
	unsigned count[3] = { 0 };

	for (unsigned k = 0; k < KEYS; k++) {
		const char *h = home(p, k);

		for (unsigned i = 0; i < 3; i++)
			count[i] += !strcmp(h, ids[i]);
	}
	for (unsigned i = 0; i < 3; i++)
		ck_assert_msg(count[i] > KEYS * 31 / 100 && count[i] < KEYS * 35 / 100,
			      "%s is home to %u of %u keys", ids[i], count[i], KEYS);
	mmc_placement_destroy(p);
}
END_TEST

/* A fourth member takes about a quarter of the keys, every one of them
 * from its old home; no other key moves. */
START_TEST(join_moves_a_quarter)
{
	struct mmc_placement *p = pool(ids, 3), *q = pool(ids, 4);
	unsigned moved = 0;

	for (unsigned k = 0; k < KEYS; k++) {
		const char *before = home(p, k), *after = home(q, k);

		if (strcmp(before, after)) {
			ck_assert_str_eq(after, "node-d");
			moved++;
		}
	}
	ck_assert_msg(moved > KEYS * 23 / 100 && moved < KEYS * 27 / 100,
		      "%u of %u keys moved", moved, KEYS);
	mmc_placement_destroy(p);
	mmc_placement_destroy(q);
}
END_TEST

/* A member down or removed gives exactly its own keys away, to their
 * second choice; back up, it has them again. */
START_TEST(down_and_leave)
{
	struct mmc_placement *p = pool(ids, 4);
	const char *two[2];
	unsigned lost = 0;

	for (unsigned k = 0; k < KEYS; k++) {
		char was[16];

		ck_assert_uint_eq(mmc_placement_homes(p, key(k), two, 2), 2);
		snprintf(was, sizeof(was), "%s", two[0]);
		ck_assert_int_eq(mmc_placement_set_up(p, "node-b", false), 0);
		if (!strcmp(was, "node-b")) {
			char second[16];

			snprintf(second, sizeof(second), "%s", two[1]);
			ck_assert_str_eq(home(p, k), second);
			lost++;
		} else {
			ck_assert_str_eq(home(p, k), was);
		}
		ck_assert_int_eq(mmc_placement_set_up(p, "node-b", true), 0);
		ck_assert_str_eq(home(p, k), was);
	}
	ck_assert_uint_gt(lost, KEYS / 5);
	ck_assert_uint_eq(mmc_placement_count_up(p), 4);
	/* Removed: the same as down for everyone else's keys. */
	ck_assert_int_eq(mmc_placement_remove(p, "node-b"), 0);
	ck_assert_uint_eq(mmc_placement_count(p), 3);
	for (unsigned k = 0; k < KEYS; k += 7)
		ck_assert_str_ne(home(p, k), "node-b");
	mmc_placement_destroy(p);
}
END_TEST

/* Replicas are distinct members, the first one the home; asking for more
 * than are up gives those that are. */
START_TEST(replicas)
{
	struct mmc_placement *p = pool(ids, 4);
	const char *r[8];

	for (unsigned k = 0; k < 1000; k++) {
		ck_assert_uint_eq(mmc_placement_homes(p, key(k), r, 3), 3);
		ck_assert_str_eq(r[0], home(p, k));
		ck_assert_str_ne(r[0], r[1]);
		ck_assert_str_ne(r[0], r[2]);
		ck_assert_str_ne(r[1], r[2]);
	}
	ck_assert_uint_eq(mmc_placement_homes(p, key(1), r, 8), 4);
	ck_assert_int_eq(mmc_placement_set_up(p, "node-a", false), 0);
	ck_assert_int_eq(mmc_placement_set_up(p, "node-c", false), 0);
	ck_assert_uint_eq(mmc_placement_homes(p, key(1), r, 8), 2);
	ck_assert_uint_eq(mmc_placement_homes(p, key(1), r, 0), 0);
	mmc_placement_destroy(p);
}
END_TEST

/* Every agent computes the same homes whatever order it learnt the
 * members in. */
START_TEST(order_independent)
{
	static const char *const rev[] = { "node-d", "node-c", "node-b", "node-a" };
	struct mmc_placement *p = pool(ids, 4), *q = pool(rev, 4);

	for (unsigned k = 0; k < KEYS; k += 3)
		ck_assert_str_eq(home(p, k), home(q, k));
	mmc_placement_destroy(p);
	mmc_placement_destroy(q);
}
END_TEST

START_TEST(bad_input)
{
	struct mmc_placement *p;
	char id[MMC_NODE_ID_MAX + 2];
	const char *h;

	ck_assert_int_eq(mmc_placement_create(&p), 0);
	ck_assert_uint_eq(mmc_placement_homes(p, 42, &h, 1), 0);   /* nobody: a miss */
	ck_assert_int_eq(mmc_placement_add(p, ""), -EINVAL);
	ck_assert_int_eq(mmc_placement_add(p, NULL), -EINVAL);
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	ck_assert_int_eq(mmc_placement_add(p, id), -ENAMETOOLONG);
	id[MMC_NODE_ID_MAX] = '\0';
	ck_assert_int_eq(mmc_placement_add(p, id), 0);              /* the longest */
	ck_assert_int_eq(mmc_placement_add(p, id), -EEXIST);
	ck_assert_int_eq(mmc_placement_remove(p, "nobody"), -ENOENT);
	ck_assert_int_eq(mmc_placement_set_up(p, "nobody", true), -ENOENT);
	for (unsigned i = 1; i < MMC_PLACEMENT_MAX; i++) {
		char n[16];

		snprintf(n, sizeof(n), "n%u", i);
		ck_assert_int_eq(mmc_placement_add(p, n), 0);
	}
	ck_assert_int_eq(mmc_placement_add(p, "one-too-many"), -ENOSPC);
	ck_assert_uint_eq(mmc_placement_homes(p, 42, &h, 1), 1);
	mmc_placement_destroy(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("placement");
	TCase *tc = add_tcase(s, "placement", 30);

	add_tests(tc, TESTS(balance, join_moves_a_quarter, down_and_leave, replicas,
			    order_independent, bad_input));
	return run_suite(s);
}
