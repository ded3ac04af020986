#!/bin/bash
# test_trace.sh - mmc-bench trace end to end: the offline caches reproduce
# the trace's published hit rates, a replay against a real (private) agent
# reaches the exact LRU's block hit rate within one point and checks every
# byte it reads, the paced and multi-process paths and the --socket path run,
# and bad input (no file, a malformed line, bad options) fails with a
# message.  No speed is asserted.
#
# The trace is ../shared/traces/synthetic_trace.jsonl next to the checkout
# (or $MMC_TRACE); without it the test is skipped (77) and says so.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH=$BIN/mmc-bench
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TRACE=${MMC_TRACE:-$SRC/../shared/traces/synthetic_trace.jsonl}
make_tmp trace

[ -x "$BENCH" ] || { echo "FAIL: $BENCH not built" >&2; exit 1; }
[ -r "$TRACE" ] || skip "no trace at $TRACE (set MMC_TRACE)"
require_jq

# run OUT ARGS...: mmc-bench trace in the background (the trap kills it);
# returns its exit status, stderr in OUT.err.
run() {
	local out=$1 pid
	shift
	"$BENCH" trace "$@" >"$out" 2>"$out.err" &
	pid=$!
	track "$pid"
	wait "$pid"
}
# jcheck FILE WHAT FILTER: the jq filter must yield true on FILE.
jcheck() {
	if jq -e "$3" "$1" >/dev/null 2>&1; then ok "$2"; else
		fail "$2 ($3): $(head -c 600 "$1") $(head -c 300 "$1.err" 2>/dev/null)"; fi
}

# ---- offline: the reference figures of ../shared/traces/README.md ----
for row in "2000 14.4" "5000 27.9" "10000 42.4" "20000 57.2"; do
	set -- $row
	run "$T/off$1.json" "$TRACE" --offline-only --blocks "$1" --json
	jcheck "$T/off$1.json" "offline LRU at $1 blocks ~ $2 %" \
		".ok and (.lru.block_hit_pct - $2 | fabs) < 0.1 and .lru.capacity == $1"
done
jcheck "$T/off10000.json" "unbounded ~ 64.0 %, 43,924 distinct blocks" \
	'(.unbounded.block_hit_pct - 64.0 | fabs) < 0.1 and .distinct_blocks == 43924 and
	 .requests == 3993 and .block_refs == 121877'

# ---- replay against a private agent: exact capacity, whole trace ----
if run "$T/q.json" "$TRACE" --quick --expect-lru 1 --json; then
	ok "quick replay: exit 0 with --expect-lru 1"
else
	fail "quick replay: exit $?: $(cat "$T/q.json.err")"
fi
jcheck "$T/q.json" "agent within 1 point of the exact LRU (10,000 blocks)" \
	'.ok and .capacity_blocks == 10000 and .gap_to_lru_pp >= -1 and
	 .agent.blocks == 121877'
jcheck "$T/q.json" "hit blocks were read: bytes match the count" \
	'.agent.hit_blocks > 10000 and .bytes_read == .agent.hit_blocks * 4096 and
	 .store_s > 0 and .store_s <= .wall_s'
jcheck "$T/q.json" "misses were put, the agent evicted" \
	'.puts > 10000 and .bytes_written == .puts * 4096 and .agent.evictions > 0 and
	 .put_failed == 0'
jcheck "$T/q.json" "latencies of every call kind" \
	'.latency_ns.exists.n == 3993 and .latency_ns.put.n > 0 and .latency_ns.get.n > 0
	 and .latency_ns.request.p99 >= .latency_ns.request.p50'

# A hand-made trace with a known answer: a prompt shorter than one block
# (no hash ids), then the same two-block prompt twice: 2 of 4 blocks hit,
# 600 of 1,300 tokens (the second prompt's tokens, capped at its length).
# DRAM of 2,000 blocks and an SSD tier of 18,000 (a file in the private
# agent's directory): judged against an exact LRU of 18,000 (inclusive tiers).
if run "$T/ssd.json" "$TRACE" --quick --blocks 2000 --ssd-blocks 18000 --expect-lru 1 --json; then
	ok "replay with an SSD tier: exit 0 with --expect-lru 1"
else
	fail "replay with an SSD tier: exit $?: $(cat "$T/ssd.json.err")"
fi
jcheck "$T/ssd.json" "DRAM + SSD within 1 point of LRU(18000), far above DRAM alone" \
	'.ok and .lru_ssd.capacity == 18000 and .gap_to_lru_pp >= -1 and
	 .agent.block_hit_pct > .lru.block_hit_pct + 30 and
	 .bytes_read == .agent.hit_blocks * 4096'
# (4 KiB blocks: each is written with its 512-byte header, so at least
# 1.125; below 2, which was a 4 KiB header per block before write groups.)
jcheck "$T/ssd.json" "pages went down and came back; write amplification measured" \
	'.ssd.demotions > 10000 and .ssd.promotions > 10000 and
	 .ssd.write_amplification >= 1.125 and .ssd.write_amplification < 2'

printf '%s\n' '{"timestamp": 0, "input_length": 100, "hash_ids": []}' \
	'{"timestamp": 1, "input_length": 600, "hash_ids": [7, 8]}' \
	'{"timestamp": 2, "input_length": 600, "hash_ids": [7, 8]}' >"$T/small.jsonl"
run "$T/small.json" "$T/small.jsonl" --quick --blocks 1024 --json
jcheck "$T/small.json" "hand-made trace: exact counts" \
	'.ok and .agent.hit_blocks == 2 and .agent.blocks == 4 and .puts == 2 and
	 (.agent.token_hit_pct - 600 * 100 / 1300 | fabs) < 0.001 and
	 .lru.hit_blocks == 2 and .unbounded.hit_blocks == 2'

# The text report names the three rows and the verdict.
run "$T/q.txt" "$TRACE" --quick --requests 500
grep -q "agent vs exact LRU" "$T/q.txt" && grep -q "unbounded" "$T/q.txt" &&
	ok "text report" || fail "text report: $(cat "$T/q.txt" "$T/q.txt.err")"

# Two processes at the timestamps (sped up), and a small arena by size.
run "$T/p2.json" "$TRACE" --quick -p 2 --requests 400 --pace trace --speedup 2000 \
	--arena-size 32M --json
jcheck "$T/p2.json" "2 paced processes, --arena-size: ran and checked" \
	'.ok and .procs == 2 and .pace == "trace" and .latency_ns.late.n == 400 and .capacity_blocks == (33554432 / 100 * 90 / 4096 | floor) - 1'

# An agent started by someone else (--socket).
start_agent ext --arena-size 64M --hugepages off --max-objects 2000 || exit 1
run "$T/ext.json" "$TRACE" --quick --requests 1500 --socket "$T/ext.sock" --json
jcheck "$T/ext.json" "--socket: capacity from the agent's index bound" \
	'.ok and .capacity_blocks == 2000 and .gap_to_lru_pp >= -1'

# An agent whose arena, not its index, is the bound: it evicts in batches
# from the high to the low watermark, so it holds a little less than the
# exact LRU of the high watermark; with the default 90/88 that costs well
# under a point (with 90/80 it cost 1.2).
start_agent bytes --arena-size 40M --hugepages off --max-objects 10240 || exit 1
run "$T/bytes.json" "$TRACE" --quick --socket "$T/bytes.sock" --json
jcheck "$T/bytes.json" "byte-bound agent (default watermarks) within 1 point of LRU" \
	'.ok and .capacity_blocks == ((41943040 / 100 | floor) * 90 / 4096 | floor) and
	 .gap_to_lru_pp >= -1 and .agent.evictions > 0'

# A second run against the same agent starts cold like the first (fresh
# keys each run), not warm with the first run's blocks.
run "$T/ext2.json" "$TRACE" --quick --requests 1500 --socket "$T/ext.sock" --json
if [ "$(jq .agent.hit_blocks "$T/ext.json")" = "$(jq .agent.hit_blocks "$T/ext2.json")" ] &&
   jq -e '.ok and .gap_to_lru_pp >= -1' "$T/ext2.json" >/dev/null; then
	ok "--socket: a second run hits exactly as often as the first"
else
	fail "--socket rerun: $(jq -c '.agent' "$T/ext.json") then $(jq -c '.agent' "$T/ext2.json")"
fi
run "$T/big" "$TRACE" --quick --requests 10 --socket "$T/ext.sock" -s 60M
rc=$?
[ "$rc" -eq 1 ] && grep -q "does not fit" "$T/big.err" &&
	ok "--socket: a block bigger than the arena is refused" ||
	fail "block bigger than the arena: exit $rc: $(cat "$T/big.err")"

# SIGTERM: the replayers and the private agent go, and its directory too.
ls -d /tmp/mmc-trace-* >"$T/dirs.before" 2>/dev/null
"$BENCH" trace "$TRACE" --quick -p 2 --pace trace >"$T/term.out" 2>&1 &
pid=$!
track "$pid"
for ((i = 0; i < 200; i++)); do     # bounded: until both replayers run
	[ "$(pgrep -P "$pid" -f 'mmc-bench trace' | wc -l)" -ge 2 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kids=$(pgrep -P "$pid" | tr '\n' ' ')
kill -TERM "$pid"
wait "$pid"
rc=$?
ls -d /tmp/mmc-trace-* >"$T/dirs.after" 2>/dev/null
left=0
for k in $kids; do
	# a child may linger as a zombie of init for a moment: only a live
	# replayer or agent counts
	[ "$(ps -o stat= -p "$k" 2>/dev/null | cut -c1)" = "" ] ||
	[ "$(ps -o stat= -p "$k" | cut -c1)" = Z ] || left=$((left + 1))
done
[ "$rc" -eq 143 ] && [ "$left" -eq 0 ] && cmp -s "$T/dirs.before" "$T/dirs.after" &&
	[ -n "$kids" ] && ok "SIGTERM: exit 143, no replayer or agent left, no directory" ||
	fail "SIGTERM: exit $rc, children '$kids', $left left, dirs: $(cat "$T/dirs.after")"

# ---- bad input ----
run "$T/none" "$T/no-such-file.jsonl"
rc=$?
[ "$rc" -eq 1 ] && grep -q "no-such-file" "$T/none.err" &&
	ok "missing file: exit 1, named" || fail "missing file: exit $rc: $(cat "$T/none.err")"
{ head -n 3 "$TRACE"; echo '{"timestamp": 5, "input_length": 10, "hash_ids": [1, "x"]}'; } >"$T/bad.jsonl"
run "$T/bad" "$T/bad.jsonl" --offline-only
rc=$?
[ "$rc" -eq 1 ] && grep -q "bad.jsonl:4: hash_ids\[1\]" "$T/bad.err" &&
	ok "malformed line: exit 1, line number named" ||
	fail "malformed line: exit $rc: $(cat "$T/bad.err")"
printf '%s\n' '{"timestamp": 0, "input_length": 600, "hash_ids": [0]}' \
	'{"timestamp": 1, "input_length": 600, "hash_ids": [4294967296]}' >"$T/wide.jsonl"
run "$T/wide.json" "$T/wide.jsonl" --offline-only --blocks 1024 --json
jcheck "$T/wide.json" "64-bit hash ids stay distinct" '.ok and .distinct_blocks == 2 and
	.unbounded.hit_blocks == 0'
printf '%s\n' '{"timestamp": 0, "input_length": 6, "hash_ids": [1]} {"timestamp": 1, "input_length": 6, "hash_ids": [1]}' \
	>"$T/two.jsonl"
run "$T/two" "$T/two.jsonl" --offline-only
rc=$?
[ "$rc" -eq 1 ] && grep -q "two.jsonl:1: not one JSON object" "$T/two.err" &&
	ok "two objects on one line: refused" || fail "two objects on a line: exit $rc"
printf '%s\n' '{"timestamp": "abc", "input_length": 6, "hash_ids": [1]}' >"$T/type.jsonl"
run "$T/type" "$T/type.jsonl" --offline-only
rc=$?
[ "$rc" -eq 1 ] && grep -q "must be numbers" "$T/type.err" &&
	ok "a string timestamp: refused" || fail "string timestamp: exit $rc"
printf '{"timestamp": 0}\n' >"$T/short.jsonl"
run "$T/short" "$T/short.jsonl" --offline-only --json
jcheck "$T/short" "missing fields: JSON error" '.ok == false and (.error | test("hash_ids"))'
for args in "--blocks 10 $TRACE" "-s 1 $TRACE" "--pace slow $TRACE" \
	    "--blocks 5000 --socket /x $TRACE" "--blocks 67108865 $TRACE" \
	    "--offline-only --socket /x $TRACE" ""; do
	# shellcheck disable=SC2086
	run "$T/usage" $args
	rc=$?
	[ "$rc" -eq 2 ] && ok "usage error exits 2: '$args'" ||
		fail "'$args': exit $rc, expected 2"
done
finish_checks
