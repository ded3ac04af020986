/*
 * loop.c - start-up, the event loop, and shutdown of mmc-agent.
 *
 * One thread does everything.  Each turn it serves the active sessions'
 * rings (activity.c: only sessions with recent requests are polled; a quiet
 * session's client rings its doorbell) and drains the touch logs of the
 * sessions that were busy.  While there is work it keeps turning; once idle
 * it spins for cfg.spin_us (a shared-memory round trip costs ~115 ns, a
 * wake-up through the kernel ~50 us on this class of VM), then announces
 * that it sleeps (hdr->agent_sleeping), re-checks the active rings, and
 * blocks in epoll_wait.  A client that queues a request reads
 * agent_sleeping and its ring's agent_watching after publishing it and
 * rings the session's doorbell only when the agent sleeps or does not
 * watch, so a busy agent costs its active clients no system call at all.
 *
 * With two cores shared between agent and workers, spinning is bounded by
 * design: spin_us = 0 turns it off.
 *
 * Nothing the loop does per turn, or per tick, grows with sessions that do
 * nothing: the turn visits the active sessions, the touch tick the hot ones
 * and a few more (readers.c's sweep), a stats refresh none.
 *
 * Everything else the loop does on a schedule is a timer (timer.c): the
 * stats refresh, the touch tick (every 100 us while it spins), a look at
 * the sockets and doorbells every 50 us while it is busy (a quiet session's
 * first request waits at most that long; every 5 us while it spins with
 * nothing to do and members have talked to it in the last ms, so their
 * EXISTS and GETs are not left waiting; every turn while clients are
 * parked on a peer's answer, object_remote.c), the oldest hello's
 * deadline, and retries of deferred frees (backing off while pins keep
 * them).  Parked requests bring their own timers.  Sleeping, the loop
 * waits until the earliest one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "cpu.h"
#include "loop.h"
#include "log.h"
#include "readers.h"
#include "request.h"
#include "tier_ssd.h"
#include "activity.h"

#define MS             (1000ull * 1000)
#define US             1000ull
#define STATS_EVERY_NS (200 * MS)
#define POLL_EVERY_NS  (50 * US)
/* Spinning with nothing to do while members talk to it (an event from
 * them in the last PEER_WARM_NS), the agent looks at the sockets this
 * often: a member's EXISTS or GET is not left for the 50 us poll.  Not
 * always: a system call every 5 us is a cost on a core shared with
 * clients, for nothing when no member talks (a first A/B run showed puts
 * 18 % slower with it; later runs of one binary against itself spread as
 * much, so the figure is not the reason, only the caution). */
#define POLL_IDLE_NS   (5 * US)
#define PEER_WARM_NS   (1 * MS)
#define REAP_EVERY_NS  (1 * MS)
#define REAP_MAX_NS    (STATS_EVERY_NS)
/* While spinning with no requests: how often touch logs are drained.  At
 * the 2-3 M hits/s one client reaches, 100 us is a few hundred of the 8192
 * records a log holds. */
#define TOUCH_DRAIN_NS (100ull * 1000)
/* Sleep bound while clients hit: their touch logs (8192 records each) must
 * be drained before they fill, or LRU order degrades to "dropped". */
#define TOUCH_SLEEP_NS (5 * MS)
/* Sessions the sweep visits per touch tick (and the time it may take), and
 * per stats tick while the agent sleeps: 10,000 quiet sessions are swept
 * in about 60 ms awake, for under 3 % of the loop's time. */
#define SWEEP_AWAKE    16u
#define SWEEP_AWAKE_NS (2 * US)
#define SWEEP_ASLEEP   1024u
#define SWEEP_ASLEEP_NS (100 * US)
/* Descriptors a session holds: its socket. */
#define FDS_PER_SESSION 1u

static struct mmc_watch w_listen = { .kind = MMC_WATCH_LISTEN };
static struct mmc_watch w_signal = { .kind = MMC_WATCH_SIGNAL };
static struct mmc_watch w_tier = { .kind = MMC_WATCH_TIER };
static struct mmc_watch w_peer = { .kind = MMC_WATCH_PEER };
static struct mmc_watch w_metrics = { .kind = MMC_WATCH_METRICS };

/* An explicit max_objects (config: 1024 or more) is honoured exactly: it
 * is how an operator, or mmc-bench trace, bounds the cache in objects.  Only
 * the derived default has a floor. */
static uint32_t derive_objects(const struct mmc_config *cfg)
{
	uint64_t n = cfg->max_objects;

	if (!n && (n = cfg->arena_size / (32 << 10)) < 4096)
		n = 4096;
	if (n > MMC_CONFIG_MAX_OBJECTS)     /* a derived value; set ones are checked */
		n = MMC_CONFIG_MAX_OBJECTS;
	return (uint32_t)n;
}

static int setup_signals(struct mmc_agent *ag)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	ag->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return ag->signal_fd < 0 ? -errno : 0;
}

/* Each session holds one descriptor, its socket, as does a connection
 * waiting for its hello: the usual soft limit of 1024 would cap the agent
 * below a thousand clients.  Raises the soft limit to the hard one and says so if even
 * that cannot hold [limits] max_sessions (the agent still runs: at the
 * limit it refuses new clients and serves the others, session.c). */
static void raise_fd_limit(const struct mmc_config *cfg)
{
	uint64_t need = (uint64_t)cfg->max_sessions * FDS_PER_SESSION +
			cfg->max_handshakes + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			log_warn("cannot raise the descriptor limit: %s", strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warn("the descriptor limit (%llu) holds about %llu sessions, "
			 "[limits] max_sessions is %u: raise LimitNOFILE / ulimit -n "
			 "to %llu (new clients beyond it are refused with EMFILE)",
			 (unsigned long long)rl.rlim_cur,
			 (unsigned long long)(rl.rlim_cur > 64 + cfg->max_handshakes ?
			 (rl.rlim_cur - 64 - cfg->max_handshakes) / FDS_PER_SESSION : 0),
			 cfg->max_sessions, (unsigned long long)need);
}

/* ---- the loop's timers ---- */

static void arm(struct mmc_agent *ag, struct mmc_timer *t, uint64_t due,
		mmc_timer_fn *fn)
{
	/* The heap holds the loop's timers from the start: re-arming never
	 * allocates. */
	(void)mmc_timer_arm(&ag->timers, t, due, fn);
}

/* Drains the busy sessions' touch logs; remembers when records were found. */
static void drain_touches(struct mmc_agent *ag, uint64_t now)
{
	if (mmc_readers_drain_busy(ag))
		ag->loop.touched_ns = now;
}

static void on_touch(void *ctx, struct mmc_timer *t);

/* The touch tick is next due TOUCH_DRAIN_NS from now. */
static void touch_soon(struct mmc_agent *ag, uint64_t now)
{
	arm(ag, &ag->loop.touch, now + TOUCH_DRAIN_NS, on_touch);
}

static void on_touch(void *ctx, struct mmc_timer *t)
{
	struct mmc_agent *ag = ctx;
	uint64_t now = mmc_now_ns();

	if (mmc_readers_tick(ag, now, SWEEP_AWAKE, SWEEP_AWAKE_NS))
		ag->loop.touched_ns = now;
	touch_soon(ag, now);
}

static void on_reap(void *ctx, struct mmc_timer *t);

/* Deferred frees are retried on a timer while any wait; each retry is a
 * pin scan, so the interval is at least ten scans long and doubles while
 * retries free nothing (a view held for minutes costs a scan per 200 ms). */
static void reap_later(struct mmc_agent *ag, uint64_t now)
{
	uint64_t every = ag->loop.reap_every_ns, floor = 10 * ag->readers.scan_ns;

	if (every < REAP_EVERY_NS)
		every = REAP_EVERY_NS;
	if (every < floor)
		every = floor;
	arm(ag, &ag->loop.reap, now + every, on_reap);
}

static void on_reap(void *ctx, struct mmc_timer *t)
{
	struct mmc_agent *ag = ctx;
	uint32_t before = ag->obj.ndeferred, left = mmc_object_reap(ag);

	if (!left) {
		ag->loop.reap_every_ns = 0;
		return;
	}
	if (left == before && ag->loop.reap_every_ns < REAP_MAX_NS)
		ag->loop.reap_every_ns = ag->loop.reap_every_ns ?
			2 * ag->loop.reap_every_ns : 2 * REAP_EVERY_NS;
	else if (left < before)
		ag->loop.reap_every_ns = 0;
	reap_later(ag, mmc_now_ns());
}

static void on_stats(void *ctx, struct mmc_timer *t)
{
	struct mmc_agent *ag = ctx;
	uint64_t now = mmc_now_ns();

	/* Asleep the touch tick may not run: the sweep goes on from here. */
	if (atomic_load_explicit(&ag->hdr->agent_sleeping, memory_order_relaxed) &&
	    mmc_readers_tick(ag, now, SWEEP_ASLEEP, SWEEP_ASLEEP_NS))
		ag->loop.touched_ns = now;
	mmc_stats_refresh(ag);
	mmc_metrics_run(ag);          /* idle HTTP connections time out */
	arm(ag, t, now + STATS_EVERY_NS, on_stats);
}

static void on_poll(void *ctx, struct mmc_timer *t)
{
	((struct mmc_agent *)ctx)->loop.poll_due = true;
}

static void on_handshake(void *ctx, struct mmc_timer *t)
{
	struct mmc_agent *ag = ctx;
	uint64_t now = mmc_now_ns(), wait = mmc_session_expire(ag, now);

	if (wait != UINT64_MAX)
		arm(ag, t, now + wait, on_handshake);
}

/* Opens the SSD tier's file when [ssd] path is set; *seed becomes the key
 * hash seed its superblock keeps.  0 or -errno (said in one line). */
static int open_ssd(struct mmc_agent *ag, uint64_t *seed)
{
	const struct mmc_config *cfg = &ag->cfg;
	struct mmc_ssd_config sc = {
		.path = cfg->ssd_path, .size = cfg->ssd_size,
		.region_size = cfg->ssd_region_size, .max_objects = cfg->ssd_max_objects,
		.queue_depth = cfg->ssd_queue_depth,
		.engine = cfg->ssd_engine == MMC_SSD_ENGINE_THREADS ? MMC_BLKIO_THREADS
								     : MMC_BLKIO_URING,
	};
	char err[320];
	int ret;

	if (!cfg->ssd_path[0])
		return 0;
	if (sc.engine == MMC_BLKIO_THREADS)
		log_warn("[ssd] engine = threads: pread/pwrite workers instead of io_uring");
	ret = mmc_ssd_open(&sc, seed, &ag->ssd, err, sizeof(err));
	if (ret)
		log_err("%s", err);
	return ret;
}

/* The SSD tier's index goes after the DRAM index in the meta region. */
static int attach_ssd(struct mmc_agent *ag, size_t ssd_off)
{
	char err[320];
	int ret;

	if (!ag->ssd)
		return 0;
	ret = mmc_ssd_attach(ag->ssd, (char *)ag->arena.meta + ssd_off, ag->arena.data,
			     ag->arena.data_size, err, sizeof(err));
	if (ret) {
		log_err("%s", err);
		return ret;
	}
	ag->index.hdr->ssd_off = ssd_off;
	ag->index.hdr->ssd_nbuckets = (uint32_t)(mmc_ssd_shared_size(ag->ssd) /
						 sizeof(struct mmc_ssd_bucket));
	return 0;
}

/* Builds the arena, the index and the modules on it (after the socket and
 * the stats file are ours), the SSD tier's index after the DRAM one in the
 * meta region.  seed: the key hash seed (the tier's, when it has one).
 * 0 or -errno, logged. */
static int build_arena(struct mmc_agent *ag, uint32_t nentries, uint64_t seed,
		       uint64_t epoch)
{
	const struct mmc_config *cfg = &ag->cfg;
	size_t index_size = mmc_index_meta_size(nentries);
	int ret;

	ret = mmc_arena_create(&ag->arena, cfg->arena_size, index_size +
			       (ag->ssd ? mmc_ssd_shared_size(ag->ssd) : 0), cfg->hugepages);
	if (ret)
		return ret;
	ret = mmc_index_init(&ag->index, ag->arena.meta, ag->arena.meta_size,
			     nentries, seed);
	if (!ret)
		ret = mmc_alloc_create(ag->arena.data_size, &ag->alloc);
	if (!ret)
		ret = mmc_evict_create(nentries, cfg->high_watermark,
				       cfg->low_watermark, &ag->evict);
	if (!ret)
		ret = mmc_objects_init(ag);
	if (!ret)
		ret = mmc_readers_init(&ag->readers, nentries);
	if (!ret)
		ret = mmc_timers_init(&ag->timers);
	if (!ret)
		ret = mmc_limits_init(&ag->limits, cfg, nentries, ag->arena.data_size);
	if (ret) {
		log_err("cannot set up the index and allocator for %u objects: %s",
			nentries, strerror(-ret));
		return ret;
	}
	ret = attach_ssd(ag, index_size);     /* logged */
	if (ret)
		return ret;
	ag->hdr = ag->index.hdr;
	ag->hdr->version = MMC_LAYOUT_VERSION;
	ag->hdr->data_size = ag->arena.data_size;
	ag->hdr->agent_epoch = epoch;
	ag->hdr->agent_pid = (uint32_t)getpid();
	ag->hdr->hugepages = ag->arena.hugepages;
	ag->hdr->verify = ag->cfg.verify;        /* clients' default */
	ag->hdr->pool = ag->cfg.cluster_node_id[0] != '\0';
	atomic_store(&ag->hdr->agent_state, MMC_AGENT_RUNNING);
	atomic_thread_fence(memory_order_release);
	ag->hdr->magic = MMC_META_MAGIC;
	ret = mmc_arena_seal_meta(&ag->arena);
	if (ret)
		log_err("cannot seal the index read-only: %s", strerror(-ret));
	return ret;
}

/* Joins the pool when [cluster] says so.  0 or -errno, logged. */
static int start_pool(struct mmc_agent *ag)
{
	const struct mmc_config *cfg = &ag->cfg;
	char err[256] = "";
	int ret = mmc_object_remote_start(ag, err, sizeof(err));

	if (ret)
		log_err("cannot join the pool: %s", err[0] ? err : strerror(-ret));
	else if (ag->remote && cfg->cluster_tls == MMC_TLS_ON)
		log_info("[cluster] node %s, listening on %s, mutual TLS (ca %s)",
			 cfg->cluster_node_id, cfg->cluster_listen, cfg->cluster_ca);
	else if (ag->remote)
		log_warn("[cluster] node %s, listening on %s, tls = off: pages cross "
			 "the network in the clear", cfg->cluster_node_id, cfg->cluster_listen);
	return ret;
}

/* The event loop's descriptors: epoll, with the listening socket, the
 * signalfd and the SSD tier's completions in it.  0 or -errno, logged. */
static int setup_events(struct mmc_agent *ag)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ret = 0;

	if ((ag->epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		ret = -errno;
	ev.data.ptr = &w_listen;
	if (!ret && epoll_ctl(ag->epoll_fd, EPOLL_CTL_ADD, ag->listen_fd, &ev) < 0)
		ret = -errno;
	ev.data.ptr = &w_signal;
	if (!ret && epoll_ctl(ag->epoll_fd, EPOLL_CTL_ADD, ag->signal_fd, &ev) < 0)
		ret = -errno;
	ev.data.ptr = &w_tier;
	if (!ret && ag->ssd &&
	    epoll_ctl(ag->epoll_fd, EPOLL_CTL_ADD, mmc_ssd_event_fd(ag->ssd), &ev) < 0)
		ret = -errno;
	ev.data.ptr = &w_peer;
	if (!ret && ag->remote &&
	    epoll_ctl(ag->epoll_fd, EPOLL_CTL_ADD, mmc_object_remote_fd(ag), &ev) < 0)
		ret = -errno;
	ev.data.ptr = &w_metrics;
	if (!ret && mmc_metrics_fd(ag) >= 0 &&
	    epoll_ctl(ag->epoll_fd, EPOLL_CTL_ADD, mmc_metrics_fd(ag), &ev) < 0)
		ret = -errno;
	if (ret)
		log_err("cannot set up the event loop: %s", strerror(-ret));
	return ret;
}

/* The order is what makes a failed start harmless: nothing is allocated
 * before the sizes are known to fit, and nothing is created or replaced on
 * the file system (the socket, the stats file, the SSD tier's file) before
 * the socket is known to be free - so a second agent started by mistake
 * exits without touching the first one's socket, stats file or tier, and
 * without allocating a byte. */
int mmc_agent_start(struct mmc_agent *ag, const struct mmc_config *cfg)
{
	uint32_t nentries;
	uint64_t rnd[2];
	int ret;

	memset(ag, 0, sizeof(*ag));
	ag->cfg = *cfg;
	ag->listen_fd = ag->epoll_fd = ag->signal_fd = ag->stats.fd = -1;
	ag->arena.meta_fd = ag->arena.data_fd = -1;
	ag->sess.spare_fd = -1;
	nentries = derive_objects(cfg);
	raise_fd_limit(cfg);

	ret = mmc_arena_check_memory(cfg->arena_size, mmc_index_meta_size(nentries),
				     cfg->hugepages);
	/* A descriptor kept in reserve: out of them, the agent still accepts
	 * (and refuses) new clients instead of leaving them in the backlog. */
	if (!ret && (ag->sess.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		ret = -errno;
		log_err("cannot open /dev/null: %s", strerror(-ret));
	}
	/* Before any thread starts (the SSD tier's I/O workers), so that they
	 * inherit the blocked signals and SIGTERM reaches the signalfd. */
	if (!ret && (ret = setup_signals(ag)))
		log_err("cannot set up signal handling: %s", strerror(-ret));
	if (!ret)
		ret = mmc_session_listen(ag);
	if (!ret)
		ret = mmc_stats_open(ag);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd[0] = rnd[1] = (uint64_t)mmc_now_ns() * 0x9e3779b97f4a7c15ull;
	if (!ret)
		ret = open_ssd(ag, &rnd[0]);     /* keys hash alike across restarts */
	if (!ret)
		ret = build_arena(ag, nentries, rnd[0], rnd[1]);
	if (!ret)
		ret = start_pool(ag);
	if (!ret)
		ret = mmc_metrics_start(ag);     /* logged */
	if (!ret)
		ret = setup_events(ag);
	if (ret)
		return ret;
	mmc_stats_publish(ag);
	ag->started = true;
	log_info("ready: socket %s, arena %llu MiB on %s pages, %u objects max, "
		 "watermarks %u/%u%%", cfg->socket_path,
		 (unsigned long long)(ag->arena.data_size >> 20),
		 ag->arena.hugepages ? "2 MiB" : "4 KiB", nentries,
		 cfg->high_watermark, cfg->low_watermark);
	if (cfg->ping_delay_max_ms)
		log_warn("[debug] ping_delay_max_ms = %u: clients may park pings "
			 "(a test setting)", cfg->ping_delay_max_ms);
	sd_notifyf(0, "READY=1\nSTATUS=serving %s, arena %llu MiB%s",
		   cfg->socket_path, (unsigned long long)(ag->arena.data_size >> 20),
		   ag->arena.hugepages ? " on hugepages" : "");
	return 0;
}

static void handle_event(struct mmc_agent *ag, const struct epoll_event *ev)
{
	struct mmc_watch *w = ev->data.ptr;
	struct mmc_session *s = w->s;

	switch (w->kind) {
	case MMC_WATCH_LISTEN:
		mmc_session_accept(ag);
		if (ag->sess.handshakes.n && !mmc_timer_armed(&ag->loop.handshake))
			arm(ag, &ag->loop.handshake, mmc_now_ns() +
			    ag->limits.handshake_ns, on_handshake);
		break;
	case MMC_WATCH_SIGNAL: {
		struct signalfd_siginfo si;

		while (read(ag->signal_fd, &si, sizeof(si)) == sizeof(si)) {
			log_info("signal %u: shutting down", si.ssi_signo);
			ag->stop = 1;
		}
		break;
	}
	case MMC_WATCH_SOCK:
		if (s->closed)
			break;
		if (ev->events & EPOLLIN)
			mmc_session_readable(ag, s);
		else if (ev->events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
			mmc_session_close(ag, s, NULL);
		break;
	case MMC_WATCH_TIER: {
		uint64_t v;

		(void)!read(mmc_ssd_event_fd(ag->ssd), &v, sizeof(v));
		mmc_object_tier_poll(ag);
		break;
	}
	case MMC_WATCH_PEER:
		ag->loop.peer_ns = mmc_now_ns();
		mmc_object_remote_poll(ag);
		break;
	case MMC_WATCH_METRICS:
		mmc_metrics_run(ag);
		break;
	}
}

void mmc_agent_poll(struct mmc_agent *ag)
{
	struct epoll_event evs[64];
	int n = epoll_wait(ag->epoll_fd, evs, 64, 0);

	for (int i = 0; i < n; i++)
		handle_event(ag, &evs[i]);
	ag->loop.polled_ns = mmc_now_ns();
}

/* About to sleep: announces it, re-checks the rings (a request published
 * before the announcement was seen by nobody else), and returns the epoll
 * timeout in ms, or -1 when there is work after all. */
static int prepare_sleep(struct mmc_agent *ag, uint64_t now)
{
	uint64_t wait;

	atomic_store(&ag->hdr->agent_sleeping, 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (mmc_activity_any_pending(ag)) {
		atomic_store(&ag->hdr->agent_sleeping, 0);
		return -1;
	}
	/* Asleep, the sockets are watched anyway; touch logs are drained
	 * every few ms while clients hit, else with the stats refresh. */
	mmc_timer_disarm(&ag->timers, &ag->loop.poll);
	if (ag->sess.hot.n || now - ag->loop.touched_ns < STATS_EVERY_NS)
		arm(ag, &ag->loop.touch, now + TOUCH_SLEEP_NS, on_touch);
	else
		mmc_timer_disarm(&ag->timers, &ag->loop.touch);
	wait = mmc_timers_wait_ns(&ag->timers, now);
	if (wait > STATS_EVERY_NS)
		wait = STATS_EVERY_NS;
	return (int)((wait + MS - 1) / MS);
}

int mmc_agent_run(struct mmc_agent *ag)
{
	struct epoll_event evs[64];
	uint64_t spin_ns = (uint64_t)ag->cfg.spin_us * 1000;
	uint64_t now = mmc_now_ns(), last_work = now;
	unsigned spins = 0;

	arm(ag, &ag->loop.stats, now + STATS_EVERY_NS, on_stats);
	arm(ag, &ag->loop.poll, now + POLL_EVERY_NS, on_poll);
	touch_soon(ag, now);
	while (!ag->stop) {
		int timeout = 0, n;
		bool due;
		unsigned work = mmc_activity_serve(ag, now, MMC_ACTIVITY_QUOTA);

		mmc_object_remote_flush(ag, !work);   /* lookups: one ask per home */

		if (ag->ssd && mmc_ssd_busy(ag->ssd))
			mmc_object_tier_poll(ag);   /* I/O back, and what was queued goes */
		now = mmc_now_ns();
		if (work) {
			/* Off the clients' critical path: answers are posted. */
			drain_touches(ag, now);
			touch_soon(ag, now);
			last_work = now;
		}
		mmc_timers_run(&ag->timers, now, ag);
		/* Clients parked on a peer's answer: look for it every turn. */
		due = ag->loop.poll_due || mmc_object_remote_awaited(ag);
		if (work) {
			if (!due)
				continue;
		} else if (now - last_work < spin_ns) {
			/* Clients - or, on a small machine, the peer whose answer
			 * is awaited - may be waiting for this core: let them in. */
			if (++spins % 64 == 0)
				sched_yield();
			if (!due && now - ag->loop.peer_ns < PEER_WARM_NS &&
			    now - ag->loop.polled_ns >= POLL_IDLE_NS)
				due = true;
			if (!due) {
				cpu_relax();
				continue;
			}
		} else if ((timeout = prepare_sleep(ag, now)) < 0) {
			continue;
		}
		n = epoll_wait(ag->epoll_fd, evs, 64, timeout);
		atomic_store_explicit(&ag->hdr->agent_sleeping, 0, memory_order_relaxed);
		for (int i = 0; i < n; i++)
			handle_event(ag, &evs[i]);
		mmc_object_remote_flush(ag, true);
		now = mmc_now_ns();
		ag->loop.poll_due = false;
		arm(ag, &ag->loop.poll, now + POLL_EVERY_NS, on_poll);
		if (!mmc_timer_armed(&ag->loop.touch) ||
		    ag->loop.touch.due_ns > now + TOUCH_DRAIN_NS)
			touch_soon(ag, now);
		if (n > 0)
			last_work = now;
		ag->loop.polled_ns = now;
		if (ag->obj.ndeferred && !mmc_timer_armed(&ag->loop.reap))
			reap_later(ag, now);
		mmc_session_free_zombies(ag);
	}
	return 0;
}

void mmc_agent_stop(struct mmc_agent *ag)
{
	if (ag->started)
		sd_notify(0, "STOPPING=1");
	if (ag->hdr)
		atomic_store(&ag->hdr->agent_state, MMC_AGENT_STOPPING);
	while (ag->sess.list)
		mmc_session_close(ag, ag->sess.list, NULL);
	mmc_session_free_zombies(ag);
	mmc_session_unlisten(ag);
	mmc_object_remote_stop(ag);   /* before the objects it holds go */
	mmc_metrics_stop(ag);
	if (ag->ssd && ag->cfg.ssd_flush_on_stop_ms) {
		uint64_t t0 = mmc_now_ns(), n, left;

		sd_notify(0, "STATUS=writing DRAM pages to the SSD tier");
		n = mmc_object_flush_ssd(ag, ag->cfg.ssd_flush_on_stop_ms, &left);
		log_info("[ssd] stop: %llu objects written down in %.0f ms, %llu left "
			 "in DRAM only (lost)", (unsigned long long)n,
			 (double)(mmc_now_ns() - t0) / 1e6, (unsigned long long)left);
	}
	mmc_stats_close(ag);
	mmc_ssd_close(ag->ssd);   /* seals what is open, waits for its I/O */
	ag->ssd = NULL;
	if (ag->epoll_fd >= 0)
		close(ag->epoll_fd);
	if (ag->signal_fd >= 0)
		close(ag->signal_fd);
	mmc_timers_destroy(&ag->timers);
	mmc_limits_destroy(&ag->limits);
	if (ag->sess.spare_fd >= 0)
		close(ag->sess.spare_fd);
	mmc_readers_destroy(&ag->readers);
	mmc_objects_destroy(ag);
	mmc_evict_destroy(ag->evict);
	if (ag->alloc)
		mmc_alloc_destroy(ag->alloc);
	mmc_index_destroy(&ag->index);
	mmc_arena_destroy(&ag->arena);
	if (ag->started)
		log_info("stopped");
}
