/*
 * harness.c - see harness.h.  Readiness: the harness binds a datagram socket,
 * passes it as NOTIFY_SOCKET, and waits (with a timeout) for the agent's
 * READY=1 - the same message systemd waits for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "harness.h"

#define READY_TIMEOUT_S 30

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
	char notify[320], buf[256], exe[512];
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

	ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", notify);
	if (ns < 0 || bind(ns, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("notify socket");
		abort();
	}
	setsockopt(ns, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	argv[n++] = exe;
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
	a->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void agent_kill(struct agent_proc *a)
{
	if (a->pid <= 0)
		return;
	kill(a->pid, SIGKILL);
	waitpid(a->pid, NULL, 0);
	a->pid = 0;
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
