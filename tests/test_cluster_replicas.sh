#!/usr/bin/env bash
# test_cluster_replicas.sh - replicas = 2: each page on two distinct nodes
# (its home and the next in placement order), three agents in three
# network namespaces.
#
#   copies    every key put on a is on two nodes (a counts as one when it is
#             among them), and the network carried about two copies of the
#             pages homed elsewhere
#   survives  b killed: every key is still a byte-exact get on c - b's keys
#             come from their replica (with replicas = 1, test_cluster.sh
#             shows them missing)
#
# Needs root (namespaces, veth); exits 77 without it.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
. tests/cluster-lib.sh cluster-replicas
node_conf() { printf 'tls = off\npush = page\nreplicas = 2\n'; }

start_all
mark_pushes
for k in $(seq 1 60); do
	head -c $((16384 + k * 256)) /dev/urandom >"$T/v$k"
	on a "$MMC" put "key$k" "$T/v$k" || die "put key$k on a"
done
wait_for "every push landed" pushes_landed
two=0
for k in $(seq 1 60); do
	n=1                                  # a's own copy
	on b "$MMC" exists --here "key$k" >/dev/null && n=$((n + 1))
	on c "$MMC" exists --here "key$k" >/dev/null && n=$((n + 1))
	[ "$n" -ge 2 ] && two=$((two + 1))
done
[ "$two" = 60 ] && ok "replicas = 2: all 60 keys are on at least two nodes" ||
	fail "only $two of 60 keys on two nodes"
pushes=$(stat_of a pushes)
[ "$pushes" -gt 60 ] && ok "a pushed $pushes copies of 60 pages (more than one per page)" ||
	fail "a pushed $pushes copies for 60 pages with replicas = 2"

kill -KILL "${PID[b]}"
wait "${PID[b]}" 2>/dev/null || true
bad=0
for k in $(seq 1 60); do
	on c "$MMC" get "key$k" >"$T/out" && cmp -s "$T/v$k" "$T/out" || bad=$((bad + 1))
done
[ "$bad" = 0 ] && ok "b killed: all 60 keys byte-exact on c (b's from their replica)" ||
	fail "b killed: $bad of 60 keys not served on c"
stop_nodes a c
PASSED=1
finish_checks
