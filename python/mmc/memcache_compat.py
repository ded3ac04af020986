"""mmc.memcache_compat - MemCache's Python API (``memcache_hybrid``) on mmc.

Code written for Ascend MemCache - SGLang's MemCache HiCache backend among
it - talks to ``memcache_hybrid.DistributedObjectStore`` configured by a
``LocalConfig``.  This module offers the same classes, verbs, arguments and
return conventions on top of the node's mmc-agent, so that code runs
unchanged once ``install()`` has registered this module as
``memcache_hybrid`` (the way PyMySQL's ``install_as_MySQLdb()`` stands in
for MySQLdb)::

    import mmc.memcache_compat
    mmc.memcache_compat.install()
    from memcache_hybrid import DistributedObjectStore, LocalConfig

For processes started by someone else (SGLang's TP workers are spawned,
not forked, so an ``install()`` in the launcher does not reach them), put
``shim_path()`` first on ``PYTHONPATH``: it holds a one-line
``memcache_hybrid`` that imports and installs this module.

What maps to what (MemCache's conventions, kept exactly):

* every call returns 0 or a negative MemCache code, never raises for a
  store error: -3006 the key exists (writes of an existing key; callers
  treat it as success), -3007 not found, -3000 bad argument, -3001 / -3013
  / -3016 no room, -3017 no agent (MemCache: no meta service), -3019 not
  initialized, -1 anything else;
* ``get`` returns ``b""`` for a miss; ``get_into`` / ``batch_get_into``
  return 0 per key on success (not a byte count), and succeed only when
  the value fills the buffer exactly, because callers such as SGLang take
  0 to mean "the whole page is there";
* ``is_exist`` 1 / 0 / code, ``batch_is_exist`` a list of those;
* ``*_layers`` gather and scatter up to 255 buffers per key into one object;
* ``replicateConfig``, ``device_id`` and ``direct`` are accepted; there is
  one node and host memory only, so device-memory directions (L2G, G2L)
  are refused with -3000 instead of being read as host addresses.

Configuration: ``LocalConfig()`` starts from MemCache's defaults, then the
file named by ``MMC_LOCAL_CONFIG_PATH`` (MemCache's ``ock.mmc.* = value``
lines, or JSON) when set; attributes set in code win.  The keys with a
meaning for a node agent are honoured:

* ``meta_service_url`` ``unix:///path`` (or a plain path): the agent's
  socket (else ``$MMC_SOCKET``, else ``/run/mmc/agent.sock``);
* ``client_retry_milliseconds``: how long ``init()`` keeps trying while no
  agent answers (a worker started before the agent);
* ``log_level``: this module's logger;
* ``dram_size``: checked against the agent's arena, with one log line when
  the agent has less (the arena is the agent's: mmc-agent.conf).

Every other key is accepted and ignored, with one log line naming them.
"""

import errno
import json
import logging
import os
import sys
import threading
import time

from mmc._mmc import Error
from mmc._session import SESSION_ERRORS, Session

logger = logging.getLogger("mmc.memcache_compat")

__all__ = ["DistributedObjectStore", "LocalConfig", "ReplicateConfig", "KeyInfo",
           "MetaConfig", "MetaService", "MmcCopyDirect", "install", "shim_path"]

# ---- MemCache's codes ----
SUCCESS = 0
ERROR = -1
INVALID_PARAM = -3000
MALLOC_FAILED = -3001
TIMEOUT = -3004
REPEAT_CALL = -3005
OBJECT_EXISTS = -3006
OBJECT_NOT_FOUND = -3007
NOT_INITIALIZED = -3008
OVER_CAPACITY = -3013
OUT_OF_MEMORY = -3016
NO_META_SERVICE = -3017
CLIENT_NOT_INIT = -3019

_FROM_ERRNO = {
    errno.EEXIST: OBJECT_EXISTS,
    errno.ENOENT: OBJECT_NOT_FOUND,
    errno.EINVAL: INVALID_PARAM,
    errno.ENAMETOOLONG: INVALID_PARAM,
    errno.EMSGSIZE: INVALID_PARAM,
    errno.ENOSPC: MALLOC_FAILED,
    errno.ENOBUFS: MALLOC_FAILED,
    errno.EDQUOT: MALLOC_FAILED,     # the agent's [limits] share of this session
    errno.E2BIG: OVER_CAPACITY,
    errno.ENOMEM: OUT_OF_MEMORY,
    errno.ETIMEDOUT: TIMEOUT,
    errno.ENOTCONN: NO_META_SERVICE,
    errno.ECONNREFUSED: NO_META_SERVICE,
    errno.ECHILD: NO_META_SERVICE,
    errno.EPROTO: NO_META_SERVICE,
}


def _code(err):
    """MemCache's code for a libshm -errno (or errno)."""
    return _FROM_ERRNO.get(abs(err), ERROR)


class MmcCopyDirect:
    """MemCache's copy directions (``smem_bm_copy_type``)."""
    SMEMB_COPY_L2G = 0   # device (NPU) memory -> pool: not supported here
    SMEMB_COPY_G2L = 1   # pool -> device memory: not supported here
    SMEMB_COPY_G2H = 2   # pool -> host memory
    SMEMB_COPY_H2G = 3   # host memory -> pool


_HOST_DIRECTS = (MmcCopyDirect.SMEMB_COPY_G2H, MmcCopyDirect.SMEMB_COPY_H2G)

# ---- configuration ----

_LOCAL_DEFAULTS = {
    "meta_service_url": "tcp://127.0.0.1:5000",
    "config_store_url": "tcp://127.0.0.1:6000",
    "log_level": "info",
    "world_size": 256,
    "protocol": "host_rdma",
    "hcom_url": "tcp://127.0.0.1:7000",
    "dram_size": "1GB",
    "hbm_size": "0",
    "max_dram_size": "64GB",
    "max_hbm_size": "0",
    "client_retry_milliseconds": 0,
    "client_timeout_seconds": 60,
    "read_thread_pool_size": 4,
    "write_thread_pool_size": 4,
    "aggregate_io": True,
    "aggregate_num": 122,
    "ubs_io_enable": False,
}
for _p in ("", "config_store_", "hcom_"):
    _LOCAL_DEFAULTS[_p + "tls_enable"] = False
    for _f in ("ca_path", "ca_crl_path", "cert_path", "key_path", "key_pass_path",
               "package_path", "decrypter_path"):
        _LOCAL_DEFAULTS[_p + "tls_" + _f] = ""

# The keys mmc gives a meaning to (see the module's docstring).
HONOURED = ("meta_service_url", "client_retry_milliseconds", "log_level", "dram_size")

# MemCache's file keys (ock.mmc.<a>.<b>) whose field name is not simply the
# dotted rest with dots as underscores.
_FILE_ALIASES = {
    "client_read_thread_pool_size": "read_thread_pool_size",
    "client_write_thread_pool_size": "write_thread_pool_size",
    "client_aggregate_io": "aggregate_io",
    "client_aggregate_num": "aggregate_num",
    "max_dram_size": "max_dram_size",
}


def _field_of(file_key):
    """'ock.mmc.local_service.dram.size' -> 'dram_size'."""
    k = file_key.strip()
    for prefix in ("ock.mmc.", "local_service."):
        if k.startswith(prefix):
            k = k[len(prefix):]
    k = k.replace(".", "_")
    return _FILE_ALIASES.get(k, k)


def _parse_value(v):
    v = v.strip()
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    try:
        return int(v)
    except ValueError:
        return v


def read_config_file(path):
    """The settings in a MemCache local config file: JSON, or ``key = value``
    lines (``#`` comments) with MemCache's ``ock.mmc.*`` names."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        return {_field_of(k): v for k, v in json.loads(text).items()}
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if "=" not in line:
            raise ValueError("%s:%d: not 'key = value': %r" % (path, n, line))
        k, v = line.split("=", 1)
        out[_field_of(k)] = _parse_value(v)
    return out


def parse_size(v):
    """'10GB', '2.5G', '200mb', '2048KB', 134217728 -> bytes."""
    if isinstance(v, (int, float)):
        return int(v)
    s = str(v).strip().lower().replace(" ", "")
    for suffix, mult in (("tb", 1 << 40), ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10),
                         ("t", 1 << 40), ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10),
                         ("b", 1)):
        if s.endswith(suffix):
            return int(float(s[:-len(suffix)]) * mult)
    return int(float(s))


class LocalConfig:
    """MemCache's client configuration.  Starts from MemCache's defaults and
    the file in ``$MMC_LOCAL_CONFIG_PATH`` (when set); set attributes as with
    MemCache.  Which fields mmc honours: the module's docstring."""

    def __init__(self):
        object.__setattr__(self, "_given", set())
        for k, v in _LOCAL_DEFAULTS.items():
            object.__setattr__(self, k, v)
        path = os.environ.get("MMC_LOCAL_CONFIG_PATH")
        if path:
            for k, v in read_config_file(path).items():
                setattr(self, k, v)
            object.__setattr__(self, "source", path)
        else:
            object.__setattr__(self, "source", None)

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        self._given.add(name)

    def given(self):
        """The fields set from a file or in code (not left at defaults)."""
        return {k: getattr(self, k) for k in sorted(self._given)}

    def socket_path(self):
        """The agent socket meta_service_url names, or None."""
        url = str(self.meta_service_url or "")
        if url.startswith("unix://"):
            return url[len("unix://"):] or None
        if url.startswith("/"):
            return url
        return None

    def __repr__(self):
        return "LocalConfig(%s)" % ", ".join("%s=%r" % kv for kv in self.given().items())


class MetaConfig(LocalConfig):
    """MemCache's meta service configuration: accepted, not used (mmc has no
    meta service; the node's mmc-agent is started by systemd)."""


class MetaService:
    """MemCache's meta service.  mmc has none: each node runs an mmc-agent."""

    @staticmethod
    def setup(config):
        return SUCCESS

    @staticmethod
    def main():
        raise RuntimeError("mmc has no meta service: start the node's agent instead "
                           "(systemctl start mmc-agent, or mmc-agent --config FILE)")


class ReplicateConfig:
    """Accepted for MemCache compatibility; one node, one copy."""

    def __init__(self):
        self.replicaNum = 1
        self.preferredLocalServiceIDs = []


class KeyInfo:
    """What ``get_key_info`` answers: the size, and where the value lives
    (local service 0, medium 1 = DRAM, as MemCache numbers them)."""

    def __init__(self, size, present=True):
        self._size = size
        self._present = present

    def size(self):
        return self._size

    def loc_list(self):
        return [0] if self._present else []

    def type_list(self):
        return [1] if self._present else []

    def __str__(self):
        return "KeyInfo(size=%d, locs=%s, types=%s)" % (self._size, self.loc_list(),
                                                        self.type_list())

    __repr__ = __str__


# ---- the store ----

class DistributedObjectStore:
    """MemCache's client, on the node's mmc-agent (see the module docstring)."""

    def __init__(self):
        self._config = None
        self._session = None
        self._lock = threading.Lock()
        self._warned = set()

    # -- life --

    def setup(self, config):
        if not isinstance(config, LocalConfig):
            logger.error("setup: expected a LocalConfig, got %s", type(config).__name__)
            return INVALID_PARAM
        self._config = config
        return SUCCESS

    def init(self, device_id=0, init_bm=True):
        """Connects to the agent; 0, or -3017 when no agent answers (after
        trying for client_retry_milliseconds)."""
        with self._lock:
            if self._session is not None:
                return SUCCESS
            cfg = self._config or LocalConfig()
            self._config = cfg
            self._apply_config(cfg)
            session = Session(cfg.socket_path())
            deadline = time.monotonic() + max(0, int(cfg.client_retry_milliseconds)) / 1000
            while True:
                try:
                    client = session.client()
                    break
                except Error as e:
                    if time.monotonic() >= deadline:
                        logger.error("init: no mmc-agent at %s: %s",
                                     cfg.socket_path() or os.environ.get("MMC_SOCKET")
                                     or "/run/mmc/agent.sock", e.strerror)
                        return _code(e.errno)
                    session.retry_now()
                    time.sleep(0.05)
            self._check_dram_size(cfg, client)
            self._session = session
            logger.info("memcache_compat: connected to mmc-agent at %s (device_id %s, "
                        "init_bm %s: accepted, host memory only)", client.socket,
                        device_id, init_bm)
            return SUCCESS

    def _apply_config(self, cfg):
        level = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
                 "warning": logging.WARNING, "error": logging.ERROR}.get(
                     str(cfg.log_level).lower())
        if level is not None:
            logger.setLevel(level)
        ignored = [k for k in cfg.given() if k not in HONOURED]
        url = str(cfg.meta_service_url)
        if "meta_service_url" in cfg.given() and cfg.socket_path() is None:
            ignored.append("meta_service_url (%s: the agent is found by its unix socket)" % url)
        if ignored:
            logger.info("memcache_compat: ignoring LocalConfig keys with no meaning for a "
                        "node agent: %s", ", ".join(ignored))

    @staticmethod
    def _check_dram_size(cfg, client):
        if "dram_size" not in cfg.given():
            return
        try:
            want = parse_size(cfg.dram_size)
            have = client.stats()["arena_bytes"]
        except (ValueError, Error, KeyError):
            return
        if have < want:
            logger.warning("memcache_compat: dram_size %s asked, but the agent's arena is "
                           "%d MiB (the arena is the agent's: [arena] size in "
                           "mmc-agent.conf)", cfg.dram_size, have >> 20)

    def close(self):
        with self._lock:
            s, self._session = self._session, None
        if s is not None:
            try:
                s.close()
            except (Error, BufferError):
                pass
        return SUCCESS

    def get_local_service_id(self):
        return 0

    def register_buffer(self, buffer_ptr, size):
        """No registration is needed (libshm copies from any host memory);
        accepted so MemCache callers run unchanged."""
        try:
            if int(buffer_ptr) <= 0 or int(size) <= 0:
                return INVALID_PARAM
        except (TypeError, ValueError):
            return INVALID_PARAM
        return SUCCESS

    def unregister_buffer(self, buffer_ptr, size):
        return self.register_buffer(buffer_ptr, size)

    # -- plumbing --

    def _run(self, fn, *args):
        """fn(client, *args) -> (result, code); code 0 when it ran."""
        s = self._session
        if s is None:
            return None, CLIENT_NOT_INIT
        try:
            return s.call(fn, *args), SUCCESS
        except Error as e:
            if e.errno in SESSION_ERRORS:
                logger.warning("memcache_compat: %s", e.strerror)
            return None, _code(e.errno)
        except (TypeError, ValueError, OverflowError) as e:
            logger.error("memcache_compat: %s", e)
            return None, INVALID_PARAM

    def _host_only(self, direct, verb):
        if direct in _HOST_DIRECTS:
            return True
        if verb not in self._warned:
            self._warned.add(verb)
            logger.error("memcache_compat: %s with direct=%r refused: mmc serves host "
                         "memory only (SMEMB_COPY_H2G / G2H)", verb, direct)
        return False

    # -- put --

    def put(self, key, buf, replicateConfig=None):
        r, code = self._run(lambda c: c.put(key, buf))
        if code:
            return code
        return SUCCESS if r else OBJECT_EXISTS

    def put_batch(self, keys, values, replicateConfig=None):
        """0 when every key is stored (or was there), else the first code."""
        if len(keys) != len(values):
            return INVALID_PARAM
        res, code = self._run(lambda c: c.batch_put(list(keys), list(values)))
        if code:
            return code
        for r in res:
            if r and r != -errno.EEXIST:
                return _code(r)
        return SUCCESS

    def put_from(self, key, buffer_ptr, size, direct=MmcCopyDirect.SMEMB_COPY_H2G,
                 replicateConfig=None):
        if not self._host_only(direct, "put_from"):
            return INVALID_PARAM
        r, code = self._run(lambda c: c.put_from(key, buffer_ptr, size))
        if code:
            return code
        return SUCCESS if r else OBJECT_EXISTS

    def batch_put_from(self, keys, buffer_ptrs, sizes, direct=MmcCopyDirect.SMEMB_COPY_H2G,
                       replicateConfig=None):
        if not self._host_only(direct, "batch_put_from"):
            return [INVALID_PARAM] * len(keys)
        res, code = self._run(lambda c: c.batch_put_from(list(keys), list(buffer_ptrs),
                                                         list(sizes)))
        if code:
            return [code] * len(keys)
        return [_code(r) if r else SUCCESS for r in res]

    def put_from_layers(self, key, buffer_ptrs, sizes, direct=MmcCopyDirect.SMEMB_COPY_H2G,
                        replicateConfig=None):
        if not self._host_only(direct, "put_from_layers"):
            return INVALID_PARAM
        r, code = self._run(lambda c: c.putv(key, list(buffer_ptrs), list(sizes)))
        if code:
            return code
        return SUCCESS if r else OBJECT_EXISTS

    def batch_put_from_layers(self, keys, buffer_ptrs, sizes,
                              direct=MmcCopyDirect.SMEMB_COPY_H2G, replicateConfig=None):
        if not self._host_only(direct, "batch_put_from_layers"):
            return [INVALID_PARAM] * len(keys)
        res, code = self._run(lambda c: c.batch_putv(list(keys), list(buffer_ptrs),
                                                     list(sizes)))
        if code:
            return [code] * len(keys)
        return [_code(r) if r else SUCCESS for r in res]

    # -- get --

    def get(self, key):
        """The value, or b"" when it is not there (or on error)."""
        r, code = self._run(lambda c: c.get(key))
        return r if r is not None and not code else b""

    def get_batch(self, keys):
        res, code = self._run(lambda c: c.batch_get(list(keys)))
        if code:
            return [b""] * len(keys)
        return [b"" if r is None else r for r in res]

    @staticmethod
    def _exact(got, want):
        """A read result -> code: 0 only when the value filled the buffer."""
        if got < 0:
            return _code(got)
        if got == 0:
            return OBJECT_NOT_FOUND
        return SUCCESS if got == want else INVALID_PARAM

    def get_into(self, key, buffer_ptr, size, direct=MmcCopyDirect.SMEMB_COPY_G2H):
        if not self._host_only(direct, "get_into"):
            return INVALID_PARAM
        r, code = self._run(lambda c: c.get_into_ptr(key, buffer_ptr, size))
        if code:
            return code
        return self._exact(r, int(size))

    def batch_get_into(self, keys, buffer_ptrs, sizes, direct=MmcCopyDirect.SMEMB_COPY_G2H):
        if not self._host_only(direct, "batch_get_into"):
            return [INVALID_PARAM] * len(keys)
        sizes = list(sizes)
        res, code = self._run(lambda c: c.batch_get_into(list(keys), list(buffer_ptrs), sizes))
        if code:
            return [code] * len(keys)
        return [self._exact(r, int(s)) for r, s in zip(res, sizes)]

    def get_into_layers(self, key, buffer_ptrs, sizes, direct=MmcCopyDirect.SMEMB_COPY_G2H):
        if not self._host_only(direct, "get_into_layers"):
            return INVALID_PARAM
        sizes = list(sizes)
        r, code = self._run(lambda c: c.getv(key, list(buffer_ptrs), sizes))
        if code:
            return code
        return self._exact(r, sum(int(s) for s in sizes))

    def batch_get_into_layers(self, keys, buffer_ptrs, sizes,
                              direct=MmcCopyDirect.SMEMB_COPY_G2H):
        if not self._host_only(direct, "batch_get_into_layers"):
            return [INVALID_PARAM] * len(keys)
        sizes = [list(s) for s in sizes]
        res, code = self._run(lambda c: c.batch_getv(list(keys), list(buffer_ptrs), sizes))
        if code:
            return [code] * len(keys)
        return [self._exact(r, sum(int(x) for x in s)) for r, s in zip(res, sizes)]

    # -- exists, info, remove --

    def is_exist(self, key):
        r, code = self._run(lambda c: c.exists(key))
        return code if code else int(r)

    def batch_is_exist(self, keys):
        res, code = self._run(lambda c: c.batch_exists_each(list(keys)))
        if code:
            return [code] * len(keys)
        return [int(r) for r in res]

    @staticmethod
    def _info(c, key):
        v = c.acquire(key)
        if v is None:
            return KeyInfo(0, present=False)
        try:
            return KeyInfo(v.nbytes)
        finally:
            v.release()

    def get_key_info(self, key):
        r, code = self._run(self._info, key)
        return r if not code else KeyInfo(0, present=False)

    def batch_get_key_info(self, keys):
        res, code = self._run(lambda c: [self._info(c, k) for k in keys])
        return res if not code else [KeyInfo(0, present=False) for _ in keys]

    def remove(self, key):
        r, code = self._run(lambda c: c.remove(key))
        if code:
            return code
        return SUCCESS if r else OBJECT_NOT_FOUND

    def remove_batch(self, keys):
        res, code = self._run(lambda c: c.batch_remove(list(keys)))
        if code:
            return [code] * len(keys)
        return [_code(r) if r else SUCCESS for r in res]

    def remove_all(self):
        """Removes every object in the node's agent (MemCache: the pool)."""
        _, code = self._run(lambda c: c.clear())
        return code


# ---- standing in for memcache_hybrid ----

def install():
    """Registers this module as ``memcache_hybrid``, so ``import
    memcache_hybrid`` and ``from memcache_hybrid import
    DistributedObjectStore`` get mmc.  (Not as ``memcache``, the name of
    older MemCache releases: python-memcached owns that name.)"""
    mod = sys.modules[__name__]
    sys.modules["memcache_hybrid"] = mod
    return mod


def shim_path():
    """A directory holding a ``memcache_hybrid`` module that installs this
    one: put it first on PYTHONPATH to reach processes you do not start."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_shim")


if __name__ == "__main__":
    if sys.argv[1:] == ["--shim-path"]:
        print(shim_path())
    else:
        print("usage: python3 -m mmc.memcache_compat --shim-path", file=sys.stderr)
        sys.exit(2)
