/*
 * ops.c - decoding and checking the requests clients send.
 *
 * Every request arrives here as the agent's own copy (ring.c copied it off
 * the client-writable ring first), is checked - an operation the table
 * knows, a key of 1..MMC_KEY_MAX bytes where the operation takes one, a
 * non-zero length for a reservation - and is handed to the module that owns
 * the work.  Reservation ownership ((slot, gen) pairs against the session
 * that holds them) is checked where the reservations live, in object.c.
 *
 * The one request answered later today is a delayed ping: NOP with arg =
 * microseconds, honoured up to [debug] ping_delay_max_ms (0, the default,
 * refuses any delay with -EPERM).  It exists to show - and test - that a
 * parked request does not hold up the rest of its session, nor anyone
 * else's; SSD reads and remote fetches park the same way.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "object.h"
#include "ops.h"
#include "request.h"
#include "stats.h"
#include "timer.h"

typedef enum mmc_ops_result op_fn(struct mmc_agent *ag, struct mmc_session *s,
				  const struct mmc_sqe *q, struct mmc_cqe *c);

/* ---- a ping, answered now or after arg microseconds ---- */

struct delayed_ping {
	struct mmc_request r;       /* first: it is what was parked */
	struct mmc_timer t;
};

static struct delayed_ping *ping_of(struct mmc_timer *t)
{
	return (struct delayed_ping *)((char *)t - offsetof(struct delayed_ping, t));
}

static void ping_due(void *ctx, struct mmc_timer *t)
{
	struct mmc_cqe c = { 0 };

	mmc_request_complete(ctx, &ping_of(t)->r, &c);
}

static void ping_cancel(struct mmc_agent *ag, struct mmc_request *r)
{
	struct delayed_ping *p = (struct delayed_ping *)r;
	struct mmc_cqe c = { 0 };

	mmc_timer_disarm(&ag->timers, &p->t);
	mmc_request_complete(ag, r, &c);   /* its session is gone: just freed */
}

static enum mmc_ops_result op_nop(struct mmc_agent *ag, struct mmc_session *s,
				  const struct mmc_sqe *q, struct mmc_cqe *c)
{
	struct delayed_ping *p;

	if (!q->arg)
		return MMC_OPS_DONE;
	if (q->arg > (uint64_t)ag->cfg.ping_delay_max_ms * 1000) {
		c->res = -EPERM;
		return MMC_OPS_DONE;
	}
	p = (struct delayed_ping *)mmc_request_park(ag, s, q, sizeof(*p), ping_cancel);
	if (!p) {
		c->res = -ENOMEM;
		return MMC_OPS_DONE;
	}
	if (mmc_timer_arm(&ag->timers, &p->t, mmc_now_ns() + q->arg * 1000, ping_due)) {
		c->res = -ENOMEM;
		mmc_request_complete(ag, &p->r, c);
	}
	return MMC_OPS_PARKED;
}

/* ---- objects ---- */

static enum mmc_ops_result op_reserve(struct mmc_agent *ag, struct mmc_session *s,
				      const struct mmc_sqe *q, struct mmc_cqe *c)
{
	struct mmc_object_ref ref;

	if (!q->arg) {
		c->res = -EINVAL;
		return MMC_OPS_DONE;
	}
	c->res = mmc_object_reserve(ag, s, q->key, q->key_len, q->arg, &ref);
	if (c->res == -EINPROGRESS)    /* room is being made: demotions */
		return mmc_object_wait_space(ag, s, q, c);
	if (!c->res)
		mmc_object_reserve_answer(&ref, c);
	return MMC_OPS_DONE;
}

static enum mmc_ops_result op_commit(struct mmc_agent *ag, struct mmc_session *s,
				     const struct mmc_sqe *q, struct mmc_cqe *c)
{
	uint32_t crc = (uint32_t)q->arg;

	c->res = mmc_object_commit(ag, s, q->idx, q->gen,
				   q->arg & MMC_COMMIT_CRC ? &crc : NULL);
	return MMC_OPS_DONE;
}

static enum mmc_ops_result op_abort(struct mmc_agent *ag, struct mmc_session *s,
				    const struct mmc_sqe *q, struct mmc_cqe *c)
{
	c->res = mmc_object_abort(ag, s, q->idx, q->gen);
	return MMC_OPS_DONE;
}

static enum mmc_ops_result op_remove(struct mmc_agent *ag, struct mmc_session *s,
				     const struct mmc_sqe *q, struct mmc_cqe *c)
{
	if (q->arg == MMC_REMOVE_EXACT)   /* its bytes failed their checksum */
		c->res = mmc_object_remove_exact(ag, q->key, q->key_len, q->idx, q->gen);
	else
		c->res = mmc_object_remove(ag, q->key, q->key_len);
	return MMC_OPS_DONE;
}

static enum mmc_ops_result op_fetch(struct mmc_agent *ag, struct mmc_session *s,
				    const struct mmc_sqe *q, struct mmc_cqe *c)
{
	return mmc_object_fetch(ag, s, q, c);   /* parked while read from SSD */
}

static enum mmc_ops_result op_lookup(struct mmc_agent *ag, struct mmc_session *s,
				     const struct mmc_sqe *q, struct mmc_cqe *c)
{
	return mmc_object_lookup(ag, s, q, c);  /* parked while its home answers */
}

static enum mmc_ops_result op_clear(struct mmc_agent *ag, struct mmc_session *s,
				    const struct mmc_sqe *q, struct mmc_cqe *c)
{
	mmc_object_clear(ag);
	return MMC_OPS_DONE;
}

static enum mmc_ops_result op_stat(struct mmc_agent *ag, struct mmc_session *s,
				   const struct mmc_sqe *q, struct mmc_cqe *c)
{
	mmc_stats_settle(ag, s);
	return MMC_OPS_DONE;
}

/* ---- the table ---- */

static const struct {
	const char *name;
	bool key;                  /* the request carries a key to check */
	op_fn *run;
} ops[MMC_OP_MAX_] = {
	[MMC_OP_NOP]     = { "nop",     false, op_nop },
	[MMC_OP_RESERVE] = { "reserve", true,  op_reserve },
	[MMC_OP_COMMIT]  = { "commit",  false, op_commit },
	[MMC_OP_ABORT]   = { "abort",   false, op_abort },
	[MMC_OP_REMOVE]  = { "remove",  true,  op_remove },
	[MMC_OP_STAT]    = { "stat",    false, op_stat },
	[MMC_OP_FETCH]   = { "fetch",   true,  op_fetch },
	[MMC_OP_CLEAR]   = { "clear",   false, op_clear },
	[MMC_OP_LOOKUP]  = { "lookup",  true,  op_lookup },
	[MMC_OP_LOOKUPV] = { "lookupv", true,  op_lookup },   /* packed keys */
};

static int check_key(const struct mmc_sqe *q)
{
	if (q->key_len == 0)
		return -EINVAL;
	if (q->key_len > MMC_KEY_MAX)
		return -ENAMETOOLONG;
	return 0;
}

enum mmc_ops_result mmc_ops_dispatch(struct mmc_agent *ag, struct mmc_session *s,
				     const struct mmc_sqe *q, struct mmc_cqe *c)
{
	enum mmc_ops_result r = MMC_OPS_DONE;

	if (q->op >= MMC_OP_MAX_ || !ops[q->op].run) {
		MMC_COUNT(ag, bad_requests, 1);
		c->res = -EOPNOTSUPP;
	} else if (!ops[q->op].key || !(c->res = check_key(q))) {
		r = ops[q->op].run(ag, s, q, c);
	}
	/* exists, absent and busy are answers, not errors */
	if (r == MMC_OPS_DONE && c->res && c->res != -EEXIST && c->res != -ENOENT &&
	    c->res != -EBUSY)
		MMC_COUNT(ag, errors, 1);
	if (r == MMC_OPS_DONE && c->res && c->res != -EEXIST && c->res != -ENOENT)
		log_debug("client %u: %s -> %s", s->id,
			  q->op < MMC_OP_MAX_ && ops[q->op].name ? ops[q->op].name : "?",
			  strerror(-c->res));
	return r;
}
