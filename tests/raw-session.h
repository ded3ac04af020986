/*
 * raw-session.h - a client that speaks the raw protocol (proto-t.h) and
 * writes its own ring (layout-t.h) by hand, for the tests of what the
 * agent does with hostile or careless clients (test_badinput, test_limits).
 * Header-only, check assertions throughout: call from the test process.
 */
#ifndef MMC_TESTS_RAW_SESSION_H
#define MMC_TESTS_RAW_SESSION_H

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "layout-t.h"
#include "proto-t.h"
#include "harness.h"

static inline int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	ck_assert(fd >= 0);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static inline struct mmc_hello good_hello(void)
{
	struct mmc_hello h = {
		.magic = MMC_PROTO_MAGIC, .version = MMC_PROTO_VERSION,
		.type = MMC_MSG_HELLO, .pid = (uint32_t)getpid(),
	};
	return h;
}

/* Sends msg, then expects a refusal: a welcome carrying -EPROTO and no fds,
 * then EOF.  Returns 1 if a welcome came, 0 if the agent just closed. */
static inline int expect_refused(int fd, const void *msg, size_t len, const char *what)
{
	char cbuf[CMSG_SPACE(sizeof(int) * MMC_FD_COUNT)];
	struct mmc_welcome w;
	struct iovec iov = { .iov_base = &w, .iov_len = sizeof(w) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	int welcomed = 0;

	if (msg)
		ck_assert_msg(send(fd, msg, len, MSG_NOSIGNAL) == (ssize_t)len,
			      "%s: send: %s", what, strerror(errno));
	memset(&w, 0, sizeof(w));
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	ck_assert_msg(n >= 0 || errno == ECONNRESET, "%s: no answer: %s", what,
		      strerror(errno));
	if (n > 0) {
		ck_assert_msg(n == sizeof(w), "%s: welcome of %zd bytes", what, n);
		ck_assert_uint_eq(w.magic, MMC_PROTO_MAGIC);
		ck_assert_uint_eq(w.type, MMC_MSG_WELCOME);
		ck_assert_msg(w.status == -EPROTO, "%s: status %d", what, w.status);
		ck_assert_msg(CMSG_FIRSTHDR(&mh) == NULL, "%s: fds with a refusal", what);
		welcomed = 1;
		n = recv(fd, &w, sizeof(w), 0);
		ck_assert_msg(n == 0 || (n < 0 && errno == ECONNRESET),
			      "%s: socket not closed after refusal (%zd)", what, n);
	}
	close(fd);
	return welcomed;
}

/* A session set up by hand: socket, the five fds, the mapped ring. */
struct raw_session {
	int sock;
	int fds[MMC_FD_COUNT];
	struct mmc_welcome w;
	struct mmc_ring_hdr *ring;
	struct mmc_sqe *sq;
	struct mmc_cqe *cq;
	uint32_t sq_tail, cq_head;
};

static inline void raw_handshake(struct raw_session *rs, const char *path)
{
	char cbuf[CMSG_SPACE(sizeof(int) * MMC_FD_COUNT)];
	struct mmc_hello h = good_hello();
	struct iovec iov = { .iov_base = &rs->w, .iov_len = sizeof(rs->w) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	struct stat sb;
	ssize_t n;
	void *p;

	memset(rs, 0, sizeof(*rs));
	rs->sock = raw_connect(path);
	ck_assert_int_eq(send(rs->sock, &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
	n = recvmsg(rs->sock, &mh, MSG_CMSG_CLOEXEC);
	ck_assert_int_eq(n, sizeof(rs->w));
	ck_assert_uint_eq(rs->w.magic, MMC_PROTO_MAGIC);
	ck_assert_uint_eq(rs->w.version, MMC_PROTO_VERSION);
	ck_assert_uint_eq(rs->w.type, MMC_MSG_WELCOME);
	ck_assert_int_eq(rs->w.status, 0);
	ck_assert_uint_ne(rs->w.client_id, 0);
	cm = CMSG_FIRSTHDR(&mh);
	ck_assert(cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS);
	ck_assert_uint_eq(cm->cmsg_len, CMSG_LEN(sizeof(int) * MMC_FD_COUNT));
	memcpy(rs->fds, CMSG_DATA(cm), sizeof(rs->fds));
	ck_assert_int_eq(fstat(rs->fds[MMC_FD_RING], &sb), 0);
	ck_assert_uint_eq((uint64_t)sb.st_size, rs->w.ring_size);
	ck_assert_int_eq(fstat(rs->fds[MMC_FD_DATA], &sb), 0);
	ck_assert_uint_eq((uint64_t)sb.st_size, rs->w.data_size);
	p = mmap(NULL, rs->w.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 rs->fds[MMC_FD_RING], 0);
	ck_assert(p != MAP_FAILED);
	rs->ring = p;
	ck_assert_uint_eq(rs->ring->magic, MMC_RING_MAGIC);
	ck_assert_uint_eq(rs->ring->client_id, rs->w.client_id);
	ck_assert_uint_eq(rs->ring->sq_entries, MMC_SQ_ENTRIES);
	ck_assert(rs->ring->sq_off + MMC_SQ_ENTRIES * sizeof(struct mmc_sqe) <= rs->w.ring_size);
	ck_assert(rs->ring->cq_off + MMC_CQ_ENTRIES * sizeof(struct mmc_cqe) <= rs->w.ring_size);
	rs->sq = (struct mmc_sqe *)((char *)p + rs->ring->sq_off);
	rs->cq = (struct mmc_cqe *)((char *)p + rs->ring->cq_off);
	rs->sq_tail = atomic_load(&rs->ring->sq_tail);
	rs->cq_head = atomic_load(&rs->ring->cq_head);
}

static inline void raw_close(struct raw_session *rs)
{
	if (rs->ring)
		munmap(rs->ring, rs->w.ring_size);
	for (int i = 0; i < MMC_FD_COUNT; i++)
		close(rs->fds[i]);
	close(rs->sock);
}

/* Blocks until the agent closed our session (EOF on the socket; the
 * wake-ups before it are skipped). */
static inline void wait_closed(struct raw_session *rs)
{
	uint8_t b[16];
	ssize_t n;

	while ((n = recv(rs->sock, b, sizeof(b), 0)) == 1 && b[0] == MMC_MSG_WAKE)
		;
	ck_assert_msg(n == 0 || (n < 0 && errno == ECONNRESET),
		      "session not closed by the agent: recv %zd (%s)", n,
		      n < 0 ? strerror(errno) : "data");
}

/* Waits (bounded, by polling the stats) until the agent counts want
 * sessions again: a raw session's close is seen through its socket. */
static inline void wait_closed_by_stats(mmc_client *c, uint64_t want)
{
	double deadline = now_s() + 10;

	while (stats_ok(c).clients != want)
		ck_assert_msg(now_s() < deadline, "session not closed in 10 s");
}

static inline void raw_queue(struct raw_session *rs, const struct mmc_sqe *q)
{
	rs->sq[rs->sq_tail % MMC_SQ_ENTRIES] = *q;
	rs->sq_tail++;
}

/* Rings the session's doorbell: one MMC_MSG_BELL on the socket. */
static inline void raw_ring(struct raw_session *rs)
{
	uint8_t bell = MMC_MSG_BELL;

	ck_assert_int_eq(send(rs->sock, &bell, 1, MSG_NOSIGNAL), 1);
}

/* Publishes the queued requests, rings the doorbell and waits (poll on the
 * socket for the agent's wake-up) until n completions are there; copies
 * them out and consumes them, or with out == NULL leaves them unread. */
static inline void raw_submit_wait(struct raw_session *rs, struct mmc_cqe *out, uint32_t n)
{
	uint32_t want = rs->cq_head + n;
	uint8_t v[8];

	atomic_store(&rs->ring->cq_waiting, 1);
	atomic_store(&rs->ring->sq_tail, rs->sq_tail);
	raw_ring(rs);
	while ((int32_t)(atomic_load(&rs->ring->cq_tail) - want) < 0) {
		struct pollfd p = { .fd = rs->sock, .events = POLLIN };

		ck_assert_msg(poll(&p, 1, 10000) == 1, "no completion in 10 s");
		ck_assert_int_eq(recv(rs->sock, v, sizeof(v), MSG_DONTWAIT), 1);
		ck_assert_uint_eq(v[0], MMC_MSG_WAKE);
	}
	atomic_store(&rs->ring->cq_waiting, 0);
	ck_assert_uint_eq(atomic_load(&rs->ring->cq_tail), want);
	if (!out)
		return;
	for (uint32_t i = 0; i < n; i++)
		out[i] = rs->cq[(rs->cq_head + i) % MMC_CQ_ENTRIES];
	rs->cq_head = want;
	atomic_store(&rs->ring->cq_head, rs->cq_head);
}

#endif /* MMC_TESTS_RAW_SESSION_H */
