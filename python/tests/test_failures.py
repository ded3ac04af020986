"""What goes wrong in production: the agent dies or stalls mid-call, a
worker forks, another thread closes the client.  Each must end in a clear
exception or a correct result - never a hang, a crash or a shared session."""

import errno
import os
import platform
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import torch

import mmc
from conftest import np_pattern

MIB = 1 << 20


def test_agent_killed_mid_call(new_agent):
    a = new_agent("96M")
    c = mmc.Client(a.sock)
    n = 24
    src = torch.from_numpy(np_pattern(n * MIB, "kill").reshape(n, MIB).copy())
    keys = ["big%d" % i for i in range(n)]
    assert c.batch_put_from(keys, [src[i].data_ptr() for i in range(n)], [MIB] * n) == [0] * n
    dst = torch.zeros(n, MIB, dtype=torch.uint8)
    wkeys = ["w%d" % i for i in range(8)]
    running = threading.Barrier(3)
    errors = {}

    def reader():
        try:
            got = c.batch_get_into(keys, [dst[i].data_ptr() for i in range(n)], [MIB] * n)
            assert got == [MIB] * n and torch.equal(dst, src)
            running.wait()
            while True:
                c.batch_get_into(keys, [dst[i].data_ptr() for i in range(n)], [MIB] * n)
        except mmc.Error as e:
            errors["reader"] = (time.monotonic(), e.errno)

    def writer():
        try:
            running.wait()
            while True:
                c.batch_remove(wkeys)
                c.batch_put_from(wkeys, [src[i].data_ptr() for i in range(8)], [MIB] * 8)
        except mmc.Error as e:
            errors["writer"] = (time.monotonic(), e.errno)

    threads = [threading.Thread(target=f) for f in (reader, writer)]
    for t in threads:
        t.start()
    running.wait()
    killed = time.monotonic()
    os.kill(a.proc.pid, signal.SIGKILL)
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "a call hung after the agent died"
    for who in ("reader", "writer"):
        when, err = errors[who]
        assert err == errno.ENOTCONN, (who, errno.errorcode.get(err))
        assert when - killed < 1.0, "%s noticed after %.2f s" % (who, when - killed)
    # Every later call raises too, lookups included.
    for call in (lambda: c.get(keys[0]), lambda: c.exists(keys[0]),
                 lambda: c.batch_exists(keys), lambda: c.put("new", b"x"),
                 lambda: c.acquire(keys[0])):
        with pytest.raises(mmc.Error) as e:
            call()
        assert e.value.errno == errno.ENOTCONN
    c.close()


def _syscall_of(tid):
    """The system call a thread of this process is blocked in, or None."""
    try:
        with open("/proc/self/task/%d/syscall" % tid) as f:
            first = f.read().split()[0]
        return int(first) if first.lstrip("-").isdigit() else None
    except OSError:
        return None


POLL_SYSCALLS = {"x86_64": (7, 271), "aarch64": (73,)}.get(platform.machine(), ())


@pytest.mark.skipif(not POLL_SYSCALLS, reason="poll syscall numbers unknown here")
def test_gil_released_while_waiting_and_deferred_close(new_agent):
    """A put waits for a stopped agent: the waiting thread must be blocked
    in poll() inside libshm while this thread runs Python code (so the GIL
    is released for the wait), and close() meanwhile must not pull the
    session from under it."""
    a = new_agent("64M")
    c = mmc.Client(a.sock)
    watcher = mmc.Client(a.sock)
    clients_before = watcher.stats()["clients"]
    # Whatever happens, the agent runs again within 20 s.
    guard = subprocess.Popen(["sh", "-c", "sleep 20; kill -CONT %d" % a.proc.pid])
    result = {}
    tid = []

    def putter():
        tid.append(threading.get_native_id())
        result["put"] = c.put("during-stop", b"p" * 100000)

    os.kill(a.proc.pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=putter)
        t.start()
        seen = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "put" not in result:
            if tid and _syscall_of(tid[0]) in POLL_SYSCALLS:
                seen = _syscall_of(tid[0])
                break
            time.sleep(0.001)
        assert seen is not None, "the waiting thread held the GIL (or never waited)"
        assert "put" not in result
        c.close()                       # deferred: a call is in flight
        assert c.closed
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
        guard.kill()
        guard.wait()
    t.join(timeout=10)
    assert result.get("put") is True    # the call in flight completed normally
    with pytest.raises(ValueError):
        c.get("during-stop")
    assert watcher.get("during-stop") == b"p" * 100000
    # The last call out disconnected the closed client.
    assert watcher.stats()["clients"] == clients_before - 1
    watcher.close()


def test_fork_child_gets_echild_and_parent_is_untouched(client):
    client.put("before-fork", b"parent's value")
    view = client.acquire("before-fork")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: report through the pipe, never return to pytest
        os.close(r)
        code = 0
        try:
            checks = []
            for call in (lambda: client.get("before-fork"), lambda: client.exists("x"),
                         lambda: client.put("x", b"y"), lambda: client.batch_exists(["x"]),
                         lambda: memoryview(view)):
                try:
                    call()
                    checks.append("no error")
                except mmc.Error as e:
                    checks.append(errno.errorcode.get(e.errno, str(e.errno)))
            client.close()              # frees only the child's copies
            with mmc.Client(client.socket) as mine:
                checks.append(mine.get("before-fork").decode())
                checks.append(str(mine.put("from-child", b"child's value")))
            os.write(w, repr(checks).encode())
        except BaseException as e:  # noqa: BLE001 - anything goes back to the parent
            os.write(w, ("child failed: %r" % e).encode())
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        report = f.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, report
    assert report == repr(["ECHILD"] * 5 + ["parent's value", "True"]), report
    # The parent's session, and its pinned view, are intact.
    assert view.tobytes() == b"parent's value"
    view.release()
    assert client.get("from-child") == b"child's value"
    assert client.put("after-fork", b"z") is True


def test_unreachable_agent_error_is_clear(new_agent):
    a = new_agent("64M")
    a.stop()
    with pytest.raises(mmc.Error) as e:
        mmc.Client(a.sock)
    assert e.value.errno in (errno.ECONNREFUSED, errno.ENOENT)
    assert "agent" in str(e.value)


def test_arena_full_of_pins_is_an_error_not_a_hang(new_agent):
    a = new_agent("16M")
    with mmc.Client(a.sock) as c:
        page = np.zeros(MIB, dtype=np.uint8)
        views = []
        try:
            for i in range(64):
                try:
                    c.put("pin%d" % i, page)
                    views.append(c.acquire("pin%d" % i))
                except mmc.Error as e:
                    # the arena is full of pins, or this session holds its
                    # [limits] share of pinned bytes (a quarter by default)
                    assert e.errno in (errno.ENOSPC, errno.E2BIG, errno.EDQUOT)
                    break
            else:
                pytest.fail("64 MiB of pinned values fit a 16 MiB arena")
        finally:
            for v in views:
                if v is not None:
                    v.release()
