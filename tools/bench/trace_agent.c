/*
 * trace_agent.c - a private mmc-agent for one trace replay.
 *
 * The replay judges the agent's eviction against an exact LRU of the same
 * capacity, so by default it runs its own agent whose capacity in blocks is
 * known exactly: the index holds max_objects entries (when it is full the
 * agent evicts the least recently used object, one at a time), and the arena
 * is sized so that max_objects blocks stay under the byte watermark, which
 * therefore never triggers.
 *
 * Readiness is what systemd uses: a datagram socket passed as NOTIFY_SOCKET,
 * and the agent's READY=1.  The wait also watches the child, so an agent that
 * fails to start is reported at once with the end of its log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

#define READY_TIMEOUT_MS 30000

/* The last bytes of the agent's log into err after prefix. */
static void log_tail(const struct trace_agent *a, const char *prefix,
		     char *err, size_t errlen)
{
	char buf[600] = "";
	int fd = open(a->log, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;

	if (fd >= 0) {
		off_t end = lseek(fd, 0, SEEK_END);

		if (end > (off_t)sizeof(buf) - 1)
			lseek(fd, end - (off_t)sizeof(buf) + 1, SEEK_SET);
		else
			lseek(fd, 0, SEEK_SET);
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	snprintf(err, errlen, "%s; agent log: %s", prefix, buf);
}

static void agent_exe(const char *exe, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (exe) {
		snprintf(out, len, "%s", exe);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(out, len, "%.4000s/mmc-agent", self);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, len, "mmc-agent");    /* then $PATH */
}

static int wait_ready(struct trace_agent *a, int ns, char *err, size_t errlen)
{
	struct pollfd p = { .fd = ns, .events = POLLIN };
	char buf[256];
	int waited = 0, st;

	while (waited < READY_TIMEOUT_MS) {
		int r = poll(&p, 1, 100);

		if (r > 0) {
			ssize_t n = recv(ns, buf, sizeof(buf) - 1, MSG_DONTWAIT);

			if (n > 0) {
				buf[n] = '\0';
				if (strstr(buf, "READY=1"))
					return 0;
			}
			continue;
		}
		waited += 100;
		if (waitpid(a->pid, &st, WNOHANG) == a->pid) {
			a->pid = 0;
			log_tail(a, "the agent exited before it was ready", err, errlen);
			return -ECHILD;
		}
	}
	log_tail(a, "the agent was not ready after 30 s", err, errlen);
	return -ETIMEDOUT;
}

int trace_agent_start(struct trace_agent *a, const char *exe, uint64_t arena,
		      uint64_t max_objects, uint64_t ssd_blocks, uint64_t block,
		      char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[PATH_MAX], arena_s[32], objs_s[32];
	int ns, fd, ret;

	memset(a, 0, sizeof(*a));
	snprintf(a->dir, sizeof(a->dir), "/tmp/mmc-trace-XXXXXX");
	if (!mkdtemp(a->dir)) {
		ret = -errno;
		snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
		a->dir[0] = '\0';
		return ret;
	}
	snprintf(a->sock, sizeof(a->sock), "%s/agent.sock", a->dir);
	snprintf(a->log, sizeof(a->log), "%s/agent.log", a->dir);
	snprintf(a->notify, sizeof(a->notify), "%s/notify", a->dir);
	snprintf(a->conf, sizeof(a->conf), "%s/agent.conf", a->dir);
	snprintf(a->stats, sizeof(a->stats), "%s.stats", a->sock);
	snprintf(a->tier, sizeof(a->tier), "%s/tier", a->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", a->notify);
	/* An empty config: the defaults (90 % watermark), whatever
	 * /etc/mmc/mmc-agent.conf on this machine says. */
	fd = open(a->conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", a->conf, strerror(errno));
		return ret;
	}
	/* The SSD tier: a file that holds ssd_blocks blocks (a 4 KiB header
	 * and the value in 4 KiB units: docs/tiers.md) plus a tenth, in some 64
	 * regions; its index holds exactly ssd_blocks, which is what bounds it. */
	if (ssd_blocks) {
		uint64_t obj = 4096 + (block + 4095) / 4096 * 4096;
		uint64_t want = ssd_blocks * obj / 10 * 11;
		uint64_t region = (want / 64 + (1 << 20) - 1) >> 20 << 20;

		if (region < obj + (1 << 20))
			region = (obj + (2 << 20) - 1) >> 20 << 20;
		dprintf(fd, "[ssd]\npath = %s\nsize = %" PRIu64 "\nregion_size = %" PRIu64
			"\nmax_objects = %" PRIu64 "\n", a->tier,
			(want / region + 4) * region + 4096, region, ssd_blocks);
	}
	close(fd);
	snprintf(arena_s, sizeof(arena_s), "%" PRIu64, arena);
	snprintf(objs_s, sizeof(objs_s), "%" PRIu64, max_objects);
	agent_exe(exe, path, sizeof(path));

	ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ns < 0 || bind(ns, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "notify socket: %s", strerror(errno));
		if (ns >= 0)
			close(ns);
		return ret;
	}
	a->pid = fork();
	if (a->pid < 0) {
		ret = -errno;
		a->pid = 0;
		close(ns);
		snprintf(err, errlen, "fork: %s", strerror(-ret));
		return ret;
	}
	if (a->pid == 0) {
		int lfd = open(a->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (lfd >= 0) {
			dup2(lfd, 1);
			dup2(lfd, 2);
		}
		setenv("NOTIFY_SOCKET", a->notify, 1);
		execlp(path, path, "--config", a->conf, "--socket", a->sock, "--arena-size", arena_s,
		       "--max-objects", objs_s, "--hugepages", "auto",
		       "--log-level", "warn", (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	ret = wait_ready(a, ns, err, errlen);
	close(ns);
	return ret;
}

void trace_agent_stop(struct trace_agent *a)
{
	if (a->pid > 0) {
		kill(a->pid, SIGTERM);
		waitpid(a->pid, NULL, 0);
		a->pid = 0;
	}
	if (!a->dir[0])
		return;
	unlink(a->notify);
	unlink(a->log);
	unlink(a->conf);
	unlink(a->tier);
	unlink(a->stats);
	unlink(a->sock);
	rmdir(a->dir);
	a->dir[0] = '\0';
}
