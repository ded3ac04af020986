/*
 * test_concurrency.c - several worker processes, each with its own session,
 * put and get the same keys at once.  The value of a key is a pure function
 * of the key (pattern_fill(len(key), XXH3(key))), so whichever process wins
 * a put, every reader knows the exact bytes it must see.
 *
 *   no_eviction   4 workers x 2000 keys of 4 KiB / 64 KiB / 1 MiB in a 512M
 *                 arena: after a put (or -EEXIST) the key must read back
 *                 byte-exact; every key is committed exactly once.
 *   eviction      4 workers, 1 MiB values, 64M arena: gets may miss, every
 *                 hit is byte-exact, and eviction really happened.
 *   pin_survives_eviction  one session: a pinned object is never evicted.
 *
 * Workers use every write path (put, reserve/commit, putv, put_batch) and
 * every read path (get, acquire, getv, get_batch).  They report through a
 * pipe and their exit status; they never call ck_assert (that would exit
 * the worker through check's machinery).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

#define KiB (1024ull)
#define MiB (1024ull * 1024)
#define NPROC 4
#define CHUNK 32

struct keyset {
	unsigned n;
	size_t (*size)(unsigned i);
	bool may_miss;          /* eviction: a key put may be gone already */
};

static size_t size_mixed(unsigned i)
{
	return i % 10 == 9 ? 1 * MiB : i % 3 == 1 ? 64 * KiB : 4 * KiB;
}

static size_t size_1m(unsigned i)
{
	return 1 * MiB;
}

/* Keys conc/000000, conc/000001, ... */
#define KEY(k, i) mkkey(k, sizeof(k), "conc/", 6, i)

struct result {
	uint64_t hits, misses, puts, exists, busy, errors, corrupt;
};

static void wfail(struct result *r, const char *what, unsigned i, int ret)
{
	if (r->errors++ < 5)
		fprintf(stderr, "worker %d: %s key %u: %d (%s)\n", (int)getpid(),
			what, i, ret, mmc_strerror(ret));
}

static void count_put(struct result *r, unsigned i, int ret)
{
	if (ret == 0)
		r->puts++;
	else if (ret == -EEXIST)
		r->exists++;
	else if (ret == -EBUSY)
		r->busy++;
	else
		wfail(r, "put", i, ret);
}

/* Reads key i by one of the read paths; 1 hit (checked), 0 miss. */
static int read_one(mmc_client *c, const struct keyset *ks, unsigned i,
		    unsigned how, uint8_t *buf, struct result *r)
{
	char k[32];
	size_t kl = KEY(k, i), len = ks->size(i), got = 0;
	struct mmc_view v;
	int ret;

	if (how % 3 == 0) {
		ret = mmc_acquire(c, k, kl, &v);
		if (!ret) {
			if (v.len != len || pattern_check(v.data, len, key_seed(k, kl)))
				r->corrupt++;
			if (mmc_release(c, &v))
				wfail(r, "release", i, -EINVAL);
		}
	} else if (how % 3 == 1) {
		struct iovec iov[3] = {
			{ buf, len / 3 }, { buf + len / 3, 1 }, { buf + len / 3 + 1, len },
		};

		ret = mmc_getv(c, k, kl, iov, 3, &got);
		if (!ret && (got != len || pattern_check(buf, len, key_seed(k, kl))))
			r->corrupt++;
	} else {
		ret = mmc_get(c, k, kl, buf, len, &got);
		if (!ret && (got != len || pattern_check(buf, len, key_seed(k, kl))))
			r->corrupt++;
	}
	if (ret == 0) {
		r->hits++;
		return 1;
	}
	if (ret != -ENOENT)
		wfail(r, "get", i, ret);
	r->misses++;
	return 0;
}

static int put_one(mmc_client *c, const struct keyset *ks, unsigned i,
		   unsigned how, uint8_t *buf)
{
	char k[32];
	size_t kl = KEY(k, i), len = ks->size(i);
	struct mmc_reservation res;
	int ret;

	if (how % 3 == 0) {
		ret = mmc_reserve(c, k, kl, len, &res);
		if (ret)
			return ret;
		pattern_fill(res.data, len, key_seed(k, kl));
		return mmc_commit(c, &res);
	}
	pattern_fill(buf, len, key_seed(k, kl));
	if (how % 3 == 1) {
		struct iovec iov[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };

		return mmc_putv(c, k, kl, iov, 2);
	}
	return mmc_put(c, k, kl, buf, len);
}

/* One chunk of keys through the batch calls. */
static void batch_chunk(mmc_client *c, const struct keyset *ks, const unsigned *ids,
			unsigned n, uint8_t **bufs, struct result *r)
{
	char keys[CHUNK][32];
	const void *kp[CHUNK], *vp[CHUNK];
	void *bp[CHUNK];
	size_t kl[CHUNK], vl[CHUNK];
	int64_t gr[CHUNK];
	int pr[CHUNK];
	unsigned miss[CHUNK], m = 0;

	for (unsigned j = 0; j < n; j++) {
		kl[j] = KEY(keys[j], ids[j]);
		kp[j] = keys[j];
		vl[j] = ks->size(ids[j]);
		bp[j] = bufs[j];
	}
	if (mmc_get_batch(c, n, kp, kl, bp, vl, gr) < 0)
		wfail(r, "get_batch", ids[0], -EIO);
	for (unsigned j = 0; j < n; j++) {
		if (gr[j] == (int64_t)vl[j]) {
			r->hits++;
			if (pattern_check(bufs[j], vl[j], key_seed(keys[j], kl[j])))
				r->corrupt++;
			continue;
		}
		if (gr[j] != -ENOENT)
			wfail(r, "get_batch key", ids[j], (int)gr[j]);
		r->misses++;
		pattern_fill(bufs[j], vl[j], key_seed(keys[j], kl[j]));
		kp[m] = kp[j];
		kl[m] = kl[j];
		vp[m] = bufs[j];
		vl[m] = vl[j];
		miss[m++] = ids[j];
	}
	if (m && mmc_put_batch(c, m, kp, kl, vp, vl, pr) < 0)
		wfail(r, "put_batch", ids[0], -EIO);
	for (unsigned j = 0; j < m; j++) {
		count_put(r, miss[j], pr[j]);
		if ((pr[j] == 0 || pr[j] == -EEXIST) && !ks->may_miss &&
		    !read_one(c, ks, miss[j], j, bufs[j], r))
			wfail(r, "read after batch put", miss[j], -ENOENT);
	}
}

static int worker(unsigned p, const struct keyset *ks, unsigned ops, int out)
{
	struct result r = { 0 };
	uint8_t *bufs[CHUNK];
	unsigned ids[CHUNK];
	mmc_client *c;
	int ret = mmc_connect(NULL, &c);

	if (ret) {
		fprintf(stderr, "worker %u: connect: %s\n", p, mmc_strerror(ret));
		return 2;
	}
	for (unsigned j = 0; j < CHUNK; j++)
		bufs[j] = malloc(2 * MiB);
	for (unsigned base = 0; base < ops; base += CHUNK) {
		unsigned n = ops - base < CHUNK ? ops - base : CHUNK;

		/* every worker walks all keys, each from its own start */
		for (unsigned j = 0; j < n; j++)
			ids[j] = (p * (ks->n / NPROC) + (base + j) * 7) % ks->n;
		if (p == NPROC - 1) {
			batch_chunk(c, ks, ids, n, bufs, &r);
			continue;
		}
		for (unsigned j = 0; j < n; j++) {
			unsigned i = ids[j], how = base + j + p;

			if (read_one(c, ks, i, how, bufs[0], &r))
				continue;
			ret = put_one(c, ks, i, how, bufs[0]);
			count_put(&r, i, ret);
			if ((ret == 0 || ret == -EEXIST) && !ks->may_miss &&
			    !read_one(c, ks, i, how + 1, bufs[0], &r))
				wfail(&r, "read after put", i, -ENOENT);
		}
	}
	mmc_disconnect(c);
	if (write(out, &r, sizeof(r)) != sizeof(r))
		return 3;
	return r.errors || r.corrupt ? 1 : 0;
}

/* Runs NPROC workers to completion; sums their results. */
static struct result run_workers(const struct keyset *ks, unsigned ops)
{
	struct result sum = { 0 };
	pid_t pid[NPROC];
	int fd[2];

	ck_assert_int_eq(pipe(fd), 0);
	for (unsigned p = 0; p < NPROC; p++) {
		pid[p] = fork();
		ck_assert_int_ge(pid[p], 0);
		if (pid[p] == 0) {
			close(fd[0]);
			_exit(worker(p, ks, ops, fd[1]));
		}
	}
	close(fd[1]);
	for (unsigned p = 0; p < NPROC; p++) {
		struct result r;
		int st = wait_child(pid[p]);

		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "worker %u: status 0x%x", p, st);
		ck_assert_int_eq(read(fd[0], &r, sizeof(r)), sizeof(r));
		ck_assert_uint_eq(r.corrupt, 0);
		ck_assert_uint_eq(r.errors, 0);
		sum.hits += r.hits;
		sum.misses += r.misses;
		sum.puts += r.puts;
		sum.exists += r.exists;
		sum.busy += r.busy;
	}
	close(fd[0]);
	printf("%llu hits, %llu misses, %llu puts, %llu -EEXIST, %llu -EBUSY\n",
	       (unsigned long long)sum.hits, (unsigned long long)sum.misses,
	       (unsigned long long)sum.puts, (unsigned long long)sum.exists,
	       (unsigned long long)sum.busy);
	return sum;
}

/* Reads every key with a fresh session; returns how many exist. */
static unsigned verify_all(mmc_client *c, const struct keyset *ks, uint64_t *bytes)
{
	uint8_t *buf = malloc(1 * MiB + 1);
	unsigned present = 0;

	*bytes = 0;
	for (unsigned i = 0; i < ks->n; i++) {
		char k[32];
		size_t kl = KEY(k, i), len = ks->size(i), got = 0;
		int ret = mmc_get(c, k, kl, buf, 1 * MiB + 1, &got);

		if (ret == -ENOENT && ks->may_miss)
			continue;
		ck_assert_msg(ret == 0, "key %u: %s", i, mmc_strerror(ret));
		ck_assert_uint_eq(got, len);
		ck_assert_msg(pattern_check(buf, len, key_seed(k, kl)) == 0, "key %u corrupt", i);
		present++;
		*bytes += (len + 4095) / 4096 * 4096;
	}
	free(buf);
	return present;
}

START_TEST(no_eviction)
{
	const struct keyset ks = { 2000, size_mixed, false };
	struct agent_proc a;
	struct result r;
	struct mmc_stats s;
	mmc_client *c;
	uint64_t bytes;

	agent_start(&a, "512M", NULL);
	r = run_workers(&ks, ks.n);
	/* every key was committed exactly once, by whichever worker won */
	ck_assert_uint_eq(r.puts, ks.n);
	ck_assert_uint_gt(r.hits, 0);
	c = connect_ok(NULL);
	ck_assert_uint_eq(verify_all(c, &ks, &bytes), ks.n);
	s = stats_ok(c);
	ck_assert_uint_eq(s.objects, ks.n);
	ck_assert_uint_eq(s.used_bytes, bytes);
	ck_assert_uint_eq(s.evictions, 0);
	ck_assert_uint_eq(s.puts, ks.n);
	ck_assert_uint_eq(s.put_exists, r.exists);
	ck_assert_msg(s.errors == 0, "agent counted %llu errors (workers saw %llu "
		      "-EBUSY)", (unsigned long long)s.errors, (unsigned long long)r.busy);
	ck_assert_uint_eq(s.reservations, 0);
	ck_assert_uint_eq(s.reserved_bytes, 0);
	ck_assert_uint_eq(s.pinned_objects, 0);
	ck_assert_uint_eq(s.clients, 1);
	agent_finish(&a, c);
}
END_TEST

/* Many engine ranks on one node: 300 sessions at once from one process,
 * against an agent started with a soft descriptor limit of 256 (it holds
 * a descriptor per session and must not be capped near 256). */
#define MANY 300
START_TEST(many_sessions)
{
	struct agent_proc a;
	struct rlimit rl, low;
	static mmc_client *cs[MANY];
	struct mmc_stats st;
	char key[32];

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < 4 * MANY + 64) {
		printf("SKIP: many_sessions needs a hard descriptor limit of %d\n",
		       4 * MANY + 64);
		return;
	}
	low = rl;
	low.rlim_cur = 256;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	agent_start(&a, "64M", NULL);      /* inherits the low soft limit */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	for (int i = 0; i < MANY; i++) {
		cs[i] = connect_ok(NULL);
		snprintf(key, sizeof(key), "many/%d", i);
		roundtrip_ok(cs[i], key, 4096 + (size_t)i, (uint64_t)i);
	}
	st = stats_ok(cs[0]);
	ck_assert_uint_eq(st.clients, MANY);
	ck_assert_uint_eq(st.objects, MANY);
	for (int i = 1; i < MANY; i++)
		mmc_disconnect(cs[i]);
	st = stats_ok(cs[0]);
	ck_assert_uint_eq(st.clients, 1);
	agent_finish(&a, cs[0]);
}
END_TEST

START_TEST(eviction)
{
	const struct keyset ks = { 256, size_1m, true };
	struct agent_proc a;
	struct result r;
	struct mmc_stats s;
	mmc_client *c;
	uint64_t bytes;
	unsigned present;

	agent_start(&a, "64M", NULL);
	r = run_workers(&ks, 2 * ks.n);
	ck_assert_uint_gt(r.puts, 64);      /* more than ever fits at once */
	c = connect_ok(NULL);
	present = verify_all(c, &ks, &bytes);
	s = stats_ok(c);
	ck_assert_uint_gt(s.evictions, 0);
	ck_assert_uint_eq(s.objects, present);
	ck_assert_uint_le(s.objects, 64);
	ck_assert_uint_eq(s.used_bytes, bytes);
	ck_assert_uint_eq(s.puts, r.puts);
	ck_assert_uint_eq(s.evictions, r.puts - present);
	ck_assert_msg(s.errors == 0, "agent counted %llu errors (workers saw %llu "
		      "-EBUSY)", (unsigned long long)s.errors, (unsigned long long)r.busy);
	ck_assert_uint_eq(s.reservations, 0);
	ck_assert_uint_eq(s.pinned_objects, 0);
	agent_finish(&a, c);
}
END_TEST

/* One session: a pinned object survives 200 MiB of puts through a 64M
 * arena (byte-exact, still findable); once released, LRU takes it. */
START_TEST(pin_survives_eviction)
{
	const struct keyset ks = { 400, size_1m, true };
	struct agent_proc a;
	struct mmc_view v;
	mmc_client *c;
	uint8_t *buf = malloc(1 * MiB);
	struct result r = { 0 };
	char k[32];
	size_t kl = KEY(k, 1000);

	agent_start(&a, "64M", NULL);
	c = connect_ok(NULL);
	ck_assert_int_eq(put_one(c, &ks, 1000, 0, buf), 0);
	ck_assert_int_eq(mmc_acquire(c, k, kl, &v), 0);
	for (unsigned i = 0; i < 200; i++)
		ck_assert_int_eq(put_one(c, &ks, i, i, buf), 0);
	ck_assert_uint_ge(stats_ok(c).evictions, 100);
	ck_assert_uint_eq(pattern_check(v.data, v.len, key_seed(k, kl)), 0);
	ck_assert_int_eq(mmc_exists(c, k, kl), 1);     /* pinned: never evicted */
	ck_assert_int_eq(mmc_release(c, &v), 0);
	for (unsigned i = 200; i < 400; i++)
		ck_assert_int_eq(put_one(c, &ks, i, i, buf), 0);
	ck_assert_int_eq(mmc_exists(c, k, kl), 0);     /* unpinned: LRU, gone */
	ck_assert_int_eq(read_one(c, &ks, 399, 0, buf, &r), 1);
	ck_assert_uint_eq(r.corrupt + r.errors, 0);
	free(buf);
	agent_finish(&a, c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("concurrency");

	add_tests(add_tcase(s, "workers", 120),
		  TESTS(no_eviction, eviction, pin_survives_eviction, many_sessions));
	return run_suite(s);
}
