/*
 * limits.c - the caps of [limits], resolved, and what each uid holds.
 *
 * The caps are checked where the resource is granted: sessions in
 * session.c (accept and handshake), reservations in object.c (through
 * mmc_limits_may_reserve), pins in readers.c and libshm.  This file
 * resolves the configured values - "25%" of the index or the arena, or an
 * amount - once at start, and keeps the per-uid counts they are checked
 * against: a chained hash table keyed by uid, an entry per uid that has a
 * session, so a uid's use is found in O(1) whatever the number of uids.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "limits.h"

#define TAB_MIN 64

uint64_t mmc_share_of(struct mmc_share sh, uint64_t whole)
{
	uint64_t v = sh.pct ? whole / 100 * sh.n + whole % 100 * sh.n / 100 : sh.n;

	return v ? v : 1;
}

/* A share of all there is is no cap: what does not fit fails with the
 * resource's own error (-ENOSPC), not -EDQUOT. */
static uint64_t cap_of(struct mmc_share sh, uint64_t whole)
{
	uint64_t v = mmc_share_of(sh, whole);

	return v >= whole ? UINT64_MAX : v;
}

int mmc_limits_init(struct mmc_limits *l, const struct mmc_config *cfg,
		    uint32_t nentries, uint64_t arena_bytes)
{
	memset(l, 0, sizeof(*l));
	l->max_sessions = cfg->max_sessions;
	l->sessions_per_uid = cfg->sessions_per_uid;
	l->max_handshakes = cfg->max_handshakes;
	l->handshake_ns = (uint64_t)cfg->handshake_timeout_ms * 1000000;
	l->res_per_session = cap_of(cfg->reservations_per_session, nentries);
	l->res_per_uid = cap_of(cfg->reservations_per_uid, nentries);
	l->bytes_per_session = cap_of(cfg->reserved_bytes_per_session, arena_bytes);
	l->bytes_per_uid = cap_of(cfg->reserved_bytes_per_uid, arena_bytes);
	l->pins_per_session = cfg->pins_per_session;
	l->pinned_bytes_per_session = cap_of(cfg->pinned_bytes_per_session, arena_bytes);
	if (l->pinned_bytes_per_session == UINT64_MAX)
		l->pinned_bytes_per_session = 0;     /* the ring's "no byte cap" */
	l->mask = TAB_MIN - 1;
	l->tab = calloc(TAB_MIN, sizeof(*l->tab));
	return l->tab ? 0 : -ENOMEM;
}

void mmc_limits_destroy(struct mmc_limits *l)
{
	for (uint32_t i = 0; l->tab && i <= l->mask; i++)
		while (l->tab[i]) {
			struct mmc_uid_use *u = l->tab[i];

			l->tab[i] = u->next;
			free(u);
		}
	free(l->tab);
	memset(l, 0, sizeof(*l));
}

static uint32_t bucket(const struct mmc_limits *l, uid_t uid)
{
	return ((uint32_t)uid * 0x9e3779b1u) >> 7 & l->mask;
}

/* Doubles the table when it holds more uids than buckets (best effort: a
 * table that cannot grow only gets longer chains). */
static void grow(struct mmc_limits *l)
{
	uint32_t n = (l->mask + 1) * 2, old = l->mask;
	struct mmc_uid_use **tab = calloc(n, sizeof(*tab)), **from = l->tab;

	if (!tab)
		return;
	l->tab = tab;
	l->mask = n - 1;
	for (uint32_t i = 0; i <= old; i++)
		while (from[i]) {
			struct mmc_uid_use *u = from[i];
			uint32_t b = bucket(l, u->uid);

			from[i] = u->next;
			u->next = tab[b];
			tab[b] = u;
		}
	free(from);
}

struct mmc_uid_use *mmc_limits_uid(struct mmc_limits *l, uid_t uid, bool create)
{
	struct mmc_uid_use *u;

	if (!l->tab)
		return NULL;
	for (u = l->tab[bucket(l, uid)]; u; u = u->next)
		if (u->uid == uid)
			return u;
	if (!create || !(u = calloc(1, sizeof(*u))))
		return NULL;
	if (++l->nuids > l->mask + 1)
		grow(l);
	u->uid = uid;
	u->next = l->tab[bucket(l, uid)];
	l->tab[bucket(l, uid)] = u;
	return u;
}

void mmc_limits_uid_release(struct mmc_limits *l, struct mmc_uid_use *u)
{
	struct mmc_uid_use **pp;

	if (!u || u->sessions || u->reservations)
		return;
	for (pp = &l->tab[bucket(l, u->uid)]; *pp && *pp != u; pp = &(*pp)->next)
		;
	if (*pp) {
		*pp = u->next;
		l->nuids--;
		free(u);
	}
}

int mmc_limits_may_reserve(const struct mmc_limits *l, const struct mmc_session *s,
			   uint64_t bytes)
{
	const struct mmc_uid_use *u = s->use;

	if (!l->tab)
		return 0;                /* an agent without limits (unit tests) */
	if (s->held.count >= l->res_per_session ||
	    s->held.bytes + bytes > l->bytes_per_session ||
	    s->held.bytes + bytes < bytes)
		return -EDQUOT;
	if (u && (u->reservations >= l->res_per_uid ||
		  u->reserved_bytes + bytes > l->bytes_per_uid ||
		  u->reserved_bytes + bytes < bytes))
		return -EDQUOT;
	return 0;
}
