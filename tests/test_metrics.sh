#!/usr/bin/env bash
# test_metrics.sh - GET /metrics ([metrics] listen): Prometheus' own
# promtool accepts the page, the figures move with what clients do, other
# paths are 404, and HTTP clients that send nothing - more of them than the
# server takes - never stop the agent from serving its clients.
#
# Needs curl and promtool (Debian's prometheus); exits 77 without them.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v curl >/dev/null || skip "no curl"
command -v promtool >/dev/null || skip "no promtool (Debian's prometheus: scripts/install-deps.sh)"
make_tmp metrics

# a free port: bind 0, read it back, let it go (the agent binds it next)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT/metrics
SOCK=$T/a.sock
printf '[agent]\nsocket = %s\n[arena]\nsize = 64M\nhugepages = off\n[metrics]\nlisten = %s\n' \
	"$SOCK" "$PORT" >"$T/a.conf"
"$AGENT" --config "$T/a.conf" >"$T/a.log" 2>&1 &
AGENT_PID=$!
track "$AGENT_PID"
for ((i = 0; i < 200; i++)); do
	MMC_SOCKET=$SOCK "$MMC" stat >/dev/null 2>&1 && break
	sleep 0.1
done
metric() { curl -sf "$URL" | awk -v k="$1" '$1 == k { print $2 }'; }

curl -sf "$URL" >"$T/page" || die "GET /metrics failed: $(cat "$T/a.log")"
if promtool check metrics <"$T/page" >"$T/lint" 2>&1; then
	ok "promtool check metrics: no problem in $(grep -c '^# TYPE' "$T/page") metrics"
else
	fail "promtool check metrics: $(cat "$T/lint")"
fi
grep -q "listen = $PORT" "$T/a.conf" && grep -q "metrics at http://127.0.0.1:$PORT/metrics" "$T/a.log" &&
	ok "a bare port listens on loopback (logged)" || fail "no loopback address logged"
for h in remote_get promotion local_hit; do
	grep -q "^mmc_${h}_seconds_bucket{le=\"+Inf\"} " "$T/page" &&
		grep -q "^# TYPE mmc_${h}_seconds histogram" "$T/page" ||
		fail "no histogram mmc_${h}_seconds"
done
ok "latency histograms exposed"

head -c 100000 /dev/urandom >"$T/v"
for k in 1 2 3; do MMC_SOCKET=$SOCK "$MMC" put "k$k" "$T/v" || fail "put k$k"; done
[ "$(metric mmc_puts_total)" = 3 ] && [ "$(metric mmc_objects)" = 3 ] &&
	[ "$(metric mmc_put_bytes_total)" = 300000 ] &&
	ok "mmc_puts_total, mmc_objects and mmc_put_bytes_total follow three puts" ||
	fail "after 3 puts: puts $(metric mmc_puts_total), objects $(metric mmc_objects)"

# Local hits make no system call: each client times a sample of them (its
# first lookup, then one in 64) and the agent folds what its sessions saw.
for k in 1 2 3 1 2; do
	MMC_SOCKET=$SOCK "$MMC" get "k$k" >"$T/out" && cmp -s "$T/v" "$T/out" || fail "get k$k"
done
hits=$(metric 'mmc_local_hit_seconds_count')
sum=$(metric 'mmc_local_hit_seconds_sum')
le=$(metric 'mmc_local_hit_seconds_bucket{le="+Inf"}')
[ "$hits" = 5 ] && [ "$le" = 5 ] && awk -v s="$sum" 'BEGIN { exit !(s > 0 && s < 1) }' &&
	ok "five gets, five sampled local hits in mmc_local_hit_seconds (sum $sum s)" ||
	fail "local hits: count $hits, +Inf $le, sum $sum"
curl -sf "$URL" | promtool check metrics >"$T/lint" 2>&1 &&
	ok "promtool check metrics with local hits counted" || fail "promtool: $(cat "$T/lint")"

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")
code2=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$URL")
[ "$code" = 404 ] && [ "$code2" != 200 ] && ok "/ is 404, a POST is refused" ||
	fail "/ answered $code, POST $code2"

# 24 silent connections (the server takes 16): the agent's clients go on
for i in $(seq 3 26); do eval "exec $i<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || true; done
MMC_SOCKET=$SOCK "$MMC" get k1 >"$T/out" && cmp -s "$T/v" "$T/out" &&
	ok "24 silent HTTP connections: a get is still byte-exact" || fail "get with silent HTTP clients"
for i in $(seq 3 26); do eval "exec $i>&-"; done
for ((i = 0; i < 100; i++)); do curl -sf -m 2 "$URL" >/dev/null && break; sleep 0.1; done
[ "$i" -lt 100 ] && ok "scrapes work again once they are gone" || fail "no scrape after the silent clients"
kill -0 "$AGENT_PID" && ok "agent alive" || fail "agent died"
stop_agent_ok
finish_checks
