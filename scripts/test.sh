#!/usr/bin/env bash
# test.sh - installs what the project needs, builds it twice (release, and
# ASan+UBSan) and runs the whole test suite against each build, then again
# under ThreadSanitizer (scripts/tsan.sh, less the tests it says it cannot
# run), runs each libFuzzer harness for a few seconds (clang build), then
# cross-compiles the tree for arm64 and runs its unit tests under qemu.
#
# Run as root on Debian 12: the suite reserves hugepages, loads BPF programs
# and switches uids; tests that cannot get what they need report "skipped"
# (exit 77) and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

jobs=$(nproc)
run_suite() {   # build-dir, extra cmake flags...
	local dir=$1; shift
	cmake -S . -B "$dir" "$@" >/dev/null
	cmake --build "$dir" -j"$jobs"
	(cd "$dir" && ctest --output-on-failure --timeout 300)
}

echo "== release build =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== ASan + UBSan build =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DMMC_SANITIZE=ON
echo "== ThreadSanitizer: the suite (scripts/tsan.sh says what it leaves out) =="
bash scripts/tsan.sh build-tsan
echo "== fuzzing: a short bounded pass of each libFuzzer harness =="
# scripts/fuzz.sh runs them for 10 M executions each on demand.
CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMC_FUZZ=ON \
	-DMMC_WITH_BPF=OFF -DMMC_WITH_PYTHON=OFF -DMMC_FUZZ_SECONDS=5 >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_hello fuzz_ops fuzz_config fuzz_trace fuzz_peer
(cd build-fuzz && ctest --output-on-failure -L fuzz)
echo "== arm64 cross build, unit tests under qemu-aarch64 =="
bash scripts/cross-aarch64.sh
