"""mmc.Client on one key: round trips of bytes, numpy arrays and torch
tensors, byte for byte; what a miss, an existing key and misuse look like."""

import errno

import numpy as np
import pytest
import torch

import mmc
from conftest import np_pattern, pattern


@pytest.mark.parametrize("size", [1, 4095, 4096, 65536, 1 << 20, (4 << 20) + 3])
def test_bytes_round_trip(client, size):
    v = pattern(size, "bytes")
    assert client.put("k", v) is True
    assert client.get("k") == v
    buf = bytearray(size + 100)
    assert client.get_into("k", buf) == size
    assert bytes(buf[:size]) == v
    assert buf[size:] == bytearray(100)   # nothing written past the value


def test_buffer_kinds(client):
    data = pattern(10000, "kinds")
    values = {"bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data),
              "slice": memoryview(data)[100:9000]}
    for k, v in values.items():
        assert client.put(k, v)
        assert client.get(k) == bytes(v)


def test_numpy_round_trip(client):
    a = np.arange(250000, dtype=np.float32).reshape(500, 500) * 0.5
    assert client.put("np", a)
    out = np.empty_like(a)
    assert client.get_into("np", out) == a.nbytes
    assert out.tobytes() == a.tobytes()
    assert np.frombuffer(client.get("np"), dtype=np.float32).reshape(500, 500).tobytes() \
        == a.tobytes()
    # Fortran order is contiguous too: stored as its memory lays out.
    f = np.asfortranarray(a[:100, :100])
    assert client.put("npf", f)
    assert client.get("npf") == f.tobytes(order="A")


def test_numpy_not_contiguous_refused(client):
    a = np.arange(100, dtype=np.int64)[::2]
    with pytest.raises((BufferError, ValueError)):
        client.put("x", a)


def test_torch_round_trip(client):
    g = torch.Generator().manual_seed(7)
    t = torch.randn(64, 1024, generator=g, dtype=torch.float32).to(torch.bfloat16)
    nbytes = t.numel() * t.element_size()
    # A CPU tensor as a buffer, and as a raw address.
    assert client.put("t", t)
    assert client.put_from("t2", t.data_ptr(), nbytes)
    for k in ("t", "t2"):
        out = torch.empty_like(t)
        assert client.get_into_ptr(k, out.data_ptr(), nbytes) == nbytes
        assert torch.equal(out.view(torch.int16), t.view(torch.int16))
        out2 = torch.zeros_like(t)
        assert client.get_into(k, out2) == nbytes
        assert torch.equal(out2.view(torch.int16), t.view(torch.int16))


def test_existing_key_is_success(client):
    assert client.put("k", b"first") is True
    assert client.put("k", b"second, longer") is False    # immutable: still "first"
    src = np.frombuffer(b"third", dtype=np.uint8)
    assert client.put_from("k", src.ctypes.data, src.nbytes) is False
    assert client.get("k") == b"first"


def test_miss_is_not_an_error(client):
    assert client.get("absent") is None
    assert client.acquire("absent") is None
    assert client.get_into("absent", bytearray(10)) == 0
    assert client.get_into_ptr("absent", 0, 0) == 0
    assert client.exists("absent") is False
    assert client.remove("absent") is False


def test_keys_str_and_bytes(client):
    assert client.put("päge/ключ", b"unicode")
    assert client.get("päge/ключ".encode()) == b"unicode"    # str keys are UTF-8
    binary = bytes(range(256))
    assert client.put(binary, b"binary key")
    assert client.get(binary) == b"binary key"
    assert client.put("k" * mmc.KEY_MAX, b"longest")
    with pytest.raises(mmc.Error) as e:
        client.put("k" * (mmc.KEY_MAX + 1), b"too long")
    assert e.value.errno == errno.ENAMETOOLONG


def test_exists_remove_clear(client):
    for i in range(5):
        client.put("r%d" % i, pattern(100, i))
    assert client.exists("r3")
    assert client.remove("r3") is True
    assert not client.exists("r3")
    assert client.get("r3") is None
    assert client.get("r4") == pattern(100, 4)
    client.clear()
    assert not any(client.exists("r%d" % i) for i in range(5))


def test_stats(client):
    before = client.stats()
    client.put("s", b"x" * 5000)
    client.get("s")
    client.get("nope")
    after = client.stats()
    assert after["objects"] == before["objects"] + 1
    assert after["arena_bytes"] >= 64 << 20
    assert after["client"]["puts"] == before["client"]["puts"] + 1
    assert after["client"]["hits"] == before["client"]["hits"] + 1
    assert after["client"]["misses"] == before["client"]["misses"] + 1


def test_errors_are_oserror_with_libshm_message(client):
    with pytest.raises(mmc.Error) as e:
        client.put("", b"x")
    assert isinstance(e.value, OSError)
    assert e.value.errno == errno.EINVAL
    assert e.value.strerror.startswith(mmc.strerror(-errno.EINVAL))
    with pytest.raises(mmc.Error) as e:
        client.put("zero", b"")
    assert e.value.errno == errno.EINVAL
    client.put("big", b"y" * 1000)
    with pytest.raises(mmc.Error) as e:
        client.get_into("big", bytearray(999))
    assert e.value.errno == errno.EMSGSIZE
    assert "1000" in e.value.strerror


def test_wrong_types_and_sizes(client):
    with pytest.raises(TypeError, match="str or bytes"):
        client.get(12)
    with pytest.raises(TypeError, match="str or bytes"):
        client.put(bytearray(b"k"), b"v")
    with pytest.raises(TypeError):
        client.put("k", 42)
    with pytest.raises(TypeError):
        client.put("k")
    with pytest.raises((TypeError, BufferError)):
        client.get_into("k", b"read-only bytes")
    with pytest.raises(ValueError, match="contiguous"):
        client.put("k", torch.zeros(8, 8).t())
    with pytest.raises(ValueError, match="negative"):
        client.put_from("k", 4096, -1)
    with pytest.raises(ValueError, match="negative"):
        client.get_into_ptr("k", -5, 10)
    with pytest.raises(ValueError, match="NULL"):
        client.put_from("k", 0, 10)
    with pytest.raises(TypeError):
        client.put_from("k", 1.5, 10)
    with pytest.raises(TypeError, match="unexpected keyword"):
        client.put("k", value=b"v", colour="red")
    assert client.put(key="kw", value=b"keywords work") is True
    assert client.get("kw") == b"keywords work"


def test_close_and_context_manager(agent):
    c = mmc.Client(agent.sock)
    assert not c.closed and agent.sock in repr(c)
    c.close()
    c.close()                      # twice is fine
    assert c.closed
    with pytest.raises(ValueError, match="closed"):
        c.get("k")
    with mmc.Client(agent.sock) as c2:
        assert c2.put("cm", b"v") in (True, False)
    assert c2.closed


def test_no_agent(tmp_path):
    with pytest.raises(mmc.Error) as e:
        mmc.Client(str(tmp_path / "nobody.sock"))
    assert e.value.errno == errno.ECONNREFUSED


def test_socket_from_environment(agent, monkeypatch):
    monkeypatch.setenv("MMC_SOCKET", agent.sock)
    with mmc.Client() as c:
        assert c.socket == agent.sock
        v = np_pattern(3000, "env").tobytes()
        c.put("env", v)
        assert c.get("env") == v
