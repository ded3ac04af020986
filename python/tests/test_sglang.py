"""mmc.sglang.MmcStore, driven as SGLang's cache controller drives a HiCache
L3 backend: two tensor-parallel ranks in two processes, page_first host
pools of torch CPU tensors, an MHA and an MLA model, every page checked
byte for byte."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import mmc
from conftest import PYTHON, np_pattern
from hostpool import MHAPool, MLAPool, chain, check, fill
from mmc.sglang import HiCacheStorageConfig, MmcStore

HERE = Path(__file__).resolve().parent


def config(sock, rank=0, tp=1, mla=False, model="test/llama", **extra):
    return HiCacheStorageConfig(
        tp_rank=rank, tp_size=tp, pp_rank=0, pp_size=1, attn_cp_rank=0, attn_cp_size=1,
        is_mla_model=mla, enable_storage_metrics=True, is_page_first_layout=True,
        model_name=model, extra_config=dict({"interface_v1": 1, "socket": sock}, **extra))


def test_tp2_two_processes_mha_and_mla(new_agent):
    a = new_agent("64M")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE), os.path.dirname(os.path.dirname(mmc.__file__))]))
    ranks = [subprocess.Popen([PYTHON, str(HERE / "sglang_rank.py"), a.sock, str(r), "2"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, text=True)
             for r in (0, 1)]
    try:
        for phase in ("A1", "A2", "B1", "B2", "C"):
            for p in ranks:          # both ranks run the phase at once...
                p.stdin.write(phase + "\n")
                p.stdin.flush()
            for r, p in enumerate(ranks):   # ...and are lined up after it
                line = p.stdout.readline().strip()
                assert line == phase + " ok", "rank %d: %r\n%s" % (
                    r, line, p.stderr.read() if "FAIL" in line or not line else "")
        for p in ranks:
            p.stdin.close()
            assert p.wait(timeout=60) == 0
    finally:
        for p in ranks:
            if p.poll() is None:
                p.kill()
                p.wait()
    with mmc.Client(a.sock) as c:
        keys = chain(8, "tp-test")
        # The key layout SGLang's backends use, with the model tag in front.
        assert c.exists("test-llama_%s_0_k" % keys[0])
        assert c.exists("test-llama_%s_1_v" % keys[7])
        assert c.exists("test-deepseek_%s__k" % keys[3])
        assert not c.exists("test-deepseek_%s_1_k" % keys[3])
        s = c.stats()
        # MHA: 11 pages x 2 ranks x (K, V); MLA: 11 shared pages, rank 0's.
        assert s["objects"] == 11 * 2 * 2 + 11
        assert s["puts"] == s["objects"]          # each object written once...
        assert s["put_exists"] == 0               # ...and never again


@pytest.fixture
def mha(agent, client):
    store = MmcStore(config(agent.sock), {})
    pool = MHAPool(8)
    store.register_mem_pool_host(pool)
    yield store, pool
    store.close()


def test_batch_set_v1_writes_only_missing_pages(mha, client):
    store, pool = mha
    keys = chain(6, "missing")
    for s, k in enumerate(keys):
        fill(pool, s, "m", k, "r0")
    assert store.batch_set_v1(keys[:2], pool.indices([0, 1])) == [True, True]
    before = client.stats()
    assert store.batch_set_v1(keys, pool.indices(range(6))) == [True] * 6
    st = client.stats()
    assert st["objects"] == 12
    assert st["puts"] - before["puts"] == 8           # only the 4 missing pages' K and V
    assert st["put_exists"] == before["put_exists"]   # nothing written twice
    fresh = MHAPool(8)
    store.register_mem_pool_host(fresh)
    assert store.batch_get_v1(keys, fresh.indices(range(6))) == [True] * 6
    assert all(check(fresh, s, "m", k, "r0") for s, k in enumerate(keys))


def test_partial_pages_and_prefix(mha, client):
    store, pool = mha
    keys = chain(4, "partial")
    for s, k in enumerate(keys):
        fill(pool, s, "p", k, "r0")
    assert store.batch_set_v1(keys, pool.indices(range(4))) == [True] * 4
    # Page 2 loses its V object: pages 0-1 remain a prefix; page 3 is there
    # but past the gap.
    assert client.remove("test-llama_%s_0_v" % keys[2])
    assert store.batch_exists(keys) == 2
    fresh = MHAPool(8)
    store.register_mem_pool_host(fresh)
    assert store.batch_get_v1(keys, fresh.indices(range(4))) == [True, True, False, True]
    assert store.exists(keys[3]) and not store.exists(keys[2])


def test_size_mismatch_is_a_miss_not_wrong_bytes(agent, client):
    keys = chain(2, "geometry")
    wide = MmcStore(config(agent.sock, model_tag="same"), {})
    pool = MHAPool(4, head_dim=64)
    wide.register_mem_pool_host(pool)
    for s, k in enumerate(keys):
        fill(pool, s, "g", k, "r0")
    assert wide.batch_set_v1(keys, pool.indices([0, 1])) == [True, True]
    # Another engine, same tag, another TP size / head count: other page sizes.
    narrow = MmcStore(config(agent.sock, model_tag="same"), {})
    small = MHAPool(4, head_dim=32)
    narrow.register_mem_pool_host(small)
    assert narrow.batch_get_v1(keys, small.indices([0, 1])) == [False, False]
    big = MHAPool(4, head_dim=128)
    narrow.register_mem_pool_host(big)
    assert narrow.batch_get_v1(keys, big.indices([0, 1])) == [False, False]
    wide.close()
    narrow.close()


def test_model_tags_keep_models_apart(agent, client):
    keys = chain(1, "tags")
    a = MmcStore(config(agent.sock, model="org/model-a"), {})
    b = MmcStore(config(agent.sock, model="org/model-b"), {})
    raw = MmcStore(config(agent.sock, model="org/model-a", model_tag=""), {})
    pa = MHAPool(2)
    for st in (a, b, raw):
        st.register_mem_pool_host(pa)
    fill(pa, 0, "t", keys[0], "a")
    assert a.batch_set_v1(keys, pa.indices([0])) == [True]
    assert a.batch_exists(keys) == 1
    assert b.batch_exists(keys) == 0 and raw.batch_exists(keys) == 0
    assert client.exists("org-model-a_%s_0_k" % keys[0])
    assert a.object_keys(["h"]) == ["org-model-a_h_0_k", "org-model-a_h_0_v"]
    assert raw.object_keys(["h"]) == ["h_0_k", "h_0_v"]
    mla = MmcStore(config(agent.sock, mla=True, model_tag=""), {})
    assert mla.object_keys(["h"]) == ["h__k"]
    long = MmcStore(config(agent.sock, model="/models/" + "x" * 300), {})
    assert len(long.object_keys(["0" * 64])[0]) <= mmc.KEY_MAX
    for st in (a, b, raw, mla, long):
        st.close()


def test_flat_page_interface(agent, client):
    """Without interface_v1 SGLang moves flat page tensors."""
    store = MmcStore(config(agent.sock, interface_v1=0), {})
    keys = chain(3, "flat")
    pages = [torch.from_numpy(np_pattern(8192, k)) for k in keys]
    assert store.batch_exists(keys) == 0
    assert store.batch_set(keys, pages) is True
    assert store.batch_set(keys, pages) is True           # already there
    assert store.batch_exists(keys) == 3 and store.exists(keys[1])
    dst = [torch.zeros(8192, dtype=torch.uint8) for _ in keys]
    got = store.batch_get(keys, dst)
    assert all(g is d for g, d in zip(got, dst))
    assert all(torch.equal(d, p) for d, p in zip(dst, pages))
    assert store.batch_get(keys + chain(1, "absent"), dst + [torch.zeros(8192,
                                                             dtype=torch.uint8)])[3] is None
    one = store.get(keys[0])
    assert torch.equal(one, pages[0])
    assert store.get(chain(1, "nope")[0]) is None
    ptr_dst = torch.zeros(8192, dtype=torch.uint8)
    assert store.get(keys[2], ptr_dst.data_ptr(), 8192) is True
    assert torch.equal(ptr_dst, pages[2])
    src = torch.from_numpy(np_pattern(8192, "set-one"))
    assert store.set("single", src) is True
    assert torch.equal(store.get("single"), src)
    store.clear()
    assert store.batch_exists(keys) == 0
    store.close()


def test_survives_agent_restart(new_agent):
    a = new_agent("64M")
    store = MmcStore(config(a.sock), {})
    pool = MHAPool(4)
    store.register_mem_pool_host(pool)
    keys = chain(2, "restart")
    for s, k in enumerate(keys):
        fill(pool, s, "r", k, "r0")
    assert store.batch_set_v1(keys, pool.indices([0, 1])) == [True, True]
    a.kill()
    # libshm notices the hangup on its watcher thread, a moment after the
    # agent is reaped (lookups until then still read the intact arena).
    deadline = time.monotonic() + 1.0
    while store.batch_exists(keys) and time.monotonic() < deadline:
        pass
    # The engine keeps running: misses and failed backups, no exception.
    assert store.batch_exists(keys) == 0
    assert store.batch_get_v1(keys, pool.indices([0, 1])) == [False, False]
    assert store.batch_set_v1(keys, pool.indices([0, 1])) == [False, False]
    b = new_agent("64M", sock=a.sock)
    assert store.batch_exists(keys) == 0                  # restarted cold
    assert store.batch_set_v1(keys, pool.indices([0, 1])) == [True, True]
    assert store.batch_exists(keys) == 2
    store.close()
    b.stop()


def test_no_agent_fails_loudly(tmp_path):
    with pytest.raises(RuntimeError, match="mmc-agent"):
        MmcStore(config(str(tmp_path / "none.sock")), {})


def test_unsupported_layout_and_split_heads(agent):
    store = MmcStore(config(agent.sock), {})
    pool = MHAPool(2)
    pool.layout = "layer_first"
    with pytest.raises(ValueError, match="page_first"):
        store.register_mem_pool_host(pool)
    store.close()
    cfg = config(agent.sock)
    cfg.should_split_heads = True
    with pytest.raises(ValueError, match="split"):
        MmcStore(cfg, {})


def test_loads_like_sglangs_dynamic_backend(agent):
    """What StorageBackendFactory._create_dynamic_backend does."""
    import importlib
    extra = {"backend_name": "mmc", "module_path": "mmc.sglang", "class_name": "MmcStore",
             "interface_v1": 1, "socket": agent.sock}
    cls = getattr(importlib.import_module(extra["module_path"]), extra["class_name"])
    from mmc.sglang import HiCacheStorage
    assert issubclass(cls, HiCacheStorage)
    store = cls(config(agent.sock, **extra), {})
    store.register_mem_pool_host(MLAPool(2))
    assert store.interface_v1 and store.batch_exists(chain(1, "dyn")) == 0
    store.close()
    assert sys.modules["mmc.sglang"].HAVE_SGLANG is False   # not installable here
