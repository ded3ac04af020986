"""mmc - the node-local KV-cache memory pool, from Python.

Three doors, all on libshm (libmmc.so) and the node's mmc-agent:

``mmc.Client``
    the binding: put/get/get_into, zero-copy ``acquire`` views, raw-pointer
    and batch calls for torch host buffers (``import mmc``).
``mmc.memcache_compat``
    MemCache's ``DistributedObjectStore`` / ``LocalConfig`` on mmc;
    ``mmc.memcache_compat.install()`` makes ``import memcache_hybrid`` load it.
``mmc.sglang``
    ``MmcStore``, an SGLang HiCache L3 storage backend
    (``--hicache-storage-backend dynamic``).

A hit is a lookup and a copy (or no copy) in shared memory with no system
call; the GIL is released around every copy and every wait for the agent.
Errors are ``mmc.Error`` (an ``OSError`` with libshm's errno and message); a
miss is a return value (None, 0, False), never an exception.
"""

from mmc._mmc import (  # noqa: F401
    BATCH_MAX,
    DEFAULT_SOCKET,
    IOV_MAX,
    KEY_MAX,
    SOCKET_ENV,
    UNIT,
    VIEWS_MAX,
    Client,
    Error,
    View,
    strerror,
)

__version__ = "0.1.0"

__all__ = [
    "Client",
    "View",
    "Error",
    "strerror",
    "KEY_MAX",
    "BATCH_MAX",
    "IOV_MAX",
    "VIEWS_MAX",
    "UNIT",
    "DEFAULT_SOCKET",
    "SOCKET_ENV",
]
