#!/usr/bin/env bash
# tsan.sh - the tests whose threads share memory, built with
# ThreadSanitizer: the index's seqlock readers against its writer
# (test_index), the ring's submitters and reapers (test_ring), and clients
# of many threads against a real agent (test_client, test_concurrency).
# Any report fails the run.
#
# Tests that fork() after a client has connected are left out: TSan does
# not support starting threads after a multi-threaded fork (each session
# has a watcher thread), and says so by dying.  They run under ASan.
#
#   scripts/tsan.sh [BUILD_DIR]      default build-tsan
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-tsan}
tests=(test_index test_ring test_client test_concurrency)
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DMMC_TSAN=ON -DMMC_WITH_BPF=OFF \
	-DMMC_WITH_PYTHON=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)" --target mmc-agent "${tests[@]}"
regex="^($(IFS='|'; echo "${tests[*]}"))\$"
(cd "$dir" && TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1" \
	ctest --output-on-failure --timeout 300 -R "$regex")
