#!/usr/bin/env bash
# test_cluster_record.sh - push = record: a put tells the key's home who
# holds the page instead of sending it; a miss asks the home, which sends
# the asker on to the holder.  Three agents in three network namespaces.
#
#   records   60 puts on a cross the network as records: a few dozen bytes
#             each, no page bytes
#   two hops  every key is a byte-exact get on b and c (keys homed on the
#             third node: home, then holder)
#   exists    one batch on c counts every key (the homes' records)
#   holder    a killed: the pages it held are misses (no copy elsewhere -
#             the price of records; page pushes keep them, test_cluster.sh)
#
# Needs root (namespaces, veth); exits 77 without it.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
. tests/cluster-lib.sh cluster-record
node_conf() { printf 'tls = off\npush = record\n'; }

start_all
for k in $(seq 1 60); do
	head -c $((32768 + k * 64)) /dev/urandom >"$T/v$k"
	on a "$MMC" put "key$k" "$T/v$k" || die "put key$k on a"
done
wait_for "every record landed" eval '[ "$(stat_of a records)" -gt 0 ] && [ "$(stat_of a records)" -eq $(($(stat_of b records_received) + $(stat_of c records_received))) ]'
out=$(stat_of a peer_bytes_out)
[ "$out" -lt $((60 * 400)) ] && ok "60 puts on a: $(stat_of a records) records, $out bytes out (no page)" ||
	fail "60 puts sent $out bytes with push = record"
[ "$(stat_of b pushes_received)" = 0 ] && [ "$(stat_of c pushes_received)" = 0 ] ||
	fail "pages were pushed with push = record"

keys=()
for k in $(seq 1 60); do keys+=("key$k"); done
n=$({ on c "$MMC" exists "${keys[@]}" || true; } | awk '$2 == 1' | wc -l)
[ "$n" = 60 ] && ok "exists on c counts all 60 keys (by the homes' records)" || fail "exists on c: $n of 60"

bad=0
for k in $(seq 1 60); do
	for n in b c; do
		on "$n" "$MMC" get "key$k" >"$T/out" && cmp -s "$T/v$k" "$T/out" || bad=$((bad + 1))
	done
done
[ "$bad" = 0 ] && ok "60 keys byte-exact on b and c (from a, through their homes' records)" ||
	fail "$bad gets failed on b or c"

for k in $(seq 61 80); do
	head -c 20000 /dev/urandom >"$T/v$k"
	on a "$MMC" put "key$k" "$T/v$k" || die "put key$k on a"
done
kill -KILL "${PID[a]}"
wait "${PID[a]}" 2>/dev/null || true
miss=0
for k in $(seq 61 80); do
	if on b "$MMC" get "key$k" >"$T/out"; then
		cmp -s "$T/v$k" "$T/out" || fail "key$k: wrong bytes after a died"
	else
		miss=$((miss + 1))
	fi
done
[ "$miss" = 20 ] && ok "a killed: the 20 pages only it held are misses on b (never wrong bytes)" ||
	fail "a killed: $miss of 20 missed on b"
stop_nodes b c
PASSED=1
finish_checks
