#!/usr/bin/env bash
# test_agent_bg.sh - scripts/agent-bg.sh (the quick-start's way to run an
# agent without systemd) restarts only the agent it started: another
# agent on the same host - another socket, someone else's - keeps running
# and serving, also when the pid file names it, and a start that cannot
# take its socket fails with the agent's reason instead of taking the
# other agent for its own.
set -uo pipefail

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SRC=${MMC_SRC:-$(dirname "${BASH_SOURCE[0]}")/..}
[ -x "$AGENT" ] && [ -x "$MMC" ] || die "$AGENT or $MMC not built"
make_tmp agentbg
: >"$T/empty.conf"

start_agent foreign --arena-size 16M --hugepages off || die "agent did not start"
FOREIGN=$AGENT_PID
echo foreign >"$T/v"
MMC_SOCKET=$T/foreign.sock "$MMC" put k "$T/v" || die "put on the foreign agent"

bg() {
	MMC_AGENT_BIN=$AGENT MMC_BIN_CLI=$MMC MMC_CONFIG=$T/empty.conf \
		MMC_SOCKET=${SOCK:-$T/mine.sock} MMC_PIDFILE=$T/mine.pid MMC_LOG=$T/mine.log \
		bash "$SRC/scripts/agent-bg.sh" "$@" -- --arena-size 16M --hugepages off
}
# foreign_alive WHAT: the foreign agent still runs and serves its value.
foreign_alive() {
	if kill -0 "$FOREIGN" 2>/dev/null &&
	   [ "$(MMC_SOCKET=$T/foreign.sock "$MMC" get k 2>/dev/null)" = foreign ]; then
		ok "$1: the other agent still serves"
	else
		fail "$1: the other agent is gone"
	fi
}

bg restart >"$T/out" 2>&1 || die "restart (nothing running): $(cat "$T/out")"
P1=$(cat "$T/mine.pid")
track "$P1"
[ "$(MMC_SOCKET=$T/mine.sock "$MMC" stat --json | jq -r .agent_pid)" = "$P1" ] &&
	ok "started mmc-agent $P1" || fail "the started agent does not answer as $P1"
foreign_alive "first start"

bg restart >"$T/out" 2>&1 || die "restart: $(cat "$T/out")"
P2=$(cat "$T/mine.pid")
track "$P2"
[ "$P2" != "$P1" ] && ! kill -0 "$P1" 2>/dev/null && ok "restart replaced $P1 by $P2" ||
	fail "restart: old $P1, new $P2"
foreign_alive "restart"

# A pid file that names the other agent (pid reuse, a copied file): not ours.
bg stop >"$T/out" 2>&1 || fail "stop: $(cat "$T/out")"
kill -0 "$P2" 2>/dev/null && fail "stop left $P2 running" || ok "stop ended $P2"
echo "$FOREIGN" >"$T/mine.pid"
bg stop >"$T/out" 2>&1 || fail "stop with a foreign pid file: $(cat "$T/out")"
foreign_alive "a pid file naming another agent"
[ -e "$T/mine.pid" ] && fail "the stale pid file was kept" || ok "the stale pid file was removed"

# Our socket is the other agent's: the start fails and says why.
rc=0
SOCK=$T/foreign.sock bg start >"$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -q "another agent" "$T/out" && ok "a taken socket: start failed, saying why" ||
	fail "a taken socket: exit $rc: $(cat "$T/out")"
foreign_alive "a start on its socket"

MMC_SOCKET=$T/foreign.sock "$MMC" stat --json | jq -e ".agent_pid == $FOREIGN" >/dev/null &&
	ok "the other agent is the same process throughout" || fail "the other agent was replaced"
finish_checks
