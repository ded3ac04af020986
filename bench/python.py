#!/usr/bin/env python3
"""bench/python.py - mmc from Python, against what a Python engine has instead.

    /usr/bin/python3 bench/python.py [--quick] [--sizes 4K,64K,1M] [--batch 128]
                                     [--bin build/bin] [--json FILE]

Run it with Debian's /usr/bin/python3 (python3-torch, -numpy, -redis and
-pymemcache are installed for it; scripts/install-deps.sh) and the mmc
package on PYTHONPATH (build/python after a build; this script adds it when
it finds one next to --bin).

It starts its own children on loopback - an mmc-agent (private socket,
4 KiB pages, like the baselines' memory), a redis-server (no persistence) and a memcached (-I 4m)
- waits until each answers, and kills them when it exits, however it exits.
Then, for each page size, with batches of --batch pages held in torch CPU
tensors (an engine's host pool):

  Python overhead    mmc batch_get_into into torch tensors, against
                     copies of the same bytes - page by page (ctypes
                     memmove, numpy copyto), and the whole batch in one
                     numpy / one-thread torch copy - from shared memory of
                     the same kind as the agent's arena (anonymous shmem,
                     4 KiB pages) into the same destination, over the same
                     working set (bigger than the CPU caches), in the same
                     run.
  Lookups            exists() of one key, batch_exists() of 128 keys.
  Side by side       pages/s for gets and puts of the same pages:
                     mmc (batch_get_into / batch_put_from), redis-py
                     (MGET / pipelined SET), pymemcache (get_many /
                     set_many), and one file per page on /dev/shm written
                     with numpy's tofile() and read with readinto() into
                     the tensor (what SGLang's file backend does).

Gets of every store end with the page's bytes in the destination tensor
(so the redis and memcached rows include copying their replies there);
puts of redis and memcached start from bytes objects prepared before the
clock starts (in their favour).  Every store's first batch is checked byte
for byte.  Numbers are the median batch of each measurement; the table
prints the ratios of the same run, then the issue's "done when" lines
(information only: the exit status says whether every run worked).

--quick: tiny working sets and counts, a few seconds, every path run once
(what the tests run; the numbers mean nothing).
"""

import argparse
import atexit
import ctypes
import hashlib
import json
import mmap
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_size(s):
    s = s.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:], 1)
    return int(s[:-1] if s[-1:] in "KMG" else s) * mult


def human(n):
    for unit, m in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= m and n % m == 0:
            return "%d%s" % (n // m, unit)
    return str(n)


# ---- children ----

class Children:
    """Processes this run started; all killed at exit."""

    def __init__(self):
        self.procs = []
        self.dirs = []
        atexit.register(self.stop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: sys.exit(130))

    def start(self, argv, log, env=None):
        with open(log, "wb") as f:
            p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env)
        self.procs.append(p)
        return p

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, proc, check, log, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.05)
    sys.exit("bench/python.py: %s did not start:\n%s" % (what, open(log).read()[-2000:]))


def start_agent(kids, bindir, arena, objects, work):
    sock, notify = os.path.join(work, "agent.sock"), os.path.join(work, "notify")
    conf, log = os.path.join(work, "agent.conf"), os.path.join(work, "agent.log")
    open(conf, "w").close()   # the defaults, whatever /etc/mmc holds
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify)
    ns.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=notify)
    env.pop("LD_PRELOAD", None)
    p = kids.start([os.path.join(bindir, "mmc-agent"), "--config", conf, "--socket", sock,
                    "--arena-size", str(arena), "--hugepages", "auto",
                    "--max-objects", str(objects)], log, env)
    try:
        while b"READY=1" not in ns.recv(4096).split(b"\n"):
            pass
    except OSError:
        sys.exit("bench/python.py: mmc-agent did not become ready:\n" + open(log).read())
    finally:
        ns.close()
    return sock


def start_redis(kids, work):
    import redis
    port, log = free_port(), os.path.join(work, "redis.log")
    p = kids.start(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                    "--appendonly", "no", "--maxmemory", "3gb", "--maxmemory-policy",
                    "noeviction", "--dir", work, "--daemonize", "no"], log)
    r = redis.Redis(host="127.0.0.1", port=port)
    wait_until("redis-server", p, r.ping, log)
    return r


def start_memcached(kids, work):
    from pymemcache.client.base import Client as Memcache
    port, log = free_port(), os.path.join(work, "memcached.log")
    argv = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-t", "2",
            "-m", "3072", "-I", "4m", "-c", "64"]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]
    p = kids.start(argv, log)
    m = Memcache(("127.0.0.1", port), connect_timeout=5, timeout=30)
    wait_until("memcached", p, m.version, log)
    return m


# ---- measuring ----

def median_s(fn, reps, before=None):
    """The median time of fn() over reps calls (before() runs untimed)."""
    times = []
    for _ in range(reps):
        if before:
            before()
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1e9


def shmem_array(shape):
    """A numpy uint8 array in anonymous shared memory - the kind of memory
    (shmem on 4 KiB pages) the agent's arena is when it has no hugepages."""
    import numpy as np
    n = int(np.prod(shape))
    buf = mmap.mmap(-1, n)
    a = np.frombuffer(buf, dtype=np.uint8).reshape(shape)
    return a, buf


def page_keys(size, s, batch):
    return ["%s_0_k" % hashlib.sha256(b"%d/%d/%d" % (size, s, i)).hexdigest()
            for i in range(batch)]


class Bench:
    def __init__(self, args, client, redis_c, memc):
        import numpy as np
        import torch
        self.np, self.torch = np, torch
        self.args, self.c, self.r, self.m = args, client, redis_c, memc
        self.rows, self.overhead, self.failed = [], [], []

    def check(self, what, ok):
        if not ok:
            self.failed.append(what)
            print("bench/python.py: WRONG BYTES: %s" % what, file=sys.stderr)

    def run_size(self, size):
        np, torch, a, c = self.np, self.torch, self.args, self.c
        B = a.batch
        nsets = max(1, a.working_set // (B * size))
        reps_get = max(3, min(200, a.budget // (B * size)))
        print("  %s pages: %d sets of %d (%d MiB), %d timed batches per store" %
              (human(size), nsets, B, nsets * B * size >> 20, reps_get), flush=True)
        src, _srcmap = shmem_array((nsets, B, size))
        rng = np.random.default_rng(size)
        for s in range(nsets):
            src[s] = rng.integers(0, 256, (B, size), dtype=np.uint8)
        dst = torch.zeros(B, size, dtype=torch.uint8)
        dptr = [dst[i].data_ptr() for i in range(B)]
        keys = [page_keys(size, s, B) for s in range(nsets)]
        sptr = [[src[s, i].ctypes.data for i in range(B)] for s in range(nsets)]
        for s in range(nsets):
            res = c.batch_put_from(keys[s], sptr[s], [size] * B)
            assert all(r in (0, -17) for r in res), res
        cyc = {"i": 0}

        def nxt():
            cyc["i"] = (cyc["i"] + 1) % nsets
            return cyc["i"]

        # -- Python overhead: batch_get_into against a plain copy --
        full, misses = [size] * B, []
        got = c.batch_get_into(keys[0], dptr, [size] * B)
        self.check("mmc get %s" % human(size),
                   got == full and np.array_equal(dst.numpy(), src[0]))

        def mmc_get():
            if c.batch_get_into(keys[nxt()], dptr, full) != full:
                misses.append(1)   # a miss is cheaper than a hit: never time one

        t_mmc = median_s(mmc_get, reps_get)
        self.check("mmc get %s: every key hit" % human(size), not misses)
        dnp = dst.numpy()
        t_np = median_s(lambda: np.copyto(dnp, src[nxt()]), reps_get)
        rows = [dnp[i] for i in range(B)]

        def np_pages():
            s = src[nxt()]
            for i in range(B):
                np.copyto(rows[i], s[i])

        t_np_pages = median_s(np_pages, reps_get)
        mm = ctypes.memmove

        def memmove_pages():
            s = sptr[nxt()]
            for i in range(B):
                mm(dptr[i], s[i], size)

        t_mm = median_s(memmove_pages, reps_get)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        tsrc = [torch.from_numpy(src[s]) for s in range(nsets)]
        t_torch = median_s(lambda: dst.copy_(tsrc[nxt()]), reps_get)
        torch.set_num_threads(threads)
        gb = B * size / 1e9
        self.overhead.append({"size": size, "batch": B, "mmc_gbps": gb / t_mmc,
                              "memmove_pages_gbps": gb / t_mm,
                              "numpy_pages_gbps": gb / t_np_pages,
                              "numpy_gbps": gb / t_np, "torch_gbps": gb / t_torch})

        # -- side by side --
        self.row(size, "get", "mmc", B / t_mmc)
        reps_put = max(3, reps_get // 2)
        t = median_s(lambda: c.batch_put_from(keys[0], sptr[0], [size] * B), reps_put,
                     before=lambda: c.batch_remove(keys[0]))
        self.row(size, "put", "mmc", B / t)
        values = [src[0, i].tobytes() for i in range(B)]
        reps_net = max(3, reps_get // 4)
        if self.r is not None:
            self.redis(size, keys[0], values, dst, src[0], reps_net)
        if self.m is not None:
            self.memcached(size, keys[0], values, dst, src[0], reps_net)
        self.files(size, src[0], dst, reps_net)
        flat = [k for ks in keys for k in ks]
        for i in range(0, len(flat), 16384):
            c.batch_remove(flat[i:i + 16384])
        del tsrc, dnp, src
        _srcmap.close()

    def row(self, size, op, store, pages_s):
        self.rows.append({"size": size, "op": op, "store": store, "pages_per_s": pages_s})

    def copy_back(self, dst, vals):
        np = self.np
        d = dst.numpy()
        for i, v in enumerate(vals):
            d[i] = np.frombuffer(v, dtype=np.uint8)

    def redis(self, size, keys, values, dst, src, reps):
        r, B = self.r, len(keys)

        def put():
            p = r.pipeline(transaction=False)
            for k, v in zip(keys, values):
                p.set(k, v)
            p.execute()

        def get():
            self.copy_back(dst, r.mget(keys))

        put()
        dst.zero_()
        get()
        self.check("redis %s" % human(size), self.np.array_equal(dst.numpy(), src))
        self.row(size, "get", "redis-py", B / median_s(get, reps))
        self.row(size, "put", "redis-py", B / median_s(put, reps))
        r.delete(*keys)

    def memcached(self, size, keys, values, dst, src, reps):
        m, B = self.m, len(keys)
        pairs = dict(zip(keys, values))

        def put():
            failed = m.set_many(pairs, noreply=False)
            assert not failed, failed

        def get():
            got = m.get_many(keys)
            self.copy_back(dst, [got[k] for k in keys])

        put()
        dst.zero_()
        get()
        self.check("memcached %s" % human(size), self.np.array_equal(dst.numpy(), src))
        self.row(size, "get", "pymemcache", B / median_s(get, reps))
        self.row(size, "put", "pymemcache", B / median_s(put, reps))
        m.delete_many(keys)

    def files(self, size, src, dst, reps):
        B = src.shape[0]
        d = tempfile.mkdtemp(prefix="mmc-bench-py-", dir="/dev/shm")
        try:
            paths = [os.path.join(d, "%d.bin" % i) for i in range(B)]
            pages = [src[i] for i in range(B)]
            dn = dst.numpy()

            def put():
                for p, a in zip(paths, pages):
                    a.tofile(p)

            def get():
                for i, p in enumerate(paths):
                    with open(p, "rb", buffering=0) as f:
                        if f.readinto(memoryview(dn[i])) != size:
                            raise IOError("short read")

            put()
            dst.zero_()
            get()
            self.check("files %s" % human(size), self.np.array_equal(dn, src))
            self.row(size, "get", "files /dev/shm", B / median_s(get, reps))
            self.row(size, "put", "files /dev/shm", B / median_s(put, reps))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def lookups(self):
        c, n = self.c, self.args.lookup_reps
        keys = page_keys(0, 0, 128)
        c.batch_put(keys, [b"x" * 64] * 128)
        assert c.batch_exists(keys) == 128
        one = keys[5]
        ex, bex = c.exists, c.batch_exists
        t0 = time.perf_counter_ns()
        for _ in range(n):
            ex(one)
        t_one = (time.perf_counter_ns() - t0) / n / 1e3
        m = max(1, n // 20)
        t0 = time.perf_counter_ns()
        for _ in range(m):
            bex(keys)
        t_batch = (time.perf_counter_ns() - t0) / m / 1e3
        c.batch_remove(keys)
        return {"exists_us": t_one, "batch_exists_128_us": t_batch}


# ---- report ----

def report(b, look, meta):
    print()
    print("mmc from Python: %s" % meta["host"])
    print("  %s; torch %s, numpy %s; mmc-agent arena %d MiB on %s; batches of %d pages;"
          % (meta["python"], meta["torch"], meta["numpy"], meta["arena_mib"],
             meta["arena_pages"], meta["batch"]))
    print("  redis-py with the %s reply parser" % meta["redis_parser"])
    print()
    print("Python overhead (one thread, GB/s of page bytes into torch tensors, and mmc's")
    print("share of each baseline; 'per page': one copy per page, as mmc makes them; '1 call':")
    print("the whole batch in one copy, which glibc does with non-temporal stores when large):")
    print("  %-5s %7s %15s %15s %15s %15s" % ("size", "mmc", "memmove/page", "numpy/page",
                                             "numpy 1 call", "torch 1 call"))
    for o in b.overhead:
        cols = ["%6.2f %7.0f%%" % (o[k], 100 * o["mmc_gbps"] / o[k])
                for k in ("memmove_pages_gbps", "numpy_pages_gbps", "numpy_gbps", "torch_gbps")]
        print("  %-5s %7.2f %s" % (human(o["size"]), o["mmc_gbps"], " ".join(cols)))
    print()
    print("Lookups: exists() %.2f us, batch_exists() of 128 keys %.2f us"
          % (look["exists_us"], look["batch_exists_128_us"]))
    print()
    print("Side by side (pages/s, batches of %d; mmc x = mmc's pages/s over this row's):"
          % meta["batch"])
    print("  %-5s %-4s %-16s %12s %9s %8s" % ("size", "op", "store", "pages/s", "GB/s",
                                             "mmc x"))
    ref = {(r["size"], r["op"]): r["pages_per_s"] for r in b.rows if r["store"] == "mmc"}
    for r in b.rows:
        x = ref[(r["size"], r["op"])] / r["pages_per_s"]
        print("  %-5s %-4s %-16s %12.0f %9.2f %8s" % (
            human(r["size"]), r["op"], r["store"], r["pages_per_s"],
            r["pages_per_s"] * r["size"] / 1e9, "" if r["store"] == "mmc" else "%.1fx" % x))
    print()
    print("Done when (information only%s):" % ("; --quick: these numbers mean nothing"
                                              if meta["quick"] else ""))

    def line(what, ok):
        print("  %-62s %s" % (what, "PASS" if ok else "FAIL"))

    for o in b.overhead:
        for k, what in (("numpy_pages_gbps", "a numpy copy per page"),
                        ("torch_gbps", "a torch copy (1 thread)")):
            line("%s batch_get_into at %.0f%% of %s (>= 80%%)"
                 % (human(o["size"]), 100 * o["mmc_gbps"] / o[k], what),
                 o["mmc_gbps"] >= 0.8 * o[k])
    line("batch_exists of 128 keys %.2f us (<= 10 us)" % look["batch_exists_128_us"],
         look["batch_exists_128_us"] <= 10)
    line("exists %.2f us (<= 1 us)" % look["exists_us"], look["exists_us"] <= 1)
    for r in b.rows:
        if r["store"] != "mmc":
            x = ref[(r["size"], r["op"])] / r["pages_per_s"]
            line("%s %s mmc %.1fx %s (>= 10x)" % (human(r["size"]), r["op"], x, r["store"]),
                 x >= 10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny counts: proves every path runs")
    ap.add_argument("--sizes", default="4K,64K,1M", help="page sizes (default 4K,64K,1M)")
    ap.add_argument("--batch", type=int, help="pages per batch (default 128; --quick 32)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                    help="where mmc-agent is (default build/bin)")
    ap.add_argument("--no-redis", action="store_true")
    ap.add_argument("--no-memcached", action="store_true")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    pkg = os.path.join(os.path.dirname(os.path.abspath(args.bin)), "python")
    if os.path.isdir(os.path.join(pkg, "mmc")) and pkg not in sys.path:
        sys.path.insert(0, pkg)
    import numpy as np
    import torch

    import mmc
    if args.quick:
        args.working_set, args.budget, args.lookup_reps = 8 << 20, 24 << 20, 2000
        args.batch = args.batch or 32
    else:
        args.batch = args.batch or 128
        args.working_set, args.budget, args.lookup_reps = 256 << 20, 6 << 30, 200000
    largest_set = max(max(1, args.working_set // (args.batch * s)) * args.batch * s
                      for s in sizes)
    arena = ((largest_set * 3 // 2 + (64 << 20)) >> 21) << 21

    kids = Children()
    work = tempfile.mkdtemp(prefix="mmc-bench-py-work-")
    kids.dirs.append(work)
    for tool, off in (("redis-server", args.no_redis), ("memcached", args.no_memcached)):
        if not off and not shutil.which(tool):
            sys.exit("bench/python.py: %s not installed (scripts/install-deps.sh), "
                     "or pass --no-%s" % (tool, tool.split("-")[0]))
    objects = max(max(1, args.working_set // (args.batch * s)) * args.batch for s in sizes)
    # as many index entries as the arena can ever use (one 4 KiB unit each)
    sock = start_agent(kids, args.bin, arena,
                       min(arena // 4096, max(65536, 2 * objects + 1024)), work)
    r = None if args.no_redis else start_redis(kids, work)
    m = None if args.no_memcached else start_memcached(kids, work)
    with mmc.Client(sock) as c:
        st = c.stats()
        from redis.utils import HIREDIS_AVAILABLE
        meta = {"host": "%s, %d CPUs, %s" % (platform.node(), os.cpu_count(),
                                            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
                "python": "%s %s" % (sys.executable, platform.python_version()),
                "torch": torch.__version__, "numpy": np.__version__,
                "arena_mib": st["arena_bytes"] >> 20,
                "arena_pages": "2 MiB hugepages" if st["hugepages"] else "4 KiB pages",
                "batch": args.batch, "quick": args.quick,
                "redis_parser": "hiredis" if HIREDIS_AVAILABLE else "pure Python"}
        print("bench/python.py: agent %s, redis %s, memcached %s; measuring" %
              (sock, "on" if r else "off", "on" if m else "off"), flush=True)
        b = Bench(args, c, r, m)
        for size in sizes:
            b.run_size(size)
        look = b.lookups()
    report(b, look, meta)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "overhead": b.overhead, "lookups": look,
                       "side_by_side": b.rows, "failed": b.failed}, f, indent=1)
    kids.stop()
    if b.failed:
        print("bench/python.py: wrong bytes from: %s" % ", ".join(b.failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
