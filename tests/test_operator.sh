#!/usr/bin/env bash
# test_operator.sh - what mmc-agent does with an operator's mistakes: it
# never deletes or truncates a file it did not create, a start that fails
# leaves a running agent alone, impossible sizes and bad config files are
# refused at once with one clear line, every exit says why, and a flood of
# bad hellos does not flood the log.
#
# Every agent runs in a private directory with `timeout`, so a start that
# hangs (a FIFO as config) or eats memory is a failure, not a stuck test.
# Everything started is killed on exit (lib.sh).
set -uo pipefail

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ -x "$AGENT" ] && [ -x "$MMC" ] || die "$AGENT or $MMC not built"
require_jq
command -v python3 >/dev/null || skip "python3 not installed"
make_tmp operator
: >"$T/empty.conf"

# refused WHAT PATTERN ARGS...: mmc-agent ARGS exits non-zero within 20 s
# and its stderr says PATTERN (extended regex, any case).
refused() {
	local what=$1 pat=$2 rc=0
	shift 2
	# No file (a memfd included) may grow past 4 GiB: an agent that got a
	# size check wrong fails here instead of running the machine out of
	# memory (ftruncate past RLIMIT_FSIZE fails).
	(ulimit -f $((4 << 20)); exec timeout 20 "$AGENT" "$@") >"$T/out" 2>"$T/err" || rc=$?
	if [ "$rc" -eq 0 ]; then
		fail "$what: the agent started (exit 0)"
	elif [ "$rc" -eq 124 ]; then
		fail "$what: still running after 20 s"
	elif ! grep -qiE -- "$pat" "$T/err"; then
		fail "$what: exit $rc, but stderr lacks /$pat/: $(cat "$T/err")"
	else
		ok "$what: exit $rc: $(grep -iE -- "$pat" "$T/err" | head -n 1)"
	fi
}
# intact FILE TEXT WHAT: FILE still holds exactly TEXT.
intact() {
	if [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; then ok "$3: left alone"; else fail "$3: changed or gone"; fi
}
base=(--config "$T/empty.conf" --arena-size 16M --hugepages off)

# ---- files the agent did not create ----
echo precious >"$T/file.sock"
refused "--socket on a regular file" "not a socket" "${base[@]}" --socket "$T/file.sock"
intact "$T/file.sock" precious "a regular file at the socket path"

echo notes >"$T/notes.txt"
refused "--stats on a file that is not a stats file" "not an mmc stats file" \
	"${base[@]}" --socket "$T/s1.sock" --stats "$T/notes.txt"
intact "$T/notes.txt" notes "a regular file at the stats path"
[ -e "$T/s1.sock" ] && fail "the refused agent left its socket behind" || ok "no socket left behind"

refused "--stats /proc/version" "/proc/version.*(not|cannot|refus)" \
	"${base[@]}" --socket "$T/s2.sock" --stats /proc/version
if grep -qx ".*stopped" "$T/err" && [ "$(wc -l <"$T/err")" -le 1 ]; then
	fail "--stats /proc/version: only 'stopped' was said"
fi

# A stale socket (nobody listens) and a stale stats file (its agent is
# gone) are the agent's own leftovers: they are replaced.
python3 - "$T/stale.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1])
EOF
[ -S "$T/stale.sock" ] || die "could not make a stale socket"
start_agent stale --arena-size 16M --hugepages off || die "agent did not replace a stale socket"
ok "a stale socket is replaced"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
[ -e "$T/stale.sock.stats" ] || die "no stats file left by a killed agent"
start_agent stale --arena-size 16M --hugepages off || die "agent did not replace its stale stats file"
ok "a killed agent's socket and stats file are replaced at the next start"
stop_agent_ok

# ---- a second agent leaves the first alone ----
start_agent live --arena-size 16M --hugepages off || die "agent did not start"
LIVE=$AGENT_PID
MMC_SOCKET=$AGENT_SOCK "$MMC" put k "$T/notes.txt" || fail "put on the live agent"
refused "a second agent on a live agent's socket" "another agent" \
	"${base[@]}" --socket "$T/live.sock"
refused "a second agent on a live agent's stats file" "another agent|in use|running" \
	"${base[@]}" --socket "$T/other.sock" --stats "$T/live.sock.stats"
[ -S "$T/live.sock" ] || fail "the live agent's socket is gone"
out=$(MMC_SOCKET=$T/live.sock "$MMC" stat --json) || fail "mmc stat on the live agent failed"
[ "$(jq -r .agent_pid <<<"$out")" = "$LIVE" ] &&
	[ "$(jq -r .objects <<<"$out")" = 1 ] && ok "the live agent's stats file is intact" ||
	fail "stats after the second agent: $out"
MMC_SOCKET=$T/live.sock "$MMC" get k >"$T/k.out" && cmp -s "$T/k.out" "$T/notes.txt" &&
	ok "the live agent still serves" || fail "the live agent does not serve"
stop_agent_ok

# ---- sizes checked before anything is allocated ----
refused "--arena-size 1024T --hugepages off" "memory" \
	--config "$T/empty.conf" --socket "$T/big.sock" --arena-size 1024T --hugepages off
refused "--max-objects 67108864 on a 16 MiB arena" "max_objects" \
	"${base[@]}" --socket "$T/idx.sock" --max-objects 67108864
[ -e "$T/big.sock" ] || [ -e "$T/idx.sock" ] && fail "a refused agent left a socket" ||
	ok "refused agents left no socket"

# ---- config files ----
refused "--config /dev/zero" "not a regular file" --config /dev/zero --socket "$T/c.sock"
mkfifo "$T/fifo.conf"
refused "--config FIFO" "not a regular file" --config "$T/fifo.conf" --socket "$T/c.sock"
printf '[agent]\nlog_level = info\n\0\0\0\0\n' >"$T/nul.conf"
refused "a config with NUL bytes" "nul.conf:3:.*NUL" --config "$T/nul.conf" --socket "$T/c.sock"
head -c 4096 /dev/zero >"$T/zeros.conf"
refused "a config of NUL bytes only" "zeros.conf:1:.*NUL" --config "$T/zeros.conf" --socket "$T/c.sock"
printf '[arena]\nsize = 64M\n[agent]\nlog_level = warn\n[arena]\nsize = 32M\n' >"$T/dup.conf"
refused "a key given twice" "dup.conf:6:.*size.*line 2" --config "$T/dup.conf" --socket "$T/c.sock"
{ echo "[agent]"; for ((i = 0; i < 80000; i++)); do echo "# padding line $i"; done; } >"$T/huge.conf"
refused "a config over 1 MiB" "huge.conf.*(large|bytes)" --config "$T/huge.conf" --socket "$T/c.sock"

# ---- warnings are rate-limited ----
start_agent flood --arena-size 16M --hugepages off || die "agent did not start"
before=$(wc -l <"$T/flood.log")
python3 - "$AGENT_SOCK" <<'EOF' || fail "the hello flood failed"
import socket, sys
for i in range(3000):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1])
    s.send(b"garbage, not a hello")
    try:
        s.recv(256)      # the refusal
    except OSError:
        pass
    s.close()
EOF
out=$(MMC_SOCKET=$AGENT_SOCK "$MMC" stat --json) || fail "mmc stat after the flood"
[ "$(jq -r '.clients_rejected >= 3000' <<<"$out")" = true ] && ok "3000 bad hellos refused" ||
	fail "refusals counted: $out"
lines=$(($(wc -l <"$T/flood.log") - before))
if [ "$lines" -le 40 ]; then ok "3000 bad hellos wrote $lines log lines"; else
	fail "3000 bad hellos wrote $lines log lines"; head -n 5 "$T/flood.log" >&2; fi
grep -qi "suppressed" "$T/flood.log" && ok "the log says lines were suppressed" ||
	fail "the log does not say lines were suppressed"
stop_agent_ok

finish_checks
