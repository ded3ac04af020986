"""bench/python.py runs: its --quick mode starts its own agent, redis-server
and memcached, moves pages through every store, checks them byte for byte
and prints its table.  No speed is asserted here (bench/README.md has the
numbers of a real run)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, PYTHON, ROOT

pytest.importorskip("redis", reason="python3-redis not installed (scripts/install-deps.sh)")
pytest.importorskip("pymemcache", reason="python3-pymemcache not installed")


@pytest.mark.skipif(not (shutil.which("redis-server") and shutil.which("memcached")),
                    reason="redis-server or memcached not installed (scripts/install-deps.sh)")
def test_bench_quick(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run([PYTHON, str(Path(ROOT) / "bench" / "python.py"), "--quick",
                          "--sizes", "64K,1M", "--bin", str(BIN), "--json", str(out)],
                         capture_output=True, text=True, timeout=240, env=dict(os.environ))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    text = run.stdout
    for row in ("Python overhead", "Lookups: exists()", "Side by side", "Done when"):
        assert row in text, text
    for store in ("mmc", "redis-py", "pymemcache", "files /dev/shm"):
        for op in ("get", "put"):
            assert any(line.split()[1:3] == [op, store.split()[0]]
                       for line in text.splitlines() if len(line.split()) > 3), (store, op)
    import json
    res = json.loads(out.read_text())
    assert res["failed"] == [] and len(res["side_by_side"]) == 2 * 2 * 4
    assert all(r["pages_per_s"] > 0 for r in res["side_by_side"])
