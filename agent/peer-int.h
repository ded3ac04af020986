/*
 * peer-int.h - what peer.c (members, deadlines, the engine) and peer_wire.c
 * (connections and frames) share, and nothing else includes.
 */
#ifndef MMC_AGENT_PEER_INT_H
#define MMC_AGENT_PEER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct ssl_st;                   /* OpenSSL's SSL and SSL_CTX (peer_tls.c) */
struct ssl_ctx_st;
struct iovec;

#include "layout-t.h"
#include "peer.h"
#include "peer_proto-t.h"
#include "placement.h"

#define HELLO_MIN_MS  1000      /* a new connection's deadline, at least */
#define BACKOFF_MAX   32        /* retry_ms doubles up to this many times it */
#define SCRATCH       (256 << 10) /* a value is read this much at a time */
#define SOCK_BUF      (4 << 20)  /* socket buffers: a 4 MiB page in flight */
#define QUEUE_FRAMES  16384      /* frames waiting on one connection, at most */
#define READ_BUDGET   (16 << 20) /* bytes one receive takes before the others' turn */
#define READ_FRAMES   4096       /* ... and frames */
#define MS            1000000ull

enum rstate { R_HDR, R_KEY, R_VALUE };

struct out {                     /* a frame waiting to be sent */
	struct out *next;
	unsigned char head[sizeof(struct mmc_peer_frame) + MMC_KEY_MAX];
	size_t head_len, sent;       /* sent counts head, then value bytes */
	const char *value;
	uint64_t value_len;
	uint64_t pin;
	bool pinned;                 /* release(pin) once sent */
	bool owned;                  /* value is ours: freed once sent */
};

struct pget {                    /* a GET (or EXISTS) we sent and wait for */
	struct pget *next;
	bool exists;                 /* an EXISTS of n keys */
	unsigned n;
	uint64_t sent_ns;            /* for the member's round-trip time */
	uint32_t id;
	uint64_t cookie, deadline;
};

struct pserve {                  /* a member's GET whose answer lookup() put off */
	struct pserve *next;
	struct conn *c;              /* the asker's connection */
	uint32_t id;                 /* its GET */
	uint64_t token;              /* what the owner answers with */
};

struct conn {
	struct conn *next;
	int fd;
	struct ssl_st *ssl;          /* tls = on */
	bool tls_done;               /* its handshake is over */
	int member;                  /* -1: incoming, before its HELLO */
	bool outgoing, connecting, ready, want_out;
	bool closed;                 /* on the closed list, freed after the batch */
	bool more;                   /* its last receive stopped at the budget */
	struct conn *closed_next;
	uint64_t deadline;           /* outgoing, not ready yet: its HELLO's */
	/* receiving */
	enum rstate rs;
	struct mmc_peer_frame f;
	size_t got;
	unsigned char key[MMC_KEY_MAX];
	char *dst;                   /* NULL: dropping the value */
	unsigned char found[MMC_PEER_EXISTS_MAX];   /* a FOUND's bytes (ours alone) */
	bool dst_owned;              /* dst was malloc'd here (an EXISTS) */
	uint64_t cookie;             /* of the GET (VALUE) or the push (PUT) */
	bool has_cookie;
	uint32_t crc;
	/* sending */
	struct out *q, *q_tail;
	uint64_t queued;             /* value bytes in q */
	unsigned nq;                 /* frames in q */
	/* outgoing: GETs waiting for their VALUE, oldest first */
	struct pget *gets, *gets_tail;
	struct pget *receiving;      /* the one whose value is arriving */
};

struct member {
	char id[MMC_NODE_ID_MAX + 1];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char where[300];             /* host:port, for messages */
	struct conn *out;
	unsigned fails;
	bool up;
	bool gone;                   /* left the pool (etcd): its slot is free */
	uint64_t retry_at, backoff_ms;
	/* what mmc stat shows of it */
	uint64_t rtt_ns, bytes_in, bytes_out, gets, hits;
};

struct mmc_peer {
	struct mmc_peer_config cfg;
	char self[MMC_NODE_ID_MAX + 1];
	struct mmc_peer_ops ops;
	void *ctx;
	struct mmc_placement *place;
	struct member *m;
	int nm;
	int epfd, lfd, tfd;
	struct ssl_ctx_st *tls;      /* NULL: tls = off */
	struct mmc_etcd *etcd;       /* NULL: the static peers list */
	uint64_t timer_due;          /* the timerfd fires then (0: disarmed) */
	bool repoll;                 /* a receive stopped at its budget: poll again soon */
	uint64_t accept_at;          /* out of descriptors: listening again then (0: now) */
	struct conn *conns;
	struct conn *closed;         /* closed during this batch of events */
	uint32_t next_id;
	struct pserve *serves;       /* GETs the owner answers later */
	uint64_t next_serve;
	char *scratch;
	struct mmc_peer_stats st;
};

static inline struct mmc_peer_frame *mmc_peer__head(struct out *o)
{
	return (struct mmc_peer_frame *)(void *)o->head;
}

/* peer_wire.c */
/* A connection on fd (watched for input) to or from member (-1: not known
 * yet), NULL when memory or epoll fails (fd is closed then). */
struct conn *mmc_peer__conn_new(struct mmc_peer *p, int fd, int member, bool outgoing);
/* Ends c: its queued values are released, its GETs answered res, a value
 * being received handed back to the owner.  Once only (later calls do
 * nothing); c's memory lasts until mmc_peer__free_closed(). */
void mmc_peer__conn_close(struct mmc_peer *p, struct conn *c, int res);
/* A zeroed frame of type with key, its head filled; NULL: no memory. */
struct out *mmc_peer__frame(int type, const void *key, uint16_t key_len);
/* o carries the owner's value: len bytes at value with their crc32c, sent
 * from where they lie, release(pin) once sent or dropped. */
void mmc_peer__frame_value(struct out *o, const void *value, uint64_t len, uint32_t crc,
			   uint64_t pin);
void mmc_peer__queue(struct mmc_peer *p, struct conn *c, struct out *o);
int mmc_peer__send_hello(struct mmc_peer *p, struct conn *c);
void mmc_peer__free_closed(struct mmc_peer *p);
/* Sends / reads what c has until the socket would block: 0, or -errno
 * (the connection must close). */
int mmc_peer__flush(struct mmc_peer *p, struct conn *c);
int mmc_peer__receive(struct mmc_peer *p, struct conn *c);

/* Watches c for input, and for output while it has something to send. */
void mmc_peer__watch(struct mmc_peer *p, struct conn *c);

/* Frames may be sent and received on c: connected, TLS handshake over. */
static inline bool mmc_peer__io_ready(const struct conn *c)
{
	return !c->connecting && (!c->ssl || c->tls_done);
}

/* peer_tls.c */
/* The TLS context from cfg's cert, key and ca (nothing with tls off): 0 or
 * -errno with one line in err. */
int mmc_peer__tls_init(struct mmc_peer *p, char *err, size_t errlen);
void mmc_peer__tls_free(struct mmc_peer *p);
/* c's TLS state (its fd and direction set): 0 or -ENOMEM. */
int mmc_peer__tls_attach(struct mmc_peer *p, struct conn *c);
void mmc_peer__tls_detach(struct conn *c);
/* Drives c's handshake: 1 over (or no TLS), 0 in progress (c->want_out
 * set when it must write), -EPROTO refused (logged, counted). */
int mmc_peer__tls_handshake(struct mmc_peer *p, struct conn *c);
/* Does c's peer certificate name member id?  (true without TLS) */
bool mmc_peer__tls_is(const struct conn *c, const char *id);
/* recv() / sendmsg() on c, through TLS when it has it: bytes, or -1 with
 * errno (EAGAIN: later). */
ssize_t mmc_peer__read(struct conn *c, void *buf, size_t len);
ssize_t mmc_peer__write(struct conn *c, const struct iovec *iov, int n);

/* peer.c */
/* The member named id (len bytes) that has not left: its index, or -1. */
int mmc_peer__member_of(const struct mmc_peer *p, const char *id, size_t len);
/* Member m answered: it is up. */
void mmc_peer__member_ok(struct mmc_peer *p, struct member *m);
/* g will never be answered: tells the owner res, frees g. */
void mmc_peer__fail(struct mmc_peer *p, struct pget *g, int res);

#endif /* MMC_AGENT_PEER_INT_H */
