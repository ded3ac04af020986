"""Two agents in one pool (loopback, static peers): what an engine on node B
sees of the prefix an engine on node A wrote - SGLang's HiCache backend
(MmcStore) end to end, every page checked byte for byte."""

import shutil
import socket
import tempfile
import time

import pytest

import mmc
from conftest import Agent, pattern
from hostpool import MHAPool, chain, check, fill
from mmc.sglang import HiCacheStorageConfig, MmcStore


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def config(sock):
    return HiCacheStorageConfig(
        tp_rank=0, tp_size=1, pp_rank=0, pp_size=1, attn_cp_rank=0, attn_cp_size=1,
        is_mla_model=False, enable_storage_metrics=True, is_page_first_layout=True,
        model_name="test/llama", extra_config={"interface_v1": 1, "socket": sock})


def two_agents(arena_a="64M", conf_a=""):
    """Agents a and b in one pool on loopback (static peers, tls off), each
    seeing the other up; a gets arena_a and conf_a besides."""
    ports = {"a": free_port(), "b": free_port()}
    peers = ", ".join("%s@127.0.0.1:%d" % (n, p) for n, p in ports.items())
    agents = {}
    try:
        for n, p in ports.items():
            agents[n] = Agent(arena_a if n == "a" else "64M",
                              conf_text=(conf_a if n == "a" else "") +
                              "[cluster]\nnode_id = %s\nlisten = 127.0.0.1:%d\n"
                              "peers = %s\ntls = off\ntimeout_ms = 2000\n" % (n, p, peers))
        for a in agents.values():          # bounded: each sees the other up
            with mmc.Client(a.sock) as c:
                end = time.monotonic() + 20
                while c.stats()["peers_up"] != 1:
                    assert time.monotonic() < end, a.read_log()
                    time.sleep(0.05)
        yield agents["a"], agents["b"]
        for a in agents.values():
            assert a.stop() == 0, a.read_log()
    finally:
        for a in agents.values():
            a.cleanup()


@pytest.fixture(scope="module")
def pool():
    yield from two_agents()


def test_a_prefix_written_on_a_is_bs_own(pool):
    a, b = pool
    keys = chain(6, "pool-prefix")
    on_a = MmcStore(config(a.sock), {})
    wpool = MHAPool(8)
    on_a.register_mem_pool_host(wpool)
    for s, k in enumerate(keys):
        fill(wpool, s, "pool", k, "r0")
    assert on_a.batch_set_v1(keys, wpool.indices(range(6))) == [True] * 6

    on_b = MmcStore(config(b.sock), {})
    rpool = MHAPool(8)
    on_b.register_mem_pool_host(rpool)
    assert on_b.batch_exists(keys) == 6          # the whole prefix, from A's node
    with mmc.Client(b.sock) as c:
        k0 = "test-llama_%s_0_k" % keys[0]
        assert c.exists(k0) and not c.exists_here(k0)
        before = c.stats()["remote_gets"]
        assert on_b.batch_get_v1(keys, rpool.indices(range(6))) == [True] * 6
        assert all(check(rpool, s, "pool", k, "r0") for s, k in enumerate(keys))
        fetched = c.stats()["remote_gets"] - before
        assert fetched == 12                     # K and V of 6 pages, once each
        assert c.exists_here(k0)                 # now local...
        again = MHAPool(8)
        on_b.register_mem_pool_host(again)
        assert on_b.batch_get_v1(keys, again.indices(range(6))) == [True] * 6
        assert all(check(again, s, "pool", k, "r0") for s, k in enumerate(keys))
        assert c.stats()["remote_gets"] - before == fetched   # ...no second fetch
    on_a.close()
    on_b.close()


def test_a_gap_on_a_ends_bs_prefix(pool):
    a, b = pool
    keys = chain(4, "pool-gap")
    with mmc.Client(a.sock) as c:
        for i, k in enumerate(keys):
            if i != 2:                           # page 2 missing everywhere
                for part in "kv":
                    c.put("test-llama_%s_0_%s" % (k, part), b"x" * 4096)
    on_b = MmcStore(config(b.sock), {})
    assert on_b.batch_exists(keys) == 2
    on_b.close()


def test_batch_reads_fetch_as_one_pipeline(pool):
    """batch_get and batch_acquire on B of values only A holds: each value
    byte-exact, fetched once, then local."""
    a, b = pool
    vals = {"bulk-%d" % i: pattern(256 * 1024 + i, "bulk-%d" % i) for i in range(8)}
    with mmc.Client(a.sock) as ca:
        for k, v in vals.items():
            ca.put(k, v)
    keys = list(vals)
    with mmc.Client(b.sock) as c:
        before = c.stats()["remote_hits"]
        got = c.batch_get(keys[:4] + ["bulk-none"])
        assert got[:4] == [vals[k] for k in keys[:4]] and got[4] is None
        views = c.batch_acquire(keys[4:] + ["bulk-none"])
        assert views[-1] is None
        for k, view in zip(keys[4:], views):
            assert view.tobytes() == vals[k]
            view.release()
        assert c.stats()["remote_hits"] - before == 8
        assert all(c.exists_here(k) for k in keys)


def test_batch_exists_packs_keys_of_every_length(pool):
    """batch_exists on B of keys only A's node knows, 1 to 256 bytes long,
    mixed with absent ones: libshm packs them into LOOKUPV requests (up to
    64 keys, or as many as fit in 256 bytes; a 256-byte key goes alone) -
    every key's answer must come back to that key."""
    a, b = pool
    lengths = [1, 2, 3, 60, 70, 127, 128, 200, 253, 254, 255, 256]
    present = ["%d" % i for i in range(100)]                    # 64 a request
    present += [("L%d-" % n).ljust(n, "p")[:n] for n in lengths if n > 3]
    present += ["e%d-" % i + "h" * 66 for i in range(100)]       # engine-like, 70 bytes
    absent = ["a%d" % i for i in range(60)]
    absent += [("N%d-" % n).ljust(n, "q")[:n] for n in lengths if n > 3]
    with mmc.Client(a.sock) as ca:
        for k in present:
            ca.put(k, b"v")
    query = [k for pair in zip(present, absent) for k in pair]
    query += present[len(absent):]
    want = [k in set(present) for k in query]
    with mmc.Client(b.sock) as c:
        asked = [k for k in query if not c.exists_here(k)]
        assert len(asked) > 150              # most are only on A's node
        assert c.batch_exists_each(query) == want
        assert c.batch_exists_each(list(reversed(query))) == list(reversed(want))
        assert c.batch_exists(present) == len(present)
        assert c.batch_exists(absent[:1] + present) == 0     # a gap at the start


@pytest.fixture(scope="module")
def pool_ssd():
    """A (32 MiB of DRAM, an SSD tier) and B (DRAM only) in one pool."""
    tier_dir = tempfile.mkdtemp(prefix="mmc-pytest-tier-", dir="/var/tmp")
    try:
        yield from two_agents("32M", "[ssd]\npath = %s/tier\nsize = 256M\n"
                              "region_size = 8M\n" % tier_dir)
    finally:
        shutil.rmtree(tier_dir, ignore_errors=True)


def test_a_page_on_as_ssd_is_a_hit_on_b(pool_ssd):
    """Pages A's DRAM let go to its SSD tier are still the pool's: B's
    exists counts them and B's get brings them, byte for byte, read back
    from A's SSD for B."""
    a, b = pool_ssd
    vals = {"ssd-%d" % i: pattern((1 << 20) + i, "ssd-%d" % i) for i in range(48)}
    with mmc.Client(a.sock) as ca:
        for k, v in vals.items():
            ca.put(k, v)
        st = ca.stats()
        assert st["demotions"] >= 16 and st["objects"] < 48, st   # most only on SSD
        promoted = st["promotions"]
    keys = list(vals)
    with mmc.Client(b.sock) as c:
        assert c.batch_exists(keys) == 48               # on A's SSD counts too
        before = c.stats()["remote_hits"]
        got = c.batch_get(keys[:36])                 # past the pin budget: in turns
        assert got == [vals[k] for k in keys[:36]]
        views = c.batch_acquire(keys[36:])           # 12 MiB: within it
        for k, view in zip(keys[36:], views):
            assert view is not None and view.tobytes() == vals[k]
            view.release()
        assert c.stats()["remote_hits"] - before == 48
        assert all(c.exists_here(k) for k in keys)
    with mmc.Client(a.sock) as ca:
        assert ca.stats()["promotions"] - promoted >= 16   # read back for B
