/*
 * peer_proto-t.h - the frames agents send each other over TCP (types only).
 *
 * Every frame is a 40-byte header, then key_len key bytes, then value_len
 * value bytes.  Little-endian, as every host mmc builds for (x86-64,
 * arm64); a version byte lets a later agent speak to this one or refuse
 * it plainly.  A receiver checks the header before it reads a byte more:
 * magic, version, a known type, key_len within MMC_KEY_MAX, a value only on
 * the frames that carry one and never more than MMC_PEER_VALUE_MAX.  A
 * frame that fails a check closes the connection (counted, logged once a
 * second): a peer that sends garbage is broken or hostile, and what it
 * sent after cannot be trusted to be framed either.
 *
 *   HELLO   first frame each way: key = the sender's node_id.  A listener
 *           serves only members it knows by that id.
 *   GET     key; id chosen by the asker.
 *   VALUE   the answer to GET id: status 0 with the value and its crc32c,
 *           status -ENOENT (no value), or status -EREMOTE with the node_id
 *           of the member that holds it as the key (push = record).
 *   PUT     key, value and crc32c: a page pushed to its home after a put.
 *           No answer: a push that fails costs a later miss, not an error.
 *   EXISTS  no key; the value is up to MMC_PEER_EXISTS_MAX (peer.h) keys, each a
 *           little-endian u16 length (1..MMC_KEY_MAX) then its bytes.
 *   FOUND   the answer to EXISTS id: one byte per key asked, 1 if it is
 *           held here (any tier), else 0.
 *   RECORD  key: the sender holds that page (push = record: the home keeps
 *           who holds what, not the bytes).  No answer.
 */
#ifndef MMC_AGENT_PEER_PROTO_T_H
#define MMC_AGENT_PEER_PROTO_T_H

#include <stdint.h>

#define MMC_PEER_MAGIC     0x5043434du     /* "MCCP" */
#define MMC_PEER_VERSION   1
#define MMC_PEER_VALUE_MAX (1ull << 32)    /* 4 GiB: larger values are not sent */

enum mmc_peer_type {
	MMC_PEER_HELLO = 1,
	MMC_PEER_GET   = 2,
	MMC_PEER_VALUE = 3,
	MMC_PEER_PUT   = 4,
	MMC_PEER_EXISTS = 5,
	MMC_PEER_FOUND = 6,
	MMC_PEER_RECORD = 7,
	MMC_PEER_TYPE_MAX_
};

struct mmc_peer_frame {
	uint32_t magic;
	uint8_t  version;
	uint8_t  type;          /* enum mmc_peer_type */
	uint16_t key_len;
	uint32_t id;            /* GET -> VALUE */
	int32_t  status;        /* VALUE: 0 or -errno */
	uint64_t value_len;
	uint32_t crc;           /* crc32c of the value */
	uint32_t flags;         /* 0 */
	uint64_t reserved;      /* 0 */
};                              /* 40 bytes */

_Static_assert(sizeof(struct mmc_peer_frame) == 40, "peer frame header is 40 bytes");

#endif /* MMC_AGENT_PEER_PROTO_T_H */
