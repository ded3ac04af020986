"""mmc._session - a Client that comes back after the agent does.

``mmc.Client`` is one libshm session and stays strict: once the agent is
gone every call raises ``mmc.Error(ENOTCONN)``, and in a child after
``fork()`` every call raises ``mmc.Error(ECHILD)``.  An engine worker cannot
be restarted because the node's cache daemon was (``systemctl restart
mmc-agent``), so the two high-level doors (``mmc.memcache_compat`` and
``mmc.sglang``) hold their client through a ``Session``:

* a call that finds the session dead drops the client and raises as usual,
  so the caller reports that one call as failed (a miss, a failed write);
* the next call connects anew: at once the first time; then, while the
  agent stays away, at most once a second - or at once when the socket file
  is a new one (an agent came up), so a restart costs one failed call, and
  a missing agent costs a stat() per call, not a connect();
* in a forked child the inherited client is dropped (libshm frees only the
  child's copies of it) and the child connects its own session.

Nothing here retries a call: a KV cache answers "not there" rather than
wait, because the engine recomputes what it cannot load in time.
"""

import errno
import os
import stat
import threading
import time
import weakref

from mmc._mmc import DEFAULT_SOCKET, SOCKET_ENV, Client, Error

# Errors after which the session is useless (as opposed to one key failing).
SESSION_ERRORS = (errno.ENOTCONN, errno.ECHILD, errno.ECONNREFUSED, errno.ENOENT,
                  errno.EPROTO, errno.ETIMEDOUT, errno.ECONNRESET, errno.EPIPE)

RETRY_S = 1.0


class Session:
    """Hands out a connected ``mmc.Client``, reconnecting when needed."""

    def __init__(self, socket=None):
        self.socket = socket
        self._client = None
        self._next_try = 0.0
        self._failed_on = None
        self._lock = threading.Lock()
        me = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: Session._forked(me))

    @staticmethod
    def _forked(ref):
        self = ref()
        if self is not None:
            # The parent's session: libshm refuses it here anyway.  Dropping
            # the reference lets libshm free this process's copies.
            self._client = None
            self._next_try = 0.0
            self._lock = threading.Lock()

    def path(self):
        """The socket this session connects to."""
        return self.socket or os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET

    def _socket_file(self):
        """What identifies the socket file now: a new agent makes a new one."""
        try:
            st = os.stat(self.path())
        except OSError:
            return None
        return (st.st_ino, st.st_ctime_ns) if stat.S_ISSOCK(st.st_mode) else None

    def client(self):
        """The connected client; connects if there is none (mmc.Error if
        that fails; see the module doc for when it tries again)."""
        c = self._client
        if c is not None:
            return c
        with self._lock:
            if self._client is None:
                now = time.monotonic()
                if now < self._next_try and self._socket_file() == self._failed_on:
                    raise Error(errno.ENOTCONN,
                                "no mmc-agent at %s (next connect attempt in %.1f s)"
                                % (self.path(), self._next_try - now))
                try:
                    self._client = Client(self.socket)
                except Error:
                    self._next_try = now + RETRY_S
                    self._failed_on = self._socket_file()
                    raise
            return self._client

    def retry_now(self):
        """Lets the next client() call connect without waiting."""
        self._next_try = 0.0

    def lost(self, client):
        """Drops client after a session error; the next call reconnects."""
        with self._lock:
            if self._client is client:
                self._client = None
        try:
            client.close()
        except (Error, ValueError, BufferError):
            pass

    def call(self, fn, *args):
        """fn(client, *args); a session error drops the client, then raises."""
        c = self.client()
        try:
            return fn(c, *args)
        except Error as e:
            if e.errno in SESSION_ERRORS:
                self.lost(c)
            raise

    def close(self):
        with self._lock:
            c, self._client = self._client, None
        if c is not None:
            c.close()

    @property
    def connected(self):
        return self._client is not None
