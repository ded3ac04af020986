/*
 * harness.c - see harness.h.  Readiness: the harness binds a datagram socket,
 * passes it as NOTIFY_SOCKET, and waits (with a timeout) for the agent's
 * READY=1 - the same message systemd waits for.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "harness.h"

#define READY_TIMEOUT_S 30
#define GUARD_MAX 8
#define WAIT_CHILD_S 60   /* wait_child(): a child that takes longer is stuck */

/* Running agents this process started (copies: the callers' structs may be
 * on a stack that is gone by exit time), and which process that is. */
static struct agent_proc guarded[GUARD_MAX];
static pid_t guard_owner;

static void guard_atexit(void)
{
	if (getpid() != guard_owner)   /* a forked child inherited the handler */
		return;
	for (int i = 0; i < GUARD_MAX; i++) {
		struct agent_proc a = guarded[i];

		if (a.pid > 0) {
			agent_dump_log(&a);
			agent_kill(&a);
			agent_clean_dir(&a);
		}
	}
}

static void guard(const struct agent_proc *a)
{
	if (guard_owner != getpid()) {
		guard_owner = getpid();
		memset(guarded, 0, sizeof(guarded));
		atexit(guard_atexit);
	}
	for (int i = 0; i < GUARD_MAX; i++)
		if (guarded[i].pid <= 0) {
			guarded[i] = *a;
			return;
		}
}

static void unguard(pid_t pid)
{
	for (int i = 0; guard_owner == getpid() && i < GUARD_MAX; i++)
		if (guarded[i].pid == pid)
			guarded[i].pid = 0;
}

void agents_sigkill(void)
{
	for (int i = 0; guard_owner == getpid() && i < GUARD_MAX; i++)
		if (guarded[i].pid > 0)
			kill(guarded[i].pid, SIGKILL);
}

static const char *bin_dir(void)
{
	const char *b = getenv("MMC_BIN");

	return b && *b ? b : "build/bin";
}

void require_root(const char *why)
{
	if (geteuid() != 0) {
		printf("SKIP: needs root: %s\n", why);
		exit(77);
	}
}

void agent_startv(struct agent_proc *a, const char *arena, const char *const *extra)
{
	char notify[320], conf[320], buf[256], exe[512];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = READY_TIMEOUT_S };
	const char *argv[64];
	int n = 0, ns;

	memset(a, 0, sizeof(*a));
	snprintf(a->dir, sizeof(a->dir), "/tmp/mmc-test-XXXXXX");
	if (!mkdtemp(a->dir)) {
		perror("mkdtemp");
		abort();
	}
	snprintf(a->sock, sizeof(a->sock), "%s/agent.sock", a->dir);
	snprintf(a->stats, sizeof(a->stats), "%s.stats", a->sock);
	snprintf(a->log, sizeof(a->log), "%s/agent.log", a->dir);
	snprintf(notify, sizeof(notify), "%s/notify", a->dir);
	snprintf(exe, sizeof(exe), "%s/mmc-agent", bin_dir());
	/* An empty config: the built-in defaults, whatever an installed
	 * /etc/mmc/mmc-agent.conf on this machine says.  A test's own
	 * --config (in extra) comes later and wins. */
	snprintf(conf, sizeof(conf), "%s/empty.conf", a->dir);
	ns = open(conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ns < 0) {
		perror(conf);
		abort();
	}
	close(ns);

	ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", notify);
	if (ns < 0 || bind(ns, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("notify socket");
		abort();
	}
	setsockopt(ns, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	argv[n++] = exe;
	argv[n++] = "--config";
	argv[n++] = conf;
	argv[n++] = "--socket";
	argv[n++] = a->sock;
	argv[n++] = "--arena-size";
	argv[n++] = arena;
	argv[n++] = "--hugepages";
	argv[n++] = "off";
	for (int i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	a->pid = fork();
	if (a->pid == 0) {
		int fd = open(a->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		setenv("NOTIFY_SOCKET", notify, 1);
		execv(exe, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	for (;;) {
		ssize_t r = recv(ns, buf, sizeof(buf) - 1, 0);

		if (r < 0) {
			fprintf(stderr, "agent did not become ready: %s\n",
				strerror(errno));
			agent_dump_log(a);
			kill(a->pid, SIGKILL);
			abort();
		}
		buf[r] = '\0';
		if (strstr(buf, "READY=1"))
			break;
	}
	close(ns);
	setenv("MMC_SOCKET", a->sock, 1);
	guard(a);
}

void agent_start(struct agent_proc *a, const char *arena, ...)
{
	const char *extra[32];
	va_list ap;
	int n = 0;

	va_start(ap, arena);
	while (n < 31 && (extra[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	extra[n] = NULL;
	agent_startv(a, arena, extra);
}

int agent_stop(struct agent_proc *a)
{
	int st = 0;

	if (a->pid <= 0)
		return 0;
	kill(a->pid, SIGTERM);
	waitpid(a->pid, &st, 0);
	unguard(a->pid);
	a->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void agent_kill(struct agent_proc *a)
{
	if (a->pid <= 0)
		return;
	kill(a->pid, SIGKILL);
	waitpid(a->pid, NULL, 0);
	unguard(a->pid);
	a->pid = 0;
}

void agent_clean_dir(const struct agent_proc *a)
{
	char p[400];

	unlink(a->log);
	snprintf(p, sizeof(p), "%s/notify", a->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/empty.conf", a->dir);
	unlink(p);
	unlink(a->sock);
	unlink(a->stats);
	rmdir(a->dir);
}

void agent_stop_ok(struct agent_proc *a)
{
	int st = agent_stop(a);

	if (st)
		agent_dump_log(a);
	agent_clean_dir(a);
	ck_assert_msg(st == 0, "agent exit status %d", st);
}

void agent_finish(struct agent_proc *a, mmc_client *c)
{
	mmc_disconnect(c);
	agent_stop_ok(a);
}

void agent_dump_log(const struct agent_proc *a)
{
	char line[512];
	FILE *f = fopen(a->log, "r");

	if (!f)
		return;
	fprintf(stderr, "---- agent log %s ----\n", a->log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

void pattern_fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t *w = buf, x = XXH3_64bits_withSeed(&len, sizeof(len), seed);
	size_t i, n = len / 8;

	for (i = 0; i < n; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;   /* xorshift64 */
		w[i] = x;
	}
	for (i = n * 8; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(seed + i);
}

size_t pattern_check(const void *buf, size_t len, uint64_t seed)
{
	const uint64_t *w = buf;
	uint64_t x = XXH3_64bits_withSeed(&len, sizeof(len), seed);
	size_t i, n = len / 8;

	for (i = 0; i < n; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		if (w[i] != x)
			return i * 8 + 1;
	}
	for (i = n * 8; i < len; i++)
		if (((const uint8_t *)buf)[i] != (uint8_t)(seed + i))
			return i + 1;
	return 0;
}

mmc_client *connect_ok(const char *path)
{
	mmc_client *c = NULL;
	int r = mmc_connect(path, &c);

	ck_assert_msg(r == 0, "mmc_connect: %s", mmc_strerror(r));
	ck_assert_ptr_nonnull(c);
	return c;
}

struct mmc_stats stats_ok(mmc_client *c)
{
	struct mmc_stats s;
	int r = mmc_agent_stats(c, &s);

	ck_assert_msg(r == 0, "mmc_agent_stats: %s", mmc_strerror(r));
	return s;
}

uint64_t key_seed(const void *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

size_t mkkey(char *buf, size_t size, const char *prefix, int width, unsigned i)
{
	return (size_t)snprintf(buf, size, "%s%0*u", prefix, width, i);
}

int put_seeded(mmc_client *c, const char *key, size_t len, uint64_t seed)
{
	uint8_t *v = malloc(len);
	int r;

	if (!v)
		return -ENOMEM;
	pattern_fill(v, len, seed);
	r = mmc_put(c, key, strlen(key), v, len);
	free(v);
	return r;
}

void get_seeded_ok(mmc_client *c, const char *key, size_t len, uint64_t seed)
{
	uint8_t *b = calloc(1, len + 1);
	size_t got = 0, bad;
	int r;

	ck_assert_ptr_nonnull(b);
	r = mmc_get(c, key, strlen(key), b, len + 1, &got);
	ck_assert_msg(r == 0, "get %s: %s", key, mmc_strerror(r));
	ck_assert_msg(got == len, "get %s: %zu bytes, want %zu", key, got, len);
	bad = pattern_check(b, len, seed);
	ck_assert_msg(bad == 0, "get %s: bytes differ at offset %zu", key, bad - 1);
	free(b);
}

void roundtrip_ok(mmc_client *c, const char *key, size_t len, uint64_t seed)
{
	int r = put_seeded(c, key, len, seed);

	ck_assert_msg(r == 0, "put %s: %s", key, mmc_strerror(r));
	get_seeded_ok(c, key, len, seed);
}

int put_pat(mmc_client *c, const char *key, size_t len)
{
	return put_seeded(c, key, len, key_seed(key, strlen(key)));
}

void put_pat_ok(mmc_client *c, const char *key, size_t len)
{
	int r = put_pat(c, key, len);

	ck_assert_msg(r == 0, "put %s: %s", key, mmc_strerror(r));
}

int get_pat(mmc_client *c, const char *key, size_t len)
{
	uint8_t *b = calloc(1, len + 1);
	size_t got = 0;
	int r;

	if (!b)
		return -ENOMEM;
	r = mmc_get(c, key, strlen(key), b, len + 1, &got);
	if (!r && (got != len || pattern_check(b, len, key_seed(key, strlen(key)))))
		r = -EILSEQ;
	free(b);
	return r;
}

void get_pat_ok(mmc_client *c, const char *key, size_t len)
{
	get_seeded_ok(c, key, len, key_seed(key, strlen(key)));
}

/* Prints what a child that will not exit is doing: each thread's state,
 * kernel wait channel and system call (its first argument is often the
 * descriptor it is blocked on), and where its descriptors point. */
static void dump_stuck(pid_t pid)
{
	char path[96], line[512];
	FILE *f;

	fprintf(stderr, "---- child %d did not exit; its threads ----\n", (int)pid);
	snprintf(path, sizeof(path), "ls /proc/%d/task", (int)pid);
	f = popen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		static const char *const what[] = { "stat", "wchan", "syscall", "stack" };
		int tid = atoi(line);

		for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
			FILE *t;
			char buf[2048];
			size_t n;

			snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, tid, what[i]);
			t = fopen(path, "r");
			n = t ? fread(buf, 1, sizeof(buf) - 1, t) : 0;
			buf[n] = '\0';
			fprintf(stderr, "%d %s: %s\n", tid, what[i], buf);
			if (t)
				fclose(t);
		}
	}
	if (f)
		pclose(f);
	snprintf(path, sizeof(path), "ls -l /proc/%d/fd >&2", (int)pid);
	(void)!system(path);
}

int wait_child(pid_t pid)
{
	struct pollfd p = { .events = POLLIN };
	int st = 0;

	p.fd = (int)syscall(SYS_pidfd_open, pid, 0);
	ck_assert_msg(p.fd >= 0, "pidfd_open(%d): %s", (int)pid, strerror(errno));
	if (poll(&p, 1, WAIT_CHILD_S * 1000) != 1) {
		dump_stuck(pid);
		kill(pid, SIGKILL);
	}
	close(p.fd);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL || p.revents,
		      "child %d still running after %d s (killed; state above)",
		      (int)pid, WAIT_CHILD_S);
	return st;
}

void wait_killed(pid_t pid, int sig)
{
	int st = wait_child(pid);

	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == sig,
		      "child %d: status 0x%x, want killed by signal %d", (int)pid, st, sig);
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int as_uid(const char *sock, uid_t uid, const char *key, int want)
{
	pid_t pid = fork();
	int st;

	ck_assert(pid >= 0);
	if (pid == 0) {
		mmc_client *c = NULL;
		uint8_t v[4096], r[4096];
		size_t got = 0;
		int ret;

		if (setgroups(0, NULL) || setgid(uid) || setuid(uid) || getuid() != uid)
			_exit(99);
		ret = mmc_connect(sock, &c);
		if (ret != want)
			_exit(100 + (-ret & 0xff));
		if (!ret) {
			pattern_fill(v, sizeof(v), uid);
			if (mmc_put(c, key, strlen(key), v, sizeof(v)) ||
			    mmc_get(c, key, strlen(key), r, sizeof(r), &got) ||
			    got != sizeof(v) || pattern_check(r, sizeof(r), uid))
				_exit(98);
			mmc_disconnect(c);
		}
		_exit(0);
	}
	st = wait_child(pid);
	ck_assert_msg(WIFEXITED(st), "uid %u child died by signal %d", uid,
		      WTERMSIG(st));
	return WEXITSTATUS(st);
}
