#!/usr/bin/env bash
# tsan.sh - the test suite built with ThreadSanitizer: the agent (its loop,
# the SSD tier's io_uring and thread engines, the etcd and metrics threads),
# libshm (each session's watcher, clients of many threads) and the tests
# themselves.  Any report fails the run.
#
# Left out, each for a reason TSan itself gives or that leaves it nothing to
# see (they all run under ASan + UBSan in the same CI):
#   fork after threads - TSan cannot start threads in a child forked from a
#       multi-threaded process (each connected session has a watcher thread)
#       and says so by dying: test_crash, test_eviction, test_badinput,
#       test_deferred, test_verify, test_seccomp, and test_bench (mmc-bench
#       fair forks its clients).
#   test_install - compiles and runs a program that is not instrumented
#       against the installed, instrumented library: a test of the install.
#   test_python - CPython is not built with TSan (test_threads runs under
#       ASan); test_ebpf - BPF is off in this build.
#   test_alloc, test_trace, test_compare - one thread each (the allocator's
#       unit test, a trace replayed by one client, benchmark runs against
#       memcached and Redis); together 3 of the 7 minutes a TSan run of
#       every test takes on 2 vCPUs.
#
#   scripts/tsan.sh [BUILD_DIR]        default build-tsan
#   scripts/tsan.sh --all [BUILD_DIR]  every test, exclusions included
set -euo pipefail
cd "$(dirname "$0")/.."
all=0
if [ "${1:-}" = --all ]; then all=1; shift; fi
dir=${1:-build-tsan}
skip=(test_crash test_eviction test_badinput test_deferred test_verify test_seccomp
	test_bench test_install test_python test_ebpf test_alloc test_trace test_compare)
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DMMC_TSAN=ON -DMMC_WITH_BPF=OFF \
	-DMMC_WITH_PYTHON=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)"
exclude=()
[ $all = 1 ] || exclude=(-E "^($(IFS='|'; echo "${skip[*]}"))\$")
(cd "$dir" && TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1" \
	ctest --output-on-failure --timeout 300 "${exclude[@]}")
