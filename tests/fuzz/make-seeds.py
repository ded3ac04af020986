#!/usr/bin/env python3
"""make-seeds.py - writes the seed corpora of tests/fuzz/corpus from the
layouts of common/proto-t.h and common/layout-t.h (a hello is 16 bytes, a
request 320), so the seeds follow the structs.  Run it after changing
them: python3 tests/fuzz/make-seeds.py (it rewrites corpus/{hello,ops};
the config and trace seeds are plain text files kept by hand)."""
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
proto = open(os.path.join(ROOT, "common", "proto-t.h")).read()
MAGIC = int(re.search(r"MMC_PROTO_MAGIC\s+(0x[0-9a-f]+)u", proto).group(1), 16)
VERSION = int(re.search(r"MMC_PROTO_VERSION (\d+)u", proto).group(1))
BELL = int(re.search(r"MMC_MSG_BELL (0x[0-9a-f]+)", proto).group(1), 16)
HELLO, WELCOME = 1, 2
OPS = dict(nop=0, reserve=1, commit=2, abort=3, remove=4, stat=5, fetch=6, clear=7)


def hello(magic=MAGIC, version=VERSION, type_=HELLO, pid=1234, flags=0):
    return struct.pack("<IHHII", magic, version, type_, pid, flags)


def sqe(op, key=b"", tag=0, arg=0, idx=0, gen=0, key_len=None):
    key_len = len(key) if key_len is None else key_len
    return struct.pack("<BBHIQII256s40s", op, 0, key_len, tag, arg, idx, gen,
                       key, b"")


def write(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# hello: [n][n bytes of hello][one-byte messages after the welcome]
h = hello()
write("hello", "valid", bytes([len(h)]) + h)
write("hello", "valid-bells", bytes([len(h)]) + h + bytes([BELL] * 3))
write("hello", "valid-junk", bytes([len(h)]) + h + bytes([BELL, 0x00]))
write("hello", "silent", bytes([0]))
write("hello", "short", bytes([6]) + h[:6])
write("hello", "long", bytes([len(h) + 1]) + h + b"\0")
write("hello", "bad-magic", bytes([16]) + hello(magic=0xdeadbeef))
write("hello", "old-version", bytes([16]) + hello(version=1))
write("hello", "welcome-type", bytes([16]) + hello(type_=WELCOME))

# ops: [flags][requests...]
r = OPS
write("ops", "reserve", b"\0" + sqe(r["reserve"], b"key-a", 1, 4096))
write("ops", "reserve-commit", b"\0" + sqe(r["reserve"], b"key-b", 1, 8192) +
      sqe(r["commit"], tag=2, idx=0, gen=1))
write("ops", "reserve-abort", b"\0" + sqe(r["reserve"], b"key-c", 1, 100) +
      sqe(r["abort"], tag=2, idx=0, gen=1))
write("ops", "reserve-exists", b"\0" + sqe(r["reserve"], b"dup", 1, 4096) +
      sqe(r["reserve"], b"dup", 2, 4096))
write("ops", "reserve-many", b"\0" + b"".join(
    sqe(r["reserve"], b"k%02d" % i, i, 65536) for i in range(64)))
write("ops", "remove-fetch", b"\0" + sqe(r["remove"], b"gone", 1) +
      sqe(r["fetch"], b"gone", 2))
write("ops", "stat-clear", b"\1" + sqe(r["stat"], tag=1) + sqe(r["clear"], tag=2))
write("ops", "ping-delayed", b"\1" + sqe(r["nop"], tag=1, arg=500) +
      sqe(r["nop"], tag=2) + sqe(r["nop"], tag=3, arg=10**9))
write("ops", "bad", b"\0" + sqe(200, tag=1) + sqe(r["reserve"], b"x", 2, 10,
                                                key_len=300) +
      sqe(r["commit"], tag=3, idx=0xffffffff) + sqe(r["reserve"], b"", 4, 0))
write("ops", "too-big", b"\0" + sqe(r["reserve"], b"big", 1, 1 << 62))
write("ops", "corrupt-head", b"\2\x00\x01\x00\x00" + sqe(r["nop"], tag=1))
write("ops", "corrupt-cq", b"\4\xff\xff\x00\x00" + sqe(r["nop"], tag=1))
