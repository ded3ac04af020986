/*
 * activity.h - which sessions the event loop visits each turn.
 *
 * Polling every session's ring each turn made the agent's cost per turn
 * grow with the sessions that do nothing: with 1,000 idle sessions a 4 KiB
 * put took 13 us instead of 0.5.  Only active sessions are polled now.
 * A session is active from its welcome, and again from the moment its
 * client rings the doorbell; one that has had no request for
 * MMC_ACTIVITY_QUIET_NS goes quiet.  Its ring says so (agent_watching = 0),
 * and its client then rings the doorbell after publishing a request, as it
 * does whenever the agent sleeps.  The two sides order their writes and
 * reads with fences (Dekker's pattern, as for agent_sleeping): either the
 * agent sees the request before it stops watching, or the client sees it
 * stopped and rings.
 *
 * Each turn serves the active sessions round-robin, at most a quota of
 * requests from each, so a session with a full ring waits its turn like
 * everyone else instead of holding the agent for 256 requests.
 */
#ifndef MMC_AGENT_ACTIVITY_H
#define MMC_AGENT_ACTIVITY_H

#include <stdbool.h>
#include <stdint.h>

struct mmc_agent;
struct mmc_session;

/* A session without requests for this long goes quiet. */
#define MMC_ACTIVITY_QUIET_NS (2 * 1000 * 1000ull)
/* Requests one session may have taken per turn. */
#define MMC_ACTIVITY_QUOTA 8u

/* Watch s from now on (it was just established, or its doorbell rang). */
void mmc_activity_watch(struct mmc_agent *ag, struct mmc_session *s, uint64_t now_ns);
/* s is closing: off the active list. */
void mmc_activity_forget(struct mmc_agent *ag, struct mmc_session *s);
/* Serves the active sessions that have work, at most quota requests each;
 * the ones idle for MMC_ACTIVITY_QUIET_NS go quiet.  Returns requests taken. */
unsigned mmc_activity_serve(struct mmc_agent *ag, uint64_t now_ns, unsigned quota);
/* Has an active session published work?  (Quiet ones ring the doorbell.) */
bool mmc_activity_any_pending(struct mmc_agent *ag);
/* Active sessions now. */
uint32_t mmc_activity_count(const struct mmc_agent *ag);

#endif /* MMC_AGENT_ACTIVITY_H */
