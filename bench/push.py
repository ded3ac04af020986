#!/usr/bin/env python3
"""bench/push.py - push = page against push = record, on one run of agents.

Run by bench/push.sh inside node B's namespace (three agents a, b, c on a
bridge, started with the --push mode being measured); not meant to be run
alone.  Prints one JSON object:

  put_gbps         A's batch puts of --count values (the writer's speed, with
                   the mode's work - crc, pushes or records - on its agent)
  net_per_put      bytes the three agents sent each other during the puts
                   (all peer_bytes_out), per byte put, once every push or
                   record has landed
  get_gbps         B's batch get of the values it does not hold: each a
                   remote fetch (page: from the key's home; record: from
                   the home's answer on to A)
  get_p50_us, get_p90_us   single gets of those keys, one at a time
"""
import argparse, ctypes, json, os, statistics, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--socks", required=True, help="a,b,c agent sockets")
ap.add_argument("--python", required=True)
ap.add_argument("--size", type=int, default=1 << 20)
ap.add_argument("--count", type=int, default=64)
args = ap.parse_args()
sys.path.insert(0, args.python)
import mmc

a, b, c = (mmc.Client(s) for s in args.socks.split(","))
nodes = (a, b, c)
def out_bytes():
    return sum(n.stats()["peer_bytes_out"] for n in nodes)
def landed():
    s = [n.stats() for n in nodes]
    sent = sum(x["pushes"] + x["records"] for x in s)
    got = sum(x["pushes_received"] + x["records_received"] + x["pushes_dropped"] for x in s)
    return sent == got

def values(tag):
    base = os.urandom(args.size)
    keys = [f"{tag}-{i}".encode() for i in range(args.count)]
    return keys, [i.to_bytes(4, "little") + base[4:] for i in range(args.count)]

out = {}
keys, vals = values("bulk")
o0 = out_bytes()
t0 = time.perf_counter()
res = a.batch_put(keys, vals)
out["put_gbps"] = args.count * args.size / (time.perf_counter() - t0) / 1e9
if any(res):
    sys.exit(f"bench/push.py: puts failed: {res[:8]}")
end = time.monotonic() + 30
while not landed() and time.monotonic() < end:
    time.sleep(0.02)
out["net_per_put"] = (out_bytes() - o0) / (args.count * args.size)

remote = [i for i, k in enumerate(keys) if not b.exists_here(k)]
rk = [keys[i] for i in remote]
bufs = [bytearray(args.size) for _ in rk]
ptrs = [ctypes.addressof((ctypes.c_char * args.size).from_buffer(x)) for x in bufs]
t0 = time.perf_counter()
r = b.batch_get_into(rk, ptrs, [args.size] * len(rk))
out["get_gbps"] = len(rk) * args.size / (time.perf_counter() - t0) / 1e9
if any(x != args.size for x in r) or any(bytes(bufs[j]) != vals[i] for j, i in enumerate(remote)):
    sys.exit(f"bench/push.py: remote batch get failed or wrong bytes: {r[:8]}")
b.batch_remove(rk)
lat = []
for k in rk:
    t0 = time.perf_counter()
    v = b.get(k)
    lat.append((time.perf_counter() - t0) * 1e6)
    if v is None:
        sys.exit("bench/push.py: a single remote get missed")
lat.sort()
out["get_p50_us"] = lat[len(lat) // 2]
out["get_p90_us"] = lat[len(lat) * 9 // 10]
out["remote_keys"] = len(rk)
print(json.dumps(out))
