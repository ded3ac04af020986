#!/usr/bin/env bash
# ab.sh - the local hit numbers of two builds, in alternating runs on fresh
# agents (a shared, noisy machine drifts: alternating spreads the drift
# over both).
#
#   bench/ab.sh [--rounds N] [--hugepages on|off] A_BIN B_BIN [MMC-BENCH ARGS...]
#
# A_BIN and B_BIN are build bin directories (mmc-agent and mmc-bench of
# the same tree are used together: their protocol must match).  Each round
# starts A's agent (2 GiB arena), runs A's mmc-bench (default args:
# -s 1M -n 1024 -m all), stops it, then the same for B.  Prints one line
# per run - copying get GB/s, get/memcpy, get/arena-memcpy, put GB/s,
# zero-copy p50 and p99 - and the median of each column per build.
set -euo pipefail
ROUNDS=3 HP=off
while [ $# -gt 0 ]; do
	case $1 in
		--rounds) ROUNDS=$2; shift 2 ;;
		--hugepages) HP=$2; shift 2 ;;
		-h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
		*) break ;;
	esac
done
[ $# -ge 2 ] || { echo "usage: ab.sh [--rounds N] A_BIN B_BIN [ARGS...]" >&2; exit 2; }
A=$1 B=$2
shift 2
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(-s 1M -n 1024 -m all)
T=$(mktemp -d /tmp/mmc-ab-XXXXXX)
APID=
trap '[ -n "$APID" ] && kill "$APID" 2>/dev/null; rm -rf "$T"' EXIT

run() {   # bin label
	: >"$T/a.conf"
	rm -f "$T/a.sock" "$T/a.sock.stats"
	"$1/mmc-agent" --config "$T/a.conf" --socket "$T/a.sock" --arena-size 2G \
		--hugepages "$HP" >"$T/agent.log" 2>&1 &
	APID=$!
	for _ in $(seq 300); do
		MMC_SOCKET=$T/a.sock "$1/mmc" stat >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$1/mmc-bench" --socket "$T/a.sock" "${ARGS[@]}" --json >"$T/out.json"
	kill "$APID"
	wait "$APID" || true
	APID=
	python3 - "$2" "$T/out.json" >>"$T/rows" <<'EOF'
import json, sys
d = json.load(open(sys.argv[2]))
r = {x["mode"]: x for x in d["results"]}
g, p, z = r.get("get", {}), r.get("put", {}), r.get("zget", {})
def f(x, k, s=1.0):
    v = x.get(k)
    return "%.3f" % (v * s) if isinstance(v, (int, float)) else "-"
print(sys.argv[1], f(g, "gbps"), f(g, "memcpy_ratio"), f(g, "arena_memcpy_ratio"),
      f(p, "gbps"), f(z.get("latency_ns", {}), "p50"), f(z.get("latency_ns", {}), "p99"))
EOF
	tail -n 1 "$T/rows"
}

echo "build get_GB/s get/memcpy get/arena_memcpy put_GB/s zget_p50_ns zget_p99_ns"
for ((i = 0; i < ROUNDS; i++)); do
	run "$A" A
	run "$B" B
done
python3 - "$T/rows" "$A" "$B" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for tag, path in (("A", sys.argv[2]), ("B", sys.argv[3])):
    cols = list(zip(*[r[1:] for r in rows if r[0] == tag]))
    med = [statistics.median(float(v) for v in c if v != "-") if any(v != "-" for v in c)
           else float("nan") for c in cols]
    print("median %s (%s): get %.2f GB/s, get/memcpy %.3f, get/arena_memcpy %.3f, "
          "put %.2f GB/s, zget p50 %.0f ns, p99 %.0f ns" % ((tag, path) + tuple(med)))
EOF
