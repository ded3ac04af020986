"""Stand-ins for SGLang's host KV pools (HostKVCache), page_first layout.

SGLang cannot be installed on these machines, so the tests build host
pools the way SGLang's MHATokenToKVPoolHost and MLATokenToKVPoolHost do for
``--hicache-mem-layout page_first``: torch CPU tensors, indexed by token,
and ``get_page_buffer_meta(host_indices)`` answering the same pointers and
sizes SGLang's answers (MHA: a K and a V buffer per page, each
layers x page_size x heads x head_dim elements; MLA: one buffer per page).

Every object's expected bytes derive from (model, page hash, owner, part),
so any process can check any page byte for byte.
"""

import hashlib

import numpy as np
import torch


def chain(n, seed="prompt", prior=None):
    """n page keys as SGLang forms them: hex SHA-256, each folding in its
    parent's hash and the page's token ids."""
    keys = []
    for i in range(n):
        h = hashlib.sha256()
        if prior:
            h.update(bytes.fromhex(prior))
        for t in range(16):   # the page's token ids, the same in every process
            tok = hashlib.sha256(("%s:%d:%d" % (seed, i, t)).encode()).digest()[:4]
            h.update(tok)
        prior = h.hexdigest()
        keys.append(prior)
    return keys


def chain_from(keys, n, seed):
    """keys extended by n more pages of the same chain."""
    return keys + chain(n, seed, prior=keys[-1])


def expected(nbytes, *what):
    s = int.from_bytes(hashlib.sha256(repr(what).encode()).digest()[:8], "little")
    return np.random.default_rng(s).integers(0, 256, nbytes, dtype=np.uint8)


class PagePool:
    """What SGLang's page_first host pools have, for a storage backend."""

    layout = "page_first"

    def __init__(self, pages, page_size, dtype=torch.float16):
        self.page_size = page_size
        self.size = pages * page_size
        self.dtype = dtype
        self.itemsize = torch.tensor([], dtype=dtype).element_size()

    def indices(self, slots):
        """host_indices (token indices) of the pages in the given slots."""
        return torch.cat([torch.arange(s * self.page_size, (s + 1) * self.page_size)
                          for s in slots]) if slots else torch.empty(0, dtype=torch.int64)


class MHAPool(PagePool):
    """MHATokenToKVPoolHost, page_first: kv_buffer[2, tokens, layers, heads, dim]."""

    def __init__(self, pages, page_size=16, layers=4, heads=2, head_dim=64):
        super().__init__(pages, page_size)
        self.layer_num, self.head_num, self.head_dim = layers, heads, head_dim
        self.kv_buffer = torch.zeros((2, self.size, layers, heads, head_dim), dtype=self.dtype)
        self.raw = self.kv_buffer.view(torch.uint8)

    def get_ksize_per_token(self):
        return self.layer_num * self.head_num * self.head_dim * self.itemsize

    def get_page_buffer_meta(self, indices):
        assert len(indices) % self.page_size == 0
        base = self.kv_buffer.data_ptr()
        indices = indices.tolist()
        v_offset = self.layer_num * self.size * self.head_num * self.head_dim * self.itemsize
        ptrs = []
        for i in range(0, len(indices), self.page_size):
            k = base + indices[i] * self.layer_num * self.head_num * self.head_dim * self.itemsize
            ptrs += [k, k + v_offset]
        size = self.layer_num * self.itemsize * self.page_size * self.head_num * self.head_dim
        return ptrs, [size] * len(ptrs)

    def page(self, slot, part):
        """The bytes of one page's K (part 0) or V (part 1), as a tensor view."""
        ps = self.page_size
        return self.raw[part, slot * ps:(slot + 1) * ps].reshape(-1)


class MLAPool(PagePool):
    """MLATokenToKVPoolHost, page_first: kv_buffer[tokens, layers, 1, rank+rope]."""

    def __init__(self, pages, page_size=16, layers=4, kv_lora_rank=64, rope=16):
        super().__init__(pages, page_size)
        self.layer_num, self.dim = layers, kv_lora_rank + rope
        self.kv_buffer = torch.zeros((self.size, layers, 1, self.dim), dtype=self.dtype)
        self.raw = self.kv_buffer.view(torch.uint8)

    def get_ksize_per_token(self):
        return self.layer_num * self.dim * self.itemsize

    def get_page_buffer_meta(self, indices):
        assert len(indices) % self.page_size == 0
        base = self.kv_buffer.data_ptr()
        indices = indices.tolist()
        ptrs = [base + indices[i] * self.layer_num * self.dim * self.itemsize
                for i in range(0, len(indices), self.page_size)]
        size = self.layer_num * self.itemsize * self.page_size * self.dim
        return ptrs, [size] * len(ptrs)

    def page(self, slot, part=0):
        ps = self.page_size
        return self.raw[slot * ps:(slot + 1) * ps].reshape(-1)


def parts(pool):
    return (0,) if isinstance(pool, MLAPool) else (0, 1)


def fill(pool, slot, model, key, owner):
    """Writes the expected bytes of page key into slot."""
    for part in parts(pool):
        dst = pool.page(slot, part)
        dst.copy_(torch.from_numpy(expected(dst.numel(), model, key, owner, part)))


def check(pool, slot, model, key, owner):
    """True when slot holds exactly the expected bytes of page key."""
    for part in parts(pool):
        got = pool.page(slot, part).numpy()
        if not np.array_equal(got, expected(got.size, model, key, owner, part)):
            return False
    return True
