#!/usr/bin/env bash
# test_top.sh - mmc-top reads the agent's stats file and reports it right.
#
# Three parts, all in a temporary directory, everything started is killed
# on exit:
#   1. error paths: no stats file / stale / bad magic / short -> exit 1,
#      bad usage -> exit 2;
#   2. a stats file made with python3's struct.pack to match struct
#      mmc_stats exactly (its fields read from MMC_STATS_FIELDS in
#      include/mmc/mmc-t.h), so every field and the
#      derived ones (used_pct, hit_ratio, rates) can be checked to the unit;
#      rates are checked by changing the file between two snapshots, in step
#      with mmc-top's output through a fifo, not with sleeps;
#   3. when $MMC_BIN/mmc-agent and mmc exist: a real agent (lib.sh's
#      start_agent), found through $MMC_SOCKET like a user would, and after
#      it stops, exit 1.
# Needs jq (scripts/install-deps.sh; installed when root) and python3;
# exits 77 without them.
set -euo pipefail

: "${MMC_BIN:?MMC_BIN must point to the build bin directory}"
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TOP=$BIN/mmc-top
[[ -x $TOP ]] || skip "$TOP not built"
require_jq
command -v python3 >/dev/null || skip "python3 not installed"
make_tmp top

# check FILE JQ-EXPR WHAT: every JSON object in FILE satisfies JQ-EXPR.
check() {
	jq -e -s "length > 0 and (map($2) | all)" "$1" >/dev/null ||
		die "$3; got: $(head -c 2000 "$1")"
}

# expect_rc RC PATTERN CMD...: CMD exits RC and its stderr matches PATTERN.
expect_rc() {
	local want=$1 pat=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[[ $rc == "$want" ]] || die "$* exited $rc, want $want; stderr: $(cat "$T/err")"
	grep -qiE -- "$pat" "$T/err" || die "$*: stderr lacks /$pat/: $(cat "$T/err")"
}

# ---- the fake stats file: mkstats.py FILE PID | mkstats.py --bump FILE ----
# The layout is read from the headers themselves (MMC_STATS_FIELDS in
# mmc-t.h, MMC_STATS_VERSION in layout-t.h), never copied here.
SRC=${MMC_SRC:-$(dirname "${BASH_SOURCE[0]}")/..}
cat >"$T/mkstats.py" <<'EOF'
import os, re, struct, sys, time
src = os.environ["SRC"]
hdr = open(os.path.join(src, "include/mmc/mmc-t.h")).read()
body = re.search(r"#define MMC_STATS_FIELDS\(X\)((?:.*\\\n)*.*\n)", hdr).group(1)
NAMES = re.findall(r"X\((\w+),", body)
SLOTS = int(re.search(r"#define MMC_STATS_SLOTS (\d+)", hdr).group(1))
VERSION = int(re.search(r"#define MMC_STATS_VERSION (\d+)u",
          open(os.path.join(src, "common/layout-t.h")).read()).group(1))
# magic, version, size, updated_ns, start_ns, agent_pid, hugepages, slots
FMT = "<QIIQQII%dQ" % SLOTS
SIZE = struct.calcsize(FMT)
assert SIZE == 680 and "hits" in NAMES and len(NAMES) <= SLOTS
if sys.argv[1] == "--bump":          # what an agent refresh looks like
    path = sys.argv[2]
    with open(path, "r+b") as f:
        v = list(struct.unpack(FMT, f.read(SIZE)))
        v[3] += 1_000_000_000        # updated_ns: one second later
        base = 7
        for name, add in (("hits", 100), ("misses", 50), ("puts", 10),
                          ("get_bytes", 1 << 20), ("evictions", 3)):
            v[base + NAMES.index(name)] += add
        os.pwrite(f.fileno(), struct.pack(FMT, *v), 0)
    sys.exit(0)
path, pid = sys.argv[1], int(sys.argv[2])
now = time.monotonic_ns()
vals = dict(arena_bytes=64 << 20, used_bytes=16 << 20, reserved_bytes=1 << 20,
            objects=100, pinned_objects=3, reservations=2, clients=4,
            clients_total=9, clients_rejected=1, hits=300, misses=100,
            gets=400, get_bytes=5 << 20, puts=150, put_bytes=7 << 20,
            put_exists=5, exists=7, removes=8, errors=2, evictions=11,
            evicted_bytes=11 << 12, alloc_failures=0, bad_requests=1,
            high_watermark_pct=90, low_watermark_pct=80, max_objects=1000,
            ssd_objects=5, ssd_bytes=5 << 20, ssd_capacity=1 << 30, demotions=7,
            promotions=2, ssd_inflight=3)
data = struct.pack(FMT, 0x3154415453434d4d, VERSION, SIZE, now, now - 5_000_000_000,
                   pid, 0, *[vals.get(n, 0) for n in NAMES],
                   *[0] * (SLOTS - len(NAMES)))
with open(path, "wb") as f:
    f.write(data)
EOF
export SRC

# ---- 1. error paths ----
expect_rc 1 "not running" "$TOP" -b -n 1 -d 0 --no-bpf --stats "$T/none.stats"
expect_rc 1 "$T/nope.sock.stats" env MMC_SOCKET="$T/nope.sock" "$TOP" -b -n 1 -d 0 --no-bpf
head -c 680 /dev/zero >"$T/zero.stats"
expect_rc 1 "bad magic" "$TOP" -b -n 1 -d 0 --no-bpf --stats "$T/zero.stats"
head -c 100 /dev/zero >"$T/short.stats"
expect_rc 1 "too short" "$TOP" -b -n 1 -d 0 --no-bpf --stats "$T/short.stats"
true & dead=$!
wait "$dead"
python3 "$T/mkstats.py" "$T/stale.stats" "$dead"
expect_rc 1 "not running.*stale" "$TOP" -b -n 1 -d 0 --no-bpf --stats "$T/stale.stats"
expect_rc 2 "usage" "$TOP" --bogus
expect_rc 2 "count" "$TOP" -b -n 0
expect_rc 2 "seconds" "$TOP" -b -d soon
expect_rc 2 "unexpected" "$TOP" -b extra

# ---- 2. fake stats file, exact values ----
F=$T/fake.stats
python3 "$T/mkstats.py" "$F" $$
"$TOP" -b -n 2 -d 0.2 --json --no-bpf --stats "$F" >"$T/j" ||
	die "mmc-top --json on the fake file exited $?"
[[ $(wc -l <"$T/j") == 2 ]] || die "want 2 JSON lines: $(cat "$T/j")"
check "$T/j" ".agent_pid == $$ and .arena_bytes == 67108864 and
	.used_bytes == 16777216 and .used_pct == 25 and .reserved_bytes == 1048576 and
	.objects == 100 and .pinned_objects == 3 and .clients == 4 and
	.clients_total == 9 and .hits == 300 and .misses == 100 and
	.hit_ratio == 0.75 and .puts == 150 and .evictions == 11 and
	.max_objects == 1000 and .high_watermark_pct == 90" "fake file fields"
check "$T/j" '.uptime_s >= 5 and .stats_path != null' "uptime"
check "$T/j" '.rates != null and .rates.hits == 0 and .rates.puts == 0' \
	"rates of an unchanging file"
check "$T/j" '.bpf.enabled == false and (.bpf.reason | test("no-bpf"))' "--no-bpf"

# Plain text, and batch chosen by itself since stdout is not a terminal.
"$TOP" -n 1 -d 0 --no-bpf --stats "$F" >"$T/t" || die "text mode exited $?"
for pat in "arena 64.0 MiB" "used 16.0 MiB \(25.0%\)" "reserved 1.0 MiB" \
	"^objects +100 *$" "^pinned_objects +3 *$" "^clients +4 *$" "hit ratio 75.0%" \
	"^hits +300 +0.0" "^puts +150" "^evictions +11" "^get_bytes +5.0 MiB +0 B/s" \
	"^high_watermark_pct +90%" "^counters_clamped +0 +0.0" \
	"^dram 100 objects  16.0 MiB" \
	"^ssd  5 objects  5.0 MiB of 1.0 GiB  demoted 7  promoted 2  in flight 3" \
	"^ssd_write_bytes +0 B"; do
	grep -qE "$pat" "$T/t" || die "text output lacks /$pat/: $(cat "$T/t")"
done

# With BPF allowed: whatever happens to BPF here, counters still come out
# and the bpf object says what happened.
"$TOP" -b -n 1 -d 0 --json --stats "$F" >"$T/jb" 2>"$T/eb" ||
	die "mmc-top with BPF allowed exited $?: $(cat "$T/eb")"
check "$T/jb" '.hits == 300 and (.bpf.enabled == true or (.bpf.reason | length > 0))' \
	"counters with BPF allowed"

# Rates: the agent "refreshes" (one second later on its clock) between the
# first and the second snapshot; mmc-top's lines pace the test.
mkfifo "$T/fifo"
"$TOP" -b -n 2 -d 1 --json --no-bpf --stats "$F" >"$T/fifo" &
track $!
exec 3<"$T/fifo"
read -r -t 20 line1 <&3 || die "no first snapshot"
python3 "$T/mkstats.py" --bump "$F"
read -r -t 20 line2 <&3 || die "no second snapshot"
exec 3<&-
echo "$line2" >"$T/r"
check "$T/r" '.hits == 400 and .misses == 150 and .hit_ratio > 0.7272 and
	.hit_ratio < 0.7273' "bumped counters"
check "$T/r" '.rates.interval_s == 1 and .rates.hits == 100 and .rates.misses == 50 and
	.rates.puts == 10 and .rates.get_bytes == 1048576 and .rates.evictions == 3' \
	"rates over the agent's clock"

# ---- 3. a real agent ----
if [[ -x $AGENT && -x $MMC ]]; then
	start_agent agent --arena-size 64M --hugepages off || die "agent did not start"
	MMC_SOCKET=$AGENT_SOCK "$TOP" -b -n 2 -d 0.2 --json --no-bpf >"$T/a" ||
		die "mmc-top on a real agent exited $?"
	check "$T/a" ".agent_pid == $AGENT_PID and .arena_bytes == 67108864 and
		.used_bytes <= .arena_bytes and .clients >= 0 and .rates != null" \
		"real agent"
	MMC_SOCKET=$AGENT_SOCK "$MMC" put k /etc/hostname || die "mmc put"
	# the agent refreshes its stats on its own time: poll, bounded
	for ((i = 0; i < 50; i++)); do
		MMC_SOCKET=$AGENT_SOCK "$TOP" -b -n 1 -d 0.1 --json --no-bpf >"$T/a" ||
			die "mmc-top on a real agent exited $?"
		jq -e '.puts >= 1 and .objects >= 1' "$T/a" >/dev/null && break
	done
	check "$T/a" '.puts >= 1 and .objects >= 1 and .used_bytes > 0' \
		"real agent after a put"
	kill "$AGENT_PID"   # fails, and so ends the test, if the agent died
	wait "$AGENT_PID" || true
	expect_rc 1 "not running" env MMC_SOCKET="$AGENT_SOCK" "$TOP" -b -n 1 -d 0 --no-bpf
else
	echo "note: $AGENT or $MMC not built; fake stats file only" >&2
fi
echo "PASS"
