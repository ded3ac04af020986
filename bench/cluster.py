#!/usr/bin/env python3
"""bench/cluster.py - remote gets between two nodes, against memcached and Redis.

Run by bench/cluster.sh inside node B's network namespace (it sets up the
namespaces, the veth, the agents and the baselines); not meant to be run
alone.  Arguments: --a-sock/--b-sock (the two agents' sockets), --host
(node A's address, where memcached and Redis listen), --sizes, --count,
--rounds, --quick.

For each value size: --count values are put on agent A; the ones whose home
is A (B holds no copy once A's pushes have landed) are read on B with one
batch_get_into - every one a local miss that B's agent fetches from A over
the veth - and timed, then again with batch_acquire (zero copy: B's
client reads the values where they landed in B's arena); B's copies are then removed, so each round fetches
again.  memcached (pymemcache get_many) and Redis (redis-py MGET) hold the
same values on node A and are read from B the same way.  Every store's
bytes are checked against what was put.  Prints one JSON object: GB/s per
store and size (the median round), and the median time of a batch_exists
of 128 keys on B whose home is A.
"""

import argparse
import ctypes
import hashlib
import json
import os
import statistics
import sys
import time


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * mult[s[-1]] if s[-1] in mult else int(s)


def values(size, count):
    base = os.urandom(size)
    return [i.to_bytes(4, "little") + base[4:] for i in range(count)]


def wait_pushes(a, b, deadline_s=30):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if a.stats()["pushes"] == b.stats()["pushes_received"] + a.stats()["pushes_dropped"]:
            return
        time.sleep(0.05)
    sys.exit("bench/cluster.py: A's pushes did not land on B within 30 s")


def bench_mmc(mmc, a, b, size, count, rounds, tag, zero_copy=False):
    """GB/s of B reading A's values: batch_get_into (each value copied
    into the caller's buffer), or with zero_copy batch_acquire (each value
    pinned in B's arena where it landed, as an engine that DMAs from host
    memory reads it).  Either way every value is checked after the clock."""
    vals = values(size, count)
    keys = [f"{tag}-{size}-{i}".encode() for i in range(count)]
    a.batch_put(keys, vals)
    wait_pushes(a, b)
    remote = [i for i, k in enumerate(keys) if not b.exists_here(k)]   # homed on A
    keys = [keys[i] for i in remote]
    vals = [vals[i] for i in remote]
    bufs = [bytearray(size) for _ in keys]
    ptrs = [ctypes.addressof((ctypes.c_char * size).from_buffer(x)) for x in bufs]
    sizes = [size] * len(keys)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        if zero_copy:
            views = b.batch_acquire(keys)
            times.append(time.perf_counter() - t0)
            if any(v is None for v in views):
                sys.exit("bench/cluster.py: mmc remote acquires missed")
            got = [v.tobytes() for v in views]
            for v in views:
                v.release()
        else:
            res = b.batch_get_into(keys, ptrs, sizes)
            times.append(time.perf_counter() - t0)
            if any(r != size for r in res):
                sys.exit(f"bench/cluster.py: mmc remote gets failed: {res[:8]}")
            got = [bytes(x) for x in bufs]
        if got != vals:
            sys.exit("bench/cluster.py: mmc remote get returned wrong bytes")
        b.batch_remove(keys)           # the next round fetches again
        for x in bufs:
            x[:] = bytes(size)
    return len(keys) * size / statistics.median(times) / 1e9, len(keys)


def bench_exists(a, b, batch, rounds):
    """batch_exists on B of `batch` keys whose home is A: median seconds.
    The keys look like SGLang's (model, page hash, rank, k or v: 79 bytes),
    three to a ring request."""
    keys = [f"bench-llama_{hashlib.sha256(b'%d' % i).hexdigest()}_0_k".encode()
            for i in range(batch * 3)]
    a.batch_put(keys, [b"v" * 4096] * len(keys))
    wait_pushes(a, b)
    keys = [k for k in keys if not b.exists_here(k)][:batch]   # homed on A
    if len(keys) < batch:
        sys.exit(f"bench/cluster.py: only {len(keys)} keys homed on A")
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        n = b.batch_exists(keys)
        times.append(time.perf_counter() - t0)
        if n != batch:
            sys.exit(f"bench/cluster.py: batch_exists on B counted {n} of {batch}")
    return statistics.median(times)


def median_s(rounds, call, good, what):
    """Median seconds of `rounds` calls; good(result) must hold for each."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        got = call()
        times.append(time.perf_counter() - t0)
        if not good(got):
            sys.exit(f"bench/cluster.py: {what} returned wrong or missing values")
    return statistics.median(times)


def bench_memcached(host, size, count, rounds):
    from pymemcache.client.base import Client
    c = Client((host, 11211), connect_timeout=5, timeout=30)
    vals = values(size, count)
    keys = [f"m{size}-{i}" for i in range(count)]
    c.set_many(dict(zip(keys, vals)), noreply=False)
    t = median_s(rounds, lambda: c.get_many(keys),
                 lambda got: [got.get(k) for k in keys] == vals, "memcached")
    c.flush_all()
    return count * size / t / 1e9


def bench_redis(host, size, count, rounds):
    import redis
    r = redis.Redis(host=host, port=6379)
    vals = values(size, count)
    keys = [f"r{size}-{i}" for i in range(count)]
    p = r.pipeline(transaction=False)
    for k, v in zip(keys, vals):
        p.set(k, v)
    p.execute()
    t = median_s(rounds, lambda: r.mget(keys), lambda got: got == vals, "Redis")
    r.flushall()
    return count * size / t / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a-sock", required=True)
    ap.add_argument("--b-sock", required=True)
    ap.add_argument("--tls-socks", required=True, help="A,B of the pair with tls = on")
    ap.add_argument("--host", required=True)
    ap.add_argument("--python", required=True, help="the mmc package's directory")
    ap.add_argument("--sizes", default="1M,4M")
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, args.python)
    import mmc
    a, b = mmc.Client(args.a_sock), mmc.Client(args.b_sock)
    ta, tb = (mmc.Client(s) for s in args.tls_socks.split(","))
    out = {}
    for s in args.sizes.split(","):
        size = parse_size(s)
        gbps, n = bench_mmc(mmc, a, b, size, args.count, args.rounds, "k")
        out[s] = {"mmc": gbps, "mmc_keys": n,
                  "mmc_zc": bench_mmc(mmc, a, b, size, args.count, args.rounds, "z", True)[0],
                  "mmc_tls": bench_mmc(mmc, ta, tb, size, args.count, args.rounds, "t")[0],
                  "memcached": bench_memcached(args.host, size, n, args.rounds),
                  "redis": bench_redis(args.host, size, n, args.rounds)}
    out["exists_us"] = bench_exists(a, b, 128, 5 if args.quick else 50) * 1e6
    print(json.dumps(out))


if __name__ == "__main__":
    main()
