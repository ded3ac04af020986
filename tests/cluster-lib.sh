# shellcheck shell=bash
# cluster-lib.sh - what the pool's tests share (sourced after lib.sh):
# three nodes a, b, c, each a network namespace with a veth pair on a bridge
# (in a namespace of its own), made now and removed on exit, and an agent
# per node.
#
#	. tests/lib.sh
#	. tests/cluster-lib.sh NAME      # make_tmp NAME, the network
#	node_conf() { ...; }             # optional: [cluster] lines for node $1
#	start_node a                     # (default: tls = off)
#
# CLUSTER_NODES (default "a b c") names the nodes, CLUSTER_ARENA sizes
# their arenas (default 64M); with CLUSTER_ETCD (a
# URL) the agents take their members from etcd (lease 2 s), not peers.
# Sets NODES, NS[n], ADDR[n], BR (the bridge's namespace) and BR_ADDR (its
# address on the bridge), PORT, PEERS, PID[n]; on, stat_of, wait_for,
# pushes_landed (after mark_pushes), ms, up_is, start_all, stop_nodes.  Needs root: exits 77 without it.
# On a failure (or without PASSED=1 at the end) each agent's log is shown.

[ "$(id -u)" -eq 0 ] || skip "needs root: network namespaces and veth pairs"
command -v ip >/dev/null || skip "no ip(8) (iproute2)"
make_tmp "$1"

TAG=m$$
BR=$TAG-br
read -r -a NODES <<<"${CLUSTER_NODES:-a b c}"
NET=10.77.$((($$ % 200) + 1))
BR_ADDR=$NET.254              # the bridge's own address (where etcd listens)
declare -A NS ADDR PID
PORT=7700
PEERS=
for i in "${!NODES[@]}"; do
	n=${NODES[$i]}
	NS[$n]=$TAG-$n
	ADDR[$n]=$NET.$((i + 1))
	PEERS+="${PEERS:+, }$n@${ADDR[$n]}:$PORT"
done

on_cleanup() {
	local n
	if [ "$FAILS" -ne 0 ] || [ "${PASSED:-0}" != 1 ]; then
		for n in "${NODES[@]}"; do
			echo "---- agent $n's log ----" >&2
			tail -n 40 "$T/$n.log" >&2 2>/dev/null || true
		done
	fi
	for n in "${NODES[@]}"; do ip netns del "${NS[$n]}" 2>/dev/null || true; done
	ip netns del "$BR" 2>/dev/null || true
}

# ---- the network: a bridge in its own namespace, one veth pair per node ----
ip netns add "$BR" || skip "cannot create network namespaces"
ip -n "$BR" link add br0 type bridge || skip "no bridge support"
ip -n "$BR" link set br0 up
ip -n "$BR" addr add "$BR_ADDR/24" dev br0
ip -n "$BR" link set lo up
for n in "${NODES[@]}"; do
	ip netns add "${NS[$n]}"
	ip link add "$TAG$n" netns "${NS[$n]}" type veth peer name "p$TAG$n" netns "$BR"
	ip -n "$BR" link set "p$TAG$n" master br0 up
	ip -n "${NS[$n]}" addr add "${ADDR[$n]}/24" dev "$TAG$n"
	ip -n "${NS[$n]}" link set "$TAG$n" up
	ip -n "${NS[$n]}" link set lo up
done

# start_node N: the agent of node N in its namespace; returns once it serves.
start_node() {
	local n=$1 i members="peers = $PEERS"
	[ -z "${CLUSTER_ETCD:-}" ] || members=$'etcd = '"$CLUSTER_ETCD"$'\netcd_ttl_s = 2'
	cat >"$T/$n.conf" <<-EOF
	[agent]
	socket = $T/$n.sock
	log_level = info
	[arena]
	size = ${CLUSTER_ARENA:-64M}
	hugepages = off
	[cluster]
	node_id = $n
	listen = ${ADDR[$n]}:$PORT
	$members
	timeout_ms = 200
	down_after = 3
	retry_ms = 100
	EOF
	if declare -F node_conf >/dev/null; then
		node_conf "$n" >>"$T/$n.conf"
	else
		echo "tls = off" >>"$T/$n.conf"
	fi
	ip netns exec "${NS[$n]}" "$AGENT" --config "$T/$n.conf" >>"$T/$n.log" 2>&1 &
	PID[$n]=$!
	track "${PID[$n]}"
	for ((i = 0; i < 200; i++)); do
		on "$n" "$MMC" stat >/dev/null 2>&1 && return 0
		kill -0 "${PID[$n]}" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/$n.log" >&2
	die "agent $n did not start"
}
on() { local n=$1; shift; MMC_SOCKET=$T/$n.sock "$@"; }
stat_of() { on "$1" "$MMC" stat | awk -v k="$2" '$1 == k { print $2 }'; }
# wait_for WHAT CMD...: polls CMD (bounded: 20 s) until it succeeds.
wait_for() {
	local what=$1 i
	shift
	for ((i = 0; i < 200; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	die "$what: not within 20 s"
}
# pushes_landed: every push a made since mark_pushes was stored by b or c.
mark_pushes() { P0=("$(stat_of a pushes)" "$(stat_of b pushes_received)" "$(stat_of c pushes_received)"); }
pushes_landed() {
	[ $(($(stat_of a pushes) - P0[0])) -eq \
	  $(($(stat_of b pushes_received) - P0[1] + $(stat_of c pushes_received) - P0[2])) ]
}
ms() { echo $(($(date +%s%N) / 1000000)); }
# up_is N NODE...: each NODE sees N other members up.
up_is() {
	local want=$1 n
	shift
	for n in "$@"; do [ "$(stat_of "$n" peers_up)" = "$want" ] || return 1; done
}
# start_all: every node's agent, and each sees all the others up.
start_all() {
	local n
	for n in "${NODES[@]}"; do start_node "$n"; done
	wait_for "every member up" up_is $((${#NODES[@]} - 1)) "${NODES[@]}"
}
# stop_nodes NODE...: a clean stop of each (SIGTERM), which must exit 0.
stop_nodes() {
	local n rc
	for n in "$@"; do
		rc=0
		kill -TERM "${PID[$n]}"
		wait "${PID[$n]}" || rc=$?
		[ "$rc" = 0 ] || fail "agent $n exit status $rc at a clean stop"
	done
}
