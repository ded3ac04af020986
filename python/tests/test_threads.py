"""One Client shared by many threads, as an engine's prefetch and backup
threads share their store: every byte each thread reads must be right."""

import threading

import torch

from conftest import np_pattern

PAGE = 64 * 1024
N = 64


def test_eight_threads_batch_get(client):
    src = torch.from_numpy(np_pattern(N * PAGE, "threads").reshape(N, PAGE).copy())
    keys = ["t%03d" % i for i in range(N)]
    assert client.batch_put_from(keys, [src[i].data_ptr() for i in range(N)],
                                 [PAGE] * N) == [0] * N
    start = threading.Barrier(9)
    failures = []

    def getter(t):
        dst = torch.zeros(N, PAGE, dtype=torch.uint8)
        # Each thread reads the pages in its own order.
        order = [(i * (2 * t + 1)) % N for i in range(N)]
        try:
            start.wait()
            for it in range(12):
                dst.zero_()
                got = client.batch_get_into([keys[i] for i in order],
                                            [dst[j].data_ptr() for j in range(N)], [PAGE] * N)
                if got != [PAGE] * N:
                    failures.append((t, it, "results", got[:4]))
                    return
                if not torch.equal(dst, src[order]):
                    failures.append((t, it, "bytes differ"))
                    return
                if client.batch_exists(keys) != N:
                    failures.append((t, it, "batch_exists"))
                    return
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((t, repr(e)))

    def writer():
        # Meanwhile puts and removes of other keys go through the ring.
        page = src[0].numpy()
        start.wait()
        for it in range(40):
            client.put("w%d" % it, page)
            client.remove("w%d" % (it - 1))

    threads = [threading.Thread(target=getter, args=(t,)) for t in range(8)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert client.stats()["client"]["hits"] >= 8 * 12 * N
