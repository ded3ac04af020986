/*
 * peer.h - the agents of other nodes: TCP connections, frames, deadlines,
 * and who is up.
 *
 * An engine behind an opaque handle, like the SSD tier: it knows members
 * (node ids and addresses), sockets and frames (peer_proto-t.h), not the
 * index, sessions or pins.  Its owner (object_remote.c) decides what an
 * object does; this file moves bytes and reports back through the ops
 * below, on the agent's one thread.
 *
 * Connections.  Each agent dials every other member for the requests it
 * makes (GET, PUT) and accepts the members' connections for the requests
 * it serves; each direction starts with a HELLO naming the sender.  Every
 * socket is non-blocking and watched by the engine's own epoll descriptor
 * (mmc_peer_fd(), which the agent's loop watches in turn); values are sent
 * from and received into the arena, never copied through a buffer.
 *
 * Never a hang.  Every GET has a deadline (timeout_ms): past it the asker
 * gets -ETIMEDOUT and whatever arrives later is read and dropped.  A member
 * that fails down_after calls in a row (timeouts, refused or broken
 * connections) is marked down: placement skips it, so its keys are misses
 * on every node, and it is tried again after retry_ms, doubling up to 32
 * times that, until a connection succeeds.
 *
 * Membership: the static list of [cluster] peers (this node's own entry is
 * recognised by its node_id and skipped), or the list etcd keeps
 * (members_etcd.c): members join and leave while the agent runs.
 * Placement (placement.c) maps a key to its home among the members that
 * are up.
 */
#ifndef MMC_AGENT_PEER_H
#define MMC_AGENT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout-t.h"      /* MMC_KEY_MAX */

struct mmc_peer;

/* The hash placement uses: the same on every node (the index's hash has a
 * per-agent seed). */
#define MMC_PEER_HASH_SEED 0x6d6d632d706f6f6cull   /* "mmc-pool" */

struct mmc_peer_config {
	const char *node_id;       /* this node's name in the pool */
	const char *listen;        /* "host:port" (host may be empty: all) */
	const char *peers;         /* "id@host:port, ..."; may name this node */
	unsigned timeout_ms;       /* a GET's deadline */
	unsigned down_after;       /* failures in a row that mark a member down */
	unsigned retry_ms;         /* first retry of a down member */
	uint64_t queue_max;        /* bytes waiting to go to one member at most */
	const char *etcd;          /* membership from etcd (members_etcd.c) at this
				    * URL, instead of peers; "" or NULL: peers */
	const char *etcd_prefix;   /* the pool's keys in etcd: PREFIX/members/ID */
	unsigned etcd_ttl_s;       /* our lease there */
	const char *advertise;     /* "host:port" members reach us at (etcd) */
	bool tls;                  /* mutual TLS (peer_tls.c), with: */
	const char *tls_cert;      /* this node's certificate chain (PEM) */
	const char *tls_key;       /* its private key (PEM) */
	const char *tls_ca;        /* the pool's CA certificate(s) (PEM) */
};

/* What the engine asks of its owner.  ctx is the owner's. */
struct mmc_peer_ops {
	/* Asking: the answer to GET cookie brings len bytes; where to put them
	 * (NULL: read and dropped, the GET ends -ENOMEM). */
	void *(*value_begin)(void *ctx, uint64_t cookie, uint64_t len);
	/* The GET is over: 0 (len bytes in place, their crc32c checked against
	 * the sender's: crc), -ENOENT, -ETIMEDOUT, -EHOSTDOWN, -EBADMSG (crc
	 * mismatch), -ENOMEM, -ECONNRESET, -EPROTO (the member broke the
	 * protocol; its connection is closed). */
	void (*get_done)(void *ctx, uint64_t cookie, int res, uint32_t crc);
	/* Serving: a member asks for key.  0 with the value (readable and
	 * unchanged until release(*pin)), its length and crc32c; -ENOENT; or
	 * -EINPROGRESS: the value is on its way (read back from this node's
	 * SSD tier) and the owner answers later with mmc_peer_answer(serve). */
	int (*lookup)(void *ctx, const void *key, uint16_t key_len, uint64_t serve,
		      const void **value, uint64_t *len, uint32_t *crc, uint64_t *pin);
	/* A value given by lookup() or to mmc_peer_push() is no longer read. */
	void (*release)(void *ctx, uint64_t pin);
	/* Serving: a member pushes a page of len bytes under key: where to put
	 * it (NULL: read and dropped) and *cookie to name it in put_done. */
	void *(*put_begin)(void *ctx, const void *key, uint16_t key_len, uint64_t len,
			   uint64_t *cookie);
	/* The pushed page is in place: 0 (crc checked), -EBADMSG, -ECONNRESET. */
	void (*put_done)(void *ctx, uint64_t cookie, int res, uint32_t crc);
	/* Serving: is key held here, on any tier? */
	bool (*has)(void *ctx, const void *key, uint16_t key_len);
	/* Asking: the answer to EXISTS cookie: 0 with found[0..n) (1: the
	 * member holds that key), or -errno (found NULL) as for get_done. */
	void (*exists_done)(void *ctx, uint64_t cookie, int res, const uint8_t *found,
			    unsigned n);
	/* Serving (push = record): member says it holds key. */
	void (*record)(void *ctx, const void *key, uint16_t key_len, int member);
	/* Serving: which member holds key, by the records (-1: none known)?
	 * Asked when lookup() found no value. */
	int (*holder)(void *ctx, const void *key, uint16_t key_len);
	/* Asking: the GET cookie went to a home that does not hold the value
	 * but knows who does: member (ask it; get_done comes for that ask). */
	void (*moved)(void *ctx, uint64_t cookie, int member);
};

/* The answer to a member's GET that lookup() put off (-EINPROGRESS) with
 * token serve: res 0 with the value (as lookup() gives it: released once
 * sent), or -ENOENT.  Queued on the asker's connection, sent by the next
 * poll.  0; -ENOENT when the asker is gone (its connection closed) or
 * -ENOMEM: then the value was not taken, and the caller releases it. */
int mmc_peer_answer(struct mmc_peer *p, uint64_t serve, int res, const void *value,
		    uint64_t len, uint32_t crc, uint64_t pin);

/* One EXISTS asks about this many keys at most, packed in at most
 * MMC_PEER_EXISTS_BYTES (mmc_peer_exists()). */
#define MMC_PEER_EXISTS_MAX   1024
#define MMC_PEER_EXISTS_BYTES (MMC_PEER_EXISTS_MAX * (2 + MMC_KEY_MAX))

/* Where a key lives, from mmc_peer_home(). */
#define MMC_PEER_SELF (-1)         /* this node */
#define MMC_PEER_NONE (-2)         /* no member is up (a miss) */

/* The engine's own figures (what is asked and got, per member too, is
 * the owner's to count, and mmc_peer_member_info's). */
struct mmc_peer_stats {
	uint64_t members_up;               /* others, not counting this node */
	uint64_t pushes, pushes_dropped;
	uint64_t records;                  /* RECORDs sent (push = record) */
	uint64_t bytes_in, bytes_out;
	uint64_t failures;                 /* timeouts, refused or broken connections */
	uint64_t bad_frames;
	uint64_t tls_refused;              /* handshakes failed, certificates refused */
};

/* Parses the member list, binds the listener.  0, or -errno with one line
 * in err. */
int mmc_peer_create(const struct mmc_peer_config *cfg, const struct mmc_peer_ops *ops,
		    void *ctx, struct mmc_peer **out, char *err, size_t errlen);
void mmc_peer_destroy(struct mmc_peer *p);   /* every GET ends -ECONNRESET */

/* The descriptor to watch for input; mmc_peer_poll() when it is readable
 * (and now and then: it also runs deadlines and retries). */
int mmc_peer_fd(const struct mmc_peer *p);
void mmc_peer_poll(struct mmc_peer *p);

/* The home of the key of placement hash h (MMC_PEER_HASH_SEED): a member
 * index, MMC_PEER_SELF or MMC_PEER_NONE. */
int mmc_peer_home(const struct mmc_peer *p, uint64_t h);
/* Its first n homes (the home, then its replicas: distinct members that
 * are up, best first), each a member index or MMC_PEER_SELF: how many
 * (fewer when fewer are up; n <= MMC_PEER_REPLICAS_MAX). */
#define MMC_PEER_REPLICAS_MAX 8
unsigned mmc_peer_homes(const struct mmc_peer *p, uint64_t h, int *out, unsigned n);

/* Asks member for key; the answer comes through value_begin/get_done with
 * cookie, within the deadline - always later, from mmc_peer_poll(), never
 * from inside this call.  0, or -EHOSTDOWN (down, or cannot be reached
 * now: counted as a failure). */
int mmc_peer_get(struct mmc_peer *p, int member, const void *key, uint16_t key_len,
		 uint64_t cookie);
/* Asks member which of n keys (1..MMC_PEER_EXISTS_MAX) it holds: packed
 * is len bytes, each key a little-endian u16 length then its bytes (copied
 * here).  The answer comes through exists_done with cookie, within the
 * deadline.  0, -EHOSTDOWN, -ENOMEM, -EINVAL (n or len out of bounds). */
int mmc_peer_exists(struct mmc_peer *p, int member, const void *packed, size_t len,
		    unsigned n, uint64_t cookie);
/* Members other than this node (their indexes are 0..count-1). */
int mmc_peer_count(const struct mmc_peer *p);
/* Sends len bytes at value under key to member (a page to its home), with
 * its crc32c; release(pin) once they are sent or dropped.  0, or -EHOSTDOWN
 * / -ENOBUFS (too much waiting to go there: dropped; release was called). */
int mmc_peer_push(struct mmc_peer *p, int member, const void *key, uint16_t key_len,
		  const void *value, uint64_t len, uint32_t crc, uint64_t pin);
/* Tells member (a key's home) that this node holds key (push = record).
 * 0, -EHOSTDOWN, -ENOBUFS, -ENOMEM: dropped, a later miss. */
int mmc_peer_record(struct mmc_peer *p, int member, const void *key, uint16_t key_len);

void mmc_peer_get_stats(const struct mmc_peer *p, struct mmc_peer_stats *st);

struct mmc_peer_member_info {
	const char *id, *where;    /* valid until the member list changes */
	bool up;
	uint64_t rtt_ns;           /* smoothed: a call sent -> its answer's header */
	uint64_t bytes_in, bytes_out, gets, hits;
};
/* Member i (0..mmc_peer_count()-1): 0 with *mi, -ENOENT for a slot whose
 * member left the pool. */
int mmc_peer_member_info(const struct mmc_peer *p, int i, struct mmc_peer_member_info *mi);

#endif /* MMC_AGENT_PEER_H */
