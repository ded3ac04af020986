/*
 * stats.c - the agent's always-on counters, as a world-readable file.
 *
 * struct mmc_stats (mmc-t.h) is mapped from a small file next to the
 * socket (default /run/mmc/agent.sock.stats, mode 0644) so that mmc-top and
 * monitoring can read it with no session and no privilege.  The agent
 * rewrites it on every refresh: on a timer in the event loop, and on demand
 * when a client asks (MMC_OP_STAT), which first settles dead sessions so the
 * numbers a test reads after a client's death are exact.
 *
 * Counters are kept in ag->stats.v, one per line of MMC_STATS_FIELDS
 * (mmc-t.h), by whichever module sees the event (MMC_COUNT).  Gauges come
 * from their owners at each refresh: object counts from object.c, bytes
 * from the allocator, pins from a scan of the pin tables (readers.c).
 *
 * What clients count about themselves lives in their own ring and is
 * theirs to read (mmc_client_stats).  The agent takes its own observations
 * for everything it sees (puts, removes, errors it answered...), and folds
 * in only what a client alone can see - hits, misses, gets, bytes read,
 * exists, lost touch records - as deltas it believes: never backwards,
 * never faster than a real client could go.  A client that lies can
 * therefore skew those figures by at most that rate, never overflow them
 * or rewind them (a forged 10^18 hits is cut to what the time allows, and
 * counters_clamped says a report was not believed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "object.h"
#include "loop.h"
#include "readers.h"
#include "activity.h"
#include "stats.h"
#include "tier_ssd.h"
#include "timer.h"

_Static_assert(sizeof(struct mmc_stats) == 680 && MMC_STATS_COUNT <= MMC_STATS_SLOTS,
	       "struct mmc_stats is ABI: new figures take padding");

/* Is pid a running mmc-agent other than us?  A pid that runs something
 * else (reused since) is not; one we cannot look at is assumed to be. */
static bool other_agent_alive(uint32_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	if (!pid || pid == (uint32_t)getpid() ||
	    (kill((pid_t)pid, 0) < 0 && errno == ESRCH))
		return false;
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return !strncmp(comm, "mmc-agent", 9);
}

/* Makes path free for a new stats file: 0 when nothing is there or it was
 * a dead agent's stats file (removed); else -errno after saying why the
 * file is not ours to replace. */
static int clear_stats_path(const char *path)
{
	struct mmc_stats old;
	struct stat st;
	ssize_t n = -1;
	int fd, ret;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		log_err("cannot use %s as the stats file: %s", path, strerror(-ret));
		return ret;
	}
	/* Of this version or an older one (smaller: an upgrade), whose header
	 * says its own size; this version's is followed by the members table. */
	size_t head = st.st_size > (off_t)sizeof(old) ? sizeof(old) : (size_t)st.st_size;

	memset(&old, 0, sizeof(old));
	if (S_ISREG(st.st_mode) && st.st_size >= (off_t)offsetof(struct mmc_stats, hugepages) &&
	    st.st_size <= (off_t)(sizeof(old) + sizeof(struct mmc_members_table)) &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) >= 0) {
		n = pread(fd, &old, head, 0);
		close(fd);
	}
	/* Ours: an mmc stats file, or one an agent died before finishing. */
	if (n != (ssize_t)head ||
	    (old.size != (uint64_t)st.st_size &&
	     old.size + sizeof(struct mmc_members_table) != (uint64_t)st.st_size) ||
	    (old.magic != MMC_STATS_MAGIC && old.magic)) {
		log_err("%s exists and is not an mmc stats file: refusing to replace "
			"it (remove it, or set [agent] stats / --stats elsewhere)", path);
		return -EEXIST;
	}
	if (other_agent_alive(old.agent_pid)) {
		log_err("%s belongs to another agent, running as pid %u: leaving it "
			"alone", path, old.agent_pid);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		ret = -errno;
		log_err("cannot remove the stale stats file %s: %s", path, strerror(-ret));
		return ret;
	}
	return 0;
}

int mmc_stats_open(struct mmc_agent *ag)
{
	const char *path = ag->cfg.stats_path;
	struct mmc_stats *st;
	struct stat sb;
	int fd, ret = clear_stats_path(path);

	if (ret)
		return ret;
	/* O_EXCL: a file that appeared since is someone else's. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		ret = -errno;
		log_err("cannot create the stats file %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &sb) == 0)
		ag->stats.ino = sb.st_ino;
	ag->stats.fd = fd;
	if (fchmod(fd, 0644) < 0 ||
	    ftruncate(fd, sizeof(*st) + sizeof(struct mmc_members_table)) < 0) {
		ret = -errno;
		log_err("cannot size the stats file %s: %s", path, strerror(-ret));
		return ret;
	}
	st = mmap(NULL, sizeof(*st) + sizeof(struct mmc_members_table),
		  PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (st == MAP_FAILED) {
		ret = -errno;
		log_err("cannot map the stats file %s: %s", path, strerror(-ret));
		return ret;
	}
	memset(st, 0, sizeof(*st));
	st->version = MMC_STATS_VERSION;
	st->size = sizeof(*st);
	st->start_ns = mmc_now_ns();
	st->agent_pid = (uint32_t)getpid();
	ag->stats.st = st;
	return 0;
}

void mmc_stats_publish(struct mmc_agent *ag)
{
	if (!ag->stats.st)
		return;
	mmc_stats_refresh(ag);
	atomic_thread_fence(memory_order_release);
	ag->stats.st->magic = MMC_STATS_MAGIC;   /* last: readers check it first */
}

/* Slack for a report that lands right after a fold (clock granularity). */
#define FOLD_SLACK 4096

/* The session's sampled hit histogram into /metrics' local_hit: each
 * bucket believed up to one hit per nanosecond since the last fold, never
 * backwards (else counters_clamped); the sum up to what the believed hits
 * could take (their buckets' bounds, the last one dt). */
static void fold_hits(struct mmc_agent *ag, struct mmc_session *s, uint64_t dt)
{
	struct mmc_hit_hist *h = &s->ring->hit_hist;
	uint64_t *seen = s->fold.hit_seen, most_sum = 0, raw, d;

	for (unsigned b = 0; b <= MMC_HIT_BUCKETS; b++) {
		raw = atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
		d = raw - seen[b];
		if ((int64_t)d < 0 || d > dt + FOLD_SLACK) {
			d = (int64_t)d < 0 ? 0 : dt + FOLD_SLACK;
			MMC_COUNT(ag, counters_clamped, 1);
		}
		seen[b] = raw;
		most_sum += d * (b < MMC_HIT_BUCKETS ? MMC_HIT_BUCKET0_NS << b : dt + FOLD_SLACK);
		if (d)
			mmc_metrics_add(&ag->metrics, MMC_HIST_local_hit, b, d, 0);
	}
	/* The client adds to a bucket, then to the sum: a fold between the
	 * two sees one without the other, so the sum is capped (with a slack
	 * of dt) but not counted as a forgery. */
	raw = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
	d = raw - seen[MMC_HIT_BUCKETS + 1];
	seen[MMC_HIT_BUCKETS + 1] = raw;
	most_sum += dt + FOLD_SLACK;
	if ((int64_t)d < 0 || d > most_sum)
		d = (int64_t)d < 0 ? 0 : most_sum;
	ag->metrics.hist[MMC_HIST_local_hit].sum_ns += d;
}

void mmc_stats_fold(struct mmc_agent *ag, struct mmc_session *s, uint64_t now)
{
	struct mmc_client_counters *k;
	uint64_t dt, raw, d, most;

	if (!s->ring)
		return;
	k = &s->ring->counters;
	dt = now > s->fold.ns ? now - s->fold.ns : 0;
	s->fold.ns = now;
#define FOLD(name, rate) \
	raw = atomic_load_explicit(&k->name, memory_order_relaxed); \
	d = raw - s->fold.seen[MMC_FOLD_##name]; \
	most = dt * (rate) + FOLD_SLACK; \
	if ((int64_t)d < 0) {                 /* backwards: not believed */ \
		d = 0; \
		MMC_COUNT(ag, counters_clamped, 1); \
	} else if (d > most) {                /* faster than possible */ \
		d = most; \
		MMC_COUNT(ag, counters_clamped, 1); \
	} \
	s->fold.seen[MMC_FOLD_##name] = raw; \
	MMC_COUNT(ag, name, d);
	MMC_FOLDED_FIELDS(FOLD)
#undef FOLD
	fold_hits(ag, s, dt);
}

void mmc_stats_refresh(struct mmc_agent *ag)
{
	struct mmc_stats *st = ag->stats.st;

	if (!st)
		return;
	/* The gauges, measured now; the counters are up to date already.
	 * Nothing here visits every session: a refresh costs the same with
	 * 10,000 of them (pins are counted by the sweep beyond a few). */
	MMC_STAT(ag, arena_bytes) = mmc_alloc_capacity(ag->alloc);
	MMC_STAT(ag, used_bytes) = mmc_alloc_used(ag->alloc);
	MMC_STAT(ag, reserved_bytes) = ag->obj.reserved_bytes;
	MMC_STAT(ag, objects) = ag->obj.objects;
	MMC_STAT(ag, pinned_objects) = mmc_object_count_pinned(ag);
	MMC_STAT(ag, reservations) = ag->obj.reservations;
	MMC_STAT(ag, clients) = ag->sess.established;
	MMC_STAT(ag, active_sessions) = mmc_activity_count(ag);
	MMC_STAT(ag, high_watermark_pct) = ag->cfg.high_watermark;
	MMC_STAT(ag, low_watermark_pct) = ag->cfg.low_watermark;
	MMC_STAT(ag, max_objects) = ag->index.nentries;
	MMC_STAT(ag, parked) = ag->sess.parked;
	st->hugepages = ag->arena.hugepages;
	if (ag->remote) {          /* its figures, and the members' table after ours */
		struct mmc_members_table *t = (struct mmc_members_table *)(st + 1);

		mmc_object_remote_stats(ag);
		atomic_fetch_add_explicit(&t->seq, 1, memory_order_relaxed);   /* odd */
		atomic_thread_fence(memory_order_release);
		t->count = mmc_object_remote_members(ag, t->m, MMC_MEMBERS_MAX);
		MMC_STAT(ag, members) = t->count;
		atomic_fetch_add_explicit(&t->seq, 1, memory_order_release);   /* even */
	}
	if (ag->ssd) {             /* the tier's gauges and its own counters */
		struct mmc_ssd_stats ss;

		mmc_ssd_get_stats(ag->ssd, &ss);
		MMC_STAT(ag, ssd_objects) = ss.objects;
		MMC_STAT(ag, ssd_bytes) = ss.bytes;
		MMC_STAT(ag, ssd_capacity) = ss.capacity;
		MMC_STAT(ag, ssd_inflight) = ss.inflight;
		MMC_STAT(ag, ssd_read_bytes) = ss.read_bytes;
		MMC_STAT(ag, ssd_write_bytes) = ss.write_bytes;
		MMC_STAT(ag, ssd_crc_failures) = ss.crc_failures;
		MMC_STAT(ag, ssd_io_errors) = ss.io_errors;
	}
#define COPY(name, ...) st->name = MMC_STAT(ag, name);
	MMC_STATS_FIELDS(COPY)
#undef COPY
	st->updated_ns = mmc_now_ns();
}

/* Folds the sessions of one list (link or hot nodes). */
static void fold_list(struct mmc_agent *ag, struct mmc_dnode *n, size_t off,
		      uint64_t now)
{
	for (; n; n = n->next)
		mmc_stats_fold(ag, (struct mmc_session *)((char *)n - off), now);
}

void mmc_stats_settle(struct mmc_agent *ag, struct mmc_session *asker)
{
	uint64_t now = mmc_now_ns();

	/* Clients that died: their hang-ups wait in epoll (one epoll_wait,
	 * whose cost is the events pending, not the sessions). */
	mmc_agent_poll(ag);
	mmc_readers_drain_busy(ag);
	mmc_stats_fold(ag, asker, now);
	fold_list(ag, ag->sess.active.first, offsetof(struct mmc_session, link), now);
	fold_list(ag, ag->sess.hot.first, offsetof(struct mmc_session, hot), now);
	if (ag->obj.ndeferred && mmc_readers_scan_cheap(&ag->readers))
		mmc_object_reap(ag);
	mmc_stats_refresh(ag);
}

void mmc_stats_close(struct mmc_agent *ag)
{
	struct stat sb;

	if (ag->stats.st)
		munmap(ag->stats.st, sizeof(*ag->stats.st) + sizeof(struct mmc_members_table));
	ag->stats.st = NULL;
	if (ag->stats.fd < 0)
		return;
	close(ag->stats.fd);
	ag->stats.fd = -1;
	/* Only the file this agent created: not one that replaced it since. */
	if (lstat(ag->cfg.stats_path, &sb) == 0 && sb.st_ino == ag->stats.ino)
		unlink(ag->cfg.stats_path);
}
