"""mmc.memcache_compat: MemCache's DistributedObjectStore on mmc, with
MemCache's verbs, codes and configuration - and code written for MemCache
running on it unchanged."""

import logging
import os
import subprocess
import sys
import time

import pytest
import torch

import mmc
import mmc.memcache_compat as mc
from conftest import PYTHON, np_pattern

PAGE = 16 * 1024


@pytest.fixture
def store(agent, client):           # client: the agent emptied first
    cfg = mc.LocalConfig()
    cfg.meta_service_url = "unix://" + agent.sock
    s = mc.DistributedObjectStore()
    assert s.setup(cfg) == 0
    assert s.init(0) == 0
    yield s
    assert s.close() == 0


def tensor_pages(n, seed, size=PAGE):
    return torch.from_numpy(np_pattern(n * size, seed).reshape(n, size).copy())


def test_put_get_codes(store):
    v = bytearray(np_pattern(4096, "warmup").tobytes())
    assert store.put("k", v) == 0
    assert store.put("k", v) == mc.OBJECT_EXISTS            # -3006
    assert store.is_exist("k") == 1 and store.is_exist("nope") == 0
    assert store.get("k") == v
    assert store.get("nope") == b""
    assert store.remove("k") == 0
    assert store.remove("k") == mc.OBJECT_NOT_FOUND         # -3007
    assert store.put("", b"x") == mc.INVALID_PARAM          # -3000


def test_batches_and_info(store):
    keys = ["b%d" % i for i in range(10)]
    vals = [np_pattern(1000 + i, i).tobytes() for i in range(10)]
    assert store.put_batch(keys, vals) == 0
    assert store.put_batch(keys, vals) == 0                  # existing keys: success
    assert store.get_batch(keys + ["nope"]) == vals + [b""]
    assert store.batch_is_exist(keys[:2] + ["nope"]) == [1, 1, 0]
    info = store.get_key_info("b3")
    assert info.size() == 1003 and info.loc_list() == [0] and info.type_list() == [1]
    assert [i.size() for i in store.batch_get_key_info(["b1", "nope"])] == [1001, 0]
    assert store.get_key_info("nope").loc_list() == []
    assert store.remove_batch(["b0", "nope"]) == [0, mc.OBJECT_NOT_FOUND]
    assert store.remove_all() == 0
    assert store.batch_is_exist(keys) == [0] * 10


def test_zero_copy_pointers(store):
    n = 8
    src = tensor_pages(n, "zc")
    ptrs = [src[i].data_ptr() for i in range(n)]
    keys = ["z%d" % i for i in range(n)]
    assert store.register_buffer(src.data_ptr(), n * PAGE) == 0
    assert store.batch_put_from(keys, ptrs, [PAGE] * n) == [0] * n
    assert store.batch_put_from(keys[:1], ptrs[:1], [PAGE]) == [mc.OBJECT_EXISTS]
    dst = torch.zeros(n, PAGE, dtype=torch.uint8)
    # batch_get_into: 0 per key on success (not a byte count), as MemCache.
    assert store.batch_get_into(keys + ["nope"], [dst[i].data_ptr() for i in range(n)]
                                + [dst[0].data_ptr()], [PAGE] * (n + 1)) \
        == [0] * n + [mc.OBJECT_NOT_FOUND]
    assert torch.equal(dst, src)
    one = torch.zeros(PAGE, dtype=torch.uint8)
    assert store.get_into("z3", one.data_ptr(), PAGE) == 0
    assert torch.equal(one, src[3])
    # A buffer that the value does not fill exactly is refused, not half-read.
    big = torch.zeros(2 * PAGE, dtype=torch.uint8)
    assert store.get_into("z3", big.data_ptr(), 2 * PAGE) == mc.INVALID_PARAM
    assert store.get_into("z3", big.data_ptr(), PAGE - 1) == mc.INVALID_PARAM
    assert store.put_from("single", src[5].data_ptr(), PAGE) == 0
    assert store.get("single") == src[5].numpy().tobytes()
    assert store.unregister_buffer(src.data_ptr(), n * PAGE) == 0


def test_layers(store):
    layers, size, n = 6, 4096, 4
    src = [tensor_pages(layers, "L%d" % i, size) for i in range(n)]
    ptrs = [[t[j].data_ptr() for j in range(layers)] for t in src]
    sizes = [[size] * layers] * n
    keys = ["layered%d" % i for i in range(n)]
    assert store.put_from_layers(keys[0], ptrs[0], sizes[0]) == 0
    assert store.batch_put_from_layers(keys, ptrs, sizes) == [mc.OBJECT_EXISTS, 0, 0, 0]
    assert store.get(keys[1]) == src[1].numpy().tobytes()     # one object per key
    dst = [torch.zeros(layers, size, dtype=torch.uint8) for _ in range(n)]
    dptrs = [[t[j].data_ptr() for j in range(layers)] for t in dst]
    assert store.get_into_layers(keys[0], dptrs[0], sizes[0]) == 0
    assert store.batch_get_into_layers(keys[1:] + ["nope"], dptrs[1:] + [dptrs[0]],
                                       sizes[1:] + [sizes[0]]) == [0, 0, 0, mc.OBJECT_NOT_FOUND]
    for a, b in zip(src, dst):
        assert torch.equal(a, b)


def test_device_directions_refused(store):
    t = torch.zeros(PAGE, dtype=torch.uint8)
    assert store.put_from("dev", t.data_ptr(), PAGE, mc.MmcCopyDirect.SMEMB_COPY_L2G) \
        == mc.INVALID_PARAM
    assert store.batch_get_into(["dev"], [t.data_ptr()], [PAGE],
                                mc.MmcCopyDirect.SMEMB_COPY_G2L) == [mc.INVALID_PARAM]
    assert store.is_exist("dev") == 0


def test_not_initialized():
    s = mc.DistributedObjectStore()
    assert s.put("k", b"v") == mc.CLIENT_NOT_INIT
    assert s.get("k") == b""
    assert s.batch_is_exist(["a", "b"]) == [mc.CLIENT_NOT_INIT] * 2
    assert s.setup("not a config") == mc.INVALID_PARAM


def test_config_file_and_honoured_keys(agent, tmp_path, monkeypatch, caplog):
    conf = tmp_path / "mmc-local.conf"
    conf.write_text("# MemCache's local service config\n"
                    "ock.mmc.meta_service_url = unix://%s\n"
                    "ock.mmc.log_level = info\n"
                    "ock.mmc.local_service.protocol = device_rdma\n"
                    "ock.mmc.local_service.dram.size = 10GB\n"
                    "ock.mmc.tls.enable = false\n"
                    "ock.mmc.client.retry_milliseconds = 0\n" % agent.sock)
    monkeypatch.setenv("MMC_LOCAL_CONFIG_PATH", str(conf))
    monkeypatch.delenv("MMC_SOCKET", raising=False)
    cfg = mc.LocalConfig()
    assert cfg.socket_path() == agent.sock and cfg.protocol == "device_rdma"
    assert cfg.dram_size == "10GB" and cfg.tls_enable is False
    s = mc.DistributedObjectStore()
    with caplog.at_level(logging.INFO, logger="mmc.memcache_compat"):
        assert s.init(0) == 0             # no setup(): the file configures it
    text = caplog.text
    ignored = [r for r in caplog.records if "ignoring" in r.getMessage()]
    assert len(ignored) == 1 and "protocol" in ignored[0].getMessage() \
        and "tls_enable" in ignored[0].getMessage()
    assert "dram_size 10GB asked" in text
    assert s.put("from-file", b"v") == 0 and s.get("from-file") == b"v"
    s.close()
    # JSON works too, and a tcp:// meta service is ignored, not fatal.
    j = tmp_path / "c.json"
    j.write_text('{"meta_service_url": "tcp://10.0.0.1:5000", "dram_size": "64MB"}')
    monkeypatch.setenv("MMC_LOCAL_CONFIG_PATH", str(j))
    monkeypatch.setenv("MMC_SOCKET", agent.sock)
    s2 = mc.DistributedObjectStore()
    assert s2.init(0) == 0 and s2.get("from-file") == b"v"
    s2.close()


def test_no_agent_retries_then_fails(tmp_path):
    cfg = mc.LocalConfig()
    cfg.meta_service_url = str(tmp_path / "none.sock")
    cfg.client_retry_milliseconds = 300
    s = mc.DistributedObjectStore()
    s.setup(cfg)
    t0 = time.monotonic()
    assert s.init(0) == mc.NO_META_SERVICE                 # -3017
    assert time.monotonic() - t0 >= 0.3


def test_reconnects_after_agent_restart(new_agent):
    a = new_agent("64M")
    cfg = mc.LocalConfig()
    cfg.meta_service_url = a.sock
    s = mc.DistributedObjectStore()
    s.setup(cfg)
    assert s.init(0) == 0 and s.put("r", b"1") == 0
    a.kill()
    assert s.put("r2", b"2") == mc.NO_META_SERVICE         # the dead session
    b = new_agent("64M", sock=a.sock)                      # systemctl restart
    assert s.put("r3", b"3") == 0                          # a new session
    assert s.get("r3") == b"3" and s.get("r") == b""       # restarted cold
    s.close()
    b.stop()


def test_install_runs_memcache_code_unchanged(agent, client):
    """SGLang's MemCache backend, in miniature: import memcache_hybrid,
    configure through hasattr/setattr, warm up, then the HiCache flow."""
    saved = sys.modules.pop("memcache_hybrid", None)
    try:
        assert mc.install() is mc
        from memcache_hybrid import DistributedObjectStore, LocalConfig  # noqa: E402
        local = LocalConfig()
        fields = {"meta_service_url": "unix://" + agent.sock, "protocol": "host_shm",
                  "dram_size": "64MB", "not_a_field": 1}
        unknown = [k for k in fields if not hasattr(local, k)]
        for k, v in fields.items():
            if hasattr(local, k):
                setattr(local, k, v)
        assert unknown == ["not_a_field"]
        store = DistributedObjectStore()
        assert store.setup(local) == 0 and store.init(0, True) == 0
        pool = tensor_pages(8, "pool")
        assert store.register_buffer(pool.data_ptr(), pool.numel()) == 0
        warm = bytearray(4 * 1024)
        assert store.put("warmup", warm) == 0 and store.is_exist("warmup") == 1
        assert store.get("warmup") == warm
        keys = ["h%d_0_k" % i for i in range(8)]
        assert store.batch_is_exist(keys) == [0] * 8
        ptrs, sizes = [pool[i].data_ptr() for i in range(8)], [PAGE] * 8
        missing = [i for i, e in enumerate(store.batch_is_exist(keys)) if e != 1]
        assert store.batch_put_from([keys[i] for i in missing], [ptrs[i] for i in missing],
                                    [sizes[i] for i in missing]) == [0] * 8
        back = torch.zeros_like(pool)
        raw = store.batch_get_into(keys, [back[i].data_ptr() for i in range(8)], sizes)
        assert [sz if code == 0 else -abs(code) for code, sz in zip(raw, sizes)] == sizes
        assert torch.equal(back, pool)
        assert store.remove_all() == 0
        store.close()
    finally:
        sys.modules.pop("memcache_hybrid", None)
        if saved is not None:
            sys.modules["memcache_hybrid"] = saved


def test_shim_on_pythonpath(agent):
    code = ("import memcache_hybrid as m; s = m.DistributedObjectStore(); "
            "assert s.init(0) == 0 and s.put('shim', b'x') in (0, -3006); "
            "print(m.__name__)")
    env = dict(os.environ, MMC_SOCKET=agent.sock,
               PYTHONPATH=os.pathsep.join([mc.shim_path(),
                                           os.path.dirname(os.path.dirname(mmc.__file__))]))
    out = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "mmc.memcache_compat"
    printed = subprocess.run([PYTHON, "-m", "mmc.memcache_compat", "--shim-path"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert printed.stdout.strip() == mc.shim_path()
