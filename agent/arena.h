/*
 * arena.h - the two memfds an agent shares with its clients: meta (the
 * index, read-only to clients) and data (the values).  arena.c says how
 * they are backed and sealed; docs/arena.md draws what is mapped where.
 */
#ifndef MMC_AGENT_ARENA_H
#define MMC_AGENT_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct mmc_arena {
	int      meta_fd, data_fd;
	void    *meta;
	size_t   meta_size;
	void    *data;
	uint64_t data_size;
	bool     hugepages;        /* data (and meta when it fit) on 2 MiB pages */
};

/* Checks, before anything is allocated, that a data region of data_size
 * bytes and a meta region of meta_size fit in the memory there is now:
 * free 2 MiB hugepages for the data (hp ON, or AUTO when there are
 * enough), else MemAvailable and the memory cgroup's room for both.  0, or
 * -ENOMEM after one line that says what is missing. */
int mmc_arena_check_memory(uint64_t data_size, size_t meta_size,
			   enum mmc_hugepages hp);
/* Creates and backs both memfds (data_size rounded up to 2 MiB on
 * hugepages) and seals them against growing and shrinking.  hp: AUTO falls
 * back to 4 KiB pages with one warning, ON refuses.  0 or -errno (logged);
 * on failure nothing is left behind. */
int mmc_arena_create(struct mmc_arena *a, uint64_t data_size, size_t meta_size,
		     enum mmc_hugepages hp);
/* Seals meta F_SEAL_FUTURE_WRITE once the index is laid out: clients can
 * only map it read-only from then on.  0 or -errno. */
int mmc_arena_seal_meta(struct mmc_arena *a);
void mmc_arena_destroy(struct mmc_arena *a);

#endif /* MMC_AGENT_ARENA_H */
