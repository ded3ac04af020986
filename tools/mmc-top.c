/*
 * mmc-top.c - a top(1) for mmc-agent: counters, rates, latency histograms.
 *
 * Two sources, neither of which needs a session with the agent:
 *
 *   1. The agent's always-on counters, struct mmc_stats (mmc-t.h), which
 *      it keeps in a world-readable file: --stats PATH, else $MMC_SOCKET
 *      ".stats", else MMC_DEFAULT_SOCKET ".stats".  Each refresh reads it
 *      with mmc_stats_read() (which checks magic, version and size), so an
 *      agent restart (a new file) is simply picked up.  A
 *      missing file, or one whose agent_pid no longer exists, means "agent
 *      not running": exit status 1 (in curses mode, a banner until it's back).
 *      Per-second rates are counter deltas between two refreshes, over the
 *      agent's updated_ns clock when it advanced, else over ours.
 *
 *   2. Latency histograms from libshm's USDT probes (ebpf/), when mmc-top
 *      may load BPF: it attaches to the libmmc.so it is itself linked with
 *      (dladdr() on mmc_strerror; --lib PATH overrides), for all processes,
 *      which makes libshm start timing its calls everywhere.  The histograms
 *      are cumulative since mmc-top attached.  The agent's own probe,
 *      mmc:promote (a read back from the SSD tier), is attached in the
 *      mmc-agent beside mmc-top (--agent PATH overrides).  Without root or
 *      CAP_BPF + CAP_PERFMON it says so in one line and goes on with the
 *      counters.
 *
 * Modes: curses (q quits, every -d seconds, default 1), or batch (-b, or
 * whenever stdout is not a terminal, or --json): a baseline is read at once
 * and then -n snapshots (default: forever) are printed, one every -d seconds,
 * so each snapshot has rates and "-n 1 -d 1" means "watch one second".
 * --json prints one JSON object per snapshot per line.
 *
 * Exit status: 0 ok, 1 agent not running or bad stats file, 2 usage.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ncurses.h>

#include "mmc-top.h"

struct opts {
	const char *stats_path;
	const char *lib;
	const char *agent;
	double delay;          /* seconds between snapshots */
	long count;            /* snapshots in batch mode, 0 = forever */
	int batch, json, no_bpf;
};

/* Every figure of struct mmc_stats, from mmc-t.h's one list: what the
 * text, the JSON and the rates walk. */
const struct top_field top_fields[] = {
#define FIELD(name, kind, unit, what) \
	{ #name, offsetof(struct mmc_stats, name), MMC_STAT_##kind, MMC_STAT_##unit },
	MMC_STATS_FIELDS(FIELD)
#undef FIELD
};
_Static_assert(sizeof(top_fields) / sizeof(top_fields[0]) == NFIELDS, "one row a figure");

uint64_t top_value(const struct mmc_stats *st, const struct top_field *f)
{
	uint64_t v;

	memcpy(&v, (const char *)st + f->off, sizeof(v));
	return v;
}


static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

uint64_t top_now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the stats file ---- */

/* Resolves the stats path: opt, else $MMC_SOCKET.stats, else the default.
 * Returns buf or opt. */
static const char *stats_path(const char *opt, char *buf, size_t len)
{
	const char *sock = getenv(MMC_SOCKET_ENV);

	if (opt)
		return opt;
	snprintf(buf, len, "%s.stats", sock && *sock ? sock : MMC_DEFAULT_SOCKET);
	return buf;
}

/* Reads the stats file at path into *out with libshm's mmc_stats_read().
 * Returns 0, or -errno with a one-line reason in why: -ENOENT/-EACCES
 * (cannot open), -ENODATA (too short), -EBADMSG (not a stats file),
 * -EPROTO (another version), -ESRCH (its agent is gone). */
static int stats_read(const char *path, struct snap *out, char *why, size_t wlen)
{
	int err = mmc_stats_read(path, &out->st);

	switch (err) {
	case 0:
		break;
	case -ENODATA:
		snprintf(why, wlen, "%s: too short for struct mmc_stats "
			 "(agent starting, or not a stats file)", path);
		return err;
	case -EBADMSG:
		snprintf(why, wlen, "%s is not an mmc stats file (bad magic)", path);
		return err;
	case -EPROTO:
		snprintf(why, wlen, "%s was written by another version of "
			 "mmc-agent than this mmc-top reads", path);
		return err;
	default:
		snprintf(why, wlen, "cannot open %s: %s%s", path, strerror(-err),
			 err == -ENOENT ? " (agent not running?)" : "");
		return err;
	}
	if (out->st.agent_pid && kill((pid_t)out->st.agent_pid, 0) < 0 &&
	    errno == ESRCH) {
		snprintf(why, wlen, "agent not running: pid %u of %s is gone "
			 "(stale stats file)", out->st.agent_pid, path);
		return -ESRCH;
	}
	out->nmembers = mmc_members_read(path, out->members, MMC_MEMBERS_MAX);
	out->mono_ns = top_now_ns(CLOCK_MONOTONIC);
	out->wall = (double)top_now_ns(CLOCK_REALTIME) / 1e9;
	return 0;
}

static double delta(uint64_t cur, uint64_t prev, double dt)
{
	return cur > prev ? (double)(cur - prev) / dt : 0.0;
}

/* Rates from prev to cur; invalid when the agent restarted in between. */
static struct rates rates_of(const struct snap *prev, const struct snap *cur)
{
	const struct mmc_stats *a = &prev->st, *b = &cur->st;
	struct rates r = { 0 };
	uint64_t dt_ns;

	if (a->start_ns != b->start_ns || a->agent_pid != b->agent_pid)
		return r;
	dt_ns = b->updated_ns > a->updated_ns ? b->updated_ns - a->updated_ns
					      : cur->mono_ns - prev->mono_ns;
	if (!dt_ns)
		return r;
	r.valid = 1;
	r.interval_s = (double)dt_ns / 1e9;
	for (size_t i = 0; i < NFIELDS; i++)
		if (top_fields[i].kind == MMC_STAT_COUNTER)
			r.v[i] = delta(top_value(b, &top_fields[i]),
				       top_value(a, &top_fields[i]), r.interval_s);
	return r;
}

/* ---- BPF ---- */

/* Path of the libmmc.so this process runs with, resolved; 0 or -errno. */
static int own_libmmc(char *buf, size_t len)
{
	Dl_info info;
	char real[PATH_MAX];

	if (!dladdr((void *)mmc_strerror, &info) || !info.dli_fname)
		return -ENOENT;
	if (!realpath(info.dli_fname, real))
		return -errno;
	if (strlen(real) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, real);
	return 0;
}

/* The mmc-agent beside this program (an install puts both in one bin/);
 * 0 or -errno. */
static int own_agent(char *buf, size_t len)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash || (size_t)snprintf(buf, len, "%.*s/mmc-agent", (int)(slash - self),
				       self) >= len)
		return -ENAMETOOLONG;
	return access(buf, X_OK) ? -errno : 0;
}

/* Tries to turn histograms on.  Returns NULL when they are on, else the
 * one-line reason (also left in b->reason).  Never fails the program. */
static const char *bpf_start(struct bpf_view *b, const struct opts *o)
{
	memset(b, 0, sizeof(*b));
	if (o->no_bpf)
		return b->reason = "latency histograms off (--no-bpf)";
#ifdef MMC_WITH_BPF
	int err;

	if (o->lib)
		snprintf(b->lib, sizeof(b->lib), "%s", o->lib);
	else if (own_libmmc(b->lib, sizeof(b->lib)) < 0)
		return b->reason = "cannot find libmmc.so (use --lib PATH): "
				   "latency histograms off";
	if (o->agent)
		snprintf(b->agent, sizeof(b->agent), "%s", o->agent);
	else if (own_agent(b->agent, sizeof(b->agent)) < 0)
		b->agent[0] = '\0';
	err = mmc_lat_open(b->lib, b->agent[0] ? b->agent : NULL, -1, &b->lat);
	if (err)
		return b->reason = mmc_lat_strerror(err);
	b->on = 1;
	b->since_ns = top_now_ns(CLOCK_MONOTONIC);
	return NULL;
#else
	(void)own_libmmc;
	(void)own_agent;
	return b->reason = "built without BPF (MMC_WITH_BPF=OFF): "
			   "latency histograms off";
#endif
}

/* Refreshes b->h; a read error turns histograms off with a reason. */
static void bpf_refresh(struct bpf_view *b)
{
#ifdef MMC_WITH_BPF
	if (b->on && mmc_lat_read(b->lat, b->h) < 0) {
		b->on = 0;
		b->reason = "reading BPF maps failed: latency histograms off";
	}
#endif
}

static void bpf_stop(struct bpf_view *b)
{
#ifdef MMC_WITH_BPF
	mmc_lat_close(b->lat);
	b->lat = NULL;
#endif
}

const char *top_kind_name(int k)
{
	return k == MMC_LAT_GET ? "get" : k == MMC_LAT_PUT ? "put" :
		k == MMC_LAT_MISS ? "miss" : "promote";
}

/* q-quantile in ns, 0 if empty (ebpf/ has it; keep mmc-top buildable
 * without). */
uint64_t top_quantile(const struct mmc_lat_hist *h, double q)
{
#ifdef MMC_WITH_BPF
	return mmc_lat_quantile(h, q);
#else
	return 0;
#endif
}

/* ---- formatting ---- */

/* "123 B", "1.5 KiB" ... into buf (>= 16 bytes). */
static const char *fmt_bytes(char *buf, size_t len, double v)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}

/* "850ns", "1.2us", "3.4ms", "1.20s" into buf. */
static const char *fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
	return buf;
}

static const char *fmt_rate(char *buf, size_t len, const struct rates *r, double v)
{
	if (!r->valid)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f", v);
	return buf;
}

/* Where rendered lines go: stdout (batch) or curses rows. */
struct sink {
	int curses;
	int row, rows, cols;
};

static void out(struct sink *s, int bold, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Emits one line; in curses mode lines past the screen are dropped. */
static void out(struct sink *s, int bold, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!s->curses) {
		puts(line);
		return;
	}
	if (s->row >= s->rows)
		return;
	if (bold)
		attron(A_BOLD);
	mvaddnstr(s->row++, 0, line, s->cols);
	if (bold)
		attroff(A_BOLD);
}

/* Prints the histogram of one kind: a summary line and one bar per bucket
 * from the lowest to the highest non-empty one; when more than max_rows,
 * the sparser end is trimmed first, so the bulk stays in view. */
static void render_hist(struct sink *s, const struct mmc_lat_hist *h, int kind,
			int bar_w, int max_rows)
{
	char a[32], b[32], c[32], lo_s[32], hi_s[32];
	uint64_t peak = 0;
	int lo = -1, hi = -1;

	for (int i = 0; i < MMC_LAT_SLOTS; i++) {
		if (!h->slots[i])
			continue;
		if (lo < 0)
			lo = i;
		hi = i;
		if (h->slots[i] > peak)
			peak = h->slots[i];
	}
	if (!h->count) {
		out(s, 1, "%s latency: no calls seen", top_kind_name(kind));
		return;
	}
	out(s, 1, "%s latency: n=%" PRIu64 " mean %s p50 ~%s p99 ~%s errors %" PRIu64,
	    top_kind_name(kind), (uint64_t)h->count,
	    fmt_ns(a, sizeof(a), (double)h->total_ns / (double)h->count),
	    fmt_ns(b, sizeof(b), (double)top_quantile(h, 0.50)),
	    fmt_ns(c, sizeof(c), (double)top_quantile(h, 0.99)),
	    (uint64_t)h->errors);
	if (max_rows < 1 || bar_w < 1)
		return;
	while (hi - lo + 1 > max_rows) {
		if (h->slots[lo] <= h->slots[hi])
			lo++;
		else
			hi--;
	}
	for (int i = lo; i <= hi; i++) {
		char bar[256];
		int n = peak ? (int)((double)h->slots[i] * bar_w / (double)peak) : 0;

		if (n == 0 && h->slots[i])
			n = 1;
		memset(bar, '#', n);
		memset(bar + n, ' ', bar_w - n);
		bar[bar_w] = 0;
		out(s, 0, "  %7s - %-7s |%s| %" PRIu64,
		    fmt_ns(lo_s, sizeof(lo_s), i ? (double)(1ull << i) : 0),
		    fmt_ns(hi_s, sizeof(hi_s), i < 63 ? (double)(1ull << (i + 1))
						    : 18446744073709551615.0),
		    bar, (uint64_t)h->slots[i]);
	}
}

/* Renders one snapshot: counters, rates, histograms.  bar_w and hist_rows
 * size the histograms (per kind). */
static void render(struct sink *s, const char *path, const struct snap *sn,
		   const struct rates *r, const struct bpf_view *b, int bar_w,
		   int hist_rows)
{
	const struct mmc_stats *st = &sn->st;
	char t[32], x[32], y[48], z[32];
	uint64_t up_ns = 0, now = top_now_ns(CLOCK_MONOTONIC);
	double lookups;
	time_t wall = (time_t)sn->wall;
	struct tm tm;

	if (st->start_ns && now > st->start_ns)
		up_ns = now - st->start_ns;
	localtime_r(&wall, &tm);
	strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
	out(s, 1, "mmc-top %s  agent pid %u  up %" PRIu64 "s  %s", t,
	    st->agent_pid, up_ns / UINT64_C(1000000000), path);
	out(s, 0, "arena %s  used %s (%.1f%%)  reserved %s  hugepages %s",
	    fmt_bytes(x, sizeof(x), (double)st->arena_bytes),
	    fmt_bytes(y, sizeof(y), (double)st->used_bytes),
	    st->arena_bytes ? 100.0 * (double)st->used_bytes /
			      (double)st->arena_bytes : 0.0,
	    fmt_bytes(z, sizeof(z), (double)st->reserved_bytes),
	    st->hugepages ? "on" : "off");
	/* The two tiers side by side: where the objects are. */
	out(s, 0, "dram %" PRIu64 " objects  %s", st->objects,
	    fmt_bytes(x, sizeof(x), (double)st->used_bytes));
	if (st->ssd_capacity)
		out(s, 0, "ssd  %" PRIu64 " objects  %s of %s  demoted %" PRIu64
		    "  promoted %" PRIu64 "  in flight %" PRIu64 "  crc failures %" PRIu64,
		    st->ssd_objects, fmt_bytes(y, sizeof(y), (double)st->ssd_bytes),
		    fmt_bytes(z, sizeof(z), (double)st->ssd_capacity), st->demotions,
		    st->promotions, st->ssd_inflight, st->ssd_crc_failures);
	else
		out(s, 0, "ssd  off (no [ssd] tier)");
	/* The pool: one line per other member. */
	for (int i = 0; i < sn->nmembers; i++) {
		const struct mmc_member_stats *m = &sn->members[i];

		out(s, 0, "peer %-12s %-21s %-4s rtt %8s  in %9s  out %9s  hits %" PRIu64
		    "/%" PRIu64, m->id, m->addr, m->up ? "up" : "DOWN",
		    fmt_ns(x, sizeof(x), (double)m->rtt_ns), fmt_bytes(y, sizeof(y),
		    (double)m->bytes_in), fmt_bytes(z, sizeof(z), (double)m->bytes_out),
		    m->hits, m->gets);
	}
	/* in double: a sum of two counters could wrap in 64 bits */
	lookups = (double)st->hits + (double)st->misses;
	if (lookups > 0)
		snprintf(t, sizeof(t), "%.1f%%", 100.0 * (double)st->hits / lookups);
	else
		snprintf(t, sizeof(t), "-");
	out(s, 0, "hit ratio %s", t);
	out(s, 1, "%-18s %14s %12s", "", "now / total", "per second");
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct top_field *f = &top_fields[i];
		double v = (double)top_value(st, f);

		if (f->unit == MMC_STAT_BYTES)
			fmt_bytes(x, sizeof(x), v);
		else
			snprintf(x, sizeof(x), "%.0f%s", v, f->unit == MMC_STAT_PCT ? "%" : "");
		if (f->kind != MMC_STAT_COUNTER)
			y[0] = '\0';
		else if (f->unit == MMC_STAT_BYTES && r->valid)
			snprintf(y, sizeof(y), "%s/s", fmt_bytes(z, sizeof(z), r->v[i]));
		else
			fmt_rate(y, sizeof(y), r, r->v[i]);
		out(s, 0, "%-18s %14s %12s", f->name, x, y);
	}
	out(s, 0, "%s", "");
	if (!b->on) {
		out(s, 0, "%s", b->reason ? b->reason : "latency histograms off");
		return;
	}
	out(s, 0, "latency (log2 buckets, since attach %" PRIu64 "s, %s)",
	    (now - b->since_ns) / UINT64_C(1000000000), b->lib);
	render_hist(s, &b->h[MMC_LAT_GET], MMC_LAT_GET, bar_w, hist_rows);
	render_hist(s, &b->h[MMC_LAT_PUT], MMC_LAT_PUT, bar_w, hist_rows);
	render_hist(s, &b->h[MMC_LAT_MISS], MMC_LAT_MISS, 0, 0);
	if (b->agent[0])       /* reads back from the SSD tier, in the agent */
		render_hist(s, &b->h[MMC_LAT_PROMOTE], MMC_LAT_PROMOTE, 0, 0);
}

/* ---- the two modes ---- */

/* Sleeps until the monotonic deadline (ns); returns early on a signal. */
static void sleep_until(uint64_t deadline)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / 1000000000ull),
		.tv_nsec = (long)(deadline % 1000000000ull),
	};

	while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
					NULL) == EINTR)
		;
}

/* Baseline, then o->count snapshots every o->delay seconds.  Returns the
 * exit status. */
static int run_batch(const struct opts *o, const char *path, struct snap *prev,
		     struct bpf_view *b)
{
	uint64_t step = (uint64_t)(o->delay * 1e9), deadline = prev->mono_ns;
	char why[512];

	for (long i = 0; !o->count || i < o->count; i++) {
		struct snap cur;
		struct rates r;
		struct sink s = { 0 };

		deadline += step;
		sleep_until(deadline);
		if (stop)
			break;
		if (stats_read(path, &cur, why, sizeof(why)) < 0) {
			fprintf(stderr, "mmc-top: %s\n", why);
			return 1;
		}
		r = rates_of(prev, &cur);
		bpf_refresh(b);
		if (o->json) {
			top_print_json(path, &cur, &r, b);
		} else {
			if (i)
				putchar('\n');
			render(&s, path, &cur, &r, b, 40, MMC_LAT_SLOTS);
		}
		fflush(stdout);
		*prev = cur;
	}
	return 0;
}

/* Curses loop: draws at once, then every o->delay seconds; q quits.  An
 * agent that goes away shows a banner and is looked for again at every
 * refresh.  Returns the exit status. */
static int run_curses(const struct opts *o, const char *path, struct snap *prev,
		      struct bpf_view *b)
{
	uint64_t step = (uint64_t)(o->delay * 1e9);
	struct rates r = { 0 };
	struct snap cur = *prev;
	int have_prev = 1, ok = 1;
	char why[512] = "";

	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	while (!stop) {
		uint64_t deadline = top_now_ns(CLOCK_MONOTONIC) + step;
		struct sink s = { .curses = 1 };
		int ch, hist_rows;

		bpf_refresh(b);
		erase();
		getmaxyx(stdscr, s.rows, s.cols);
		s.rows--;                        /* last row: key help */
		if (ok) {
			/* the counters and titles, then 2 histograms */
			hist_rows = (s.rows - (int)NFIELDS - 8) / 2;
			render(&s, path, &cur, &r, b,
			       s.cols > 60 ? (s.cols - 40 > 60 ? 60 : s.cols - 40) : 10,
			       hist_rows);
		} else {
			out(&s, 1, "mmc-top: %s", why);
			out(&s, 0, "waiting for the agent...");
		}
		attron(A_REVERSE);
		mvaddnstr(s.rows, 0, " q quit ", s.cols);
		attroff(A_REVERSE);
		refresh();
		for (;;) {                       /* keys until the deadline */
			uint64_t now = top_now_ns(CLOCK_MONOTONIC);

			if (stop || now >= deadline)
				break;
			timeout((int)((deadline - now + 999999) / 1000000));
			ch = getch();
			if (ch == 'q' || ch == 'Q')
				stop = 1;
			else if (ch == KEY_RESIZE || ch == ' ')
				break;
		}
		if (stop)
			break;
		if (stats_read(path, &cur, why, sizeof(why)) < 0) {
			ok = have_prev = 0;
			r.valid = 0;
			continue;
		}
		ok = 1;
		r = have_prev ? rates_of(prev, &cur) : (struct rates){ 0 };
		*prev = cur;
		have_prev = 1;
	}
	endwin();
	return 0;
}

static int usage(FILE *f, int status)
{
	fprintf(f,
		"usage: mmc-top [-b] [-n COUNT] [-d SECONDS] [--json] [--stats PATH]\n"
		"               [--lib PATH] [--agent PATH] [--no-bpf]\n"
		"  -b, --batch        plain text snapshots (default when stdout is not a tty)\n"
		"  -n, --count N      batch: stop after N snapshots (default: run forever)\n"
		"  -d, --delay S      seconds between refreshes (default 1; may be 0.2)\n"
		"  -j, --json         batch, one JSON object per snapshot per line\n"
		"  -s, --stats PATH   stats file (default: $" MMC_SOCKET_ENV ".stats, else "
		MMC_DEFAULT_SOCKET ".stats)\n"
		"  -l, --lib PATH     libmmc.so to trace (default: the one mmc-top runs with)\n"
		"      --agent PATH   mmc-agent whose mmc:promote to trace (default: the one\n"
		"                     beside mmc-top)\n"
		"      --no-bpf       no latency histograms\n"
		"exit status: 0 ok, 1 agent not running or bad stats file, 2 usage\n");
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "batch", no_argument,       NULL, 'b' },
		{ "count", required_argument, NULL, 'n' },
		{ "delay", required_argument, NULL, 'd' },
		{ "json",  no_argument,       NULL, 'j' },
		{ "stats", required_argument, NULL, 's' },
		{ "lib",   required_argument, NULL, 'l' },
		{ "no-bpf", no_argument,      NULL, 'N' },
		{ "agent", required_argument, NULL, 'A' },
		{ "help",  no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .delay = 1.0 };
	char pbuf[PATH_MAX + 8], why[512], *end;
	struct sigaction sa = { .sa_handler = on_signal };
	struct bpf_view b;
	struct snap base;
	const char *path, *msg;
	int c, status;

	while ((c = getopt_long(argc, argv, "bn:d:js:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': o.batch = 1; break;
		case 'j': o.json = o.batch = 1; break;
		case 's': o.stats_path = optarg; break;
		case 'l': o.lib = optarg; break;
		case 'N': o.no_bpf = 1; break;
		case 'A': o.agent = optarg; break;
		case 'h': return usage(stdout, 0);
		case 'n':
			errno = 0;
			o.count = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o.count < 1) {
				fprintf(stderr, "mmc-top: -n wants a count >= 1\n");
				return usage(stderr, 2);
			}
			break;
		case 'd':
			o.delay = strtod(optarg, &end);
			if (end == optarg || *end || !isfinite(o.delay) ||
			    o.delay < 0 || o.delay > 86400) {
				fprintf(stderr, "mmc-top: -d wants seconds in 0..86400\n");
				return usage(stderr, 2);
			}
			break;
		default:
			return usage(stderr, 2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mmc-top: unexpected argument '%s'\n", argv[optind]);
		return usage(stderr, 2);
	}
	if (!isatty(STDOUT_FILENO))
		o.batch = 1;
	if (!o.batch && o.delay < 0.05)
		o.delay = 0.05;                  /* curses: do not spin */

	path = stats_path(o.stats_path, pbuf, sizeof(pbuf));
	if (stats_read(path, &base, why, sizeof(why)) < 0) {
		fprintf(stderr, "mmc-top: %s\n", why);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	msg = bpf_start(&b, &o);
	if (msg && o.batch && !o.no_bpf)
		fprintf(stderr, "mmc-top: %s\n", msg);
	/* The baseline's clock starts after the attach, so the first interval
	 * covers histograms and counters alike. */
	base.mono_ns = top_now_ns(CLOCK_MONOTONIC);
	status = o.batch ? run_batch(&o, path, &base, &b)
			 : run_curses(&o, path, &base, &b);
	bpf_stop(&b);
	return status;
}
