/*
 * mmc.h - libshm, the client library of the mmc KV-cache memory pool.
 *
 * A worker process connects to the node's mmc-agent over a unix socket,
 * receives the agent's arena as file descriptors and maps it.  From then on:
 *
 *   - a local hit (mmc_get, mmc_acquire, mmc_exists, and their batch forms)
 *     is a lookup in shared memory plus a copy, or no copy: no system call;
 *   - a put reserves space through a shared-memory ring to the agent, fills
 *     it in place and commits it, so readers never see half-written values.
 *
 * Conventions (liburing's): every function returns 0 or a positive count on
 * success and -errno on failure, never sets errno, and mmc_strerror() turns
 * the code into a sentence.  Keys are binary strings of 1..MMC_KEY_MAX bytes.
 * Objects are immutable: a put of a key that is already present returns
 * -EEXIST, which callers of a KV cache treat as success.
 *
 * Thread safety: one mmc_client may be used by any number of threads at
 * once; a thread waiting for the agent's answer does not hold up the
 * others' calls.  A client belongs to the process that connected it: in a child
 * after fork() every call on it returns -ECHILD (the parent's session is
 * not touched), mmc_disconnect() there frees only the child's copies, and
 * the child connects anew.
 *
 * Errors that mean something particular here:
 *   -ENOENT        key not present (a miss)
 *   -EEXIST        key already committed (put: treat as success)
 *   -EBUSY         key is being written by another session right now
 *   -EINVAL        empty key, zero-length value, bad argument
 *   -ENAMETOOLONG  key longer than MMC_KEY_MAX
 *   -E2BIG         value larger than the arena could ever hold
 *   -ENOSPC        arena full of pinned or reserved objects
 *   -EMSGSIZE      the caller's buffer is smaller than the value
 *   -ENOBUFS       this session holds all the views it may (MMC_VIEWS_MAX,
 *                  or the agent's [limits] pins_per_session)
 *   -EDQUOT        a [limits] cap of the agent: this session, or its user,
 *                  holds the most reservations or reserved bytes it may
 *                  (commit or abort some), or the most pinned bytes
 *                  (release views); from mmc_connect: its user holds
 *                  the most sessions it may.  Others are not affected.
 *   -EMFILE        mmc_connect: the agent serves all the sessions it may,
 *                  or is out of descriptors; retry later
 *   -ENOTCONN      the agent is gone; disconnect and connect again
 *   -ECHILD        the client was connected by the parent of this process
 *   -EACCES        the agent does not admit this uid/gid
 *   -EPROTO        the agent speaks another protocol version
 *   -EAGAIN        an index entry kept changing under a reader for over
 *                  a thousand tries (the agent stalled mid-update); retry
 */
#ifndef MMC_MMC_H
#define MMC_MMC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mmc/mmc-t.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/* Connect to the agent at socket_path; NULL means $MMC_SOCKET, else
 * MMC_DEFAULT_SOCKET.  Maps the arena; costs a few ms per GiB. */
int mmc_connect(const char *socket_path, mmc_client **out);
/* Ends the session: the agent drops this session's pins and reservations.
 * Views and reservations still held become invalid.  NULL is allowed. */
void mmc_disconnect(mmc_client *c);

const char *mmc_strerror(int err);

/* ---- copying calls ---- */
int mmc_put(mmc_client *c, const void *key, size_t key_len,
	    const void *value, size_t len);
/* Copies the value into buf.  *out_len (may be NULL) gets the value's size,
 * also when the call fails with -EMSGSIZE. */
int mmc_get(mmc_client *c, const void *key, size_t key_len,
	    void *buf, size_t buf_len, size_t *out_len);
/* 1 if present, 0 if not, or -errno.  No system call - unless the agent
 * is in a pool ([cluster]) and the key is not on this node: then the agent
 * asks the key's home (one ring round trip, a deadline). */
int mmc_exists(mmc_client *c, const void *key, size_t key_len);
/* 1 if the key is on this node (DRAM or its SSD tier), 0 if not, or
 * -errno; never asks the pool.  No system call. */
int mmc_exists_here(mmc_client *c, const void *key, size_t key_len);
/* Removes a committed object; pinned ones vanish for new readers at once and
 * their space is freed when the last view is released. */
int mmc_remove(mmc_client *c, const void *key, size_t key_len);
/* Removes every committed object (SGLang's clear(), MemCache's remove_all). */
int mmc_clear(mmc_client *c);

/* ---- gather put / scatter get: one object from up to MMC_IOV_MAX pieces ---- */
int mmc_putv(mmc_client *c, const void *key, size_t key_len,
	     const struct iovec *iov, int iovcnt);
/* Fills the pieces in order; the value must fit their total. */
int mmc_getv(mmc_client *c, const void *key, size_t key_len,
	     const struct iovec *iov, int iovcnt, size_t *out_len);

/* ---- zero copy ---- */
int mmc_reserve(mmc_client *c, const void *key, size_t key_len, size_t len,
		struct mmc_reservation *r);
int mmc_commit(mmc_client *c, struct mmc_reservation *r);
int mmc_abort(mmc_client *c, struct mmc_reservation *r);
/* No system call on a hit. */
int mmc_acquire(mmc_client *c, const void *key, size_t key_len,
		struct mmc_view *v);
int mmc_release(mmc_client *c, struct mmc_view *v);

/* Checks a view's bytes against the checksum its writer stored: 1 they
 * match, 0 the value carries none (written by a client with verify off),
 * -ENOENT they do not - release the view and treat the key as a miss (the
 * object is dropped, verify_failures counted).  -EINVAL for a view this
 * session does not hold.  Reads every byte (crc32c, ~20 GB/s): zero-copy
 * readers call it where the bytes matter, e.g. before handing them on. */
int mmc_view_verify(mmc_client *c, const struct mmc_view *v);

/* ---- integrity (docs/hardening.md, "Integrity") ----
 * Sets how this client's copying gets (mmc_get, mmc_getv, mmc_get_batch)
 * check values against their writer's checksum: MMC_VERIFY_OFF, _SAMPLED
 * (one get in MMC_VERIFY_SAMPLE per thread), _ALWAYS, or _AGENT (the
 * agent's [agent] verify, every client's default).  A value that fails is
 * a miss: -ENOENT, its copied bytes zeroed, verify_failures counted, the
 * object dropped so a new put can replace it.  In mode OFF puts also store
 * no checksum (nobody can check those values).  0, or -EINVAL. */
int mmc_set_verify(mmc_client *c, int mode);

/* ---- batches of up to MMC_BATCH_MAX keys ----
 * results[i] is 0 or -errno per key (get: bytes copied or -errno).  The call
 * returns the number of keys that succeeded, or -errno if it could not run. */
int mmc_put_batch(mmc_client *c, size_t n, const void *const *keys,
		  const size_t *key_lens, const void *const *values,
		  const size_t *lens, int *results);
int mmc_get_batch(mmc_client *c, size_t n, const void *const *keys,
		  const size_t *key_lens, void *const *bufs,
		  const size_t *buf_lens, int64_t *results);
/* mmc_acquire() of many keys: views[i] pins key i's value in place (no
 * copy), results[i] is its length or -errno (views[i] then zeroed).  Keys
 * that are elsewhere - on the SSD tier, or in a pool at a peer - are
 * fetched together, each pinned as it arrives, so a batch of remote pages
 * costs about one round trip plus their transfer.  The session's pin
 * budget bounds what one call can hold: past it keys get -EDQUOT.  Each
 * view that succeeded is released with mmc_release().  If the call fails
 * as a whole (-errno: the session died), it holds no pin. */
int mmc_acquire_batch(mmc_client *c, size_t n, const void *const *keys,
		      const size_t *key_lens, struct mmc_view *views, int64_t *results);
/* present[i] (may be NULL) is 1/0.  *prefix (may be NULL) is how many keys,
 * counted from the first, are present without a gap: SGLang's
 * batch_exists().  Returns the number of keys present; with present == NULL
 * only the prefix is looked at (the scan stops at the first gap), so the
 * return value is then *prefix.  No system call when every key is on this
 * node; in a pool the others are asked of their homes, one request per
 * home for the whole batch (pages anywhere in the pool count). */
int mmc_exists_batch(mmc_client *c, size_t n, const void *const *keys,
		     const size_t *key_lens, uint8_t *present, size_t *prefix);
int mmc_remove_batch(mmc_client *c, size_t n, const void *const *keys,
		     const size_t *key_lens, int *results);

/* ---- the agent itself ---- */
/* A round trip through the agent: 0 when it answers.  delay_us > 0 asks it
 * to answer that much later (up to its [debug] ping_delay_max_ms; -EPERM
 * beyond, and by default): the session's other requests, from other
 * threads, are answered meanwhile. */
int mmc_ping(mmc_client *c, unsigned delay_us);

/* ---- counters ---- */
int mmc_client_stats(mmc_client *c, struct mmc_client_stats *out);
/* Asks the agent to refresh its stats region, then copies it. */
int mmc_agent_stats(mmc_client *c, struct mmc_stats *out);
/* Reads a stats file without a session (what mmc-top and monitoring do):
 * 0; -ENOENT (no agent) or another -errno of open(2); -ENODATA (shorter
 * than struct mmc_stats: the agent is starting, or not a stats file);
 * -EBADMSG (not an mmc stats file); -EPROTO (another version). */
int mmc_stats_read(const char *path, struct mmc_stats *out);
/* The other members of the agent's pool, from the same stats file (the
 * agent refreshes both together): up to max records into out; how many,
 * or -errno as mmc_stats_read() (-EAGAIN: the agent kept rewriting the
 * table while it was read; try again).  0 when the agent is not in a pool. */
int mmc_members_read(const char *path, struct mmc_member_stats *out, unsigned max);
/* The same for a session: asks the agent to refresh first. */
int mmc_agent_members(mmc_client *c, struct mmc_member_stats *out, unsigned max);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* MMC_MMC_H */
