/*
 * session.c - client sessions: the unix socket, credentials, handshake, and
 * the tear-down that makes pins and reservations belong to a session.
 *
 * A session's life:
 *   accept4()     SO_PEERCRED / SO_PEERGROUPS checked against [access]; a
 *                 refused peer gets a welcome with -EACCES and is closed
 *   hello         one SOCK_SEQPACKET message, checked field by field; garbage
 *                 gets -EPROTO and a close, never a crash
 *   welcome       + SCM_RIGHTS: the meta memfd (sealed read-only), the data
 *                 memfd, a new ring memfd for this session alone, and two
 *                 pipe ends (doorbell to the agent, wake-up to the client)
 *   ...           requests flow through the ring (ring.c); the socket
 *                 stays silent; anything that arrives on it ends the session
 *   EPOLLHUP      the client closed or died: its parked requests are
 *                 cancelled (request.c), its reservations freed and the
 *                 objects only its pins kept freed too (object.c), its ring
 *                 unmapped - at once, with no lease to expire.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "object.h"
#include "readers.h"
#include "request.h"
#include "ring.h"
#include "session.h"

/* mkdir -p of the socket's directory (systemd's RuntimeDirectory usually
 * made it already). */
static void make_parent_dir(const char *path)
{
	char dir[MMC_CONFIG_PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0755);
			*p = '/';
		}
	}
	mkdir(dir, 0755);
}

/* What is at path now: 0 nothing (or a stale socket, removed), or -errno
 * after saying why the path cannot be ours. */
static int clear_socket_path(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int probe, ret;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		log_err("cannot use %s as the socket: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISSOCK(st.st_mode)) {
		/* Someone's file: never delete what the agent did not make. */
		log_err("%s exists and is not a socket: refusing to replace it "
			"(remove it, or set [agent] socket / --socket elsewhere)", path);
		return -EEXIST;
	}
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	ret = connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : -errno;
	close(probe);
	if (!ret) {
		log_err("another agent is listening on %s: leaving it alone", path);
		return -EADDRINUSE;
	}
	if (ret != -ECONNREFUSED) {
		log_err("cannot tell whether %s is in use (%s): leaving it alone",
			path, strerror(-ret));
		return ret;
	}
	/* A socket nobody listens on: an earlier agent's, left by a crash. */
	if (unlink(path) < 0 && errno != ENOENT) {
		ret = -errno;
		log_err("cannot remove the stale socket %s: %s", path, strerror(-ret));
		return ret;
	}
	log_info("replaced the stale socket %s (nobody listened on it)", path);
	return 0;
}

int mmc_session_listen(struct mmc_agent *ag)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = ag->cfg.socket_path;
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	make_parent_dir(path);
	ret = clear_socket_path(path, &sa);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* bind() never replaces a file: a path taken since the check fails. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		log_err("cannot listen on %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	ag->listen_fd = fd;
	if (lstat(path, &st) == 0)
		ag->socket_ino = st.st_ino;
	if (chmod(path, ag->cfg.socket_mode) < 0 || listen(fd, 128) < 0) {
		ret = -errno;
		log_err("cannot listen on %s: %s", path, strerror(-ret));
		return ret;
	}
	return 0;
}

void mmc_session_unlisten(struct mmc_agent *ag)
{
	struct stat st;

	if (ag->listen_fd < 0)
		return;
	close(ag->listen_fd);
	ag->listen_fd = -1;
	/* Only the socket this agent bound: not one that replaced it since. */
	if (ag->socket_ino && lstat(ag->cfg.socket_path, &st) == 0 &&
	    S_ISSOCK(st.st_mode) && st.st_ino == ag->socket_ino)
		unlink(ag->cfg.socket_path);
	ag->socket_ino = 0;
}

/* Is this peer admitted by [access]?  root and the agent's own uid always
 * are; then any listed uid, then the primary or a supplementary group. */
static bool peer_allowed(const struct mmc_agent *ag, int fd, const struct ucred *cr)
{
	gid_t groups[256];
	socklen_t glen = sizeof(groups);
	int ng;

	if (cr->uid == 0 || cr->uid == geteuid())
		return true;
	for (size_t i = 0; i < ag->cfg.n_allow_uids; i++)
		if (ag->cfg.allow_uids[i] == cr->uid)
			return true;
	ng = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0 ?
		(int)(glen / sizeof(gid_t)) : 0;
	for (size_t i = 0; i < ag->cfg.n_allow_gids; i++) {
		if (ag->cfg.allow_gids[i] == cr->gid)
			return true;
		for (int g = 0; g < ng; g++)
			if (groups[g] == ag->cfg.allow_gids[i])
				return true;
	}
	return false;
}

/* Sends a welcome, with fds when nfds > 0.  0 or -errno. */
static int send_welcome(int fd, const struct mmc_welcome *w, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * MMC_FD_COUNT)];
	struct iovec iov = { .iov_base = (void *)w, .iov_len = sizeof(*w) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
}

static void refuse(struct mmc_agent *ag, int fd, int status, const char *why)
{
	struct mmc_welcome w = {
		.magic = MMC_PROTO_MAGIC, .version = MMC_PROTO_VERSION,
		.type = MMC_MSG_WELCOME, .status = status,
	};

	log_warn("client refused: %s", why);
	MMC_COUNT(ag, clients_rejected, 1);
	send_welcome(fd, &w, NULL, 0);
}

static int watch(struct mmc_agent *ag, int fd, struct mmc_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(ag->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void mmc_session_accept(struct mmc_agent *ag)
{
	for (;;) {
		struct ucred cr;
		socklen_t len = sizeof(cr);
		struct mmc_session *s;
		int fd = accept4(ag->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
			close(fd);
			continue;
		}
		if (!peer_allowed(ag, fd, &cr)) {
			char why[96];

			snprintf(why, sizeof(why), "uid %u gid %u pid %d not in [access]",
				 cr.uid, cr.gid, cr.pid);
			refuse(ag, fd, -EACCES, why);
			close(fd);
			continue;
		}
		if (ag->sess.count >= MMC_MAX_CLIENTS) {
			refuse(ag, fd, -EMFILE, "too many clients");
			close(fd);
			continue;
		}
		s = calloc(1, sizeof(*s));
		if (!s) {
			refuse(ag, fd, -ENOMEM, "out of memory");
			close(fd);
			continue;
		}
		s->sock = fd;
		s->ring_fd = s->bell_rd = s->wake_wr = s->peer[0] = s->peer[1] = -1;
		s->pid = cr.pid;
		s->uid = cr.uid;
		s->gid = cr.gid;
		s->accepted_ms = mmc_now_ms();
		s->w_sock.kind = MMC_WATCH_SOCK;
		s->w_sock.s = s;
		s->w_sq.kind = MMC_WATCH_SQ;
		s->w_sq.s = s;
		if (watch(ag, fd, &s->w_sock, EPOLLIN | EPOLLRDHUP)) {
			close(fd);
			free(s);
			continue;
		}
		s->next = ag->sess.list;
		ag->sess.list = s;
		ag->sess.count++;
	}
}

/* Creates the session's ring memfd and pipes and maps the ring. */
static int ring_create(struct mmc_session *s)
{
	size_t size = mmc_ring_region_size();
	struct mmc_ring_hdr *r;
	char name[32];

	snprintf(name, sizeof(name), "mmc-ring-%u", s->id);
	s->ring_fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->ring_fd < 0 || ftruncate(s->ring_fd, (off_t)size) < 0 ||
	    fallocate(s->ring_fd, 0, 0, (off_t)size) < 0 ||
	    fcntl(s->ring_fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		return -errno;
	r = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->ring_fd, 0);
	if (r == MAP_FAILED)
		return -errno;
	mmc_ring_layout(r, s->id);
	mmc_ring_bind(s, r);
	return mmc_session_pipes(s);
}

int mmc_session_pipes(struct mmc_session *s)
{
	int bell[2], wake[2];

	/* Pipes, not eventfds: each end is its own open file, so a client that
	 * clears O_NONBLOCK on its end cannot make the agent's reads or writes
	 * block (an eventfd is one file shared by both processes). */
	if (pipe2(bell, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		int ret = -errno;

		close(bell[0]);
		close(bell[1]);
		return ret;
	}
	s->bell_rd = bell[0];
	s->peer[0] = bell[1];
	s->peer[1] = wake[0];
	s->wake_wr = wake[1];
	return 0;
}

/* A new session id: never 0, never one a live session holds (ids key
 * reservation ownership, and a 32-bit counter does wrap). */
static uint32_t next_id(struct mmc_agent *ag)
{
	for (;;) {
		uint32_t id = ++ag->sess.next_id;
		struct mmc_session *s = ag->sess.list;

		while (s && (s->closed || s->id != id))
			s = s->next;
		if (id && !s)
			return id;
	}
}

/* The client's pipe ends are the client's alone once sent. */
static void close_peer_ends(struct mmc_session *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->peer[i] >= 0)
			close(s->peer[i]);
		s->peer[i] = -1;
	}
}

static void handshake(struct mmc_agent *ag, struct mmc_session *s)
{
	struct mmc_hello h;
	struct mmc_welcome w = {
		.magic = MMC_PROTO_MAGIC, .version = MMC_PROTO_VERSION,
		.type = MMC_MSG_WELCOME,
	};
	int fds[MMC_FD_COUNT];
	ssize_t n = recv(s->sock, &h, sizeof(h), MSG_DONTWAIT | MSG_TRUNC);
	int ret;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0) {   /* connected and left without a word (a liveness probe) */
		mmc_session_close(ag, s, NULL);
		return;
	}
	if (n != (ssize_t)sizeof(h) || h.magic != MMC_PROTO_MAGIC ||
	    h.type != MMC_MSG_HELLO) {
		MMC_COUNT(ag, bad_requests, 1);
		refuse(ag, s->sock, -EPROTO, "malformed hello");
		mmc_session_close(ag, s, NULL);
		return;
	}
	if (h.version != MMC_PROTO_VERSION) {
		refuse(ag, s->sock, -EPROTO, "protocol version mismatch");
		mmc_session_close(ag, s, NULL);
		return;
	}
	s->id = next_id(ag);
	ret = ring_create(s);
	if (!ret)
		ret = watch(ag, s->bell_rd, &s->w_sq, EPOLLIN);
	if (ret) {
		refuse(ag, s->sock, ret, "cannot create the session's ring");
		mmc_session_close(ag, s, NULL);
		return;
	}
	w.client_id = s->id;
	w.meta_size = ag->arena.meta_size;
	w.data_size = ag->arena.data_size;
	w.ring_size = s->ring_size;
	snprintf(w.stats_path, sizeof(w.stats_path), "%s", ag->cfg.stats_path);
	fds[MMC_FD_META] = ag->arena.meta_fd;
	fds[MMC_FD_DATA] = ag->arena.data_fd;
	fds[MMC_FD_RING] = s->ring_fd;
	fds[MMC_FD_BELL] = s->peer[0];
	fds[MMC_FD_WAKE] = s->peer[1];
	ret = send_welcome(s->sock, &w, fds, MMC_FD_COUNT);
	close_peer_ends(s);
	if (ret) {
		mmc_session_close(ag, s, "welcome not delivered");
		return;
	}
	s->state = MMC_SESSION_ACTIVE;
	s->fold.ns = mmc_now_ns();
	MMC_COUNT(ag, clients_total, 1);
	log_debug("client %u connected: pid %d uid %u", s->id, s->pid, s->uid);
}

void mmc_session_readable(struct mmc_agent *ag, struct mmc_session *s)
{
	char junk[64];

	if (s->state == MMC_SESSION_HANDSHAKE) {
		handshake(ag, s);
		return;
	}
	/* Nothing is expected after the handshake. */
	if (recv(s->sock, junk, sizeof(junk), MSG_DONTWAIT) > 0) {
		MMC_COUNT(ag, bad_requests, 1);
		mmc_session_close(ag, s, "unexpected message on the socket");
		return;
	}
	mmc_session_close(ag, s, NULL);
}

void mmc_session_close(struct mmc_agent *ag, struct mmc_session *s, const char *why)
{
	struct mmc_session **pp;

	if (why)
		log_warn("client %u (pid %d): %s; session closed", s->id, s->pid, why);
	else if (s->state == MMC_SESSION_ACTIVE)
		log_debug("client %u (pid %d) disconnected", s->id, s->pid);
	for (pp = &ag->sess.list; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	ag->sess.count--;
	s->closed = true;
	if (s->state == MMC_SESSION_ACTIVE) {
		/* Its last reads still count as recency: the records are in
		 * its ring, which goes now (a CLI `mmc get` is all touch log). */
		mmc_readers_drain(ag, s);
		mmc_request_cancel_all(ag, s);
		/* Off the list first: the pin scan that frees what only this
		 * session pinned must not read its pin table any more. */
		mmc_object_drop_session(ag, s);
	}
	if (s->ring) {
		if (s->state == MMC_SESSION_ACTIVE)
			mmc_stats_fold(ag, s, mmc_now_ns());
		munmap(s->ring, s->ring_size);
	}
	/* Deregister before closing: a descriptor the kernel still shares
	 * (a dup, a fork) would keep the registration, pointing at a freed
	 * session. */
	epoll_ctl(ag->epoll_fd, EPOLL_CTL_DEL, s->sock, NULL);
	if (s->bell_rd >= 0)
		epoll_ctl(ag->epoll_fd, EPOLL_CTL_DEL, s->bell_rd, NULL);
	close(s->sock);
	if (s->ring_fd >= 0)
		close(s->ring_fd);
	if (s->bell_rd >= 0)
		close(s->bell_rd);
	if (s->wake_wr >= 0)
		close(s->wake_wr);
	close_peer_ends(s);
	s->zombie_next = ag->sess.zombies;
	ag->sess.zombies = s;
}

void mmc_session_free_zombies(struct mmc_agent *ag)
{
	while (ag->sess.zombies) {
		struct mmc_session *s = ag->sess.zombies;

		ag->sess.zombies = s->zombie_next;
		free(s);
	}
}

void mmc_session_reap(struct mmc_agent *ag, uint64_t now_ms,
		      const struct mmc_session *keep)
{
	struct mmc_session *s = ag->sess.list, *next;

	for (; s; s = next) {
		struct pollfd p = { .fd = s->sock, .events = POLLRDHUP };

		next = s->next;
		if (s == keep || s->closed)
			continue;
		if (s->state == MMC_SESSION_HANDSHAKE &&
		    now_ms - s->accepted_ms > MMC_HANDSHAKE_MS) {
			mmc_session_close(ag, s, "no hello in time");
			continue;
		}
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
			mmc_session_close(ag, s, NULL);
	}
}

unsigned mmc_session_serve(struct mmc_agent *ag)
{
	unsigned work = 0;

	for (struct mmc_session *s = ag->sess.list, *next; s; s = next) {
		next = s->next;   /* serving may close s (its next stays valid) */
		if (!s->closed && s->state == MMC_SESSION_ACTIVE && mmc_ring_pending(s))
			work += mmc_ring_serve(ag, s);
	}
	return work;
}

bool mmc_session_any_pending(struct mmc_agent *ag)
{
	for (struct mmc_session *s = ag->sess.list; s; s = s->next)
		if (!s->closed && s->state == MMC_SESSION_ACTIVE && mmc_ring_pending(s))
			return true;
	return false;
}
