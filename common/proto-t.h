/*
 * proto-t.h - the unix-socket messages between a client and mmc-agent.
 *
 * Types only.  The socket (SOCK_SEQPACKET, so every message arrives whole or
 * not at all) carries just the session's set-up and its end:
 *
 *   client                                   agent
 *   connect()  ------------------------->    accept4(), SO_PEERCRED check
 *   struct mmc_hello  ------------------>    validate magic/version/size
 *              <-------------------------    struct mmc_welcome
 *                                            + SCM_RIGHTS: meta, data, ring,
 *                                              doorbell pipe, wake-up pipe
 *   ... all requests go through the ring region (layout-t.h) ...
 *   close() / process death  ----------->    EPOLLHUP: pins dropped and
 *                                            reservations freed at once
 *
 * A refused client (credentials, bad hello) receives a welcome whose status is
 * a negative errno and no descriptors, then the agent closes the socket.
 */
#ifndef MMC_PROTO_T_H
#define MMC_PROTO_T_H

#include <stdint.h>

#include "mmc/mmc-t.h"    /* MMC_DEFAULT_SOCKET, MMC_SOCKET_ENV */

#define MMC_PROTO_MAGIC   0x434d4d00u  /* "\0MMC" */
#define MMC_PROTO_VERSION 1u

enum mmc_msg_type {
	MMC_MSG_HELLO   = 1,
	MMC_MSG_WELCOME = 2,
};

/* Descriptors sent with a welcome, in this order. */
enum mmc_welcome_fd {
	MMC_FD_META = 0,
	MMC_FD_DATA = 1,
	MMC_FD_RING = 2,
	MMC_FD_BELL = 3,   /* pipe, write end: client writes "look at my ring" */
	MMC_FD_WAKE = 4,   /* pipe, read end: agent wrote "completions ready" */
	MMC_FD_COUNT
};

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
