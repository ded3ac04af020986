/*
 * session.c - client sessions: the unix socket, credentials, handshake, and
 * the tear-down that makes pins and reservations belong to a session.
 *
 * A session's life:
 *   accept4()     SO_PEERCRED / SO_PEERGROUPS checked against [access] and
 *                 [limits]; a refused peer gets a welcome with -EACCES,
 *                 -EMFILE or -EDQUOT and is closed.  Out of descriptors,
 *                 the agent accepts with a spare one and refuses, so the
 *                 listen backlog never fills and the loop never spins on
 *                 it: established sessions notice nothing.
 *   hello         one SOCK_SEQPACKET message, checked field by field
 *                 (mmc_hello_check); garbage gets -EPROTO and a close,
 *                 never a crash.  At most max_handshakes connections wait
 *                 for theirs - a new one pushes the oldest out - and none
 *                 longer than handshake_timeout_ms, so silent connections
 *                 cost a bounded number of descriptors and lock nobody out
 *   welcome       + SCM_RIGHTS: the meta memfd (sealed read-only), the data
 *                 memfd and a new ring memfd for this session alone; the
 *                 agent keeps only the ring's mapping and the socket: one
 *                 descriptor per session
 *   ...           requests flow through the ring (ring.c); the socket
 *                 carries only one-byte doorbells (client to agent) and
 *                 wake-ups (agent to client); anything else ends the
 *                 session
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
#include "activity.h"
#include "session.h"
#include "timer.h"

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

/* A welcome that says why not (the caller closes fd); counted and logged
 * (rate-limited: refusals are what a flood of bad clients produces). */
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

static struct mmc_session *first_handshake(const struct mmc_agent *ag);

/* Out of descriptors (accept4() fails with EMFILE whether or not a
 * connection waits).  The spare descriptor is given up to take the
 * connection, if one waits: then a connection still silent, the oldest,
 * gives its descriptor up for it, or, with none silent, it is refused
 * (-EMFILE) and closed.  Either way the backlog drains and the listening
 * socket stops being readable - else the loop would spin on it and
 * clients would wait for their connect to time out.  Returns the new
 * connection's descriptor, -2 after a refusal, -1 when none waited. */
static int accept_at_emfile(struct mmc_agent *ag)
{
	struct mmc_session *old;
	int fd;

	if (ag->sess.spare_fd < 0)
		return -1;
	close(ag->sess.spare_fd);
	fd = accept4(ag->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0 && (old = first_handshake(ag))) {
		mmc_session_close(ag, old, "dropped before its hello: the agent "
				  "is out of descriptors");
	} else if (fd >= 0) {
		refuse(ag, fd, -EMFILE, "the agent is out of descriptors (established "
		       "sessions are served on)");
		close(fd);
		fd = -2;
	}
	ag->sess.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd;
}

/* Links a new session into sess.list (head) and sess.handshakes (tail). */
static void link_new(struct mmc_agent *ag, struct mmc_session *s)
{
	s->next = ag->sess.list;
	if (s->next)
		s->next->pprev = &s->next;
	s->pprev = &ag->sess.list;
	ag->sess.list = s;
	ag->sess.count++;
	mmc_dlist_push_tail(&ag->sess.handshakes, &s->link);
}

static struct mmc_session *first_handshake(const struct mmc_agent *ag)
{
	struct mmc_dnode *n = ag->sess.handshakes.first;

	return n ? mmc_container_of(n, struct mmc_session, link) : NULL;
}

/* Why uid may not open one more session now: 0, -EMFILE (the agent is at
 * max_sessions) or -EDQUOT (uid is at sessions_per_uid). */
static int session_room(struct mmc_agent *ag, uid_t uid)
{
	const struct mmc_uid_use *u = mmc_limits_uid(&ag->limits, uid, false);

	if (ag->limits.max_sessions && ag->sess.established >= ag->limits.max_sessions)
		return -EMFILE;
	if (u && ag->limits.sessions_per_uid && u->sessions >= ag->limits.sessions_per_uid)
		return -EDQUOT;
	return 0;
}

static const char *room_why(int err)
{
	return err == -EMFILE ? "the agent serves [limits] max_sessions sessions" :
		"its uid holds [limits] sessions_per_uid sessions";
}

void mmc_session_accept(struct mmc_agent *ag)
{
	for (;;) {
		struct ucred cr;
		socklen_t len = sizeof(cr);
		struct mmc_session *old;
		int fd = accept4(ag->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int room;

		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			if ((fd = accept_at_emfile(ag)) == -2)
				continue;
			if (fd < 0)
				return;
		} else if (fd < 0) {
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
		if ((room = session_room(ag, cr.uid))) {
			char why[128];

			snprintf(why, sizeof(why), "uid %u pid %d: %s", cr.uid, cr.pid,
				 room_why(room));
			refuse(ag, fd, room, why);
			close(fd);
			continue;
		}
		/* Silent connections push each other out, oldest first: a new
		 * client is never kept out by ones that never say hello. */
		if (ag->limits.max_handshakes &&
		    ag->sess.handshakes.n >= ag->limits.max_handshakes &&
		    (old = first_handshake(ag)))
			mmc_session_close(ag, old, "dropped before its hello: "
					  "[limits] max_handshakes connections wait");
		if (!mmc_session_adopt(ag, fd, &cr))
			close(fd);
	}
}

struct mmc_session *mmc_session_adopt(struct mmc_agent *ag, int fd,
				      const struct ucred *cr)
{
	struct mmc_session *s = calloc(1, sizeof(*s));

	if (!s) {
		refuse(ag, fd, -ENOMEM, "out of memory");
		return NULL;
	}
	s->sock = fd;
	s->ring_fd = -1;
	s->pid = cr->pid;
	s->uid = cr->uid;
	s->gid = cr->gid;
	s->accepted_ns = mmc_now_ns();
	s->w_sock.kind = MMC_WATCH_SOCK;
	s->w_sock.s = s;
	if (ag->epoll_fd >= 0 && watch(ag, fd, &s->w_sock, EPOLLIN | EPOLLRDHUP)) {
		free(s);
		return NULL;
	}
	link_new(ag, s);
	return s;
}

/* Creates the session's ring memfd, maps the ring and gives it the
 * session's [limits]. */
static int ring_create(struct mmc_agent *ag, struct mmc_session *s)
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
	if (ag->limits.pins_per_session)
		mmc_ring_set_limits(r, ag->limits.pins_per_session,
				    ag->limits.pinned_bytes_per_session);
	mmc_ring_bind(s, r);
	return 0;
}

/* Gives back what a failed ring_create() got. */
static void ring_undo(struct mmc_session *s)
{
	if (s->ring)
		munmap(s->ring, s->ring_size);
	s->ring = NULL;
	if (s->ring_fd >= 0)
		close(s->ring_fd);
	s->ring_fd = -1;
}

/* Closes up to n of the oldest connections still waiting for their hello,
 * never keep; returns how many. */
static unsigned drop_handshakes(struct mmc_agent *ag, struct mmc_session *keep,
				unsigned n)
{
	unsigned done = 0;

	for (struct mmc_dnode *d = ag->sess.handshakes.first, *next; d && done < n;
	     d = next) {
		struct mmc_session *o = mmc_container_of(d, struct mmc_session, link);

		next = d->next;
		if (o == keep)
			continue;
		mmc_session_close(ag, o, "dropped before its hello: the agent is "
				  "out of descriptors");
		done++;
	}
	return done;
}

/* A new session id: never 0, never one a live session holds (ids key
 * reservation ownership).  Until the 32-bit counter wraps no live session
 * can hold the next one; after that, each is checked. */
static uint32_t next_id(struct mmc_agent *ag)
{
	for (;;) {
		uint32_t id = ++ag->sess.next_id;
		struct mmc_session *s = NULL;

		if (!id) {
			ag->sess.ids_wrapped = true;
			continue;
		}
		if (ag->sess.ids_wrapped)
			for (s = ag->sess.list; s && (s->closed || s->id != id); s = s->next)
				;
		if (!s)
			return id;
	}
}

int mmc_hello_check(const void *msg, ssize_t len, const char **why)
{
	struct mmc_hello h;

	if (len != (ssize_t)sizeof(h)) {
		*why = "malformed hello (size)";
		return -EPROTO;
	}
	memcpy(&h, msg, sizeof(h));
	if (h.magic != MMC_PROTO_MAGIC || h.type != MMC_MSG_HELLO) {
		*why = "malformed hello";
		return -EPROTO;
	}
	if (h.version != MMC_PROTO_VERSION) {
		*why = "protocol version mismatch";
		return -EPROTO;
	}
	return 0;
}

/* The session is established: off the handshake list, counted in its
 * uid's use and in the agent's, watched from the first request. */
static void establish(struct mmc_agent *ag, struct mmc_session *s,
		      struct mmc_uid_use *u)
{
	mmc_dlist_del(&ag->sess.handshakes, &s->link);
	s->state = MMC_SESSION_ACTIVE;
	s->use = u;
	if (u)
		u->sessions++;
	ag->sess.established++;
	s->fold.ns = mmc_now_ns();
	MMC_COUNT(ag, clients_total, 1);
	mmc_activity_watch(ag, s, s->fold.ns);
	log_debug("client %u connected: pid %d uid %u", s->id, s->pid, s->uid);
}

static void handshake(struct mmc_agent *ag, struct mmc_session *s)
{
	struct mmc_hello h;
	struct mmc_welcome w = {
		.magic = MMC_PROTO_MAGIC, .version = MMC_PROTO_VERSION,
		.type = MMC_MSG_WELCOME,
	};
	struct mmc_uid_use *u = NULL;
	int fds[MMC_FD_COUNT];
	ssize_t n = recv(s->sock, &h, sizeof(h), MSG_DONTWAIT | MSG_TRUNC);
	const char *why;
	int ret;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0) {   /* connected and left without a word (a liveness probe) */
		mmc_session_close(ag, s, NULL);
		return;
	}
	if ((ret = mmc_hello_check(&h, n, &why))) {
		MMC_COUNT(ag, bad_requests, 1);
		refuse(ag, s->sock, ret, why);
		mmc_session_close(ag, s, NULL);
		return;
	}
	/* [limits] again: sessions may have been established since accept. */
	if ((ret = session_room(ag, s->uid)) ||
	    (ag->limits.tab && !(u = mmc_limits_uid(&ag->limits, s->uid, true)))) {
		ret = ret ? ret : -ENOMEM;
		refuse(ag, s->sock, ret, ret == -ENOMEM ? "out of memory" : room_why(ret));
		mmc_session_close(ag, s, NULL);
		return;
	}
	s->id = next_id(ag);
	ret = ring_create(ag, s);
	if ((ret == -EMFILE || ret == -ENFILE) && drop_handshakes(ag, s, 1)) {
		/* the descriptors went to connections still silent: retry */
		ring_undo(s);
		ret = ring_create(ag, s);
	}
	if (ret) {
		refuse(ag, s->sock, ret, "cannot create the session's ring");
		mmc_limits_uid_release(&ag->limits, u);
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
	ret = send_welcome(s->sock, &w, fds, MMC_FD_COUNT);
	/* The mapping is all the agent needs of the ring from now on: a
	 * session costs one descriptor, its socket. */
	close(s->ring_fd);
	s->ring_fd = -1;
	if (ret) {
		mmc_limits_uid_release(&ag->limits, u);
		mmc_session_close(ag, s, "welcome not delivered");
		return;
	}
	establish(ag, s, u);
}

void mmc_session_readable(struct mmc_agent *ag, struct mmc_session *s)
{
	uint8_t msg[64];
	bool rang = false;

	if (s->state == MMC_SESSION_HANDSHAKE) {
		handshake(ag, s);
		return;
	}
	/* Doorbells only (a client rings when the agent sleeps or does not
	 * watch its ring); a bounded number per event, the rest next time. */
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(s->sock, msg, sizeof(msg), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n == 1 && msg[0] == MMC_MSG_BELL) {
			rang = true;
			continue;
		}
		if (n > 0) {
			MMC_COUNT(ag, bad_requests, 1);
			mmc_session_close(ag, s, "unexpected message on the socket");
		} else {
			mmc_session_close(ag, s, NULL);   /* hung up */
		}
		return;
	}
	if (rang)
		mmc_activity_watch(ag, s, mmc_now_ns());
}

/* Takes s off sess.list: O(1) through pprev; a session linked by hand
 * (unit tests) is looked for. */
static void unlink_session(struct mmc_agent *ag, struct mmc_session *s)
{
	struct mmc_session **pp = s->pprev;

	if (!pp)
		for (pp = &ag->sess.list; *pp && *pp != s; pp = &(*pp)->next)
			;
	if (!*pp)
		return;
	*pp = s->next;
	if (s->next)
		s->next->pprev = pp;
	ag->sess.count--;
	/* s->next stays: a walk that stands on s goes on from there. */
}

void mmc_session_close(struct mmc_agent *ag, struct mmc_session *s, const char *why)
{
	if (s->closed)
		return;
	if (why)
		log_warn("client %u (pid %d): %s; session closed", s->id, s->pid, why);
	else if (s->state == MMC_SESSION_ACTIVE)
		log_debug("client %u (pid %d) disconnected", s->id, s->pid);
	if (ag->sess.sweep == s)
		ag->sess.sweep = s->next;
	unlink_session(ag, s);
	s->closed = true;
	if (s->state == MMC_SESSION_ACTIVE) {
		mmc_activity_forget(ag, s);
		/* Its last reads still count as recency: the records are in
		 * its ring, which goes now (a CLI `mmc get` is all touch log). */
		mmc_readers_forget(ag, s);
		mmc_request_cancel_all(ag, s);
		/* Off the list first: the pin scan that frees what only this
		 * session pinned must not read its pin table any more. */
		mmc_object_drop_session(ag, s);
		mmc_stats_fold(ag, s, mmc_now_ns());
		ag->sess.established--;
		if (s->use) {
			s->use->sessions--;
			mmc_limits_uid_release(&ag->limits, s->use);
			s->use = NULL;
		}
	} else {
		mmc_dlist_del(&ag->sess.handshakes, &s->link);
	}
	if (s->ring)
		munmap(s->ring, s->ring_size);
	s->ring = NULL;
	/* Deregister before closing: a descriptor the kernel still shares
	 * (a dup, a fork) would keep the registration, pointing at a freed
	 * session. */
	if (s->sock >= 0) {
		epoll_ctl(ag->epoll_fd, EPOLL_CTL_DEL, s->sock, NULL);
		close(s->sock);
	}
	if (s->ring_fd >= 0)
		close(s->ring_fd);
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

uint64_t mmc_session_expire(struct mmc_agent *ag, uint64_t now)
{
	struct mmc_session *s;

	while ((s = first_handshake(ag))) {
		uint64_t due = s->accepted_ns + ag->limits.handshake_ns;

		if (now < due)
			return due - now;
		mmc_session_close(ag, s, "no hello in time ([limits] handshake_timeout_ms)");
	}
	return UINT64_MAX;
}
