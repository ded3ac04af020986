#!/usr/bin/env bash
# agent-bg.sh - start, stop or restart one mmc-agent in the background, on
# a machine without systemd (scripts/quickstart.sh uses it there).
#
#   scripts/agent-bg.sh start|stop|restart [-- AGENT-ARGS...]
#
# It stops only the agent it started itself, found through its pid file -
# never "every mmc-agent" by name: on a shared host other people's agents
# (other sockets, other users) are none of its business.  A pid file whose
# process is gone, or is no longer an mmc-agent, is stale and just removed.
# Starting waits until the new agent answers on its socket as itself (the
# stats' agent_pid), so an agent that refused to start (its socket is a
# live agent's, the arena does not fit) is reported with its log, not
# mistaken for the other one.
#
# Environment (defaults in brackets):
#   MMC_AGENT_BIN  [/usr/local/bin/mmc-agent]   MMC_BIN_CLI [/usr/local/bin/mmc]
#   MMC_CONFIG     [/etc/mmc/mmc-agent.conf]    MMC_SOCKET  [/run/mmc/agent.sock]
#   MMC_PIDFILE    [/run/mmc/agent-bg.pid]      MMC_LOG     [/var/log/mmc/agent.log]
# Exit status: 0 done, 1 failed (the reason on stderr), 2 usage.
set -euo pipefail

agent=${MMC_AGENT_BIN:-/usr/local/bin/mmc-agent}
cli=${MMC_BIN_CLI:-/usr/local/bin/mmc}
config=${MMC_CONFIG:-/etc/mmc/mmc-agent.conf}
sock=${MMC_SOCKET:-/run/mmc/agent.sock}
pidfile=${MMC_PIDFILE:-/run/mmc/agent-bg.pid}
log=${MMC_LOG:-/var/log/mmc/agent.log}

usage() { echo "usage: agent-bg.sh start|stop|restart [-- AGENT-ARGS...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
cmd=$1
shift
if [ $# -gt 0 ]; then
	[ "$1" = "--" ] || usage
	shift
fi

# The pid in the pid file if it is still an mmc-agent serving our socket
# (one of its arguments is exactly $sock), else nothing: the stale pid file
# is removed.
our_pid() {
	local pid
	[ -s "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	if [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mmc-agent ] &&
	   tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -xF -- "$sock" >/dev/null; then
		echo "$pid"
	else
		rm -f "$pidfile"
	fi
}

stop() {
	local pid i
	pid=$(our_pid)
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do     # 30 s: it unmaps its arena on the way out
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	if [ -d "/proc/$pid" ]; then
		echo "agent-bg.sh: mmc-agent $pid did not stop in 30 s" >&2
		return 1
	fi
	rm -f "$pidfile"
	echo "agent-bg.sh: stopped mmc-agent $pid"
}

start() {
	local pid i out
	pid=$(our_pid)
	if [ -n "$pid" ]; then
		echo "agent-bg.sh: mmc-agent $pid (from $pidfile) is running already" >&2
		return 1
	fi
	mkdir -p "$(dirname "$pidfile")" "$(dirname "$log")" "$(dirname "$sock")"
	nohup "$agent" --config "$config" --socket "$sock" "$@" >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile"
	for ((i = 0; i < 600; i++)); do     # 60 s: a large arena takes a while
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$pidfile"
			echo "agent-bg.sh: mmc-agent did not start; the end of $log:" >&2
			tail -n 5 "$log" >&2
			return 1
		fi
		out=$(MMC_SOCKET=$sock "$cli" stat --json 2>/dev/null) || out=
		if [[ $out == *"\"agent_pid\":$pid,"* ]]; then
			echo "agent-bg.sh: mmc-agent $pid serves $sock (log $log)"
			return 0
		fi
		sleep 0.1
	done
	echo "agent-bg.sh: mmc-agent $pid did not answer on $sock in 60 s" >&2
	return 1
}

case $cmd in
	start) start "$@" ;;
	stop) stop ;;
	restart) stop && start "$@" ;;
	*) usage ;;
esac
