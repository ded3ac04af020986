/*
 * list.h - an intrusive doubly linked list whose all-zero state is valid:
 * a zeroed list is empty and a zeroed node is on no list, so structures
 * that embed them need no initialisation (sessions are calloc'd, tests
 * build agents with memset).
 *
 * A node is on at most one list at a time; mmc_dlist_del() leaves it
 * zeroed.  Removing any node (not only the one in hand) is safe while a
 * loop takes mmc_dlist_first() afresh each time round.
 */
#ifndef MMC_AGENT_LIST_H
#define MMC_AGENT_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mmc_dnode {
	struct mmc_dnode *next, *prev;
	bool on;
};

struct mmc_dlist {
	struct mmc_dnode *first, *last;
	uint32_t n;
};

#define mmc_container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

static inline bool mmc_dnode_on(const struct mmc_dnode *n)
{
	return n->on;
}

static inline void mmc_dlist_push_tail(struct mmc_dlist *l, struct mmc_dnode *n)
{
	n->next = NULL;
	n->prev = l->last;
	if (l->last)
		l->last->next = n;
	else
		l->first = n;
	l->last = n;
	n->on = true;
	l->n++;
}

static inline void mmc_dlist_del(struct mmc_dlist *l, struct mmc_dnode *n)
{
	if (!n->on)
		return;
	if (n->prev)
		n->prev->next = n->next;
	else
		l->first = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->last = n->prev;
	n->next = n->prev = NULL;
	n->on = false;
	l->n--;
}

#endif /* MMC_AGENT_LIST_H */
