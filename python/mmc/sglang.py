"""mmc.sglang - the node's mmc-agent as SGLang HiCache's L3 storage.

SGLang keeps KV pages in GPU memory (L1), in a host-memory pool inside each
tensor-parallel worker (L2), and in an external store (L3).  ``MmcStore`` is
that store, loaded by SGLang's dynamic backend::

    python3 -m sglang.launch_server ... --enable-hierarchical-cache \\
        --hicache-mem-layout page_first \\
        --hicache-storage-backend dynamic \\
        --hicache-storage-backend-extra-config '{"backend_name": "mmc",
            "module_path": "mmc.sglang", "class_name": "MmcStore",
            "interface_v1": 1}'

SGLang constructs it per worker as ``MmcStore(storage_config, kwargs)`` and
hands it the host pool (``register_mem_pool_host``).  With ``interface_v1``
the pages move without a Python copy: ``batch_get_v1`` copies each stored
page straight into the host pool's page buffers (addresses from the pool's
``get_page_buffer_meta``) and ``batch_set_v1`` stores them from there,
writing only the pages the agent does not hold yet.  Every worker of the
node shares the agent, so a page one rank or process stored is a hit for
every other, also after the writer exits.

Keys, as SGLang's backends form them: the page's hash (a 64-hex SHA-256
chain, each page folding in its parent) plus ``_{tp_rank}_k`` and
``_{tp_rank}_v`` for multi-head attention (one K and one V object per page
and rank), or one shared ``{hash}__k`` object for MLA models, which only
tp_rank 0 writes.  With pipeline or context parallelism the rank part is
``{tp}_{pp}_{cp}`` (MHA) and ``{pp}_{cp}`` (MLA).  A model tag is put in
front (``{tag}_{hash}...``): by default the model name, because one node's
agent may serve several models and identical token prefixes of two models
must never share pages; ``"model_tag": ""`` in the extra config turns it
off, ``"model_tag": "x"`` sets it (``extra_backend_tag``, the MemCache
backend's name for it, works too).

A page is read back only if every one of its objects has exactly the size
the pool expects: a rank of another TP size, or any other mismatch, is a
miss, never a page of wrong bytes.

Other extra-config keys: ``socket`` (the agent's unix socket; default
``$MMC_SOCKET``, then ``/run/mmc/agent.sock``).

If the agent goes away, calls answer "not there" / "not stored" (and log
it once); the store reconnects by itself when the agent is back.

SGLang is not needed to import this module: without it ``MmcStore``
subclasses a stand-in with the same interface (what the tests drive).
"""

import errno
import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import List, Optional

from mmc._mmc import Error
from mmc._session import SESSION_ERRORS, Session

logger = logging.getLogger("mmc.sglang")

try:  # the real base class when SGLang is installed
    from sglang.srt.mem_cache.hicache_storage import (  # type: ignore
        HiCacheStorage,
        HiCacheStorageConfig,
        HiCacheStorageExtraInfo,
    )
    HAVE_SGLANG = True
except Exception:  # ImportError, or an SGLang that cannot load here
    HAVE_SGLANG = False

    @dataclass
    class HiCacheStorageConfig:  # type: ignore[no-redef]
        """SGLang's storage configuration (the fields backends read)."""
        tp_rank: int = 0
        tp_size: int = 1
        pp_rank: int = 0
        pp_size: int = 1
        attn_cp_rank: int = 0
        attn_cp_size: int = 1
        is_mla_model: bool = False
        enable_storage_metrics: bool = False
        is_page_first_layout: bool = True
        model_name: Optional[str] = None
        dp_rank: int = 0
        dp_size: int = 1
        tp_lcm_size: Optional[int] = None
        should_split_heads: bool = False
        extra_config: Optional[dict] = None

    @dataclass
    class HiCacheStorageExtraInfo:  # type: ignore[no-redef]
        prefix_keys: Optional[List[str]] = None
        extra_info: Optional[dict] = None

    class HiCacheStorage:  # type: ignore[no-redef]
        """Stand-in for SGLang's base class when SGLang is not installed."""

        def register_mem_pool_host(self, mem_pool_host):
            self.mem_pool_host = mem_pool_host

        def batch_exists(self, keys, extra_info=None):
            for i, k in enumerate(keys):
                if not self.exists(k):
                    return i
            return len(keys)

        def clear(self):
            pass

        def get_stats(self):
            return None


def _storage_metrics():
    """SGLang's StorageMetrics when it can be imported, else a look-alike."""
    for mod in ("sglang.srt.observability.metrics_collector", "sglang.srt.metrics.collector"):
        try:
            return __import__(mod, fromlist=["StorageMetrics"]).StorageMetrics()
        except Exception:
            continue
    return StorageMetrics()


@dataclass
class StorageMetrics:
    """What get_stats() reports when SGLang's own class is not importable."""
    prefetch_pgs: List[int] = field(default_factory=list)
    backup_pgs: List[int] = field(default_factory=list)
    prefetch_bandwidth: List[float] = field(default_factory=list)
    backup_bandwidth: List[float] = field(default_factory=list)


def _model_tag(extra, model_name):
    """The key prefix: extra_config's model_tag (or extra_backend_tag), else
    the model name made key-safe; '' turns it off."""
    for k in ("model_tag", "extra_backend_tag"):
        if k in extra and extra[k] is not None:
            tag = str(extra[k])
            break
    else:
        tag = str(model_name or "")
    tag = re.sub(r"[^A-Za-z0-9._-]+", "-", tag).strip("-")
    if len(tag) > 64:   # keys are at most 256 bytes: keep the tag short
        tag = tag[:48] + "-" + hashlib.sha256(tag.encode()).hexdigest()[:12]
    return tag + "_" if tag else ""


class MmcStore(HiCacheStorage):
    """SGLang HiCacheStorage on the node's mmc-agent (see the module doc)."""

    def __init__(self, storage_config=None, kwargs=None):
        cfg = storage_config if storage_config is not None else HiCacheStorageConfig(
            tp_rank=0, tp_size=1, pp_rank=0, pp_size=1, attn_cp_rank=0, attn_cp_size=1,
            is_mla_model=False, enable_storage_metrics=False, is_page_first_layout=True,
            model_name=None)
        extra = dict(getattr(cfg, "extra_config", None) or {})
        if isinstance(kwargs, dict):
            extra.update({k: v for k, v in kwargs.items() if k in ("socket", "model_tag")})
        self.storage_config = cfg
        self.mem_pool_host = None
        self.tp_rank = cfg.tp_rank
        self.is_mla = bool(cfg.is_mla_model)
        if getattr(cfg, "should_split_heads", False):
            raise ValueError("mmc.sglang: should_split_heads (a TP size that splits KV "
                             "heads across storage ranks) is not supported")
        pp, cp = getattr(cfg, "pp_size", 1) > 1, getattr(cfg, "attn_cp_size", 1) > 1
        if pp or cp:
            self.mha_suffix = "%d_%d_%d" % (cfg.tp_rank, cfg.pp_rank, cfg.attn_cp_rank)
            self.mla_suffix = "%d_%d" % (cfg.pp_rank, cfg.attn_cp_rank)
        else:
            self.mha_suffix = "%d" % cfg.tp_rank
            self.mla_suffix = ""
        self.tag = _model_tag(extra, getattr(cfg, "model_name", None))
        self.interface_v1 = bool(extra.get("interface_v1", False))
        self.enable_metrics = bool(getattr(cfg, "enable_storage_metrics", False))
        self._metrics = StorageMetrics()
        self._bytes_per_page = 0
        self._down_since = None
        self.session = Session(extra.get("socket"))
        try:
            self.session.client()   # fail early and loudly if there is no agent
        except Error as e:
            raise RuntimeError("mmc.sglang: cannot reach the mmc-agent (%s); start it "
                               "(systemctl start mmc-agent) or set extra_config "
                               "'socket' / $MMC_SOCKET" % e.strerror) from e
        logger.info("mmc.sglang: tp_rank %d%s, key tag %r, interface_v1 %s, agent %s",
                    self.tp_rank, " (MLA)" if self.is_mla else "", self.tag,
                    self.interface_v1, self.session.client().socket)

    # ---- keys ----

    def _objects_per_page(self):
        return 1 if self.is_mla else 2

    def object_keys(self, keys):
        """The agent keys of the pages' objects, in get_page_buffer_meta's
        order: K then V of each page (MHA), or one per page (MLA)."""
        t = self.tag
        if self.is_mla:
            s = "_%s_k" % self.mla_suffix
            return [t + k + s for k in keys]
        ks, vs = "_%s_k" % self.mha_suffix, "_%s_v" % self.mha_suffix
        out = []
        for k in keys:
            out.append(t + k + ks)
            out.append(t + k + vs)
        return out

    def flat_key(self, key):
        """The one object of a page in the flat (non-v1) interface."""
        return "%s%s_%s" % (self.tag, key, self.mla_suffix if self.is_mla else self.mha_suffix)

    # ---- the session ----

    def _call(self, fn, *args):
        """fn(client, *args), or None when it failed: the agent is not
        reachable, or libshm refused the call.  Never raises mmc.Error: an
        exception in SGLang's prefetch or backup thread would end that
        thread, and with it the L3, for the life of the engine."""
        try:
            r = self.session.call(fn, *args)
        except Error as e:
            if e.errno not in SESSION_ERRORS:
                logger.warning("mmc.sglang: %s", e)
                return None
            if self._down_since is None:
                self._down_since = time.monotonic()
                logger.warning("mmc.sglang: lost the mmc-agent (%s): answering misses "
                               "until it is back", e.strerror)
            return None
        if self._down_since is not None:
            logger.warning("mmc.sglang: mmc-agent back after %.1f s",
                           time.monotonic() - self._down_since)
            self._down_since = None
        return r

    # ---- HiCacheStorage: the zero-copy (v1) interface ----

    def register_mem_pool_host(self, mem_pool_host):
        super().register_mem_pool_host(mem_pool_host)
        layout = getattr(mem_pool_host, "layout", "page_first")
        if layout not in ("page_first", "page_first_direct"):
            raise ValueError("mmc.sglang: host pool layout %r: only page_first and "
                             "page_first_direct are supported (--hicache-mem-layout)"
                             % layout)
        try:
            self._bytes_per_page = mem_pool_host.get_ksize_per_token() * mem_pool_host.page_size
        except Exception:
            self._bytes_per_page = 0

    def _meta(self, keys, host_indices):
        ptrs, sizes = self.mem_pool_host.get_page_buffer_meta(host_indices)
        okeys = self.object_keys(keys)
        if len(okeys) != len(ptrs):
            raise ValueError("mmc.sglang: %d pages but the host pool gave %d buffers "
                             "(layout or MLA setting mismatch)" % (len(keys), len(ptrs)))
        return okeys, [int(p) for p in ptrs], [int(s) for s in sizes]

    def _pages(self, ok):
        m = self._objects_per_page()
        return [all(ok[i:i + m]) for i in range(0, len(ok), m)]

    def _note(self, kind, pages, seconds):
        if not self.enable_metrics or not pages or seconds <= 0:
            return
        gb = pages * self._bytes_per_page / 1e9
        if kind == "get":
            self._metrics.prefetch_pgs.append(pages)
            self._metrics.prefetch_bandwidth.append(gb / seconds)
        else:
            self._metrics.backup_pgs.append(pages)
            self._metrics.backup_bandwidth.append(gb / seconds)

    def batch_get_v1(self, keys, host_indices, extra_info=None):
        """Copies each page's objects into the host pool; per page True when
        all of them were there with exactly the expected size."""
        if not keys:
            return []
        okeys, ptrs, sizes = self._meta(keys, host_indices)
        t0 = time.perf_counter()
        res = self._call(lambda c: c.batch_get_into(okeys, ptrs, sizes))
        if res is None:
            return [False] * len(keys)
        pages = self._pages([r == s for r, s in zip(res, sizes)])
        self._note("get", sum(pages), time.perf_counter() - t0)
        return pages

    def batch_set_v1(self, keys, host_indices, extra_info=None):
        """Stores the pages the agent does not hold yet, from the host pool;
        per page True when all its objects are stored (now or before)."""
        if not keys:
            return []
        if self.is_mla and self.tp_rank != 0:
            return [True] * len(keys)   # MLA pages are shared: rank 0 writes them
        okeys, ptrs, sizes = self._meta(keys, host_indices)

        def put_missing(c):
            present = c.batch_exists_each(okeys)
            todo = [i for i, p in enumerate(present) if not p]
            if not todo:
                return present
            res = c.batch_put_from([okeys[i] for i in todo], [ptrs[i] for i in todo],
                                   [sizes[i] for i in todo])
            ok = list(present)
            for i, r in zip(todo, res):
                ok[i] = r == 0 or r == -errno.EEXIST
            return ok

        t0 = time.perf_counter()
        ok = self._call(put_missing)
        if ok is None:
            return [False] * len(keys)
        pages = self._pages(ok)
        self._note("set", sum(pages), time.perf_counter() - t0)
        return pages

    def batch_exists(self, keys, extra_info=None):
        """How many pages, from the first, are stored without a gap."""
        if not keys:
            return 0
        if self.interface_v1:
            okeys, m = self.object_keys(keys), self._objects_per_page()
        else:
            okeys, m = [self.flat_key(k) for k in keys], 1
        n = self._call(lambda c: c.batch_exists(okeys))
        return 0 if n is None else n // m

    def exists(self, key):
        return self.batch_exists([key]) == 1

    # ---- HiCacheStorage: the flat-page interface (without interface_v1) ----

    @staticmethod
    def _buf(t):
        """(address, bytes) of a contiguous CPU tensor."""
        if not t.is_contiguous():
            raise ValueError("mmc.sglang: page tensors must be contiguous")
        return t.data_ptr(), t.numel() * t.element_size()

    def get(self, key, target_location=None, target_sizes=None):
        """One flat page: into target_location (a tensor, returned on a
        hit; or an address with target_sizes, answering True/False), or a
        new uint8 tensor; None on a miss."""
        k = self.flat_key(key)
        if target_location is None:
            data = self._call(lambda c: c.get(k))
            if data is None:
                return None
            import torch
            return torch.frombuffer(bytearray(data), dtype=torch.uint8)
        if isinstance(target_location, int):
            size = int(target_sizes)
            n = self._call(lambda c: c.get_into_ptr(k, target_location, size))
            return n == size
        ptr, size = self._buf(target_location)
        n = self._call(lambda c: c.get_into_ptr(k, ptr, size))
        return target_location if n == size else None

    def batch_get(self, keys, target_locations=None, target_sizes=None):
        """Flat pages into target_locations (tensors: a list with each hit
        tensor or None; addresses with target_sizes: how many pages from
        the first were read)."""
        if not keys:
            return []
        okeys = [self.flat_key(k) for k in keys]
        if target_locations is None:
            return [self.get(k) for k in keys]
        if target_locations and isinstance(target_locations[0], int):
            ptrs, sizes = [int(p) for p in target_locations], [int(s) for s in target_sizes]
            res = self._call(lambda c: c.batch_get_into(okeys, ptrs, sizes))
            if res is None:
                return 0
            for i, (r, s) in enumerate(zip(res, sizes)):
                if r != s:
                    return i
            return len(keys)
        bufs = [self._buf(t) for t in target_locations]
        res = self._call(lambda c: c.batch_get_into(okeys, [b[0] for b in bufs],
                                                    [b[1] for b in bufs]))
        if res is None:
            return [None] * len(keys)
        return [t if r == b[1] else None for t, r, b in zip(target_locations, res, bufs)]

    def set(self, key, value=None, target_location=None, target_sizes=None):
        """Stores one flat page (a tensor, or an address with a size);
        True when it is stored, now or before."""
        return self.batch_set([key], None if value is None else [value],
                              None if target_location is None else [target_location],
                              None if target_sizes is None else [target_sizes])

    def batch_set(self, keys, values=None, target_locations=None, target_sizes=None):
        """Stores the flat pages not stored yet; True when all of them are."""
        if not keys:
            return False
        if self.is_mla and self.tp_rank != 0:
            return True
        okeys = [self.flat_key(k) for k in keys]
        if values is not None:
            bufs = [self._buf(v) for v in values]
            ptrs, sizes = [b[0] for b in bufs], [b[1] for b in bufs]
        elif target_locations is not None and target_sizes is not None:
            ptrs, sizes = [int(p) for p in target_locations], [int(s) for s in target_sizes]
        else:
            raise ValueError("mmc.sglang: batch_set needs values or target_locations "
                             "with target_sizes")

        def put_missing(c):
            present = c.batch_exists_each(okeys)
            todo = [i for i, p in enumerate(present) if not p]
            if todo:
                res = c.batch_put_from([okeys[i] for i in todo], [ptrs[i] for i in todo],
                                       [sizes[i] for i in todo])
                if any(r not in (0, -errno.EEXIST) for r in res):
                    return False
            return True

        return bool(self._call(put_missing))   # values keeps the tensors alive

    # ---- the rest ----

    def clear(self):
        """Removes every object in the node's agent - every model's and
        every process's pages, as SGLang's clear() of a shared L3 does."""
        self._call(lambda c: c.clear())

    def get_stats(self):
        out = _storage_metrics()
        for name in ("prefetch_pgs", "backup_pgs", "prefetch_bandwidth", "backup_bandwidth"):
            getattr(out, name).extend(getattr(self._metrics, name))
            getattr(self._metrics, name).clear()
        return out

    def close(self):
        self.session.close()


__all__ = ["MmcStore", "HiCacheStorageConfig", "HiCacheStorageExtraInfo",
           "StorageMetrics", "HAVE_SGLANG"]
