#!/usr/bin/env bash
# verify.sh - what checking values against the writer's checksum costs:
# puts and copying gets of 4 KiB, 64 KiB and 1 MiB with [agent] verify =
# off, sampled and always, as ratios against off measured in the same run.
#
#   bench/verify.sh [--reps N] [--sizes "4K 64K 1M"] [--keys N]
#
# For each size, REPS rounds (default 3) of off, sampled, always in turn,
# each against a fresh private agent (2 GiB arena, 4 KiB pages) running
# `mmc-bench -s SIZE -n N -m put,get` (N: 16384, 4096 or 1024 keys by
# size, or --keys N; tests run --reps 1 --sizes 4K --keys 256).  The table
# shows each mode's median p50 and ops/s and its ratio to off (time ratios:
# >1 is slower).  Puts of mode off store no checksum, so the put ratios are
# the writer's crc32c; the get ratios are the reader's.  Exit status: 0,
# 1 failure, 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MMC_BIN:-build/bin}
REPS=3 SIZES="4K 64K 1M" KEYS=
while [ $# -gt 0 ]; do
	case $1 in
		--reps) REPS=$2; shift 2 ;;
		--sizes) SIZES=$2; shift 2 ;;
		--keys) KEYS=$2; shift 2 ;;
		-h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
		*) echo "verify.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
T=$(mktemp -d /tmp/mmc-verify-XXXXXX)
APID=
cleanup() {
	[ -n "$APID" ] && kill "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# run MODE SIZE N: one mmc-bench run against a fresh agent; appends
# "MODE SIZE op p50 ops/s" lines to $T/raw.
run() {
	rm -f "$T/a.sock" "$T/a.sock.stats"
	"$BIN/mmc-agent" --config /dev/null --socket "$T/a.sock" --arena-size 2G \
		--hugepages off --verify "$1" >"$T/agent.log" 2>&1 &
	APID=$!
	for _ in $(seq 200); do
		MMC_SOCKET=$T/a.sock "$BIN/mmc" stat >/dev/null 2>&1 && break
		kill -0 "$APID" 2>/dev/null || { cat "$T/agent.log" >&2; exit 1; }
		sleep 0.05
	done
	MMC_SOCKET=$T/a.sock "$BIN/mmc-bench" -s "$2" -n "$3" -m put,get >"$T/out"
	awk -v m="$1" -v s="$2" '($1 == "put" || $1 == "get") && $2 ~ /^[0-9]+$/ { print m, s, $1, $7, $4 }' \
		"$T/out" >>"$T/raw"
	kill "$APID"; wait "$APID" || true; APID=
}

for size in $SIZES; do
	case $size in 4K) n=16384 ;; 64K) n=4096 ;; *) n=1024 ;; esac
	n=${KEYS:-$n}
	for _ in $(seq "$REPS"); do
		for mode in off sampled always; do run "$mode" "$size" "$n"; done
	done
done

echo "mmc-bench -s SIZE -n N -m put,get, median of $REPS fresh agents per mode;"
echo "ratio = this mode's p50 / off's p50 (and off's ops/s / this mode's)"
printf '%-5s %-4s %-8s %10s %10s %8s %8s\n' size op mode 'p50 ns' 'ops/s' 'p50 x' 'ops x'
awk '
	function median(list,   a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return a[int((n + 1) / 2)]
	}
	{ k = $2 " " $3 " " $1; p[k] = p[k] " " $4; o[k] = o[k] " " $5
	  if (!(($2 " " $3) in seen)) { seen[$2 " " $3] = 1; order[++n] = $2 " " $3 } }
	END {
		split("off sampled always", modes, " ")
		for (i = 1; i <= n; i++) {
			bp = median(p[order[i] " off"]); bo = median(o[order[i] " off"])
			for (m = 1; m <= 3; m++) {
				k = order[i] " " modes[m]; mp = median(p[k]); mo = median(o[k])
				split(order[i], so, " ")
				printf "%-5s %-4s %-8s %10d %10d %8.3f %8.3f\n", so[1], so[2],
					modes[m], mp, mo, mp / bp, bo / mo
			}
		}
	}' "$T/raw"
