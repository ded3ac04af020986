#!/usr/bin/env bash
# test_python.sh - the mmc Python package's tests (python/tests, pytest)
# against this build: the extension and modules in $BUILD/python, real
# agents from $BUILD/bin (the tests start their own and wait for READY=1).
#
# The interpreter is the one the package was built for ($MMC_PYTHON, set by
# CMake; default Debian's /usr/bin/python3, which is what python3-torch,
# -numpy and -pytest install for).  Skipped (77) only when the extension
# was not built (no python3-dev) or those packages are missing.
#
# In an ASan build libmmc and the extension are instrumented, but python3
# is not: the sanitizer runtimes are preloaded into it, with leak checking
# off (CPython keeps its objects until exit by design); everything else the
# sanitizers find aborts the run.  The agents the tests start get the
# suite's own ASAN_OPTIONS back, leak checks included.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SRC=${MMC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=$(cd "$BIN/.." && pwd)
PY=${MMC_PYTHON:-/usr/bin/python3}

[ -x "$PY" ] || skip "no Python interpreter at $PY"
compgen -G "$BUILD/python/mmc/_mmc*.so" >/dev/null ||
	skip "the mmc Python extension was not built (python3-dev missing: scripts/install-deps.sh)"
"$PY" -c "import pytest, numpy, torch" 2>/dev/null ||
	skip "python3-pytest, python3-numpy or python3-torch missing for $PY (scripts/install-deps.sh)"

env=(PYTHONPATH="$BUILD/python" MMC_BIN="$BIN" PYTHONDONTWRITEBYTECODE=1)
# Not grep -q: it exits at the first match, nm dies of SIGPIPE and under
# pipefail the test then took an ASan build for a plain one (CI, twice).
if nm -D "$BUILD/lib/libmmc.so" 2>/dev/null | grep __asan_init >/dev/null; then
	cc=${CC:-cc}
	preload="$("$cc" -print-file-name=libasan.so) $("$cc" -print-file-name=libubsan.so)"
	env+=(LD_PRELOAD="$preload"
	      ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
	      UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
	      MMC_AGENT_ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}")
	echo "ASan build: python runs with LD_PRELOAD=$preload"
fi
cd "$SRC" || exit 1
# --capture=sys: a sanitizer report is written to file descriptor 2 and
# aborts the process; pytest's default capture of fd 2 would swallow it.
env "${env[@]}" "$PY" -m pytest -q -p no:cacheprovider -p no:hypothesispytest \
	--capture=sys python/tests
