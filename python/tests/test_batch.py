"""Batch, gather and scatter calls: the shapes an engine moves pages in,
byte for byte, and the argument errors it can make."""

import errno

import numpy as np
import pytest
import torch

import mmc
from conftest import np_pattern

PAGE = 64 * 1024


def pages_tensor(n, size, seed):
    """n pages of size bytes each, distinct, as one uint8 CPU tensor."""
    return torch.from_numpy(np_pattern(n * size, seed).reshape(n, size).copy())


def ptrs_of(t):
    return [t[i].data_ptr() for i in range(t.shape[0])]


def test_batch_exists_prefix_and_each(client):
    keys = ["e%02d" % i for i in range(20)]
    for i in (0, 1, 2, 3, 5, 6):
        client.put(keys[i], b"x" * 10)
    assert client.batch_exists(keys) == 4               # gap at 4
    assert client.batch_exists(keys[5:]) == 2
    assert client.batch_exists(keys[7:]) == 0
    assert client.batch_exists([]) == 0
    assert client.batch_exists_each(keys[:8]) == [True] * 4 + [False, True, True, False]
    assert client.batch_exists(("e00", b"e01")) == 2   # tuples, bytes keys


def test_batch_put_from_get_into_torch(client):
    n = 128
    src = pages_tensor(n, PAGE, "b")
    keys = ["page%03d" % i for i in range(n)]
    assert client.batch_put_from(keys, ptrs_of(src), [PAGE] * n) == [0] * n
    # Again: every key is already there.
    assert client.batch_put_from(keys, ptrs_of(src), [PAGE] * n) == [-errno.EEXIST] * n
    dst = torch.zeros(n + 1, PAGE, dtype=torch.uint8)
    got = client.batch_get_into(keys + ["absent"], ptrs_of(dst), [PAGE] * (n + 1))
    assert got == [PAGE] * n + [-errno.ENOENT]
    assert torch.equal(dst[:n], src)
    assert int(dst[n].sum()) == 0
    # Too little room for one key: that key fails, the others are read.
    dst2 = torch.zeros(3, PAGE, dtype=torch.uint8)
    got = client.batch_get_into(keys[:3], ptrs_of(dst2), [PAGE, PAGE - 1, PAGE])
    assert got == [PAGE, -errno.EMSGSIZE, PAGE]
    assert torch.equal(dst2[0], src[0]) and torch.equal(dst2[2], src[2])


def test_batch_put_get_buffers(client):
    vals = [np_pattern(1000 + 37 * i, i).tobytes() for i in range(50)]
    keys = ["bb%d" % i for i in range(50)]
    assert client.batch_put(keys, vals) == [0] * 50
    got = client.batch_get(keys[:10] + ["nope"] + keys[10:])
    assert got[:10] == vals[:10] and got[10] is None and got[11:] == vals[10:]
    # More keys than one pinning chunk, numpy values.
    arrs = [np_pattern(512, "c%d" % i) for i in range(300)]
    keys2 = ["cc%d" % i for i in range(300)]
    assert client.batch_put(keys2, arrs) == [0] * 300
    assert client.batch_get(keys2) == [a.tobytes() for a in arrs]


def test_batch_remove(client):
    client.batch_put(["r1", "r2"], [b"1", b"2"])
    assert client.batch_remove(["r1", "nope", "r2"]) == [0, -errno.ENOENT, 0]
    assert client.batch_exists_each(["r1", "r2"]) == [False, False]


def test_gather_scatter(client):
    layers = 8
    src = pages_tensor(layers, 4096, "layers")             # one page over 8 buffers
    assert client.putv("kv", ptrs_of(src), [4096] * layers) is True
    assert client.putv("kv", ptrs_of(src), [4096] * layers) is False
    assert client.get("kv") == src.numpy().tobytes()       # one object, in order
    dst = torch.zeros(layers, 4096, dtype=torch.uint8)
    assert client.getv("kv", ptrs_of(dst), [4096] * layers) == layers * 4096
    assert torch.equal(dst, src)
    assert client.getv("nope", ptrs_of(dst), [4096] * layers) == 0
    with pytest.raises(mmc.Error) as e:
        client.getv("kv", ptrs_of(dst)[:2], [4096, 4096])
    assert e.value.errno == errno.EMSGSIZE


def test_batch_gather_scatter(client):
    n, layers, size = 16, 4, 2048
    src = [pages_tensor(layers, size, "g%d" % i) for i in range(n)]
    keys = ["gv%d" % i for i in range(n)]
    res = client.batch_putv(keys, [ptrs_of(t) for t in src], [[size] * layers] * n)
    assert res == [0] * n
    dst = [torch.zeros(layers, size, dtype=torch.uint8) for _ in range(n)]
    res = client.batch_getv(keys + ["nope"], [ptrs_of(t) for t in dst] + [ptrs_of(dst[0])],
                            [[size] * layers] * (n + 1))
    assert res == [layers * size] * n + [-errno.ENOENT]
    for a, b in zip(src, dst):
        assert torch.equal(a, b)
    # 255 pieces is the most one object may have.
    one = np.zeros(255, dtype=np.uint8) + 7
    base = one.ctypes.data
    assert client.putv("max", [base + i for i in range(255)], [1] * 255) is True
    assert client.get("max") == one.tobytes()
    with pytest.raises(ValueError, match="IOV_MAX"):
        client.putv("over", [base] * 256, [1] * 256)
    with pytest.raises(ValueError, match="IOV_MAX"):
        client.batch_getv(["x"], [[]], [[]])


def test_batch_argument_errors(client):
    with pytest.raises(ValueError, match="BATCH_MAX"):
        client.batch_exists(["k"] * (mmc.BATCH_MAX + 1))
    with pytest.raises(ValueError, match="BATCH_MAX"):
        client.batch_get_into(["k"] * (mmc.BATCH_MAX + 1), [1] * (mmc.BATCH_MAX + 1),
                              [1] * (mmc.BATCH_MAX + 1))
    with pytest.raises(ValueError, match="ptrs has 1 items, keys has 2"):
        client.batch_get_into(["a", "b"], [4096], [1, 1])
    with pytest.raises(ValueError, match=r"sizes\[1\] is negative"):
        client.batch_put_from(["a", "b"], [4096, 4096], [1, -1])
    with pytest.raises(ValueError, match=r"ptrs\[0\] is 0"):
        client.batch_put_from(["a"], [0], [10])
    with pytest.raises(TypeError, match=r"keys\[1\]"):
        client.batch_exists(["a", 3])
    with pytest.raises(TypeError, match="sequence"):
        client.batch_exists("not a list of keys")
    with pytest.raises(TypeError):
        client.batch_get_into(["a"], ["0x1000"], [1])
    with pytest.raises(TypeError):
        client.batch_put(["a"], [42])
    with pytest.raises(ValueError, match="values has 1 items"):
        client.batch_put(["a", "b"], [b"x"])
    # numpy integers are fine as pointers and sizes (torch's arithmetic gives them).
    buf = np.zeros(16, dtype=np.uint8)
    client.put("np-int", b"0123456789abcdef")
    assert client.batch_get_into(["np-int"], [np.uint64(buf.ctypes.data)], [np.int64(16)]) \
        == [16]
    assert buf.tobytes() == b"0123456789abcdef"


def test_bad_keys_in_batches_fail_alone(client):
    src = np.frombuffer(b"v" * 100, dtype=np.uint8)
    res = client.batch_put_from(["ok", "", "x" * 300], [src.ctypes.data] * 3, [100] * 3)
    assert res == [0, -errno.EINVAL, -errno.ENAMETOOLONG]
    assert client.batch_exists_each(["ok", "", "x" * 300]) == [True, False, False]


def test_batch_get_past_the_pin_budget(client):
    """batch_get pins values to copy them; the session may pin a quarter of
    the arena (32 MiB of 128 MiB).  A batch of 48 MiB is read in turns as
    pins are released, every value byte for byte; batch_acquire of the
    same keys, which would hold them all, is refused with EDQUOT."""
    vals = {"big-%d" % i: np_pattern((1 << 20) + i, 1000 + i).tobytes() for i in range(48)}
    for k, v in vals.items():
        client.put(k, v)
    keys = list(vals)
    assert client.batch_get(keys + ["nope"]) == [vals[k] for k in keys] + [None]
    with pytest.raises(mmc.Error) as e:
        client.batch_acquire(keys)
    assert e.value.errno == errno.EDQUOT
