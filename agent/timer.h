/*
 * timer.h - the agent's clock and its one list of things to do later.
 *
 * Everything the event loop does on a schedule (refresh the stats file,
 * drain touch logs while it spins, look at the sockets while it is busy,
 * retry deferred frees) and every request parked until a moment (a delayed
 * answer, later an I/O deadline) is a struct mmc_timer in one min-heap.
 * The loop runs what is due and sleeps until the earliest deadline.
 *
 * A timer is embedded in whatever it belongs to; the heap only points at
 * it.  Single-threaded: the event loop is the only user.
 */
#ifndef MMC_AGENT_TIMER_H
#define MMC_AGENT_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t mmc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mmc_now_ms(void)
{
	return mmc_now_ns() / 1000000ull;
}

struct mmc_timer;
/* Called once when t is due, after t was taken off the heap (so it may
 * arm t again, or free the memory t lives in). */
typedef void mmc_timer_fn(void *ctx, struct mmc_timer *t);

struct mmc_timer {
	uint64_t due_ns;       /* CLOCK_MONOTONIC */
	mmc_timer_fn *fn;
	uint32_t pos;          /* heap position + 1; 0 = not armed */
};

struct mmc_timers {
	struct mmc_timer **heap;
	uint32_t n, cap;
};

/* An empty heap.  0 or -ENOMEM. */
int mmc_timers_init(struct mmc_timers *ts);
/* Frees the heap; timers still armed are simply forgotten. */
void mmc_timers_destroy(struct mmc_timers *ts);

/* Arms t to call fn at due_ns (moving it if it was armed).  0, or -ENOMEM
 * when the heap could not grow (t is then not armed). */
int mmc_timer_arm(struct mmc_timers *ts, struct mmc_timer *t, uint64_t due_ns,
		  mmc_timer_fn *fn);
/* Takes t off the heap if it is armed. */
void mmc_timer_disarm(struct mmc_timers *ts, struct mmc_timer *t);

static inline bool mmc_timer_armed(const struct mmc_timer *t)
{
	return t->pos != 0;
}

/* Calls fn(ctx, t) for every timer due at or before now, earliest first,
 * but for no more timers than were armed on entry (a callback that arms
 * one for now cannot keep the call going); returns how many ran. */
unsigned mmc_timers_run(struct mmc_timers *ts, uint64_t now, void *ctx);

/* Nanoseconds from now until the earliest timer is due (0 if one is
 * overdue), UINT64_MAX when none is armed. */
uint64_t mmc_timers_wait_ns(const struct mmc_timers *ts, uint64_t now);

#endif /* MMC_AGENT_TIMER_H */
