/*
 * connect.c - a session's beginning and end on the client side.
 *
 * mmc_connect() speaks the handshake of proto-t.h, receives three descriptors,
 * maps them and checks everything it mapped: magic numbers, versions, and
 * that every region the headers describe fits inside what fstat() says the
 * memfd holds.  The meta region is mapped read-only (the agent sealed it so
 * nothing else is possible).
 *
 * A small watcher thread blocks in poll() on the socket and marks the session
 * dead the moment the agent goes away, so that even calls that never talk to
 * the agent (local hits) start failing with -ENOTCONN rather than reading an
 * orphaned arena forever.  The hit path pays one relaxed load for this.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"

#define CONNECT_TIMEOUT_S 5

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&mmc__fork_gen, 1, memory_order_relaxed);
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static int hello_exchange(int sock, struct mmc_welcome *w, int *fds)
{
	struct mmc_hello h = {
		.magic = MMC_PROTO_MAGIC, .version = MMC_PROTO_VERSION,
		.type = MMC_MSG_HELLO, .pid = (uint32_t)getpid(),
	};
	char cbuf[CMSG_SPACE(sizeof(int) * MMC_FD_COUNT)];
	struct iovec iov = { .iov_base = w, .iov_len = sizeof(*w) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;
	int nfds = 0;

	/* The agent refuses a peer (credentials, too many clients) right after
	 * accept(): its welcome may be queued and the socket closed before our
	 * hello goes out (EPIPE), or the close may find our hello unread and
	 * reset the socket (ECONNRESET, reported once, before the queued
	 * welcome).  Either way the welcome says why: read it. */
	if (send(sock, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h) &&
	    errno != EPIPE && errno != ECONNRESET)
		return -errno ? -errno : -EPROTO;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0 && errno == ECONNRESET) {
		mh.msg_controllen = sizeof(cbuf);
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0)
			errno = ECONNRESET;
	}
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	/* Keep the first MMC_FD_COUNT descriptors received, close any other. */
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int got[MMC_FD_COUNT * 2], ngot;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		ngot = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(got, CMSG_DATA(cm), sizeof(int) * (size_t)ngot);
		for (int i = 0; i < ngot; i++) {
			if (nfds < MMC_FD_COUNT)
				fds[nfds++] = got[i];
			else
				close(got[i]);
		}
	}
	if (n != sizeof(*w) || w->magic != MMC_PROTO_MAGIC ||
	    w->type != MMC_MSG_WELCOME || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -EPROTO;
	if (w->status < 0)
		return w->status;
	if (w->version != MMC_PROTO_VERSION || nfds != MMC_FD_COUNT)
		return -EPROTO;
	return 0;
}

static int map_fd(int fd, uint64_t want, int prot, int flags, void **out)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!want || (uint64_t)st.st_size != want)
		return -EPROTO;
	p = mmap(NULL, want, prot, MAP_SHARED | flags, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

/* Checks the meta header against the mapping and caches its geometry. */
static int check_meta(struct mmc_client *c)
{
	const struct mmc_meta_hdr *h = c->hdr;

	if (h->magic != MMC_META_MAGIC || h->version != MMC_LAYOUT_VERSION ||
	    h->meta_size != c->meta_size || h->data_size != c->data_size ||
	    !h->nbuckets || (h->nbuckets & (h->nbuckets - 1)) || !h->nentries ||
	    h->buckets_off > c->meta_size ||
	    (uint64_t)h->nbuckets * sizeof(struct mmc_bucket) > c->meta_size - h->buckets_off ||
	    h->entries_off > c->meta_size ||
	    (uint64_t)h->nentries * sizeof(struct mmc_entry) > c->meta_size - h->entries_off)
		return -EPROTO;
	if (h->ssd_nbuckets &&
	    (h->ssd_off % 64 ||
	     h->ssd_off > c->meta_size ||
	     (uint64_t)h->ssd_nbuckets * sizeof(struct mmc_ssd_bucket) >
	     c->meta_size - h->ssd_off))
		return -EPROTO;
	c->pool = h->pool != 0;
	if (h->ssd_nbuckets) {
		c->ssd = (const struct mmc_ssd_bucket *)((const char *)h + h->ssd_off);
		c->ssd_nbuckets = h->ssd_nbuckets;
	}
	c->buckets = (const struct mmc_bucket *)((const char *)h + h->buckets_off);
	c->entries = (const struct mmc_entry *)((const char *)h + h->entries_off);
	c->nentries = h->nentries;
	c->mask = h->nbuckets - 1;
	c->seed = h->hash_seed;
	return 0;
}

/* [off, off + len) lies inside size bytes, without overflow. */
static bool fits(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static int check_ring(struct mmc_client *c)
{
	const struct mmc_ring_hdr *r = c->ring;
	size_t need_sq = MMC_SQ_ENTRIES * sizeof(struct mmc_sqe);
	size_t need_cq = MMC_CQ_ENTRIES * sizeof(struct mmc_cqe);

	if (r->magic != MMC_RING_MAGIC || r->version != MMC_LAYOUT_VERSION ||
	    r->sq_entries != MMC_SQ_ENTRIES || r->cq_entries != MMC_CQ_ENTRIES ||
	    r->pin_slots != MMC_PIN_SLOTS || r->touch_slots != MMC_TOUCH_SLOTS ||
	    c->ring_size < sizeof(*r) ||
	    !fits(r->sq_off, need_sq, c->ring_size) ||
	    !fits(r->cq_off, need_cq, c->ring_size) ||
	    !fits(r->pins_off, MMC_PIN_SLOTS * 8, c->ring_size) ||
	    !fits(r->touch_off, MMC_TOUCH_SLOTS * 8, c->ring_size) ||
	    (r->sq_off | r->cq_off | r->pins_off | r->touch_off) % 64 ||
	    !r->pin_max || r->pin_max > MMC_PIN_SLOTS)
		return -EPROTO;
	c->sq = (struct mmc_sqe *)((char *)r + r->sq_off);
	c->cq = (struct mmc_cqe *)((char *)r + r->cq_off);
	c->pins = (_Atomic uint64_t *)((char *)r + r->pins_off);
	c->touch = (_Atomic uint64_t *)((char *)r + r->touch_off);
	c->sq_tail = atomic_load(&r->sq_tail);
	c->cq_head = atomic_load(&r->cq_head);
	c->client_id = r->client_id;
	c->pin_max = r->pin_max;
	c->pin_bytes_max = r->pin_bytes_max;
	c->pin_small = r->pin_small;
	return 0;
}

static void *watcher_main(void *arg)
{
	struct mmc_client *c = arg;
	/* Not POLLIN: the socket carries wake-ups; only a hang-up is death. */
	struct pollfd p[2] = {
		{ .fd = c->sock, .events = POLLRDHUP },
		{ .fd = c->stop_efd, .events = POLLIN },
	};

	pthread_mutex_lock(&c->cq_lock);
	c->watcher_running = true;
	pthread_cond_broadcast(&c->cq_cond);
	pthread_mutex_unlock(&c->cq_lock);
	while (poll(p, 2, -1) < 0 && errno == EINTR)
		;
	if (!(p[1].revents & POLLIN))
		atomic_store(&c->dead, 1);
	return NULL;
}

int mmc_connect(const char *path, mmc_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_S };
	struct mmc_welcome w;
	int fds[MMC_FD_COUNT] = { -1, -1, -1 };
	struct mmc_client *c;
	void *p;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!path)
		path = getenv(MMC_SOCKET_ENV);
	if (!path || !*path)
		path = MMC_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	pthread_once(&atfork_once, register_atfork);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fork_gen = atomic_load(&mmc__fork_gen);
	c->stop_efd = -1;
	pthread_mutex_init(&c->sq_lock, NULL);
	pthread_mutex_init(&c->cq_lock, NULL);
	pthread_cond_init(&c->slot_cond, NULL);
	pthread_cond_init(&c->cq_cond, NULL);
	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->sock < 0) {
		ret = -errno;
		goto fail;
	}
	setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* No socket file means no agent, not a missing key. */
		ret = errno == ENOENT ? -ECONNREFUSED : -errno;
		goto fail;
	}
	ret = hello_exchange(c->sock, &w, fds);
	if (ret)
		goto fail;
	c->meta_size = w.meta_size;
	c->data_size = w.data_size;
	c->ring_size = w.ring_size;
	memcpy(c->stats_path, w.stats_path, sizeof(c->stats_path));
	c->stats_path[sizeof(c->stats_path) - 1] = '\0';

	ret = map_fd(fds[MMC_FD_META], c->meta_size, PROT_READ, 0, &p);
	if (ret)
		goto fail;
	c->hdr = p;
	ret = map_fd(fds[MMC_FD_DATA], c->data_size, PROT_READ | PROT_WRITE, 0, &p);
	if (ret)
		goto fail;
	c->data = p;
	ret = map_fd(fds[MMC_FD_RING], c->ring_size, PROT_READ | PROT_WRITE,
		     MAP_POPULATE, &p);
	if (ret)
		goto fail;
	c->ring = p;
	ret = check_meta(c);
	if (!ret)
		ret = check_ring(c);
	if (ret)
		goto fail;
	mmc__verify_init(c);
	if (c->hdr->hugepages)   /* cheap on 2 MiB pages: no faults later */
		madvise(c->data, c->data_size, MADV_WILLNEED);
	for (int i = 0; i < MMC_FD_COUNT; i++) {
		close(fds[i]);
		fds[i] = -1;
	}
	c->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (c->stop_efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = -pthread_create(&c->watcher, NULL, watcher_main, c);
	if (ret)
		goto fail;
	c->watcher_started = true;
	/* Return only once the watcher runs: its start-up is over (a sanitizer
	 * runtime takes locks there, and a fork() in the middle would copy
	 * them held), and a death from now on is seen. */
	pthread_mutex_lock(&c->cq_lock);
	while (!c->watcher_running)
		pthread_cond_wait(&c->cq_cond, &c->cq_lock);
	pthread_mutex_unlock(&c->cq_lock);
	*out = c;
	return 0;
fail:
	for (int i = 0; i < MMC_FD_COUNT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	mmc_disconnect(c);
	return ret;
}

/* In a child after fork(): the session, the watcher thread and the ring
 * lock are the parent's.  Only this process's mappings and descriptor
 * copies go; closing a copy of the socket does not end the session. */
static void forget_inherited(mmc_client *c)
{
	int fds[] = { c->sock, c->stop_efd };

	if (c->ring)
		munmap(c->ring, c->ring_size);
	if (c->data)
		munmap(c->data, c->data_size);
	if (c->hdr)
		munmap((void *)c->hdr, c->meta_size);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(c);
}

void mmc_disconnect(mmc_client *c)
{
	if (!c)
		return;
	if (mmc__forked(c)) {
		forget_inherited(c);
		return;
	}
	if (c->watcher_started) {
		uint64_t one = 1;

		(void)!write(c->stop_efd, &one, sizeof(one));
		pthread_join(c->watcher, NULL);
	}
	if (c->ring)
		munmap(c->ring, c->ring_size);
	if (c->data)
		munmap(c->data, c->data_size);
	if (c->hdr)
		munmap((void *)c->hdr, c->meta_size);
	if (c->sock >= 0) {
		/* A fork() after connect left copies of the socket in children:
		 * shutdown ends the session for the agent now, not at their exit. */
		shutdown(c->sock, SHUT_RDWR);
		close(c->sock);
	}
	if (c->stop_efd >= 0)
		close(c->stop_efd);
	pthread_mutex_destroy(&c->sq_lock);
	pthread_mutex_destroy(&c->cq_lock);
	pthread_cond_destroy(&c->slot_cond);
	pthread_cond_destroy(&c->cq_cond);
	free(c);
}
