/*
 * members_etcd.h - the pool's members, kept in etcd.
 *
 * With [cluster] etcd = http://host:2379 an agent registers itself under
 * PREFIX/members/NODE_ID (value: the address members reach it at) with a
 * lease it keeps alive, and watches PREFIX/members/: agents join and leave
 * the pool without restarts, and one that dies leaves it when its lease
 * expires (ttl_s).  etcd is reached through its v3 JSON gateway (libcurl,
 * json-c), on a thread of its own, so the agent's loop never waits for it.
 *
 * The thread publishes each new member list; the peer engine (peer.c)
 * takes it when mmc_etcd_fd() is readable.  When etcd cannot be reached
 * nothing is published: the agents keep their last membership and serve,
 * and the thread registers again once etcd answers.
 */
#ifndef MMC_AGENT_MEMBERS_ETCD_H
#define MMC_AGENT_MEMBERS_ETCD_H

#include <stddef.h>

struct mmc_etcd;

struct mmc_etcd_config {
	const char *endpoint;      /* "http://10.0.0.9:2379" */
	const char *prefix;        /* "/mmc/" */
	const char *node_id;
	const char *advertise;     /* "host:port" members dial */
	unsigned ttl_s;            /* the lease: a dead agent leaves after this */
};

struct mmc_etcd_member {
	char id[64];
	char addr[256];
};

/* Starts the thread (it registers and watches; failures are retried and
 * logged).  0, or -errno with one line in err. */
int mmc_etcd_start(const struct mmc_etcd_config *cfg, struct mmc_etcd **out,
		   char *err, size_t errlen);
/* Revokes the lease (the others see this node leave now), stops the thread. */
void mmc_etcd_stop(struct mmc_etcd *e);
/* Readable when a new member list was published. */
int mmc_etcd_fd(const struct mmc_etcd *e);
/* The latest list (this node included), up to max members: how many, or
 * -EAGAIN when nothing new was published since the last call. */
int mmc_etcd_members(struct mmc_etcd *e, struct mmc_etcd_member *out, int max);

#endif /* MMC_AGENT_MEMBERS_ETCD_H */
