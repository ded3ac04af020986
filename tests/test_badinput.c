/*
 * test_badinput.c - what mmc-agent and libshm do with bad input: argument
 * errors of the API, refused credentials, garbage on the socket, and hostile
 * clients that speak the raw protocol (proto-t.h) and scribble on their own
 * ring (layout-t.h).  Whatever a client does, the agent must end at most that
 * client's session, keep serving everyone else byte-exact, and stop cleanly.
 *
 * No sleeps: a refused or closed session is observed as the welcome it sends
 * and/or the EOF on our end of the socket (the agent closes it); completions
 * are waited for with cq_waiting + poll() on the socket, for the wake-up.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout-t.h"
#include "proto-t.h"
#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"
#include "raw-session.h"

#define ARENA   "64M"
#define ARENA_B (64ull << 20)

/* ---- API argument errors ---- */

/* Every listed call must return want (the failure names the call's index). */
#define ALL_EQ(want, ...) do { \
	const int r_[] = { __VA_ARGS__ }; \
	for (size_t i_ = 0; i_ < sizeof(r_) / sizeof(r_[0]); i_++) \
		ck_assert_msg(r_[i_] == (want), "line %d, call #%zu: %d (%s), want %d", \
			      __LINE__, i_, r_[i_], mmc_strerror(r_[i_]), (want)); \
} while (0)

START_TEST(test_api_args)
{
	struct agent_proc a;
	struct mmc_stats st;
	struct mmc_client_stats cs;
	struct mmc_view v = { 0 };
	struct mmc_reservation r = { 0 };
	struct iovec iov = { 0 };
	mmc_client *c;
	uint8_t key[MMC_KEY_MAX + 1], val[64], out[64];
	size_t got = 0;
	void *huge;

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	pattern_fill(val, sizeof(val), 7);

	/* empty key: -EINVAL everywhere, also a NULL key */
	ALL_EQ(-EINVAL, mmc_put(c, "", 0, val, sizeof(val)),
	       mmc_get(c, "", 0, out, sizeof(out), NULL), mmc_exists(c, "", 0),
	       mmc_remove(c, "", 0), mmc_acquire(c, "", 0, &v),
	       mmc_reserve(c, "", 0, 10, &r), mmc_put(c, NULL, 5, val, sizeof(val)),
	       mmc_exists(c, NULL, 5));

	/* 257 bytes: -ENAMETOOLONG everywhere */
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 31 + 1);
	ALL_EQ(-ENAMETOOLONG, mmc_put(c, key, 257, val, sizeof(val)),
	       mmc_get(c, key, 257, out, sizeof(out), NULL), mmc_exists(c, key, 257),
	       mmc_remove(c, key, 257), mmc_acquire(c, key, 257, &v),
	       mmc_reserve(c, key, 257, 10, &r));
	ck_assert_int_eq(mmc_exists(c, key, 256), 0);   /* truncation != match */

	/* 256 bytes (binary, with a NUL inside) works end to end */
	key[100] = 0;
	ck_assert_int_eq(mmc_put(c, key, 256, val, sizeof(val)), 0);
	ck_assert_int_eq(mmc_put(c, key, 256, val, sizeof(val)), -EEXIST);
	ck_assert_int_eq(mmc_exists(c, key, 256), 1);
	ck_assert_int_eq(mmc_exists(c, key, 255), 0);
	ck_assert_int_eq(mmc_get(c, key, 256, out, sizeof(out), &got), 0);
	ck_assert_uint_eq(got, sizeof(val));
	ck_assert_uint_eq(pattern_check(out, sizeof(out), 7), 0);
	ck_assert_int_eq(mmc_get(c, key, 256, out, 10, &got), -EMSGSIZE);
	ck_assert_uint_eq(got, sizeof(val));
	ck_assert_int_eq(mmc_acquire(c, key, 256, &v), 0);
	ck_assert_uint_eq(v.len, sizeof(val));
	ck_assert_uint_eq(pattern_check(v.data, v.len, 7), 0);
	ck_assert_int_eq(mmc_release(c, &v), 0);
	ck_assert_int_eq(mmc_release(c, &v), -EINVAL);   /* double release */
	ck_assert_int_eq(mmc_remove(c, key, 256), 0);
	ck_assert_int_eq(mmc_exists(c, key, 256), 0);
	ck_assert_int_eq(mmc_remove(c, key, 256), -ENOENT);

	/* zero-length values */
	ALL_EQ(-EINVAL, mmc_put(c, "z", 1, val, 0), mmc_put(c, "z", 1, NULL, 0),
	       mmc_reserve(c, "z", 1, 0, &r), mmc_putv(c, "z", 1, &iov, 1),
	       mmc_putv(c, "z", 1, &iov, 0));
	ck_assert_int_eq(mmc_exists(c, "z", 1), 0);

	/* larger than the arena: never fits, -E2BIG (not -ENOSPC); the buffer
	 * is a lazily backed mapping, so reading it could not crash either */
	huge = mmap(NULL, ARENA_B + 8192, PROT_READ,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert(huge != MAP_FAILED);
	ALL_EQ(-E2BIG, mmc_put(c, "big", 3, huge, ARENA_B + 4096),
	       mmc_put(c, "big", 3, huge, ARENA_B + 1),
	       mmc_reserve(c, "big", 3, ARENA_B + 1, &r),
	       mmc_reserve(c, "big", 3, SIZE_MAX, &r));
	munmap(huge, ARENA_B + 8192);
	ck_assert_int_eq(mmc_exists(c, "big", 3), 0);

	/* NULL handles and arguments (r was never reserved: r.data is NULL) */
	ALL_EQ(-EINVAL, mmc_connect(a.sock, NULL),
	       mmc_put(NULL, "k", 1, val, sizeof(val)), mmc_put(c, "k", 1, NULL, 10),
	       mmc_get(NULL, "k", 1, out, sizeof(out), NULL),
	       mmc_get(c, "k", 1, NULL, 10, NULL), mmc_getv(c, "k", 1, NULL, 1, NULL),
	       mmc_exists(NULL, "k", 1), mmc_remove(NULL, "k", 1), mmc_clear(NULL),
	       mmc_acquire(NULL, "k", 1, &v), mmc_acquire(c, "k", 1, NULL),
	       mmc_release(NULL, &v), mmc_release(c, NULL),
	       mmc_reserve(NULL, "k", 1, 10, &r), mmc_reserve(c, "k", 1, 10, NULL),
	       mmc_commit(NULL, &r), mmc_commit(c, NULL), mmc_abort(c, NULL),
	       mmc_commit(c, &r), mmc_client_stats(NULL, &cs), mmc_client_stats(c, NULL),
	       mmc_agent_stats(NULL, &st), mmc_agent_stats(c, NULL),
	       mmc_stats_read(NULL, &st),
	       mmc_exists_batch(NULL, 1, NULL, NULL, NULL, NULL),
	       mmc_put_batch(c, 1, NULL, NULL, NULL, NULL, NULL));
	mmc_disconnect(NULL);
	ck_assert_int_eq(mmc_exists(c, "k", 1), 0);

	/* The session and the agent are fine after all of it. */
	roundtrip_ok(c, "after-bad-args", 100000, 99);
	st = stats_ok(c);
	ck_assert_uint_eq(st.objects, 1);
	ck_assert_uint_eq(st.reservations, 0);
	ck_assert_uint_eq(st.clients, 1);
	agent_finish(&a, c);
}
END_TEST

/* ---- credentials ---- */

START_TEST(test_disallowed_uid)
{
	char conf[320];
	struct agent_proc a;
	struct mmc_stats st0, st;
	mmc_client *c;
	FILE *f;
	int rc;

	/* The harness's dir is made later: write the config next to /tmp. */
	snprintf(conf, sizeof(conf), "/tmp/mmc-badinput-%d.conf", (int)getpid());
	f = fopen(conf, "w");
	ck_assert(f);
	fprintf(f, "[agent]\nsocket_mode = 0666\n[access]\nallow_uids = 65533\n");
	ck_assert_int_eq(fclose(f), 0);
	agent_start(&a, ARENA, "--config", conf, NULL);
	unlink(conf);
	/* mkdtemp made it 0700: let the other uids reach the socket. */
	ck_assert_int_eq(chmod(a.dir, 0755), 0);
	c = connect_ok(NULL);
	st0 = stats_ok(c);

	rc = as_uid(a.sock, 65534, "uid-key", -EACCES);
	ck_assert_msg(rc == 0, "uid 65534: child status %d", rc);
	st = stats_ok(c);
	/* The agent refused it (not the file system): the counter moved. */
	ck_assert_uint_eq(st.clients_rejected, st0.clients_rejected + 1);
	ck_assert_uint_eq(st.clients_total, st0.clients_total);
	ck_assert_uint_eq(st.objects, 0);

	/* Control: a listed uid on the same socket is admitted and served. */
	rc = as_uid(a.sock, 65533, "uid-key", 0);
	ck_assert_msg(rc == 0, "uid 65533: child status %d", rc);
	st = stats_ok(c);
	ck_assert_uint_eq(st.clients_rejected, st0.clients_rejected + 1);
	ck_assert_uint_eq(st.clients_total, st0.clients_total + 1);
	ck_assert_uint_eq(st.objects, 1);
	roundtrip_ok(c, "root-after-uids", 5000, 5);
	agent_finish(&a, c);
}
END_TEST

/* ---- the raw protocol ---- */

START_TEST(test_garbage_hello)
{
	struct agent_proc a;
	struct mmc_stats st0, st;
	struct mmc_hello h;
	uint8_t junk[200];
	mmc_client *c, *c2;
	int silent, refused = 0;

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	st0 = stats_ok(c);
	/* A connection that says nothing blocks nobody. */
	silent = raw_connect(a.sock);

	ck_assert(getrandom(junk, sizeof(junk), 0) == sizeof(junk));
	junk[0] = 0xa5;   /* never the magic's first byte (0x00) */
	refused += expect_refused(raw_connect(a.sock), junk, sizeof(junk), "random 200");
	refused += expect_refused(raw_connect(a.sock), junk, sizeof(struct mmc_hello),
				  "random hello-sized");
	h = good_hello();
	refused += expect_refused(raw_connect(a.sock), &h, 6, "short hello");
	h.magic = 0xdeadbeef;
	refused += expect_refused(raw_connect(a.sock), &h, sizeof(h), "bad magic");
	h = good_hello();
	h.version = MMC_PROTO_VERSION + 1;
	refused += expect_refused(raw_connect(a.sock), &h, sizeof(h), "wrong version");
	h = good_hello();
	h.type = MMC_MSG_WELCOME;
	refused += expect_refused(raw_connect(a.sock), &h, sizeof(h), "wrong type");
	memset(junk, 0, sizeof(junk));
	memcpy(junk, &h, sizeof(h));
	((struct mmc_hello *)junk)->type = MMC_MSG_HELLO;
	refused += expect_refused(raw_connect(a.sock), junk, sizeof(h) + 1, "long hello");
	ck_assert_int_eq(refused, 7);
	/* Connect and close at once, with no hello. */
	for (int i = 0; i < 5; i++)
		close(raw_connect(a.sock));

	/* The agent serves, old session and new alike, byte-exact. */
	roundtrip_ok(c, "after-garbage-old", 300000, 1);
	c2 = connect_ok(NULL);
	get_seeded_ok(c2, "after-garbage-old", 300000, 1);
	roundtrip_ok(c2, "after-garbage-new", 4096, 2);
	mmc_disconnect(c2);
	st = stats_ok(c);
	/* Every refusal we saw was counted as one. */
	ck_assert_uint_ge(st.clients_rejected, st0.clients_rejected + 7);
	ck_assert_uint_eq(st.clients_total, st0.clients_total + 1);
	ck_assert_uint_eq(st.clients, 1);
	close(silent);
	agent_finish(&a, c);
}
END_TEST

START_TEST(test_junk_after_handshake)
{
	struct agent_proc a;
	struct mmc_stats st0, st;
	struct raw_session rs;
	mmc_client *c;

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	roundtrip_ok(c, "before-junk", 65536, 3);
	raw_handshake(&rs, a.sock);
	st0 = stats_ok(c);
	ck_assert_uint_eq(st0.clients, 2);
	ck_assert_int_eq(send(rs.sock, "junk junk", 9, MSG_NOSIGNAL), 9);
	wait_closed(&rs);
	st = stats_ok(c);
	ck_assert_uint_eq(st.bad_requests, st0.bad_requests + 1);
	ck_assert_uint_eq(st.clients, 1);
	roundtrip_ok(c, "after-junk", 65536, 4);
	ck_assert_int_eq(mmc_exists(c, "before-junk", 11), 1);
	raw_close(&rs);
	agent_finish(&a, c);
}
END_TEST

START_TEST(test_ring_corrupted)
{
	struct agent_proc a;
	struct mmc_stats st0, st;
	struct raw_session rs;
	struct mmc_sqe q = { .op = MMC_OP_NOP, .tag = 0x1234 };
	struct mmc_cqe cqe;
	mmc_client *c;

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	raw_handshake(&rs, a.sock);
	/* The raw ring works: a NOP comes back with its tag. */
	raw_queue(&rs, &q);
	raw_submit_wait(&rs, &cqe, 1);
	ck_assert_uint_eq(cqe.tag, 0x1234);
	ck_assert_int_eq(cqe.res, 0);
	st0 = stats_ok(c);
	ck_assert_uint_eq(st0.clients, 2);

	atomic_store(&rs.ring->sq_tail, atomic_load(&rs.ring->sq_head) + 100000);
	raw_ring(&rs);
	wait_closed(&rs);
	st = stats_ok(c);
	ck_assert_uint_eq(st.bad_requests, st0.bad_requests + 1);
	ck_assert_uint_eq(st.clients, 1);
	roundtrip_ok(c, "after-corruption", 1 << 20, 11);
	raw_close(&rs);
	agent_finish(&a, c);
}
END_TEST

/* The socket carries the agent's wake-ups: a client that keeps its end
 * blocking and never reads them, while asking for a wake-up on every
 * completion - far more than the socket holds - and ringing the doorbell
 * for every request, must not make the agent's sends block: it keeps
 * serving that client and everyone else. */
START_TEST(test_wakeup_channel_abuse)
{
	struct agent_proc a;
	struct raw_session rs;
	struct mmc_sqe q = { .op = MMC_OP_NOP };
	struct mmc_stats st;
	int fl;
	mmc_client *c;

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	raw_handshake(&rs, a.sock);
	fl = fcntl(rs.sock, F_GETFL);
	ck_assert_int_ge(fl, 0);
	ck_assert_int_eq(fcntl(rs.sock, F_SETFL, fl & ~O_NONBLOCK), 0);
	atomic_store(&rs.ring->cq_waiting, 1);
	for (uint32_t i = 0; i < 9000; i++) {     /* > the socket's buffer of wake-ups */
		double deadline = now_s() + 10;

		q.tag = i;
		raw_queue(&rs, &q);
		atomic_store(&rs.ring->sq_tail, rs.sq_tail);
		(void)!send(rs.sock, &(uint8_t){ MMC_MSG_BELL }, 1, MSG_DONTWAIT);
		while (atomic_load(&rs.ring->cq_tail) != rs.cq_head + 1)
			ck_assert_msg(now_s() < deadline, "request %u not answered", i);
		ck_assert_uint_eq(rs.cq[rs.cq_head % MMC_CQ_ENTRIES].tag, i);
		atomic_store(&rs.ring->cq_head, ++rs.cq_head);
	}
	roundtrip_ok(c, "after-wakeup-abuse", 65536, 21);
	st = stats_ok(c);
	ck_assert_uint_eq(st.clients, 2);
	raw_close(&rs);
	agent_finish(&a, c);
}
END_TEST

START_TEST(test_hostile_requests)
{
	struct agent_proc a;
	struct mmc_stats st0, st;
	struct raw_session rs;
	struct mmc_reservation r;
	struct mmc_cqe cqe[256];
	struct mmc_sqe q;
	int32_t want[256];
	uint8_t rnd[64 * sizeof(struct mmc_sqe)];
	uint32_t n = 0, unknown = 0, lookupv;
	mmc_client *c;
	uint8_t val[8192];

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	roundtrip_ok(c, "victim", 8192, 21);
	/* Another session's reservation, for the hostile one to try to steal. */
	ck_assert_int_eq(mmc_reserve(c, "stolen", 6, sizeof(val), &r), 0);
	raw_handshake(&rs, a.sock);
	st0 = stats_ok(c);

#define Q(...) do { q = (struct mmc_sqe){ .tag = n, __VA_ARGS__ }; \
	raw_queue(&rs, &q); } while (0)
#define W(res) (want[n++] = (res))
	Q(.op = 200);                                     W(-EOPNOTSUPP); unknown++;
	Q(.op = MMC_OP_MAX_);                             W(-EOPNOTSUPP); unknown++;
	Q(.op = 255, .key_len = 300);                     W(-EOPNOTSUPP); unknown++;
	Q(.op = MMC_OP_RESERVE, .key_len = 300, .arg = 10);   W(-ENAMETOOLONG);
	Q(.op = MMC_OP_RESERVE, .key_len = 0xffff, .arg = 10); W(-ENAMETOOLONG);
	Q(.op = MMC_OP_RESERVE, .key_len = 0, .arg = 10);     W(-EINVAL);
	Q(.op = MMC_OP_RESERVE, .key_len = 3, .key = "abc");  W(-EINVAL);
	Q(.op = MMC_OP_RESERVE, .key_len = 3, .key = "abc", .arg = 1ull << 62); W(-E2BIG);
	Q(.op = MMC_OP_RESERVE, .key_len = 6, .key = "victim", .arg = 10); W(-EEXIST);
	Q(.op = MMC_OP_RESERVE, .key_len = 6, .key = "stolen", .arg = 10); W(-EBUSY);
	Q(.op = MMC_OP_REMOVE, .key_len = 300);           W(-ENAMETOOLONG);
	Q(.op = MMC_OP_REMOVE, .key_len = 6, .key = "stolen"); W(-EBUSY);
	Q(.op = MMC_OP_FETCH, .key_len = 999);            W(-ENAMETOOLONG);
	Q(.op = MMC_OP_COMMIT, .idx = 0xffffffffu, .gen = 1);  W(-EINVAL);
	Q(.op = MMC_OP_COMMIT, .idx = 1u << 30);          W(-EINVAL);
	Q(.op = MMC_OP_ABORT, .idx = 0xfffffffeu);        W(-EINVAL);
	Q(.op = MMC_OP_COMMIT, .idx = r.idx_, .gen = r.gen_);     W(-EINVAL);
	Q(.op = MMC_OP_ABORT, .idx = r.idx_, .gen = r.gen_);      W(-EINVAL);
	Q(.op = MMC_OP_COMMIT, .idx = r.idx_, .gen = r.gen_ + 1); W(-EINVAL);
	Q(.op = MMC_OP_NOP, .key_len = 300, .idx = 77);   W(0);
	/* Packed lookups (layout-t.h): every length byte checked against the
	 * bytes there are; a good one answers a bit per key. */
	lookupv = n;
	Q(.op = MMC_OP_LOOKUPV, .arg = 2, .key_len = 12, .key = "\x06victim\x04nope"); W(1);
	Q(.op = MMC_OP_LOOKUPV, .arg = 0, .key_len = 7, .key = "\x06victim");  W(-EINVAL);
	Q(.op = MMC_OP_LOOKUPV, .arg = 65, .key_len = 7, .key = "\x06victim"); W(-EINVAL);
	Q(.op = MMC_OP_LOOKUPV, .arg = ~0ull, .key_len = 7, .key = "\x06victim"); W(-EINVAL);
	Q(.op = MMC_OP_LOOKUPV, .arg = 1, .key_len = 6, .key = "\x06victi");   W(-EINVAL);
	Q(.op = MMC_OP_LOOKUPV, .arg = 1, .key_len = 8, .key = "\x06victimX"); W(-EINVAL);
	Q(.op = MMC_OP_LOOKUPV, .arg = 2, .key_len = 7, .key = "\x06victim");  W(-EINVAL);
	Q(.op = MMC_OP_LOOKUPV, .arg = 2, .key_len = 8, .key = "\x06victim");  W(-EINVAL);
	Q(.op = MMC_OP_LOOKUPV, .arg = 1, .key_len = 300);  W(-ENAMETOOLONG);
	Q(.op = MMC_OP_LOOKUPV, .arg = 1, .key_len = 0);    W(-EINVAL);
	q = (struct mmc_sqe){ .tag = n, .op = MMC_OP_LOOKUPV, .arg = 1, .key_len = 256 };
	q.key[0] = 255;                                   /* fills the area */
	memset(q.key + 1, 'z', 255);
	raw_queue(&rs, &q);                               W(0);
	q = (struct mmc_sqe){ .tag = n, .op = MMC_OP_LOOKUPV, .arg = 64, .key_len = 128 };
	for (unsigned i = 0; i < 64; i++) {               /* the most keys */
		q.key[2 * i] = 1;
		q.key[2 * i + 1] = (uint8_t)('0' + i);
	}
	raw_queue(&rs, &q);                               W(0);
	raw_submit_wait(&rs, cqe, n);
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_uint_eq(cqe[i].tag, i);
		ck_assert_msg(cqe[i].res == want[i], "request %u: res %d, want %d",
			      i, cqe[i].res, want[i]);
	}
	ck_assert_uint_eq(cqe[lookupv].off, 1);          /* victim yes, nope no */

	/* Random bytes in every field; the op byte is any unknown code or one
	 * that addresses only this session's own objects. */
	ck_assert(getrandom(rnd, sizeof(rnd), 0) == sizeof(rnd));
	for (uint32_t i = 0; i < 64; i++) {
		static const uint8_t own_ops[] = {
			MMC_OP_RESERVE, MMC_OP_COMMIT, MMC_OP_ABORT, MMC_OP_FETCH, MMC_OP_NOP,
		};
		struct mmc_sqe *p = (struct mmc_sqe *)rnd + i;

		if (p->op < MMC_OP_MAX_)
			p->op = own_ops[p->op % sizeof(own_ops)];
		else
			unknown++;
		p->tag = 1000 + i;
		if (p->op == MMC_OP_RESERVE && p->key_len <= MMC_KEY_MAX)
			p->arg &= (1u << 20) - 1;   /* room for the rest of the test */
		raw_queue(&rs, p);
	}
	raw_submit_wait(&rs, cqe, 64);
	for (uint32_t i = 0; i < 64; i++) {
		const struct mmc_sqe *p = (struct mmc_sqe *)rnd + i;

		ck_assert_uint_eq(cqe[i].tag, 1000 + i);
		if (p->op >= MMC_OP_MAX_)
			ck_assert_int_eq(cqe[i].res, -EOPNOTSUPP);
		else if (p->op != MMC_OP_RESERVE && p->op != MMC_OP_NOP)
			ck_assert_msg(cqe[i].res < 0, "random op %u accepted", p->op);
		ck_assert_int_le(cqe[i].res, 0);
	}
	st = stats_ok(c);
	ck_assert_uint_eq(st.bad_requests, st0.bad_requests + unknown);
	ck_assert_uint_eq(st.clients, 2);

	/* The victim is intact; the real owner still commits its reservation. */
	pattern_fill(val, sizeof(val), 22);
	memcpy(r.data, val, sizeof(val));
	ck_assert_int_eq(mmc_commit(c, &r), 0);
	roundtrip_ok(c, "after-hostile", 8192, 23);
	get_seeded_ok(c, "victim", 8192, 21);
	get_seeded_ok(c, "stolen", sizeof(val), 22);
	/* Its end frees whatever the hostile session reserved. */
	raw_close(&rs);
	st = stats_ok(c);
	ck_assert_uint_eq(st.clients, 1);
	ck_assert_uint_eq(st.reservations, 0);
	ck_assert_uint_eq(st.reserved_bytes, 0);
	ck_assert_uint_eq(st.objects, 3);
	agent_finish(&a, c);
}
END_TEST

/* A client writes whatever it likes into its own counters (and its hit
 * histogram): 10^18 hits, a byte count near 2^64, then counters that run
 * backwards.  What it says
 * stays its own: the agent's hits, gets and bytes grow by no more than a
 * real client could have done in the time (never wrapping, never going
 * back), what it did not believe is counted, and an honest client's hits
 * are still counted exactly. */
START_TEST(test_forged_counters)
{
	struct agent_proc a;
	struct mmc_stats st0, st1, st;
	struct mmc_client_stats cs0, cs;
	struct raw_session rs;
	struct mmc_client_counters *k;
	mmc_client *c;
	double t0, dt;
	uint64_t most;

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	put_pat_ok(c, "honest", 5000);
	st0 = stats_ok(c);
	t0 = now_s();
	raw_handshake(&rs, a.sock);
	k = &rs.ring->counters;
	atomic_store(&k->hits, 1000000000000000000ull);
	atomic_store(&k->gets, 1000000000000000000ull);
	atomic_store(&k->get_bytes, UINT64_MAX - 5);
	atomic_store(&k->misses, 3);
	atomic_store(&rs.ring->hit_hist.bucket[3], 1000000000000000000ull);
	atomic_store(&rs.ring->hit_hist.sum_ns, UINT64_MAX / 2);
	st1 = stats_ok(c);                      /* a refresh folds it once */
	atomic_store(&k->hits, 7);              /* and now backwards */
	atomic_store(&k->gets, 5);
	raw_close(&rs);                         /* its end folds it again */
	wait_closed_by_stats(c, st0.clients);
	st = stats_ok(c);
	dt = now_s() - t0;
	/* a hit per ns, a kB per ns, plus the fold's slack of 4096, per fold */
	most = (uint64_t)(dt * 1e9) + 2 * 4096;
	ck_assert_msg(st.hits - st0.hits <= most, "forged hits counted: %llu in %.3f s",
		      (unsigned long long)(st.hits - st0.hits), dt);
	ck_assert_uint_le(st.gets - st0.gets, most);
	ck_assert_uint_le(st.get_bytes - st0.get_bytes, most * 1000);
	ck_assert_uint_ge(st.hits, st1.hits);   /* never backwards */
	ck_assert_uint_ge(st.gets, st1.gets);
	ck_assert_uint_eq(st.misses - st0.misses, 3);   /* believable: taken */
	ck_assert_msg(st.counters_clamped - st0.counters_clamped >= 6,   /* + the histogram */
		      "counters_clamped moved by %llu",
		      (unsigned long long)(st.counters_clamped - st0.counters_clamped));
	ck_assert((double)st.hits / ((double)st.hits + (double)st.misses) <= 1.0);

	/* An honest client is still counted to the unit. */
	ck_assert_int_eq(mmc_client_stats(c, &cs0), 0);
	for (int i = 0; i < 10; i++)
		get_pat_ok(c, "honest", 5000);
	ck_assert_int_eq(mmc_client_stats(c, &cs), 0);
	ck_assert_uint_eq(cs.hits - cs0.hits, 10);
	st0 = st;
	st = stats_ok(c);
	ck_assert_uint_eq(st.hits - st0.hits, 10);
	ck_assert_uint_eq(st.gets - st0.gets, 10);
	ck_assert_uint_eq(st.get_bytes - st0.get_bytes, 50000);
	ck_assert_uint_eq(st.counters_clamped, st0.counters_clamped);
	agent_finish(&a, c);
}
END_TEST

/* A client that never reads its completions: 256 answered, one more queued
 * behind the full completion ring.  It just stops being served; the agent
 * still accepts, serves others, and stops on SIGTERM. */
START_TEST(test_cq_never_read)
{
	struct agent_proc a;
	struct raw_session rs;
	struct mmc_sqe q = { .op = MMC_OP_NOP };
	struct mmc_cqe cqe;
	mmc_client *c, *c2;

	agent_start(&a, ARENA, NULL);
	c = connect_ok(NULL);
	raw_handshake(&rs, a.sock);
	for (uint32_t i = 0; i < MMC_CQ_ENTRIES; i++) {
		q.tag = i;
		raw_queue(&rs, &q);
	}
	raw_submit_wait(&rs, NULL, MMC_CQ_ENTRIES);   /* all answered, none read */
	q.tag = 4242;
	raw_queue(&rs, &q);
	atomic_store(&rs.ring->sq_tail, rs.sq_tail);
	raw_ring(&rs);

	/* New sessions are still accepted (not -ETIMEDOUT), old ones served. */
	c2 = connect_ok(NULL);
	roundtrip_ok(c2, "while-stalled", 70000, 31);
	roundtrip_ok(c, "while-stalled-2", 7000, 32);
	mmc_disconnect(c2);

	/* Reading the completions unblocks the queued request. */
	rs.cq_head += MMC_CQ_ENTRIES;
	atomic_store(&rs.ring->cq_head, rs.cq_head);
	raw_submit_wait(&rs, &cqe, 1);
	ck_assert_uint_eq(cqe.tag, 4242);
	ck_assert_int_eq(cqe.res, 0);
	raw_close(&rs);
	agent_finish(&a, c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("badinput");
	TCase *tc = add_tcase(s, "badinput", 60);

	tcase_add_test(tc, test_api_args);
	if (geteuid() == 0)
		tcase_add_test(tc, test_disallowed_uid);
	else
		printf("SKIP: test_disallowed_uid needs root (setuid)\n");
	add_tests(tc, TESTS(test_garbage_hello, test_junk_after_handshake,
			    test_wakeup_channel_abuse,
			    test_ring_corrupted, test_hostile_requests, test_cq_never_read,
			    test_forged_counters));
	return run_suite(s);
}
