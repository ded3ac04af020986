/*
 * harness.h - what integration tests share: a real mmc-agent process started
 * in a private directory, readiness through the agent's own sd_notify (no
 * sleeps), clients and stats checked with check's assertions, and
 * deterministic value patterns for byte-for-byte checks.
 *
 * Conventions: a name ending in _ok asserts (ck_assert) that the call
 * succeeded and fails the test otherwise; anything without it returns the
 * result and never asserts, so forked children, which must not call
 * ck_assert, can use it.
 */
#ifndef MMC_TESTS_HARNESS_H
#define MMC_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mmc/mmc.h"

/* ---- agents ---- */

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
 * MMC_SOCKET for children.  Aborts the test on failure.
 * The agent is guarded until agent_stop() or agent_kill(): should the
 * process that started it exit() while it runs, an atexit handler prints
 * the agent's log, SIGKILLs it and removes its directory.  That covers
 * CK_FORK=no runs (a failed assertion longjmp()s on and the agent would
 * outlive its test) and a test that returns with an agent left running.  In
 * check's default fork mode a failed assertion _exit()s the test process,
 * running no handler; check then SIGKILLs the test's process group, agent
 * included, and the agent's directory stays behind, log and all. */
void agent_start(struct agent_proc *a, const char *arena, ...);
/* Same with the arguments in an array. */
void agent_startv(struct agent_proc *a, const char *arena, const char *const *extra);
/* SIGTERM and wait; returns the exit status (0 = clean). */
int agent_stop(struct agent_proc *a);
/* SIGKILL and wait. */
void agent_kill(struct agent_proc *a);
/* Prints the agent's log to stderr (for failures). */
void agent_dump_log(const struct agent_proc *a);
/* Removes what a stopped or killed agent may have left in its directory
 * (log, notify socket, agent socket, stats file), then the directory. */
void agent_clean_dir(const struct agent_proc *a);
/* agent_stop(), then asserts the exit status is 0 (printing the log first
 * when it is not); the directory is removed either way. */
void agent_stop_ok(struct agent_proc *a);
/* mmc_disconnect(c), then agent_stop_ok(a): the usual end of a test. */
void agent_finish(struct agent_proc *a, mmc_client *c);
/* SIGKILLs every guarded agent of this process without waiting; async-
 * signal-safe, for a handler that must take the agents down (SIGALRM). */
void agents_sigkill(void);

/* ---- clients ---- */

/* mmc_connect(path, ...) (NULL: $MMC_SOCKET); asserts it returned 0 and a
 * client. */
mmc_client *connect_ok(const char *path);
/* mmc_agent_stats(c, ...); asserts it returned 0. */
struct mmc_stats stats_ok(mmc_client *c);

/* ---- values ---- */

/* Fills buf with bytes derived from (seed, len): every value differs. */
void pattern_fill(void *buf, size_t len, uint64_t seed);
/* 0 if buf holds exactly pattern_fill(seed, len), else first bad offset+1. */
size_t pattern_check(const void *buf, size_t len, uint64_t seed);

/* The seed of a key's value where it derives from the key: XXH3(key), so
 * any reader knows the bytes it must see. */
uint64_t key_seed(const void *key, size_t klen);
/* Writes the key PREFIX + i in decimal, zero-padded to width digits, into
 * buf (size bytes); returns its length. */
size_t mkkey(char *buf, size_t size, const char *prefix, int width, unsigned i);

/* Puts key -> len bytes of pattern(seed); returns mmc_put's result, or
 * -ENOMEM when no buffer could be had. */
int put_seeded(mmc_client *c, const char *key, size_t len, uint64_t seed);
/* Gets key into a fresh zeroed buffer of len + 1 bytes and asserts the get
 * returned 0, with exactly len bytes, all pattern(seed). */
void get_seeded_ok(mmc_client *c, const char *key, size_t len, uint64_t seed);
/* put_seeded() must return 0, then get_seeded_ok(). */
void roundtrip_ok(mmc_client *c, const char *key, size_t len, uint64_t seed);

/* The same with the key's own seed, key_seed(key, strlen(key)). */
int put_pat(mmc_client *c, const char *key, size_t len);
/* put_pat() must return 0. */
void put_pat_ok(mmc_client *c, const char *key, size_t len);
/* 0 when key reads back as exactly len bytes of its pattern; -EILSEQ when
 * the get succeeded with other bytes or another length; else mmc_get's
 * error. */
int get_pat(mmc_client *c, const char *key, size_t len);
/* get_seeded_ok() with the key's own seed. */
void get_pat_ok(mmc_client *c, const char *key, size_t len);

/* ---- processes and time ---- */

/* waitpid(pid); asserts it reaped pid, returns the wait status.  A child
 * still running after a minute is stuck: its threads' kernel state and its
 * descriptors go to stderr, it is killed, and the test fails. */
int wait_child(pid_t pid);
/* wait_child(), and asserts the child died of signal sig. */
void wait_killed(pid_t pid, int sig);
/* In a child as uid (and gid = uid, no other groups): mmc_connect(sock)
 * and, if admitted, put and get back key with 4 KiB of pattern seeded by
 * uid.  Returns the child's exit status: 0 when mmc_connect returned want
 * (and the round trip was byte-exact), 100 + errno when it returned
 * something else, 98 for a failed round trip, 99 if the uid switch failed.
 * Best called before this process connects (no client threads yet): a
 * fork() while threads start is not safe under the sanitizers. */
int as_uid(const char *sock, uid_t uid, const char *key, int want);
/* CLOCK_MONOTONIC in seconds. */
double now_s(void);
/* Exits 77 with the reason unless running as root. */
void require_root(const char *why);

#endif
