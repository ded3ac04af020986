#!/usr/bin/env bash
# fairness.sh - does one client's put latency hold while thousands of other
# sessions sit idle and one client floods the agent?  (issue 10, "slow for
# everyone")
#
#   bench/fairness.sh [--idle N] [--flood stat|ping|remove] [--ops N]
#                     [--before DIR] [--out DIR]
#
# Starts a private mmc-agent (1 GiB arena, 4 KiB pages, [limits] raised so
# that N idle sessions fit), runs `mmc-bench fair` against it - puts of
# 4 KiB timed alone, under a flood, among N idle sessions, and both - and
# prints its table.  --before DIR also measures the agent and libmmc of an
# older tree built in DIR/build (its fair client is built here from
# tools/bench/fair.c against DIR's public API), with min(N, 1000) idle
# sessions: older agents served at most 1,024.
#
# The agent's descriptor limit is raised to the hard limit; each session
# costs the agent one descriptor, each idle session its holder two.
# Exit status: 0, 1 failure, 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MMC_BIN:-build/bin}
IDLE=10000 FLOOD=stat OPS=100000 BEFORE= OUT=

while [ $# -gt 0 ]; do
	case $1 in
		--idle) IDLE=$2; shift 2 ;;
		--flood) FLOOD=$2; shift 2 ;;
		--ops) OPS=$2; shift 2 ;;
		--before) BEFORE=$2; shift 2 ;;
		--out) OUT=$2; shift 2 ;;
		-h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
		*) echo "fairness.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
T=$(mktemp -d /tmp/mmc-fairness-XXXXXX)
OUT=${OUT:-$T}
mkdir -p "$OUT"
APID=
cleanup() {
	[ -n "$APID" ] && kill "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

# start_agent BIN CONF: a private agent on $T/agent.sock; sets APID.
start_agent() {
	rm -f "$T/agent.sock" "$T/agent.sock.stats"
	"$1/mmc-agent" --config "$2" --socket "$T/agent.sock" --arena-size 1G \
		--hugepages off >"$T/agent.log" 2>&1 &
	APID=$!
	for _ in $(seq 200); do
		MMC_SOCKET=$T/agent.sock "$1/mmc" stat >/dev/null 2>&1 && return 0
		kill -0 "$APID" 2>/dev/null || break
		sleep 0.1
	done
	echo "fairness.sh: agent did not start:" >&2
	cat "$T/agent.log" >&2
	exit 1
}
stop_agent() {
	kill "$APID"
	wait "$APID" || true
	APID=
}

printf '[limits]\nmax_sessions = %d\nsessions_per_uid = %d\n' $((IDLE + 64)) $((IDLE + 64)) \
	>"$T/agent.conf"
start_agent "$BIN" "$T/agent.conf"
echo "== this tree ($BIN), $IDLE idle sessions =="
"$BIN/mmc-bench" fair --socket "$T/agent.sock" --idle "$IDLE" --flood "$FLOOD" \
	--ops "$OPS" | tee "$OUT/fair.txt"
"$BIN/mmc-bench" fair --socket "$T/agent.sock" --idle "$IDLE" --flood "$FLOOD" \
	--ops "$OPS" --json >"$OUT/fair.json"
stop_agent

if [ -n "$BEFORE" ]; then
	old_idle=$((IDLE < 1000 ? IDLE : 1000))
	printf 'int fair_main(int, char **);\nint main(int c, char **v) { return fair_main(c, v); }\n' \
		>"$T/main.c"
	cc -O2 -DFAIR_NO_PING -o "$T/fair-before" -Itools/bench -I"$BEFORE/include" tools/bench/fair.c \
		tools/bench/hist.c "$T/main.c" -L"$BEFORE/build/lib" -lmmc -lpthread -lm \
		-Wl,-rpath,"$BEFORE/build/lib"
	: >"$T/before.conf"
	start_agent "$BEFORE/build/bin" "$T/before.conf"
	echo "== before ($BEFORE), $old_idle idle sessions =="
	"$T/fair-before" --socket "$T/agent.sock" --idle "$old_idle" --flood "$FLOOD" \
		--ops "$OPS" | tee "$OUT/fair-before.txt"
	stop_agent
fi
