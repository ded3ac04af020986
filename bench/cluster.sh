#!/usr/bin/env bash
# cluster.sh - a remote get between two nodes, against the wire and against
# memcached and Redis on the same wire.
#
#   sudo bash bench/cluster.sh [--quick] [--bin build/bin] [--sizes 1M,4M]
#                              [--count 64] [--rounds 5]
#
# Two network namespaces (A, B) joined by one veth pair, in the same run:
#   ping     B -> A round trip (20 pings)
#   iperf3   one TCP stream B <- A: the wire's single-stream GB/s
#   mmc      agents in A and B ([cluster], tls = off); values put on A whose
#            home is A, read on B with one batch get: each a local miss that
#            B's agent fetches from A (bench/cluster.py); then the same
#            with batch_acquire, zero copy: B's client reads each value
#            where it landed in B's arena
#   mmc TLS  the same with a second pair of agents, tls = on (a CA made
#            here with openssl)
#   memcached, Redis   on A, read from B with get_many / MGET
# Prints GB/s and the ratios mmc/iperf3, zero-copy/iperf3, mmc/memcached,
# mmc/Redis.  Needs
# root; Debian's iperf3, iputils-ping, memcached, redis-server, python3-redis
# and python3-pymemcache (scripts/install-deps.sh).  --quick: one small
# round of each (what test_bench runs; the numbers mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=build/bin SIZES=1M,4M COUNT=64 ROUNDS=5 QUICK=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 SIZES=1M COUNT=8 ROUNDS=1 ;;
	--bin) BIN=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	--count) COUNT=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	*) echo "usage: bench/cluster.sh [--quick] [--bin DIR] [--sizes 1M,4M] [--count N] [--rounds N]" >&2
	   exit 2 ;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || { echo "cluster.sh: needs root (network namespaces)" >&2; exit 77; }
for c in ip iperf3 ping memcached redis-server; do
	command -v $c >/dev/null || { echo "cluster.sh: no $c (scripts/install-deps.sh)" >&2; exit 77; }
done
PY=/usr/bin/python3
PYDIR=$(cd "$BIN/.." && pwd)/python

T=$(mktemp -d /tmp/mmc-bench-cluster-XXXXXX)
TAG=mb$$ NA=mb$$-a NB=mb$$-b
IPA=10.79.0.1 IPB=10.79.0.2
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	ip netns del "$NA" 2>/dev/null || true
	ip netns del "$NB" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
ip netns add "$NA"
ip netns add "$NB"
ip link add "${TAG}a" netns "$NA" type veth peer name "${TAG}b" netns "$NB"
ip -n "$NA" addr add $IPA/24 dev "${TAG}a"
ip -n "$NB" addr add $IPB/24 dev "${TAG}b"
for n in "$NA" "$NB"; do ip -n "$n" link set lo up; done
ip -n "$NA" link set "${TAG}a" up
ip -n "$NB" link set "${TAG}b" up

# wait_port NS HOST PORT: until something accepts there (bounded: 10 s).
wait_port() {
	for _ in $(seq 100); do
		ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "cluster.sh: nothing listens on $2:$3" >&2
	exit 1
}
start_agent() {   # NAME NS ADDR PORT [TLS]: node_id is the name without its 't'
	local id=${1#t}
	cat >"$T/$1.conf" <<-EOF
	[agent]
	socket = $T/$1.sock
	log_level = warn
	[arena]
	size = 1G
	[cluster]
	node_id = $id
	listen = $3:$4
	peers = a@$IPA:$4, b@$IPB:$4
	push = page
	timeout_ms = 2000
	EOF
	if [ -n "${5:-}" ]; then
		printf 'tls = on\ncert = %s\nkey = %s\nca = %s\n' "$T/$id.pem" "$T/$id.key" \
			"$T/ca.pem" >>"$T/$1.conf"
	else
		echo "tls = off" >>"$T/$1.conf"
	fi
	ip netns exec "$2" "$BIN/mmc-agent" --config "$T/$1.conf" 2>>"$T/$1.log" &
	PIDS+=($!)
	wait_port "$2" "$3" "$4"
}
# a CA and a certificate for a and b (CN and subjectAltName = the node_id)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
	-out "$T/ca.pem" -days 2 -subj "/CN=bench CA" 2>/dev/null
for id in a b; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$id.key" \
		-out "$T/$id.csr" -subj "/CN=$id" 2>/dev/null
	printf 'subjectAltName=DNS:%s\n' "$id" >"$T/$id.ext"
	openssl x509 -req -in "$T/$id.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
		-out "$T/$id.pem" -days 2 -extfile "$T/$id.ext" 2>/dev/null
done

rtt=$(ip netns exec "$NB" ping -q -c 20 -i 0.01 $IPA | awk -F/ '/^rtt/ { print $5 }')
ip netns exec "$NA" iperf3 -s -B $IPA >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$NB" $IPA 5201
secs=$([ "$QUICK" = 1 ] && echo 1 || echo 5)
iperf=$(ip netns exec "$NB" iperf3 -c $IPA -R -t "$secs" -J |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e9)')
start_agent a "$NA" $IPA 7700
start_agent b "$NB" $IPB 7700
start_agent ta "$NA" $IPA 7701 tls
start_agent tb "$NB" $IPB 7701 tls
ip netns exec "$NA" memcached -u root -l $IPA -p 11211 -U 0 -m 2048 -I 8m -t 1 &
PIDS+=($!)
ip netns exec "$NA" redis-server --bind $IPA --port 6379 --save '' --appendonly no \
	--protected-mode no --proto-max-bulk-len 64mb >/dev/null &
PIDS+=($!)
wait_port "$NB" $IPA 11211
wait_port "$NB" $IPA 6379
for n in a b ta tb; do   # each serves, and sees the other up
	for _ in $(seq 100); do
		MMC_SOCKET=$T/$n.sock "$BIN/mmc" stat 2>/dev/null | grep -q '^peers_up  *1$' && break
		sleep 0.1
	done
done

json=$(ip netns exec "$NB" "$PY" bench/cluster.py --a-sock "$T/a.sock" --b-sock "$T/b.sock" \
	--tls-socks "$T/ta.sock,$T/tb.sock" \
	--host $IPA --python "$PYDIR" --sizes "$SIZES" --count "$COUNT" --rounds "$ROUNDS")
"$PY" - "$json" "$iperf" "$rtt" <<'EOF'
import json, sys
r, iperf, rtt = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
ex = r.pop("exists_us")
print(f"veth B<-A: ping rtt {rtt} ms, iperf3 one stream {iperf:.2f} GB/s")
print(f"batch_exists of 128 keys homed on A, asked on B: {ex:.1f} us"
      f" = {ex / (float(rtt) * 1000):.1f} x ping rtt (target <= 2 x rtt + 20 us ="
      f" {2 * float(rtt) * 1000 + 20:.0f} us)")
print(f"{'size':>5} {'keys':>5} {'mmc GB/s':>9} {'zero-copy':>10} {'TLS GB/s':>9}"
      f" {'memcached':>10} {'Redis':>7} {'mmc/iperf3':>11} {'zc/iperf3':>10} {'TLS/iperf3':>11}"
      f" {'mmc/memcached':>14} {'mmc/Redis':>10}")
for s, v in r.items():
    print(f"{s:>5} {v['mmc_keys']:>5} {v['mmc']:>9.2f} {v['mmc_zc']:>10.2f} {v['mmc_tls']:>9.2f}"
          f" {v['memcached']:>10.2f} {v['redis']:>7.2f} {v['mmc'] / iperf:>11.2f}"
          f" {v['mmc_zc'] / iperf:>10.2f} {v['mmc_tls'] / iperf:>11.2f}"
          f" {v['mmc'] / v['memcached']:>14.2f} {v['mmc'] / v['redis']:>10.2f}")
EOF
