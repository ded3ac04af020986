/*
 * evict.c - eviction policy: an exact LRU order over slots, and watermarks.
 *
 * The order is a doubly linked list threaded through two agent-private
 * arrays (prev/next, one u32 each per slot), most recently used at the
 * head, least at the tail.  Every operation is O(1).  A slot that is not in
 * the order has prev == OUT, so adding a slot twice or deleting one that is
 * not there is caught (and ignored) instead of tearing the list.
 *
 * Recency comes from readers' touch logs, drained by the agent before every
 * eviction decision (ring.c, object.c); this file only keeps the order.
 * On the Mooncake trace an exact LRU of the same capacity is what the agent
 * matches to the block (bench/README.md); a policy that does better for
 * prefix chains would replace this file and nothing else.
 */
#include <errno.h>
#include <stdlib.h>

#include "evict.h"

#define OUT (MMC_EVICT_END - 1)   /* prev[] of a slot not in the order */

struct mmc_evict {
	uint32_t nslots;
	uint32_t *prev, *next;
	uint32_t head, tail;      /* most / least recently used */
	uint32_t count;
	unsigned high_pct, low_pct;
};

int mmc_evict_create(uint32_t nslots, unsigned high_pct, unsigned low_pct,
		     struct mmc_evict **out)
{
	struct mmc_evict *ev;

	if (!nslots || nslots >= OUT || !low_pct || low_pct >= high_pct ||
	    high_pct > 99)
		return -EINVAL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->prev = malloc(nslots * sizeof(uint32_t));
	ev->next = malloc(nslots * sizeof(uint32_t));
	if (!ev->prev || !ev->next) {
		mmc_evict_destroy(ev);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nslots; i++)
		ev->prev[i] = OUT;
	ev->nslots = nslots;
	ev->head = ev->tail = MMC_EVICT_END;
	ev->high_pct = high_pct;
	ev->low_pct = low_pct;
	*out = ev;
	return 0;
}

void mmc_evict_destroy(struct mmc_evict *ev)
{
	if (!ev)
		return;
	free(ev->prev);
	free(ev->next);
	free(ev);
}

static int in_order(const struct mmc_evict *ev, uint32_t slot)
{
	return slot < ev->nslots && ev->prev[slot] != OUT;
}

void mmc_evict_add(struct mmc_evict *ev, uint32_t slot)
{
	if (slot >= ev->nslots || in_order(ev, slot))
		return;
	ev->prev[slot] = MMC_EVICT_END;
	ev->next[slot] = ev->head;
	if (ev->head != MMC_EVICT_END)
		ev->prev[ev->head] = slot;
	else
		ev->tail = slot;
	ev->head = slot;
	ev->count++;
}

void mmc_evict_del(struct mmc_evict *ev, uint32_t slot)
{
	uint32_t p, n;

	if (!in_order(ev, slot))
		return;
	p = ev->prev[slot];
	n = ev->next[slot];
	if (p != MMC_EVICT_END)
		ev->next[p] = n;
	else
		ev->head = n;
	if (n != MMC_EVICT_END)
		ev->prev[n] = p;
	else
		ev->tail = p;
	ev->prev[slot] = OUT;
	ev->count--;
}

void mmc_evict_touch(struct mmc_evict *ev, uint32_t slot)
{
	if (ev->head == slot || !in_order(ev, slot))
		return;
	mmc_evict_del(ev, slot);
	mmc_evict_add(ev, slot);
}

uint64_t mmc_evict_goal(const struct mmc_evict *ev, uint64_t used,
			uint64_t cap, uint64_t bytes)
{
	uint64_t high = cap / 100 * ev->high_pct;
	uint64_t low = cap / 100 * ev->low_pct;

	if (used + bytes <= high)
		return 0;
	return used + bytes > low ? used + bytes - low : bytes;
}

uint32_t mmc_evict_first(const struct mmc_evict *ev)
{
	return ev->tail;
}

uint32_t mmc_evict_next(const struct mmc_evict *ev, uint32_t slot)
{
	return in_order(ev, slot) ? ev->prev[slot] : MMC_EVICT_END;
}

uint32_t mmc_evict_count(const struct mmc_evict *ev)
{
	return ev->count;
}

int mmc_evict_check(const struct mmc_evict *ev)
{
	uint32_t n = 0, last = MMC_EVICT_END;

	for (uint32_t s = ev->head; s != MMC_EVICT_END; s = ev->next[s]) {
		if (s >= ev->nslots || ev->prev[s] != last || ++n > ev->count)
			return -EUCLEAN;
		last = s;
	}
	if (n != ev->count || ev->tail != last)
		return -EUCLEAN;
	n = 0;
	for (uint32_t s = 0; s < ev->nslots; s++)
		n += ev->prev[s] != OUT;
	return n == ev->count ? 0 : -EUCLEAN;
}
