#!/bin/bash
# test_cli.sh - the command-line tools end to end: mmc-agent's flags and its
# hugepages modes, and mmc put/get/exists/rm/stat against a real agent.
#
# Readiness: an agent started in the background is ready when `mmc stat`
# succeeds (bounded probe, 20 s; lib.sh).  Everything started here is killed
# on exit, and a changed /proc/sys/vm/nr_hugepages is restored.  Exit 77 =
# skipped.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
make_tmp cli
HP_SAVED=
HP_WANT=

# Puts nr_hugepages back, unless someone else changed it meanwhile (other
# tests or benchmarks may reserve pages too): then theirs stands.
restore_hp() {
	local cur
	cur=$(cat /proc/sys/vm/nr_hugepages)
	if [ "$cur" = "$HP_WANT" ]; then
		echo "$HP_SAVED" > /proc/sys/vm/nr_hugepages
	else
		echo "note: nr_hugepages is $cur, not the $HP_WANT set here: left alone" >&2
	fi
	HP_SAVED=
}
# Called by lib.sh's exit trap, after the agents are killed.
on_cleanup() {
	[ -z "$HP_SAVED" ] || restore_hp
}

# expect_rc WANT WHAT CMD...: runs CMD, compares its exit status.
expect_rc() {
	local want=$1 what=$2 rc
	shift 2
	"$@"
	rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$what (exit $rc)"; else fail "$what: exit $rc, want $want"; fi
}

for x in "$AGENT" "$MMC"; do
	[ -x "$x" ] || { echo "FAIL: $x not built" >&2; exit 1; }
done
require_jq

# ---- mmc-agent's command line ----
expect_rc 0 "mmc-agent --help" "$AGENT" --help >"$T/help.out" 2>&1
grep -q -- "--arena-size" "$T/help.out" || fail "--help does not list --arena-size"
expect_rc 2 "mmc-agent --bogus-flag" "$AGENT" --bogus-flag 2>"$T/bad.err"
[ -s "$T/bad.err" ] || fail "bad flag: nothing on stderr"
expect_rc 2 "mmc-agent stray argument" "$AGENT" stray 2>/dev/null
expect_rc 2 "mmc-agent missing config" "$AGENT" --config "$T/nope.conf" 2>/dev/null
expect_rc 2 "mmc with no command" "$MMC" 2>/dev/null

# ---- put / get / exists / rm / stat ----
start_agent main --arena-size 64M --hugepages off || exit 1
export MMC_SOCKET=$T/main.sock
head -c 1048576 /dev/urandom >"$T/big.in"
printf 'small value from stdin\n\001\002\000end' >"$T/small.in"

expect_rc 0 "put 1 MiB file" "$MMC" put big "$T/big.in"
expect_rc 0 "put from stdin" "$MMC" put small - <"$T/small.in"
"$MMC" get big >"$T/big.out" && cmp "$T/big.in" "$T/big.out" &&
	ok "get big byte-exact" || fail "get big differs"
"$MMC" get small >"$T/small.out" && cmp "$T/small.in" "$T/small.out" &&
	ok "get small byte-exact" || fail "get small differs"

out=$("$MMC" exists big small); rc=$?
[ "$rc" -eq 0 ] && [ "$out" = $'big 1\nsmall 1' ] && ok "exists all present" ||
	fail "exists big small: rc $rc, output '$out'"
out=$("$MMC" exists big nope); rc=$?
[ "$rc" -eq 1 ] && [ "$out" = $'big 1\nnope 0' ] && ok "exists one absent" ||
	fail "exists big nope: rc $rc, output '$out'"

"$MMC" put big "$T/small.in" 2>"$T/exists.err"; rc=$?
[ "$rc" -eq 0 ] && grep -q "exists" "$T/exists.err" && ok "put existing: exit 0, 'exists'" ||
	fail "put existing: rc $rc, stderr '$(cat "$T/exists.err")'"
"$MMC" get big | cmp - "$T/big.in" && ok "existing value unchanged" ||
	fail "put existing changed the value"

expect_rc 0 "rm small" "$MMC" rm small
expect_rc 1 "get removed key" "$MMC" get small 2>/dev/null
expect_rc 1 "rm removed key" "$MMC" rm small 2>/dev/null
out=$("$MMC" exists small); rc=$?
[ "$rc" -eq 1 ] && [ "$out" = "small 0" ] && ok "exists after rm" || fail "exists after rm: '$out' rc $rc"

# Counters so far: 2 puts; gets that hit: big, small, big = 3; misses: 1
# (get of the removed key); exists queries: 2 + 2 + 1 = 5; 1 put_exists.
json=$("$MMC" stat --json) || fail "mmc stat --json failed"
echo "$json" | jq -e . >/dev/null || fail "stat --json is not JSON: $json"
for k in arena_bytes used_bytes objects pinned_objects reserved_bytes clients \
	 hits misses puts evictions; do
	echo "$json" | jq -e "has(\"$k\")" >/dev/null || fail "stat --json lacks $k"
done
check_json() {   # check_json KEY WANT
	local got
	got=$(echo "$json" | jq -r ".$1")
	[ "$got" = "$2" ] && ok "stat $1 = $2" || fail "stat $1 = $got, want $2"
}
check_json arena_bytes 67108864
check_json used_bytes 1048576
check_json objects 1
check_json pinned_objects 0
check_json reserved_bytes 0
check_json clients 1
check_json hits 3
check_json misses 1
check_json puts 2
check_json put_exists 1
check_json exists 5
check_json removes 1
check_json evictions 0
check_json hugepages false
check_json agent_pid "$AGENT_PID"
"$MMC" stat | grep -Eq '^objects +1$' && ok "plain stat" || fail "plain stat output"
expect_rc 2 "stat --bogus" "$MMC" stat --bogus 2>/dev/null
stop_agent_ok

# A stopped agent / a missing socket: exit 1 and a message that says so.
MMC_SOCKET=$T/none/agent.sock "$MMC" stat >/dev/null 2>"$T/nosock.err"; rc=$?
msg=$(cat "$T/nosock.err")
[ "$rc" -eq 1 ] && echo "$msg" | grep -q "cannot connect" &&
	echo "$msg" | grep -q "$T/none/agent.sock" && ok "missing socket: '$msg'" ||
	fail "missing socket: rc $rc, '$msg'"
echo "$msg" | grep -qi "key not found" && fail "missing socket reported as a missing key: '$msg'"
unset MMC_SOCKET

# ---- hugepages ----
HP=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo unknown)
# "Without pages" means none at all: no pool, no surplus pages still held by
# an exiting process, no overcommit the kernel could hand out.
HP_ANY=$(awk '/HugePages_(Total|Surp)/ {n += $2} END {print n + 0}' /proc/meminfo)
HP_OVER=$(cat /proc/sys/vm/nr_overcommit_hugepages 2>/dev/null || echo 0)
if [ "$HP" = 0 ] && [ "$HP_ANY" = 0 ] && [ "$HP_OVER" = 0 ]; then
	# Bounded: should the kernel find pages after all, the agent would run
	# on, and the test must fail rather than wait for ever.
	: >"$T/empty.conf"
	timeout 30 "$AGENT" --config "$T/empty.conf" --socket "$T/hpon.sock" --hugepages on --arena-size 64M \
		>"$T/hpon.log" 2>&1; rc=$?
	[ "$rc" -ne 124 ] || fail "--hugepages on without pages: the agent started"
	[ "$rc" -ne 0 ] && grep -q nr_hugepages "$T/hpon.log" &&
		ok "--hugepages on without pages: exit $rc, mentions nr_hugepages" ||
		fail "--hugepages on without pages: rc $rc, log: $(cat "$T/hpon.log")"

	start_agent hpauto --hugepages auto --arena-size 64M || exit 1
	n=$(grep -ci "warn" "$T/hpauto.log")
	[ "$n" -eq 1 ] && grep -i warn "$T/hpauto.log" | grep nr_hugepages >/dev/null &&
		ok "--hugepages auto without pages: one warning" ||
		fail "--hugepages auto: $n warnings: $(cat "$T/hpauto.log")"
	MMC_SOCKET=$T/hpauto.sock "$MMC" stat --json | jq -e '.hugepages == false' >/dev/null &&
		ok "auto fell back to 4 KiB pages" || fail "auto: hugepages not false"
	MMC_SOCKET=$T/hpauto.sock "$MMC" put k "$T/big.in" &&
		MMC_SOCKET=$T/hpauto.sock "$MMC" get k | cmp - "$T/big.in" &&
		ok "auto: round trip" || fail "auto: round trip"
	stop_agent_ok
else
	echo "skip: nr_hugepages is $HP, not 0: no 'without hugepages' checks"
fi

if [ "$(id -u)" -eq 0 ] && [ "$HP" != unknown ] && [ -w /proc/sys/vm/nr_hugepages ]; then
	HP_SAVED=$HP
	HP_WANT=$((HP + 40))
	echo "$HP_WANT" > /proc/sys/vm/nr_hugepages 2>/dev/null
	HP_WANT=$(cat /proc/sys/vm/nr_hugepages)   # what the kernel managed
	if [ "$(cat /proc/sys/vm/nr_hugepages)" -ge 32 ] &&
	   [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -ge 32 ]; then
		start_agent hp --hugepages on --arena-size 64M || exit 1
		export MMC_SOCKET=$T/hp.sock
		"$MMC" stat --json | jq -e '.hugepages == true and .arena_bytes == 67108864' >/dev/null &&
			ok "--hugepages on: stat says hugepages" || fail "--hugepages on: $("$MMC" stat --json)"
		"$MMC" put hk "$T/big.in" && "$MMC" get hk | cmp - "$T/big.in" &&
			ok "hugepages: round trip byte-exact" || fail "hugepages: round trip"
		unset MMC_SOCKET
		stop_agent_ok
	else
		echo "skip: could not reserve 32 hugepages"
	fi
	restore_hp
	[ "$(cat /proc/sys/vm/nr_hugepages)" = "$HP" ] || echo "note: nr_hugepages now $(cat /proc/sys/vm/nr_hugepages)"
else
	echo "skip: reserving hugepages needs root and a writable nr_hugepages"
fi

finish_checks
