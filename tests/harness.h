/*
 * harness.h - what integration tests share: a real mmc-agent process started
 * in a private directory, readiness through the agent's own sd_notify (no
 * sleeps), and deterministic value patterns for byte-for-byte checks.
 */
#ifndef MMC_TESTS_HARNESS_H
#define MMC_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct agent_proc {
	pid_t pid;
	char dir[256];
	char sock[300];
	char stats[320];
	char log[300];
};

/* Starts $MMC_BIN/mmc-agent (default: build/bin next to the test) with
 * --socket DIR/agent.sock --arena-size ARENA --hugepages off, plus the extra
 * arguments (NULL-terminated), and returns once it sent READY=1.  Sets
 * MMC_SOCKET for children.  Aborts the test on failure. */
void agent_start(struct agent_proc *a, const char *arena, ...);
/* Same with the arguments in an array. */
void agent_startv(struct agent_proc *a, const char *arena, const char *const *extra);
/* SIGTERM and wait; returns the exit status (0 = clean). */
int agent_stop(struct agent_proc *a);
/* SIGKILL and wait. */
void agent_kill(struct agent_proc *a);
/* Prints the agent's log to stderr (for failures). */
void agent_dump_log(const struct agent_proc *a);

/* Fills buf with bytes derived from (seed, len): every value differs. */
void pattern_fill(void *buf, size_t len, uint64_t seed);
/* 0 if buf holds exactly pattern_fill(seed, len), else first bad offset+1. */
size_t pattern_check(const void *buf, size_t len, uint64_t seed);

/* Exits 77 with the reason unless running as root. */
void require_root(const char *why);

#endif
