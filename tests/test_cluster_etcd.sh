#!/usr/bin/env bash
# test_cluster_etcd.sh - the pool's members kept in a real etcd (Debian's
# etcd-server, started here in the bridge's namespace), four agents in four
# network namespaces:
#
#   join      a, b, c register in etcd and find each other: a put on a is a
#             byte-exact get on b and c
#   leave     b killed (-9): its lease expires, a and c see it leave
#   rejoin    b restarted: it registers again, a and c see it back
#   a fourth  d joins: about a quarter of the keys get d as their home (gets
#             of those miss on c - d never had them), the rest still hit
#   etcd gone etcd stopped: the agents keep their last membership and serve
#   revoke    a clean stop of an agent takes its key out of etcd at once
#
# Needs root (namespaces, veth) and etcd; exits 77 without them.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
command -v etcd >/dev/null || skip "no etcd (Debian's etcd-server: scripts/install-deps.sh)"
CLUSTER_NODES="a b c d"
. tests/cluster-lib.sh cluster-etcd
ETCD_PORT=23790
CLUSTER_ETCD=http://$BR_ADDR:$ETCD_PORT
node_conf() { printf 'tls = off\npush = page\n'; }

ip netns exec "$BR" etcd --name mmc-test --data-dir "$T/etcd" \
	--listen-client-urls "$CLUSTER_ETCD" --advertise-client-urls "$CLUSTER_ETCD" \
	--listen-peer-urls "http://$BR_ADDR:$((ETCD_PORT + 1))" \
	--initial-advertise-peer-urls "http://$BR_ADDR:$((ETCD_PORT + 1))" \
	--initial-cluster "mmc-test=http://$BR_ADDR:$((ETCD_PORT + 1))" >"$T/etcd.log" 2>&1 &
ETCD_PID=$!
track "$ETCD_PID"
etcd_members() {   # the member keys etcd holds now, one per line
	ip netns exec "$BR" env ETCDCTL_API=3 etcdctl --endpoints "$CLUSTER_ETCD" \
		get --prefix --keys-only /mmc/members/ | grep -v '^$' || true
}
etcd_up() { ip netns exec "$BR" env ETCDCTL_API=3 etcdctl --endpoints "$CLUSTER_ETCD" \
	endpoint health >/dev/null 2>&1; }
wait_for "etcd answers" etcd_up
ok "etcd runs in the bridge's namespace"

# ---- join ----
for n in a b c; do start_node "$n"; done
wait_for "a, b, c find each other through etcd" up_is 2 a b c
[ "$(etcd_members | wc -l)" = 3 ] && ok "three members registered in etcd" ||
	fail "etcd holds: $(etcd_members | tr '\n' ' ')"
for k in $(seq 1 40); do
	head -c $((8192 + k * 97)) /dev/urandom >"$T/v$k"
	on a "$MMC" put "key$k" "$T/v$k" || die "put key$k on a"
done
for k in $(seq 1 40); do
	for n in b c; do
		on "$n" "$MMC" get "key$k" >"$T/out" && cmp -s "$T/v$k" "$T/out" || fail "key$k on $n"
	done
done
ok "40 keys put on a: byte-exact on b and c"

# ---- leave, rejoin ----
kill -KILL "${PID[b]}"
wait "${PID[b]}" 2>/dev/null || true
wait_for "a and c see b down" up_is 1 a c
wait_for "b's lease expires: a sees it leave" eval 'grep -q "member b .* left the pool" "$T/a.log"'
ok "b killed: marked down at once, gone from the pool when its lease expired"
start_node b
wait_for "b rejoins" up_is 2 a b c
ok "b restarted: registered again, a and c see it"

# ---- a fourth member: about a quarter of the keys move to it ----
for k in $(seq 101 300); do
	printf 'value %d %s' "$k" "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/v$k"
	on a "$MMC" put "key$k" "$T/v$k" || die "put key$k on a"
done
pushed=$(stat_of a pushes)
wait_for "a's pushes landed" eval '[ $(($(stat_of b pushes_received) + $(stat_of c pushes_received))) -ge '"$((pushed - 40))"' ]'
start_node d
wait_for "d joins" up_is 3 a b c d
moved=0 fetched=()
for k in $(seq 101 300); do
	local_c=0
	on c "$MMC" exists --here "key$k" >/dev/null && local_c=1
	if on c "$MMC" get "key$k" >"$T/out"; then
		cmp -s "$T/v$k" "$T/out" || fail "key$k: wrong bytes on c after d joined"
		[ "$local_c" = 1 ] || fetched+=("$k")   # from its home: a or b
	else
		moved=$((moved + 1))
	fi
done
# c holds its own keys; every other get asks the key's home now: d (never
# had it: a miss), or a/b (have it).  200 keys, a quarter: 50 +- 20.
if [ "$moved" -ge 30 ] && [ "$moved" -le 75 ]; then
	ok "d joined: $moved of 200 keys now homed on d (misses), the rest still hit"
else
	fail "d joined: $moved of 200 keys missed on c (expected about 50)"
fi

# ---- etcd gone: the last membership stays ----
kill -TERM "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null || true
wait_for "an agent notices etcd is gone" eval 'grep -q "etcd at .* does not answer" "$T/a.log"'
for k in "${fetched[@]:0:30}"; do   # homed on a or b: d asks them
	on d "$MMC" get "key$k" >"$T/out" && cmp -s "$T/v$k" "$T/out" || fail "key$k on d without etcd"
done
up_is 3 a b c d && ok "etcd stopped: every agent keeps 3 members up and serves byte-exact" ||
	fail "membership changed with etcd gone"

# ---- revoke at a clean stop (etcd back) ----
ip netns exec "$BR" etcd --name mmc-test --data-dir "$T/etcd" \
	--listen-client-urls "$CLUSTER_ETCD" --advertise-client-urls "$CLUSTER_ETCD" \
	--listen-peer-urls "http://$BR_ADDR:$((ETCD_PORT + 1))" >>"$T/etcd.log" 2>&1 &
ETCD_PID=$!
track "$ETCD_PID"
wait_for "etcd answers again" etcd_up
wait_for "the four register again" eval '[ "$(etcd_members | wc -l)" = 4 ]'
kill -TERM "${PID[d]}"
wait "${PID[d]}" || fail "d's exit status at a clean stop"
[ "$(etcd_members | wc -l)" = 3 ] && ok "d stopped cleanly: its key left etcd at once" ||
	fail "etcd still holds: $(etcd_members | tr '\n' ' ')"
wait_for "a sees d leave" up_is 2 a
stop_nodes a b c
PASSED=1
finish_checks
