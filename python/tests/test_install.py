"""The installed package: `cmake --install` into a private DESTDIR puts mmc
where Debian's python3 looks for a /usr/local install, and that copy -
extension, modules, and the libmmc it finds through its rpath - works from
outside the build tree against a real agent."""

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from conftest import BIN, PYTHON

BUILD = Path(BIN).resolve().parent


@pytest.mark.skipif(not shutil.which("cmake"), reason="cmake not installed")
def test_installed_package_imports_and_works(agent, tmp_path):
    dest = tmp_path / "root"
    run = subprocess.run(["cmake", "--install", str(BUILD)], capture_output=True, text=True,
                         env=dict(os.environ, DESTDIR=str(dest)), timeout=120)
    assert run.returncode == 0, run.stderr
    found = [p.parent for p in dest.rglob("mmc/__init__.py")]
    assert len(found) == 1, found
    pkg = found[0]
    assert list(pkg.glob("_mmc*.so"))
    cache = (BUILD / "CMakeCache.txt").read_text()
    if "CMAKE_INSTALL_PREFIX:PATH=/usr/local\n" in cache and \
            "posix_local" in sysconfig.get_scheme_names():
        # Where Debian's python3 imports a /usr/local install from.
        site = sysconfig.get_path("platlib", "posix_local", {"base": "/usr", "platbase": "/usr"})
        assert str(pkg) == str(dest) + site + "/mmc"
    assert (pkg / "_shim" / "memcache_hybrid.py").is_file()
    code = ("import mmc, mmc.sglang, mmc.memcache_compat, sys; c = mmc.Client(sys.argv[1]); "
            "c.put('installed', b'ok'); print(mmc.__file__, c.get('installed').decode())")
    env = dict(os.environ, PYTHONPATH=str(pkg.parent))
    out = subprocess.run([PYTHON, "-c", code, agent.sock], capture_output=True, text=True,
                         env=env, cwd=str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr
    where, value = out.stdout.split()
    assert where.startswith(str(pkg)) and value == "ok"
    ldd = subprocess.run(["ldd", str(next(pkg.glob("_mmc*.so")))], capture_output=True,
                         text=True)
    assert str(dest) in [l for l in ldd.stdout.splitlines() if "libmmc" in l][0]
