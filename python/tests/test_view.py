"""mmc.View: zero-copy reads of the arena, and the rule that nothing in
Python may still point at a value once its pin is released."""

import errno
import gc
import warnings

import numpy as np
import pytest
import torch

import mmc
from conftest import pattern


@pytest.fixture
def value(client):
    v = pattern(64 * 1024 + 5, "view")
    client.put("v", v)
    return v


def test_view_reads_in_place(client, value):
    with client.acquire("v") as view:
        assert isinstance(view, mmc.View)
        assert len(view) == view.nbytes == len(value)
        assert view.key == "v"
        assert view[0] == value[0] and view[-1] == value[-1]
        assert view[10:20] == value[10:20] and view[::4097] == value[::4097]
        assert view.tobytes() == value
        m = memoryview(view)
        assert m.readonly and m.nbytes == len(value)
        assert m.tobytes() == value
        m.release()
        a = np.frombuffer(view, dtype=np.uint8)
        assert a.tobytes() == value
        assert not a.flags.writeable
        del a
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # "not writable"
            t = torch.frombuffer(view, dtype=torch.uint8)
        assert bytes(t.numpy()) == value
        del t
    assert view.released


@pytest.mark.parametrize("kind", ["memoryview", "numpy", "torch", "memoryview-of-slice"])
def test_release_refused_while_exported(client, value, kind):
    view = client.acquire("v")
    if kind == "memoryview":
        ref = memoryview(view)
    elif kind == "numpy":
        ref = np.frombuffer(view, dtype=np.uint8)
    elif kind == "torch":
        # torch drops the Py_buffer at once and keeps only its owner: the
        # export token is what still counts the tensor.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ref = torch.frombuffer(view, dtype=torch.uint8)
    else:
        ref = memoryview(view)[100:200]
    with pytest.raises(BufferError):
        view.release()
    with pytest.raises(BufferError):
        with view:
            pass
    assert not view.released
    head = bytes(ref[:16].numpy() if kind == "torch" else ref[:16])
    assert head == (value[100:116] if kind == "memoryview-of-slice" else value[:16])
    del ref
    view.release()
    assert view.released


def test_released_view_refuses_every_use(client, value):
    view = client.acquire("v")
    view.release()
    view.release()                       # a second release does nothing
    for use in (memoryview, bytes, len, lambda v: v[0], lambda v: v[1:3],
                lambda v: np.frombuffer(v, dtype=np.uint8),
                lambda v: v.tobytes()):
        with pytest.raises(ValueError, match="released"):
            use(view)
    with pytest.raises((ValueError, RuntimeError)):   # torch rewraps the ValueError
        torch.frombuffer(view, dtype=torch.uint8)
    with pytest.raises(ValueError):
        with view:
            pass
    assert "released" in repr(view)


def test_view_is_read_only(client, value):
    with client.acquire("v") as view:
        m = memoryview(view)
        with pytest.raises(TypeError):
            m[0] = 1
        with pytest.raises((BufferError, TypeError)):
            client.get_into("v", view)    # not writable
        m.release()


def test_view_pins_against_remove(client):
    v = pattern(8192, "pinned")
    client.put("p", v)
    view = client.acquire("p")
    assert client.remove("p")            # gone for new readers...
    assert client.get("p") is None
    assert view.tobytes() == v           # ...but still intact under the pin
    view.release()


def test_unreleased_view_warns_when_collected(client, value):
    before = client.stats()["pinned_objects"]
    view = client.acquire("v")
    assert client.stats()["pinned_objects"] == before + 1
    with pytest.warns(ResourceWarning, match="unreleased mmc.View"):
        del view
        gc.collect()
    assert client.stats()["pinned_objects"] == before


def test_close_with_views(agent):
    c = mmc.Client(agent.sock)
    c.put("cv", b"z" * 5000)
    idle = c.acquire("cv")
    busy = c.acquire("cv")
    m = memoryview(busy)
    with pytest.raises(BufferError):
        c.close()                        # a buffer still reads the arena
    assert not c.closed and not idle.released
    del m
    c.close()                            # releases the views that export nothing
    assert idle.released and busy.released
    with pytest.raises(ValueError):
        memoryview(idle)


def test_views_limit(client):
    client.put("many", b"m" * 4096)
    views = []
    with pytest.raises(mmc.Error) as e:
        for _ in range(mmc.VIEWS_MAX + 1):
            views.append(client.acquire("many"))
    assert len(views) == mmc.VIEWS_MAX
    assert e.value.errno == errno.ENOBUFS
    for v in views:
        v.release()
    with client.acquire("many") as again:
        assert again.nbytes == 4096


def test_batch_acquire(client):
    keys = ["ba-%d" % i for i in range(5)]
    vals = {k: pattern(4096 * (i + 1) + i, k) for i, k in enumerate(keys) if k != "ba-3"}
    for k, v in vals.items():
        client.put(k, v)
    views = client.batch_acquire(keys)
    assert [v is None for v in views] == [k not in vals for k in keys]
    for k, view in zip(keys, views):
        if view is not None:
            assert view.key == k and view.tobytes() == vals[k]
    assert client.stats()["pinned_objects"] == 4
    for view in views:
        if view is not None:
            view.release()
    assert client.stats()["pinned_objects"] == 0
    assert client.batch_acquire([]) == []
    with pytest.raises(mmc.Error) as e:                 # an empty key fails the call
        client.batch_acquire(["ba-0", ""])
    assert e.value.errno == errno.EINVAL
    assert client.stats()["pinned_objects"] == 0        # ...and keeps no pin
