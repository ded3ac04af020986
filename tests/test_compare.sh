#!/bin/bash
# test_compare.sh - bench/compare.sh --quick end to end: it starts its own
# memcached, redis-server and mmc-agent, runs every store x workload x
# process count x form, and prints one table.  Asserted: exit 0, every row
# of the table there with positive numbers, every run's JSON ok with content
# verified and no mismatch, the verdicts printed, --report DIR printing the
# same table again, and nothing left running.
# No speed is asserted: this runs on shared CI machines.
#
# Exit 77 (skipped, with the reason) when memcached, redis-server,
# redis-cli or jq are missing, or mmc-bench was built without its memcached
# and Redis stores (no libmemcached-dev / libhiredis-dev).  The same holds
# for ASan builds (MMC_SANITIZE): the script runs the binaries in $MMC_BIN.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SRC=${MMC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CMP=$SRC/bench/compare.sh
make_tmp compare

for x in "$AGENT" "$MMC" "$BIN/mmc-bench"; do
	[ -x "$x" ] || die "$x not built"
done
for x in memcached redis-server redis-cli; do
	command -v "$x" >/dev/null || skip "$x not installed (scripts/install-deps.sh)"
done
require_jq
STORES=$("$BIN/mmc-bench" --help | sed -n 's/^stores built in: //p')
for s in memcached redis; do
	[[ " $STORES " == *" $s "* ]] ||
		skip "mmc-bench built without the $s store (libmemcached-dev/libhiredis-dev)"
done
export MMC_BIN=$BIN

# ---- usage ----
bash "$CMP" --help >"$T/help.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && grep -q -- "--quick" "$T/help.out" && ok "--help" || fail "--help: rc $rc"
bash "$CMP" --bogus >/dev/null 2>"$T/bad.err"
rc=$?
[ "$rc" -eq 2 ] && [ -s "$T/bad.err" ] && ok "bad argument: exit 2" || fail "bad argument: rc $rc"

# ---- the quick run (background, so lib.sh's trap can stop it) ----
OUT=$T/out
start=$SECONDS
bash "$CMP" --quick --out "$OUT" >"$T/run.out" 2>"$T/run.err" &
pid=$!
track "$pid"
wait "$pid"
rc=$?
took=$((SECONDS - start))
[ "$rc" -eq 0 ] && ok "compare.sh --quick: exit 0 in ${took} s" ||
	die "compare.sh --quick: exit $rc: $(tail -n 20 "$T/run.err")"

# Every run's JSON: ok, no errors, reads verified byte for byte.
n=0
for j in "$OUT"/*.json; do
	n=$((n + 1))
	jq -e '.ok == true and
	       ([.results[] | select(.mode == "put")] | length) == 3 and
	       all(.results[]; .ops > 0 and .calls > 0 and .ops_per_s > 0) and
	       all(.results[] | select(.mode != "put"); .verified > 0 and .gets > 0 and .puts > 0)' \
		"$j" >/dev/null || fail "run $(basename "$j"): $(head -c 300 "$j")"
done
# 2 sizes x 2 process counts x 2 forms x 3 stores
[ "$n" -eq 24 ] && ok "24 runs, all ok, three put rounds, content verified, gets and puts mixed" ||
	fail "expected 24 JSON results, found $n"
if grep -l "MISMATCH" "$OUT"/*.err "$T/run.err" >/dev/null 2>&1; then
	fail "content mismatch: $(grep -h MISMATCH "$OUT"/*.err | head -3)"
else
	ok "no content mismatch"
fi

# Every row of the table, with positive numbers.
S=$OUT/summary.txt
[ -s "$S" ] && cmp -s "$S" <(tail -n "$(wc -l <"$S")" "$T/run.out") &&
	ok "summary.txt is the table printed" || fail "summary.txt differs from the output"
rows=0
for size in 4K 1M; do for procs in 1 2; do for form in single batch; do
	for row in "put-only:mmc copy" "put-only:memcached" "put-only:redis" \
		   "get 95/5:mmc copy" "get 95/5:mmc 0-copy" "get 95/5:memcached" \
		   "get 95/5:redis"; do
		wl=${row%%:*} st=${row#*:}
		line=$(grep -E "^$size +$wl +$procs +$form +$st " "$S")
		if [ -z "$line" ]; then
			fail "no row '$size $wl $procs $form $st'"
			continue
		fi
		rows=$((rows + 1))
		# ops/s, p50, p99 positive; GB/s too where the store copies
		rest=${line#*"$st"}
		read -r ops gb p50 _ p99 _ memcpy _ <<<"$rest"
		[[ $ops =~ ^[0-9.]+[kM]?$ ]] && [ "${ops%[kM]}" != 0 ] ||
			fail "row '$size $wl $procs $form $st': ops/s '$ops'"
		[ "$gb" = - ] && [ "$st" = "mmc 0-copy" ] || awk -v g="$gb" 'BEGIN{exit !(g > 0)}' ||
			fail "row '$size $wl $procs $form $st': GB/s '$gb'"
		awk -v a="$p50" -v b="$p99" -v m="$memcpy" 'BEGIN{exit !(a > 0 && b > 0 && m > 0)}' ||
			fail "row '$size $wl $procs $form $st': p50 '$p50' p99 '$p99' memcpy '$memcpy'"
	done
done; done; done
[ "$rows" -eq 56 ] && ok "all 56 rows present, numbers positive" || fail "$rows of 56 rows"
grep -Eq "^4K +get 95/5 +1 +single +mmc copy .* [0-9.]+x +[0-9.]+x$" "$S" &&
	ok "mmc rows carry both ratios" || fail "mmc rows lack the ratios"

# The verdicts, information only.
for v in "4K   mmc copy ops/s >= 10x memcached" "4K   mmc copy ops/s >= 10x redis" \
	 "1M   mmc copy GB/s >= 2x memcached" "1M   mmc copy >= 80% of memcpy" \
	 "1M   mmc zero-copy ops/s >= 100x redis"; do
	grep -qF "$v" "$S" && ok "verdict '$v'" || fail "no verdict '$v'"
done
grep -Eq "(PASS|FAIL)" "$S" && ok "verdicts say PASS/FAIL" || fail "no PASS/FAIL"

# The same table again from the results directory alone.
bash "$CMP" --report "$OUT" >"$T/report.out" 2>&1 && cmp -s "$T/report.out" "$S" &&
	ok "--report DIR prints the same table" ||
	fail "--report: $(diff "$T/report.out" "$S" | head -5)"

# Its children are gone: no server on the ports it printed.
read -r mc_port rd_port < <(sed -n 's/^compare.sh: memcached :\([0-9]*\) .*redis :\([0-9]*\) .*/\1 \2/p' \
	"$T/run.out")
if [ -n "${mc_port:-}" ] && [ -n "${rd_port:-}" ]; then
	if (exec 3<>"/dev/tcp/127.0.0.1/$mc_port") 2>/dev/null ||
	   (exec 3<>"/dev/tcp/127.0.0.1/$rd_port") 2>/dev/null; then
		fail "a server still listens after the script ended"
	else
		ok "memcached and redis-server stopped with the script"
	fi
else
	fail "the ports line is missing: $(head -n 2 "$T/run.out")"
fi

# ... and so is its agent (its socket is in the script's work directory).
if pgrep -f -- "--socket /tmp/mmc-compare-work-[^ ]*/agent.sock" >/dev/null; then
	fail "an mmc-agent of compare.sh still runs"
else
	ok "its mmc-agent stopped with the script"
fi

finish_checks
