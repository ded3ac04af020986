/*
 * proto-t.h - the unix-socket messages between a client and mmc-agent.
 *
 * Types only.  The socket (SOCK_SEQPACKET, so every message arrives whole or
 * not at all) carries the session's set-up, its end, and in between only
 * one-byte signals:
 *
 *   client                                   agent
 *   connect()  ------------------------->    accept4(), SO_PEERCRED check
 *   struct mmc_hello  ------------------>    validate magic/version/size
 *              <-------------------------    struct mmc_welcome
 *                                            + SCM_RIGHTS: meta, data, ring
 *   ... all requests go through the ring region (layout-t.h) ...
 *   MMC_MSG_BELL  ----------------------->   "look at my ring" (only when the
 *                                            agent sleeps or does not watch)
 *                 <-----------------------   MMC_MSG_WAKE: "answers posted"
 *                                            (only when the client sleeps)
 *   close() / process death  ----------->    EPOLLHUP: pins dropped and
 *                                            reservations freed at once
 *
 * The socket is the session's only descriptor in the agent: 10,000 idle
 * sessions cost 10,000 descriptors.  Both sides send signals with
 * MSG_DONTWAIT and drop one that finds the socket full (a signal is
 * pending then anyway), so neither can be made to block by the other.
 * Any other message after the welcome ends the session.
 *
 * A refused client (credentials, bad hello) receives a welcome whose status is
 * a negative errno and no descriptors, then the agent closes the socket.
 */
#ifndef MMC_PROTO_T_H
#define MMC_PROTO_T_H

#include <stdint.h>

#include "mmc/mmc-t.h"    /* MMC_DEFAULT_SOCKET, MMC_SOCKET_ENV */

#define MMC_PROTO_MAGIC   0x434d4d00u  /* "\0MMC" */
#define MMC_PROTO_VERSION 2u

enum mmc_msg_type {
	MMC_MSG_HELLO   = 1,
	MMC_MSG_WELCOME = 2,
};

/* Descriptors sent with a welcome, in this order. */
enum mmc_welcome_fd {
	MMC_FD_META = 0,
	MMC_FD_DATA = 1,
	MMC_FD_RING = 2,
	MMC_FD_COUNT
};

/* The one-byte signals on an established session's socket. */
#define MMC_MSG_BELL 0x62   /* 'b', client -> agent: look at my ring */
#define MMC_MSG_WAKE 0x77   /* 'w', agent -> client: answers are posted */

struct mmc_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t type;        /* MMC_MSG_HELLO */
	uint32_t pid;
	uint32_t flags;
};

struct mmc_welcome {
	uint32_t magic;
	uint16_t version;
	uint16_t type;        /* MMC_MSG_WELCOME */
	int32_t  status;      /* 0, or -errno why the session was refused */
	uint32_t client_id;
	uint64_t meta_size;
	uint64_t data_size;
	uint64_t ring_size;
	char     stats_path[108];   /* the stats file, for tools */
	uint8_t  pad_[4];
};

#endif /* MMC_PROTO_T_H */
