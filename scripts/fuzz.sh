#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer harnesses (tests/fuzz) with clang-14 in
# build-fuzz and runs each for a number of executions.
#
#   scripts/fuzz.sh [--runs N] [--jobs J] [--out DIR] [NAME...]
#
#   NAME     hello, ops, config, trace (default: all four)
#   --runs   executions per harness (default 10000000)
#   --jobs   harnesses run side by side (default 1)
#   --out    where each harness's corpus grows and findings land
#            (default build-fuzz/fuzz-out): OUT/NAME/corpus, OUT/NAME/log,
#            OUT/NAME/crash-* (libFuzzer's artifacts)
#
# The seed corpora in tests/fuzz/corpus are read, never written.  A finding
# (crash, leak, UBSan report, timeout) stops its harness and makes the exit
# status 1; reproduce it with build-fuzz/bin/fuzz_NAME OUT/NAME/crash-...,
# fix it, and copy the input into tests/fuzz/corpus/NAME so that every
# build replays it from then on (CTest fuzz_NAME_replay).  CI runs a short
# bounded pass instead (scripts/test.sh: ctest -L fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=10000000 JOBS=1 OUT=build-fuzz/fuzz-out NAMES=()
while [ $# -gt 0 ]; do
	case $1 in
		--runs) RUNS=$2; shift 2 ;;
		--jobs) JOBS=$2; shift 2 ;;
		--out) OUT=$2; shift 2 ;;
		-h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
		hello|ops|config|trace) NAMES+=("$1"); shift ;;
		*) echo "fuzz.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
done
[ ${#NAMES[@]} -gt 0 ] || NAMES=(hello ops config trace peer)
command -v clang-14 >/dev/null || { echo "fuzz.sh: clang-14 missing (scripts/install-deps.sh)" >&2; exit 1; }

CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMC_FUZZ=ON \
	-DMMC_WITH_BPF=OFF -DMMC_WITH_PYTHON=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${NAMES[@]/#/fuzz_}"

run_one() {
	local name=$1 dir=$OUT/$1
	mkdir -p "$dir/corpus"
	# -timeout: one input that takes 10 s is a hang; rss limit: a leak.
	if (cd "$dir" && "$OLDPWD/build-fuzz/bin/fuzz_$name" -runs="$RUNS" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 corpus "$OLDPWD/tests/fuzz/corpus/$name") \
		>"$dir/log" 2>&1; then
		echo "fuzz_$name: $(grep -E '^stat::number_of_executed_units' "$dir/log" | awk '{print $2}') executions, no finding ($(grep -E '^stat::average_exec_per_sec' "$dir/log" | awk '{print $2}')/s)"
	else
		echo "fuzz_$name: FINDING, see $dir/log and $dir/crash-* / leak-* / timeout-*" >&2
		return 1
	fi
}

rc=0 pids=()
for name in "${NAMES[@]}"; do
	run_one "$name" &
	pids+=($!)
	if [ ${#pids[@]} -ge "$JOBS" ]; then
		wait "${pids[0]}" || rc=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit "$rc"
