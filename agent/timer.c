/*
 * timer.c - a binary min-heap of timers ordered by due time.
 *
 * A handful of periodic timers are always armed (loop.c); parked requests
 * add one each for as long as they wait.  Arm, disarm and pop are
 * O(log n); looking at the earliest is O(1), which is what the spinning
 * event loop does on every turn.  Each timer remembers its heap position,
 * so it can be moved or taken off without a search.
 */
#include <errno.h>
#include <stdlib.h>

#include "timer.h"

#define INITIAL_CAP 16

int mmc_timers_init(struct mmc_timers *ts)
{
	ts->heap = malloc(INITIAL_CAP * sizeof(*ts->heap));
	ts->n = 0;
	ts->cap = ts->heap ? INITIAL_CAP : 0;
	return ts->heap ? 0 : -ENOMEM;
}

void mmc_timers_destroy(struct mmc_timers *ts)
{
	for (uint32_t i = 0; i < ts->n; i++)
		ts->heap[i]->pos = 0;
	free(ts->heap);
	ts->heap = NULL;
	ts->n = ts->cap = 0;
}

static void place(struct mmc_timers *ts, uint32_t i, struct mmc_timer *t)
{
	ts->heap[i] = t;
	t->pos = i + 1;
}

/* Moves the timer at i up or down until the heap order holds again. */
static void fix(struct mmc_timers *ts, uint32_t i)
{
	struct mmc_timer *t = ts->heap[i];

	while (i > 0 && ts->heap[(i - 1) / 2]->due_ns > t->due_ns) {
		place(ts, i, ts->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= ts->n)
			break;
		if (c + 1 < ts->n && ts->heap[c + 1]->due_ns < ts->heap[c]->due_ns)
			c++;
		if (ts->heap[c]->due_ns >= t->due_ns)
			break;
		place(ts, i, ts->heap[c]);
		i = c;
	}
	place(ts, i, t);
}

int mmc_timer_arm(struct mmc_timers *ts, struct mmc_timer *t, uint64_t due_ns,
		  mmc_timer_fn *fn)
{
	t->fn = fn;
	t->due_ns = due_ns;
	if (t->pos) {
		fix(ts, t->pos - 1);
		return 0;
	}
	if (ts->n == ts->cap) {
		uint32_t cap = ts->cap ? ts->cap * 2 : INITIAL_CAP;
		struct mmc_timer **h = realloc(ts->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		ts->heap = h;
		ts->cap = cap;
	}
	place(ts, ts->n++, t);
	fix(ts, ts->n - 1);
	return 0;
}

void mmc_timer_disarm(struct mmc_timers *ts, struct mmc_timer *t)
{
	uint32_t i;

	if (!t->pos)
		return;
	i = t->pos - 1;
	t->pos = 0;
	if (i == --ts->n)
		return;
	place(ts, i, ts->heap[ts->n]);
	fix(ts, i);
}

unsigned mmc_timers_run(struct mmc_timers *ts, uint64_t now, void *ctx)
{
	uint32_t limit = ts->n;
	unsigned ran = 0;

	/* At most as many as were armed on entry: a callback that arms a
	 * timer for "now" must not keep this loop going. */
	while (ran < limit && ts->n && ts->heap[0]->due_ns <= now) {
		struct mmc_timer *t = ts->heap[0];

		mmc_timer_disarm(ts, t);
		t->fn(ctx, t);
		ran++;
	}
	return ran;
}

uint64_t mmc_timers_wait_ns(const struct mmc_timers *ts, uint64_t now)
{
	if (!ts->n)
		return UINT64_MAX;
	return ts->heap[0]->due_ns > now ? ts->heap[0]->due_ns - now : 0;
}
