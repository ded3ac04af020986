"""Fixtures of the mmc Python tests: real mmc-agent processes.

Every test talks to a real agent started from the build (``$MMC_BIN``, else
``build/bin``) in a private directory: its own socket, an empty config file
(so /etc/mmc is never read), ``--hugepages off`` and a small arena.  The
fixture waits for readiness the way systemd does - it binds a datagram
socket, passes it as ``NOTIFY_SOCKET`` and waits for the agent's
``READY=1`` - never with a sleep.

``agent`` is one agent for the whole session (stopped with SIGTERM at the
end, and its exit status must be 0); ``client`` is a fresh ``mmc.Client``
on it with the agent emptied first.  ``new_agent`` starts private agents
for tests that kill theirs.

In the ASan build the test script preloads the sanitizer runtime into
Python (see tests/test_python.sh); the agent gets the suite's own
ASAN_OPTIONS back (``MMC_AGENT_ASAN_OPTIONS``) and no preload.
"""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MMC_BIN") or ROOT / "build" / "bin")
READY_TIMEOUT_S = 30

import mmc  # noqa: E402  (PYTHONPATH=build/python, set by the test script)


def agent_env(extra=None):
    """The environment for an agent (or a child Python that must not carry
    the sanitizer preload into the agent)."""
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    if "MMC_AGENT_ASAN_OPTIONS" in env:
        env.pop("LD_PRELOAD", None)
        env["ASAN_OPTIONS"] = env["MMC_AGENT_ASAN_OPTIONS"]
    env.update(extra or {})
    return env


class Agent:
    """One mmc-agent process in a private directory, ready when returned."""

    def __init__(self, arena="128M", extra=(), sock=None, conf_text=""):
        self.dir = tempfile.mkdtemp(prefix="mmc-pytest-")
        self.sock = sock or os.path.join(self.dir, "agent.sock")
        self.log = os.path.join(self.dir, "agent.log")
        conf = os.path.join(self.dir, "empty.conf")
        notify = os.path.join(self.dir, "notify")
        with open(conf, "w") as f:          # empty unless a test needs a section
            f.write(conf_text)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify)
        ns.settimeout(READY_TIMEOUT_S)
        exe = BIN / "mmc-agent"
        argv = [str(exe), "--config", conf, "--socket", self.sock, "--stats",
                os.path.join(self.dir, "agent.stats"), "--arena-size", arena,
                "--hugepages", "off", *extra]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         env=agent_env({"NOTIFY_SOCKET": notify}))
        try:
            while True:
                msg = ns.recv(4096)
                if b"READY=1" in msg.split(b"\n"):
                    break
        except (socket.timeout, OSError) as e:
            self.kill()
            raise RuntimeError("mmc-agent did not send READY=1 (%s):\n%s"
                               % (e, self.read_log())) from e
        finally:
            ns.close()

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def agent():
    a = Agent("128M")
    yield a
    rc = a.stop()
    log = a.read_log()
    a.cleanup()
    assert rc == 0, "agent exit status %d:\n%s" % (rc, log)


@pytest.fixture
def client(agent):
    with mmc.Client(agent.sock) as c:
        c.clear()
        yield c


@pytest.fixture
def new_agent():
    started = []

    def start(arena="64M", extra=(), sock=None):
        a = Agent(arena, extra, sock)
        started.append(a)
        return a

    yield start
    for a in started:
        a.cleanup()


def pattern(n, seed):
    """n deterministic bytes that differ for every (n, seed)."""
    out = bytearray()
    h = hashlib.sha256(b"%d:%s" % (n, str(seed).encode())).digest()
    while len(out) < n:
        out += h
        h = hashlib.sha256(h).digest()
    return bytes(out[:n])


def np_pattern(n, seed):
    """pattern() for large n, fast: a numpy uint8 array."""
    import numpy as np
    s = int.from_bytes(hashlib.sha256(b"%d:%s" % (n, str(seed).encode())).digest()[:8],
                       "little")
    return np.random.default_rng(s).integers(0, 256, n, dtype=np.uint8)


PYTHON = sys.executable
