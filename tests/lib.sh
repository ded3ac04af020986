# shellcheck shell=bash
# lib.sh - what the shell tests share; sourced, never run:
#
#	. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets BIN ($MMC_BIN, default build/bin), AGENT and MMC (the binaries in it),
# FAILS=0 and PIDS=().  Works under `set -euo pipefail` and without it.
# Exit status 77 means skipped (CTest's SKIP_RETURN_CODE).

BIN=${MMC_BIN:-build/bin}
AGENT=$BIN/mmc-agent
MMC=$BIN/mmc
FAILS=0
PIDS=()

# ---- reporting ----
ok() { echo "ok: $*"; }
# fail WHAT: reports a failed check and goes on; finish_checks counts them.
fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}
# die WHAT: reports a failed check and exits 1 at once.
die() {
	echo "FAIL: $*" >&2
	exit 1
}
skip() {
	echo "SKIP: $*" >&2
	exit 77
}
# finish_checks: exit 1 if any fail was reported, else 0.
finish_checks() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$FAILS check(s) failed"
		exit 1
	fi
	echo "all checks passed"
	exit 0
}

# ---- a private directory, and what was started, gone on exit ----
# make_tmp NAME: sets T to a new directory /tmp/mmc-NAME-XXXXXX.  On exit
# every process in PIDS is SIGKILLed and reaped, an on_cleanup function is
# called if the test defines one, and T is removed.  INT/TERM exit 130.
make_tmp() {
	T=$(mktemp -d "/tmp/mmc-$1-XXXXXX") || die "mktemp failed"
	trap lib_cleanup EXIT
	trap 'exit 130' INT TERM
}
lib_cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if declare -F on_cleanup >/dev/null; then on_cleanup || true; fi
	rm -rf "$T"
}
# track PID: a background process to kill on exit.
track() { PIDS+=("$1"); }

# ---- jq ----
# require_jq: installs jq with apt-get when root and it is missing; exits 77
# (skipped) when there is still none.
require_jq() {
	command -v jq >/dev/null && return 0
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
		apt-get install -y jq >/dev/null 2>&1 || true
	fi
	command -v jq >/dev/null || skip "jq not installed (scripts/install-deps.sh)"
}

# ---- agents ----
# start_agent NAME ARGS...: starts $AGENT --socket $T/NAME.sock ARGS... in
# the background (log: $T/NAME.log), sets AGENT_PID and AGENT_SOCK, and
# returns once it serves: `mmc stat` succeeds on it (bounded: 20 s).  On
# failure prints the log and returns 1.
start_agent() {
	local name=$1 i
	shift
	AGENT_SOCK=$T/$name.sock
	: >"$T/$name.conf"    # the defaults, whatever /etc/mmc holds; "$@" may override
	"$AGENT" --config "$T/$name.conf" --socket "$AGENT_SOCK" "$@" >"$T/$name.log" 2>&1 &
	AGENT_PID=$!
	track "$AGENT_PID"
	for ((i = 0; i < 200; i++)); do
		MMC_SOCKET=$AGENT_SOCK "$MMC" stat >/dev/null 2>&1 && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "agent $name did not start:" >&2
	cat "$T/$name.log" >&2
	return 1
}
# stop_agent: SIGTERM to AGENT_PID and wait; returns the agent's exit status.
stop_agent() {
	local rc=0
	kill -TERM "$AGENT_PID" || true
	wait "$AGENT_PID" || rc=$?
	return "$rc"
}
# stop_agent_ok: stop_agent, and its exit status must be 0 (a clean stop);
# reported with ok / fail.
stop_agent_ok() {
	local rc=0
	stop_agent || rc=$?
	if [ "$rc" -eq 0 ]; then ok "agent stopped cleanly"; else fail "agent exit status $rc"; fi
}
