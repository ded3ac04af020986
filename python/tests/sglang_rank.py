"""One tensor-parallel rank of an SGLang engine, driving mmc.sglang.MmcStore
the way SGLang's cache controller does (run by test_sglang.py, two at once).

    python3 sglang_rank.py SOCKET TP_RANK TP_SIZE

For an MHA and an MLA model it builds the store as SGLang's dynamic backend
loader does - ``MmcStore(storage_config, kwargs)`` - and registers a
page_first host pool of torch CPU tensors, then runs five phases, each
started by its name on stdin and answered by one line on stdout ("A1 ok",
or "A1 FAIL: why"); the parent lines the ranks up between phases, as
SGLang's all-reduce of the hit count does:

  A1  a new prompt of 8 pages: batch_exists -> 0
  A2  batch_set_v1 of the 8 pages (MLA: rank 0 writes, rank 1 skips)
  B1  the prompt grows to 11 pages; in a fresh host pool: batch_exists ->
      8, batch_get_v1 of those 8, each checked byte for byte
  B2  batch_set_v1 of the other 3
  C   batch_exists -> 11; batch_get_v1 of all 11 into yet another pool,
      every page checked byte for byte (the MLA pages rank 0 wrote too);
      batch_set_v1 of all 11 again (must write nothing)
"""

import sys
import traceback

from hostpool import MHAPool, MLAPool, chain, chain_from, check, fill

from mmc.sglang import HiCacheStorageConfig, MmcStore


def make(sock, rank, tp, mla):
    cfg = HiCacheStorageConfig(
        tp_rank=rank, tp_size=tp, pp_rank=0, pp_size=1, attn_cp_rank=0, attn_cp_size=1,
        is_mla_model=mla, enable_storage_metrics=True, is_page_first_layout=True,
        model_name="test/deepseek" if mla else "test/llama",
        extra_config={"backend_name": "mmc", "module_path": "mmc.sglang",
                      "class_name": "MmcStore", "interface_v1": 1, "socket": sock})
    store = MmcStore(cfg, {})
    return store


def owner(store):
    """Whose bytes a page object holds: each rank's own K/V for MHA, one
    shared object for MLA."""
    return "shared" if store.is_mla else "rank%d" % store.tp_rank


def expect(cond, why):
    if not cond:
        raise AssertionError(why)


def fresh_pool(store, pool_cls):
    pool = pool_cls(16)
    store.register_mem_pool_host(pool)
    return pool


def phase_a1(stores, keys):
    for name, store, pool_cls in stores:
        fresh_pool(store, pool_cls)
        expect(store.batch_exists(keys) == 0, "%s: new prompt found in L3" % name)


def phase_a2(stores, keys):
    for name, store, _ in stores:
        pool = store.mem_pool_host
        slots = [3, 1, 4, 0, 5, 9, 2, 6]                 # pages anywhere in the pool
        for s, k in zip(slots, keys):
            fill(pool, s, name, k, owner(store))
        ok = store.batch_set_v1(keys, pool.indices(slots))
        expect(ok == [True] * 8, "%s: batch_set_v1 %s" % (name, ok))


def phase_b1(stores, keys):
    for name, store, pool_cls in stores:
        pool = fresh_pool(store, pool_cls)
        n = store.batch_exists(keys)
        expect(n == 8, "%s: batch_exists %d, want 8" % (name, n))
        slots = [7, 8, 9, 10, 11, 12, 13, 14]
        got = store.batch_get_v1(keys[:n], pool.indices(slots[:n]))
        expect(got == [True] * n, "%s: batch_get_v1 %s" % (name, got))
        for s, k in zip(slots, keys[:n]):
            expect(check(pool, s, name, k, owner(store)), "%s: page %s differs" % (name, k[:8]))


def phase_b2(stores, keys):
    for name, store, _ in stores:
        pool, rest = store.mem_pool_host, [0, 1, 2]
        for s, k in zip(rest, keys[8:]):
            fill(pool, s, name, k, owner(store))
        ok = store.batch_set_v1(keys[8:], pool.indices(rest))
        expect(ok == [True] * 3, "%s: batch_set_v1 of the rest %s" % (name, ok))


def phase_c(stores, keys):
    for name, store, pool_cls in stores:
        pool = fresh_pool(store, pool_cls)
        n = store.batch_exists(keys)
        expect(n == 11, "%s: batch_exists %d, want 11" % (name, n))
        slots = list(range(15, 4, -1))
        got = store.batch_get_v1(keys, pool.indices(slots))
        expect(got == [True] * 11, "%s: batch_get_v1 %s" % (name, got))
        for s, k in zip(slots, keys):
            expect(check(pool, s, name, k, owner(store)), "%s: page %s differs" % (name, k[:8]))
        again = store.batch_set_v1(keys, pool.indices(slots))
        expect(again == [True] * 11, "%s: batch_set_v1 again %s" % (name, again))
        stats = store.get_stats()
        expect(len(stats.prefetch_pgs) >= 1, "%s: no prefetch metrics" % name)


PHASES = ("A1", "A2", "B1", "B2", "C")


def main():
    sock, rank, tp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    stores = [("mha", make(sock, rank, tp, False), MHAPool),
              ("mla", make(sock, rank, tp, True), MLAPool)]
    keys = chain(8, "tp-test")
    longer = chain_from(keys, 3, "tp-test-more")
    steps = (phase_a1, phase_a2, phase_b1, phase_b2, phase_c)
    for label, fn, k in zip(PHASES, steps, (keys, keys, longer, longer, longer)):
        if sys.stdin.readline().strip() != label:
            print("%s FAIL: out of step" % label, flush=True)
            return 1
        try:
            fn(stores, k)
            print("%s ok" % label, flush=True)
        except Exception as e:  # noqa: BLE001 - reported to the parent
            traceback.print_exc()
            print("%s FAIL: %s" % (label, e), flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
