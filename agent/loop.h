/*
 * loop.h - the agent's life: start (arena, index, socket), run, stop.
 */
#ifndef MMC_AGENT_LOOP_H
#define MMC_AGENT_LOOP_H

#include "agent.h"

/* Builds everything from cfg and tells systemd READY=1.  0 or -errno (the
 * reason is logged).  Call mmc_agent_stop() afterwards in either case. */
int mmc_agent_start(struct mmc_agent *ag, const struct mmc_config *cfg);
/* Handles the events pending now (hang-ups, doorbells, new connections)
 * without waiting: a stats request uses it to see clients that died. */
void mmc_agent_poll(struct mmc_agent *ag);
/* Serves until SIGTERM/SIGINT. */
int mmc_agent_run(struct mmc_agent *ag);
/* Ends every session (clients see the socket close), removes socket and
 * stats file, frees the arena. */
void mmc_agent_stop(struct mmc_agent *ag);

#endif
