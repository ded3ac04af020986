#!/usr/bin/env bash
# test_cluster.sh - three agents in three network namespaces, joined by veth
# pairs on a bridge, form one pool (static [cluster] peers, tls = off):
#
#   pushed    a put on A reaches its key's home (B or C), once, byte-exact
#   spread    each member is home to a share of the keys
#   exists    one batch on C counts every key put on A (asked of homes)
#   remote    every key put on A is a byte-exact get on B and on C
#   stopped   B frozen (SIGSTOP): exists and gets of B-homed keys on C end
#             within the deadline (a miss), the other keys keep serving; a
#             client killed while its lookups wait leaves C serving
#   killed    B killed (-9): A and C mark it down; B-homed keys are misses
#             or, rehomed to A, right bytes - never wrong bytes, never a hang
#   rejoin    B restarted: A and C see it up again, pushes reach it
#   garbage   random, truncated and malformed frames at B's port never
#             crash it; it counts them and keeps serving
#
# Needs root (namespaces, veth); exits 77 without it.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh

. tests/cluster-lib.sh cluster
require_jq
# each agent also serves /metrics on its namespace's loopback
node_conf() { printf 'tls = off\npush = page\n[metrics]\nlisten = 9464\n'; }
scrape() { ip netns exec "${NS[$1]}" curl -sf http://127.0.0.1:9464/metrics; }

start_all
ok "three agents in three namespaces, each sees 2 members up"

# ---- pushed, spread: keys of set 1 (gets now) and set 2 (failures later) ----
declare -A HOME
mark_pushes
for k in $(seq 1 60); do
	head -c $((65536 + k * 4096 + k)) /dev/urandom >"$T/v$k"
	on a "$MMC" put "key$k" "$T/v$k" || die "put key$k on a"
done
wait_for "every push landed" pushes_landed
[ "$(stat_of a pushes_dropped)" = 0 ] || fail "pushes dropped on a"
for k in $(seq 1 60); do
	hb=0 hc=0
	on b "$MMC" exists --here "key$k" >/dev/null && hb=1
	on c "$MMC" exists --here "key$k" >/dev/null && hc=1
	case $hb$hc in
	00) HOME[$k]=a ;; 10) HOME[$k]=b ;; 01) HOME[$k]=c ;;
	*) fail "key$k pushed to both b and c" ;;
	esac
done
for n in a b c; do
	cnt=0
	for k in $(seq 1 60); do [ "${HOME[$k]}" = "$n" ] && cnt=$((cnt + 1)); done
	if [ "$cnt" -ge 8 ]; then ok "$n is home to $cnt of 60 keys"; else fail "$n is home to $cnt of 60 keys"; fi
done

# ---- exists across the pool: one batch on c counts every key put on a ----
keys=()
for k in $(seq 1 60); do keys+=("key$k"); done
n=$({ on c "$MMC" exists "${keys[@]}" nope-1 nope-2 || true; } | awk '$2 == 1' | wc -l)
[ "$n" = 60 ] && ok "exists of 62 keys on c: the 60 put on a count, 2 absent do not" ||
	fail "exists on c: $n of the 60 keys put on a"
n=$({ on c "$MMC" exists --here "${keys[@]}" || true; } | awk '$2 == 1' | wc -l)
[ "$n" -lt 60 ] && ok "exists --here on c: $n (its own share)" || fail "exists --here on c: $n"

# ---- remote: set 1 (keys 1..30) read on b and c ----
bad=0
for k in $(seq 1 30); do
	for n in b c; do
		on "$n" "$MMC" get "key$k" >"$T/out" || { bad=$((bad + 1)); continue; }
		cmp -s "$T/v$k" "$T/out" || { fail "key$k on $n: wrong bytes"; bad=$((bad + 1)); }
	done
done
[ "$bad" = 0 ] && ok "30 keys put on a: byte-exact gets on b and c"
[ "$(stat_of b remote_hits)" -gt 0 ] && [ "$(stat_of c remote_hits)" -gt 0 ] ||
	fail "no remote hits counted"
on b "$MMC" stat >"$T/stat.b"
if awk '$1 == "member" && $2 == "a" && $4 == "up" && $6 > 0 && $12 > 0 && $14 > 0 { ok = 1 }
	END { exit !ok }' "$T/stat.b"; then
	ok "mmc stat on b: $(grep '^member a ' "$T/stat.b")"
else
	fail "mmc stat on b lists no member a up with gets, hits, rtt: $(grep '^member ' "$T/stat.b")"
fi
[ "$(on b "$MMC" stat --json | jq '[.members[] | select(.id == "c" and .up)] | length')" = 1 ] &&
	ok "mmc stat --json on b: member c up" || fail "mmc stat --json: no member c up"
"$BIN/mmc-top" -b -n 1 -d 0 --no-bpf --stats "$T/b.sock.stats" >"$T/top.b" 2>&1
grep -q '^peer a  *[0-9.:]*  *up  *rtt' "$T/top.b" && ok "mmc-top on b: $(grep '^peer a ' "$T/top.b")" ||
	fail "mmc-top on b shows no peer a up: $(cat "$T/top.b")"
[ "$("$BIN/mmc-top" -n 1 -d 0 --no-bpf --json --stats "$T/b.sock.stats" |
	jq '[.members[] | select(.up)] | length')" = 2 ] && ok "mmc-top --json on b: 2 members up" ||
	fail "mmc-top --json on b: not 2 members up"
if command -v curl >/dev/null; then
	scrape b >"$T/metrics.b"
	n=$(awk '$1 == "mmc_remote_get_seconds_count" { print $2 }' "$T/metrics.b")
	[ "${n:-0}" -gt 0 ] && grep -q '^mmc_member_up{member="a",address="[0-9.:]*"} 1$' "$T/metrics.b" &&
		ok "b's /metrics: $n remote gets timed, member a up" ||
		fail "b's /metrics: remote_get count '${n:-}', member lines: $(grep member_up "$T/metrics.b")"
fi
# now local: a second get is a hit without asking anyone
before=$(stat_of b remote_gets)
for k in $(seq 1 30); do on b "$MMC" get "key$k" >/dev/null || fail "key$k second get on b"; done
[ "$(stat_of b remote_gets)" = "$before" ] && ok "fetched pages are local hits after" ||
	fail "second gets asked a peer again"

# ---- stopped: b frozen, c asks for b-homed keys of set 2 ----
kill -STOP "${PID[b]}"
# exists on c: the keys of the others count, b's are misses within the
# deadline; a client killed while its lookups wait for b leaves c serving
bk=() ak=()
for k in $(seq 31 60); do [ "${HOME[$k]}" = b ] && bk+=("key$k") || ak+=("key$k"); done
t0=$(ms)
n=$({ on c "$MMC" exists "${bk[@]}" "${ak[@]}" || true; } | awk '$2 == 1' | wc -l)
[ "$n" = ${#ak[@]} ] && [ $(($(ms) - t0)) -lt 2000 ] &&
	ok "b frozen: exists on c counts the ${#ak[@]} keys of a and c, not b's ${#bk[@]}" ||
	fail "b frozen: exists on c counted $n (want ${#ak[@]}) in $(($(ms) - t0)) ms"
on c timeout -s KILL 0.05 "$MMC" exists "${bk[@]}" >/dev/null 2>&1 || true
kill -0 "${PID[c]}" || fail "c died when a client waiting on b's answer was killed"
slow=0 hits_a=0
for k in $(seq 31 60); do
	[ "${HOME[$k]}" = b ] || continue
	t0=$(ms)
	if on c "$MMC" get "key$k" >"$T/out"; then
		cmp -s "$T/v$k" "$T/out" || fail "key$k: wrong bytes while b is frozen"
	fi
	[ $(($(ms) - t0)) -lt 2000 ] || slow=$((slow + 1))
done
[ "$slow" = 0 ] && ok "b frozen: gets of its keys on c end within the deadline" ||
	fail "$slow gets took 2 s or more with b frozen (deadline 200 ms)"
for k in $(seq 31 60); do
	[ "${HOME[$k]}" = a ] || continue
	on c "$MMC" get "key$k" >"$T/out" && cmp -s "$T/v$k" "$T/out" && hits_a=$((hits_a + 1)) ||
		fail "key$k (a's) not served while b is frozen"
done
ok "b frozen: $hits_a keys of a's still byte-exact on c"

# ---- killed: b gone; its keys miss or come from a (rehomed), never wrong ----
kill -CONT "${PID[b]}"
kill -KILL "${PID[b]}"
wait "${PID[b]}" 2>/dev/null || true
for k in $(seq 31 60); do
	[ "${HOME[$k]}" = b ] || continue
	t0=$(ms)
	if on c "$MMC" get "key$k" >"$T/out"; then
		cmp -s "$T/v$k" "$T/out" || fail "key$k: wrong bytes after b died"
	fi
	[ $(($(ms) - t0)) -lt 2000 ] || fail "key$k: a get on c took 2 s or more after b died"
done
wait_for "c marks b down" eval '[ "$(stat_of c peers_up)" = 1 ]'
grep -q "member b .* is down" "$T/c.log" && ok "c logged b down" || fail "c did not log b down"
on c "$MMC" stat | grep -q '^member b [^ ]* down ' && ok "mmc stat on c: member b down" ||
	fail "mmc stat on c: $(on c "$MMC" stat | grep '^member')"
if command -v curl >/dev/null; then
	scrape c | grep -q '^mmc_member_up{member="b",.*} 0$' && ok "c's /metrics: member b down" ||
		fail "c's /metrics does not show b down"
fi
for k in $(seq 31 60); do
	[ "${HOME[$k]}" = c ] || continue
	on a "$MMC" get "key$k" >"$T/out" && cmp -s "$T/v$k" "$T/out" ||
		fail "key$k (c's) not served on a after b died"
done
ok "b killed: the rest of the pool keeps serving"

# ---- rejoin ----
start_node b
wait_for "a and c see b again" eval '[ "$(stat_of a peers_up)" = 2 ] && [ "$(stat_of c peers_up)" = 2 ]'
ok "b restarted: a and c see it up"
got=$(stat_of b pushes_received)
mark_pushes
for k in $(seq 61 90); do
	head -c 32768 /dev/urandom >"$T/v$k"
	on a "$MMC" put "key$k" "$T/v$k" || die "put key$k on a"
done
wait_for "pushes after the rejoin landed" pushes_landed
[ "$(stat_of b pushes_received)" -gt "$got" ] && ok "pushes reach b again" ||
	fail "no push reached b after it rejoined"
for k in $(seq 61 90); do
	on c "$MMC" get "key$k" >"$T/out" && cmp -s "$T/v$k" "$T/out" || fail "key$k on c after the rejoin"
done

# ---- garbage at b's port ----
ip netns exec "${NS[a]}" python3 - "${ADDR[b]}" "$PORT" <<'EOF' || fail "the frame fuzzer failed"
import random, socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1234)
def hdr(t, key_len=0, value_len=0, magic=0x5043434d, version=1, status=0, crc=0, flags=0):
    return struct.pack("<IBBHIiQIIQ", magic, version, t, key_len, 0, status, value_len, crc, flags, 0)
hello = hdr(1, 1) + b"a"
cases = [b"", b"\0" * 7, hdr(1, 1)[:20], hdr(1, 1, magic=1) + b"a", hdr(1, 1, version=9) + b"a",
         hdr(1, 200) + b"x" * 200, hdr(9, 1) + b"a", hdr(1, 7) + b"mallory",
         hello + hdr(2, 0), hello + hdr(2, 3000), hello + hdr(4, 1, 1 << 40) + b"k",
         hello + hdr(4, 1, 100) + b"k" + b"z" * 10, hello + hdr(3, 0, 0, status=-2),
         hello + hdr(4, 1, 8, crc=1) + b"k" + b"12345678", hello + hdr(2, 1, 5) + b"k",
         hello + hdr(5, 0, 3) + b"\x01\x00k", hello + hdr(5, 0, 4) + b"\xff\xffkk",
         hello + hdr(5, 0, 5) + b"\x00\x00abc", hello + hdr(5, 0, 1 << 20),
         hello + hdr(6, 0, 1) + b"\x01", hello + hdr(5, 1, 3) + b"k\x01\x00k"]
for _ in range(300):
    base = rnd.choice(cases[8:21]) if rnd.random() < 0.5 else hello
    b = bytearray(base + bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 200))))
    for _ in range(rnd.randrange(0, 4)):
        if b:
            b[rnd.randrange(len(b))] = rnd.getrandbits(8)
    cases.append(bytes(b[:rnd.randrange(len(b) + 1)]))
for c in cases:
    s = socket.create_connection((host, port), timeout=5)
    try:
        s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
print(len(cases), "connections of garbage sent")
EOF
kill -0 "${PID[b]}" 2>/dev/null && ok "b survived 300+ connections of garbage" || die "b died of garbage"
# a member that asks and never reads its answers: cut off, b serves on
ip netns exec "${NS[a]}" python3 - "${ADDR[b]}" "$PORT" <<'EOF' || fail "the greedy asker failed"
import select, socket, struct, sys
def hdr(t, key=b"", id=0):
    return struct.pack("<IBBHIiQIIQ", 0x5043434d, 1, t, len(key), id, 0, 0, 0, 0, 0) + key
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # before connect: a small window
s.settimeout(30)
s.connect((sys.argv[1], int(sys.argv[2])))
try:   # more answers than b's socket buffers hold, never read
    s.sendall(hdr(1, b"a") + b"".join(hdr(2, b"key61", i) for i in range(1000000)))
except OSError:
    pass                             # cut off while sending
# never read; wait (bounded) until b hangs up on us
p = select.poll()
p.register(s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
print("b hung up" if p.poll(20000) else "b kept the connection")
s.close()
EOF
grep -q "asks without reading our answers" "$T/b.log" && ok "a member that never reads its answers is cut off" ||
	fail "b did not cut off a member that never reads"
[ "$(stat_of b peer_bad_frames)" -gt 0 ] && ok "b counted $(stat_of b peer_bad_frames) bad frames" ||
	fail "b counted no bad frames"
for k in $(seq 61 70); do
	on b "$MMC" get "key$k" >"$T/out" && cmp -s "$T/v$k" "$T/out" || fail "key$k on b after the garbage"
done
ok "b serves byte-exact after the garbage"
# a clean stop of every agent (under ASan: no leak, no error at exit)
stop_nodes "${NODES[@]}"
ok "every agent stopped cleanly"
PASSED=1
finish_checks
