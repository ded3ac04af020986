#!/usr/bin/env bash
# push.sh - what a home learns of a put: the page (push = page) or a record
# of who holds it (push = record), measured on the same three nodes in one
# run (docs/cluster.md, "Page or record").
#
#   sudo bash bench/push.sh [--quick] [--bin build/bin] [--size 1M] [--count 64]
#
# Three network namespaces on a bridge (tests/cluster-lib.sh), agents a, b,
# c started with each mode in turn: A puts, B reads what it does not hold
# (bench/push.py).  Prints, per mode: A's put GB/s, network bytes per byte
# put, B's remote batch get GB/s, single remote get p50/p90.  --quick: small
# values, few keys (what test_bench runs; the numbers mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
MMC_BIN=build/bin SIZE=1M COUNT=64
while [ $# -gt 0 ]; do
	case $1 in
	--quick) SIZE=64K COUNT=8 ;;
	--bin) MMC_BIN=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--count) COUNT=$2; shift ;;
	*) echo "usage: bench/push.sh [--quick] [--bin DIR] [--size 1M] [--count N]" >&2; exit 2 ;;
	esac
	shift
done
export MMC_BIN
CLUSTER_ARENA=1G
. tests/lib.sh
. tests/cluster-lib.sh bench-push
PYDIR=$(cd "$MMC_BIN/.." && pwd)/python
bytes=$(numfmt --from=iec "$SIZE")
echo "three agents on a bridge; A puts $COUNT x $SIZE, B reads what it does not hold"
printf '%-7s %9s %12s %9s %9s %9s\n' push "put GB/s" "net B/put B" "get GB/s" "p50 us" "p90 us"
for mode in page record; do
	node_conf() { printf 'tls = off\npush = %s\n' "$mode"; }
	start_all >/dev/null
	json=$(ip netns exec "${NS[b]}" /usr/bin/python3 bench/push.py --python "$PYDIR" \
		--socks "$T/a.sock,$T/b.sock,$T/c.sock" --size "$bytes" --count "$COUNT")
	/usr/bin/python3 -c 'import json,sys; r=json.loads(sys.argv[2]); print("%-7s %9.2f %12.3f %9.2f %9.0f %9.0f" % (sys.argv[1], r["put_gbps"], r["net_per_put"], r["get_gbps"], r["get_p50_us"], r["get_p90_us"]))' "$mode" "$json"
	for n in "${NODES[@]}"; do kill -TERM "${PID[$n]}"; wait "${PID[$n]}" || true; done
done
PASSED=1
