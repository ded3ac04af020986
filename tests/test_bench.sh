#!/bin/bash
# test_bench.sh - mmc-bench end to end against a real agent: the JSON report
# has every field and counts real work, the text report prints, and the
# failures a user can cause (no agent, arena too small, bad flags) exit
# non-zero with a message that says so.  No speed is asserted: this runs on
# shared CI machines.
#
# Readiness: the agent is ready when `mmc stat` succeeds (bounded probe, 20 s;
# lib.sh).
# Everything started here is killed on exit.  Exit 77 = skipped (no jq).
set -u

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH=$BIN/mmc-bench
make_tmp bench

for x in "$AGENT" "$MMC" "$BENCH"; do
	[ -x "$x" ] || { echo "FAIL: $x not built" >&2; exit 1; }
done
require_jq

# run_bench OUT ERR ARGS...: runs mmc-bench in the background (so the trap
# can kill it) and returns its exit status.
run_bench() {
	local out=$1 err=$2 pid rc
	shift 2
	"$BENCH" "$@" >"$out" 2>"$err" &
	pid=$!
	track "$pid"
	wait "$pid"
	rc=$?
	return $rc
}

start_agent main --arena-size 64M --hugepages off || exit 1
export MMC_SOCKET=$T/main.sock

# ---- the JSON report ----
run_bench "$T/run.json" "$T/run.err" --mode all -s 64K -n 256 --ops 2000 -p 2 --json
rc=$?
[ "$rc" -eq 0 ] && ok "mmc-bench --mode all --json: exit 0" ||
	fail "mmc-bench --json: exit $rc: $(cat "$T/run.err")"
J=$T/run.json
if jq -e . "$J" >/dev/null 2>&1; then
	ok "output is one JSON document"
else
	fail "output is not JSON: $(head -c 400 "$J")"
fi

# jcheck WHAT FILTER: the jq filter must yield true.
jcheck() {
	if jq -e "$2" "$J" >/dev/null 2>&1; then ok "$1"; else fail "$1 ($2)"; fi
}
jcheck "ok and no errors" '.ok == true and .errors == 0'
jcheck "config echoed" '.config.size == 65536 and .config.count == 256 and
	.config.procs == 2 and .config.mode == "all" and (.config.seed | type) == "number"'
jcheck "agent geometry" '.agent.arena_bytes == 67108864 and .agent.hugepages == false'
jcheck "clock overhead measured" '.clock.overhead_ns_median >= 0 and
	(.clock.source | type) == "string"'
jcheck "memcpy baseline measured" '.baseline.working_set_bytes >= 65536 and
	.baseline.read_gbps > 0 and .baseline.write_gbps > 0 and .baseline.memory == "shmem" and
	.baseline.read_gbps_before > 0 and .baseline.read_gbps_after > 0'
jcheck "four phases: put, get, zget, exists" '[.results[].mode] == ["put", "get", "zget", "exists"]'
for f in mode procs ops bytes errors exists verified faults wall_s ops_per_s \
	 gbps per_proc_gbps latency_ns memcpy_ratio arena_memcpy_gbps; do
	jcheck "every result has $f" "all(.results[]; has(\"$f\"))"
done
for f in samples p50 p99 mean min max; do
	jcheck "every latency has $f" "all(.results[]; .latency_ns | has(\"$f\"))"
done
jcheck "every phase did work, no errors" \
	'all(.results[]; .ops > 0 and .errors == 0 and .procs == 2 and .ops_per_s > 0)'
jcheck "latencies are ordered" \
	'all(.results[]; .latency_ns.samples > 0 and .latency_ns.min <= .latency_ns.p50 and
	     .latency_ns.p50 <= .latency_ns.p99 and .latency_ns.p99 <= .latency_ns.max)'
jcheck "put: every key once" '.results[0].ops == 256 and .results[0].bytes + 65536 * .results[0].exists == 256 * 65536'
jcheck "get/zget: --ops per process" '.results[1].ops == 4000 and .results[2].ops == 4000'
jcheck "get: bytes, GB/s and a memcpy ratio" \
	'.results[1].bytes == 4000 * 65536 and .results[1].gbps > 0 and .results[1].memcpy_ratio > 0'
jcheck "put compares with the write baseline" '.results[0].baseline == "write" and .results[0].memcpy_ratio > 0'
jcheck "zget: no GB/s, no ratio" '.results[2].gbps == null and .results[2].memcpy_ratio == null'
jcheck "get: arena memcpy control" '.results[1].arena_memcpy_gbps > 0 and .results[1].arena_memcpy_ratio > 0'
jcheck "put/zget: no control" '.results[0].arena_memcpy_gbps == null and .results[2].arena_memcpy_gbps == null'
jcheck "content was verified" '[.results[] | select(.mode != "exists") | .verified > 0] | all'
jcheck "exists: --ops batches per process, no GB/s" '.results[3].ops == 4000 and .results[3].gbps == null'

# The agent saw the same: hits only, no misses, no errors.
S=$("$MMC" stat --json)
echo "$S" | jq -e '.errors == 0 and .misses == 0 and .hits > 0 and .evictions == 0' >/dev/null &&
	ok "agent: hits, no misses, no errors, no evictions" || fail "agent stats: $S"

# ---- the text report, once ----
run_bench "$T/run.txt" "$T/run.err" -m all -s 4K -n 64 --ops 500 --seed 7
rc=$?
[ "$rc" -eq 0 ] && ok "text mode: exit 0" || fail "text mode: exit $rc: $(cat "$T/run.err")"
for pat in '^mmc-bench: agent ' 'clock_gettime' 'memcpy baseline' '^mode +procs' \
	   '^put +1 +64 ' '^get +1 +500 ' '^zget +1 +500 ' '^exists +1 +500 '; do
	grep -Eq "$pat" "$T/run.txt" && ok "text has '$pat'" ||
		fail "text lacks '$pat': $(cat "$T/run.txt")"
done

# ---- failures a user can cause ----
run_bench "$T/e1.out" "$T/e1.err" --socket "$T/none.sock" -n 4 -s 4K
rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot connect" "$T/e1.err" && grep -q "$T/none.sock" "$T/e1.err" &&
	ok "no agent: exit 1, '$(cat "$T/e1.err")'" || fail "no agent: rc $rc, $(cat "$T/e1.err")"
run_bench "$T/e2.out" "$T/e2.err" --socket "$T/none.sock" -n 4 -s 4K --json
rc=$?
[ "$rc" -eq 1 ] && jq -e '.ok == false and (.error | test("cannot connect"))' "$T/e2.out" >/dev/null &&
	ok "no agent, --json: ok false" || fail "no agent --json: rc $rc, $(cat "$T/e2.out")"
run_bench "$T/e3.out" "$T/e3.err" -s 1M -n 100
rc=$?
[ "$rc" -eq 1 ] && grep -q "arena too small" "$T/e3.err" &&
	ok "100 x 1 MiB in a 64 MiB arena: exit 1, 'arena too small'" ||
	fail "arena too small: rc $rc, $(cat "$T/e3.err")"
for args in "-m bogus" "-s 12X" "-p 0" "--ops 0" "stray"; do
	# shellcheck disable=SC2086
	run_bench "$T/e4.out" "$T/e4.err" $args
	rc=$?
	[ "$rc" -eq 2 ] && [ -s "$T/e4.err" ] && ok "usage '$args': exit 2" ||
		fail "usage '$args': rc $rc"
done
# ---- mmc-bench fair: every phase runs and reports (speed not asserted) ----
run_bench "$T/fair.json" "$T/fair.err" fair --idle 40 --flood stat --flood-threads 2 \
	--ops 3000 --json
rc=$?
J=$T/fair.json
[ "$rc" -eq 0 ] && ok "mmc-bench fair: exit 0" || fail "mmc-bench fair: rc $rc, $(cat "$T/fair.err")"
jcheck "fair: four phases, latencies and the flood measured" '.ok and .idle == 40 and
	([.phases[].name] == ["alone", "flood", "idle", "idle+flood"]) and
	all(.phases[]; .p50_ns > 0 and .p99_ns >= .p50_ns) and
	.phases[1].flood_per_s > 0 and .phases[3].flood_per_s > 0'
out=$(MMC_SOCKET=$T/main.sock "$MMC" stat --json)
[ "$(jq .clients <<<"$out")" = 1 ] && ok "fair: its idle sessions and flooder are gone" ||
	fail "fair left sessions: $out"
run_bench "$T/e6.out" "$T/e6.err" fair --flood nope
rc=$?
[ "$rc" -eq 2 ] && ok "fair --flood nope: exit 2" || fail "fair usage: rc $rc"

# ---- bench/verify.sh: the cost of verify, one small round (speed not asserted) ----
MMC_BIN=$BIN bash "$(dirname "${BASH_SOURCE[0]}")/../bench/verify.sh" --reps 1 --sizes 4K \
	--keys 256 >"$T/verify.out" 2>"$T/verify.err"
rc=$?
rows=$(awk '$1 == "4K" && $4 > 0 && $5 > 0 && $6 > 0' "$T/verify.out" | wc -l)
[ "$rc" -eq 0 ] && [ "$rows" -eq 6 ] && ok "bench/verify.sh: six measured rows" ||
	fail "bench/verify.sh: rc $rc, $rows rows: $(cat "$T/verify.out" "$T/verify.err")"

# ---- bench/cluster.sh: remote gets over a veth, one small round ----
# (root: network namespaces; not under ASan: /usr/bin/python3 would load
# the sanitized extension without its runtime - test_python covers that)
so=$(ls "$BIN"/../python/mmc/_mmc*.so 2>/dev/null | head -n 1)
if [ "$(id -u)" -ne 0 ]; then
	ok "bench/cluster.sh: skipped (needs root)"
elif [ -z "$so" ] || nm -D "$so" 2>/dev/null | grep __asan_init >/dev/null; then
	ok "bench/cluster.sh: skipped (no Python package, or a sanitized one)"
else
	bash "$(dirname "${BASH_SOURCE[0]}")/../bench/cluster.sh" --quick --bin "$BIN" \
		>"$T/cluster.out" 2>"$T/cluster.err"
	rc=$?
	rows=$(awk '$1 == "1M" && $3 > 0 && $4 > 0 && $5 > 0' "$T/cluster.out" | wc -l)
	[ "$rc" -eq 0 ] && [ "$rows" -eq 1 ] && ok "bench/cluster.sh: a measured row" ||
		fail "bench/cluster.sh: rc $rc: $(cat "$T/cluster.out" "$T/cluster.err")"
	MMC_BIN=$BIN bash "$(dirname "${BASH_SOURCE[0]}")/../bench/push.sh" --quick --bin "$BIN" \
		>"$T/push.out" 2>"$T/push.err"
	rc=$?
	rows=$(awk '($1 == "page" || $1 == "record") && $2 > 0 && $4 > 0' "$T/push.out" | wc -l)
	[ "$rc" -eq 0 ] && [ "$rows" -eq 2 ] && ok "bench/push.sh: page and record measured" ||
		fail "bench/push.sh: rc $rc: $(tail -20 "$T/push.out" "$T/push.err")"
fi

run_bench "$T/help.out" "$T/e5.err" --help
rc=$?
[ "$rc" -eq 0 ] && grep -q -- "--procs" "$T/help.out" && ok "--help" || fail "--help: rc $rc"

finish_checks
