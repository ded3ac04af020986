#!/usr/bin/env bash
# test_ebpf.sh - mmc-top's latency histograms see real libshm calls.
#
# A real mmc-agent in a temporary directory; one value put with the mmc CLI;
# then `mmc-top -b -n 1 -d 1 --json` attaches its USDT programs to the
# libmmc.so it runs with (the same file the CLI loads), while mmc get runs in
# a loop until mmc-top has printed its snapshot and exited.  The get
# histogram must have counted calls: that proves the probes exist in libshm,
# the attach raised their semaphores in processes that started afterwards,
# and the BPF programs filed the events.
#
# Needs root (BPF + uprobes) and a build with MMC_WITH_BPF; exits 77, saying
# why, when either is missing or the kernel refuses BPF.  Builds nothing.
set -euo pipefail

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

: "${MMC_BIN:?MMC_BIN must point to the build bin directory}"
[[ $(id -u) == 0 ]] || skip "needs root to load BPF and attach uprobes"
for b in mmc-agent mmc mmc-top; do
	[[ -x $MMC_BIN/$b ]] || skip "$MMC_BIN/$b not built"
done
command -v jq >/dev/null || skip "jq not installed (scripts/install-deps.sh)"

tmp=$(mktemp -d /tmp/mmc-test-ebpf.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

sock=$tmp/agent.sock
export MMC_SOCKET=$sock
"$MMC_BIN/mmc-agent" --socket "$sock" --arena-size 64M --hugepages off \
	>"$tmp/agent.log" 2>&1 &
apid=$!
pids+=("$apid")
for ((i = 0; i < 200; i++)); do                 # bounded poll, 10 s
	[[ -S $sock && -s $sock.stats ]] && break
	kill -0 "$apid" 2>/dev/null || fail "agent died: $(cat "$tmp/agent.log")"
	sleep 0.05
done
[[ -S $sock && -s $sock.stats ]] || fail "agent not ready in 10 s"

"$MMC_BIN/mmc" put k /etc/hostname || fail "mmc put exited $?"
"$MMC_BIN/mmc" get k >/dev/null || fail "mmc get exited $? right after the put"

"$MMC_BIN/mmc-top" -b -n 1 -d 1 --json >"$tmp/top.json" 2>"$tmp/top.err" &
tpid=$!
pids+=("$tpid")
gets=0
while kill -0 "$tpid" 2>/dev/null; do
	"$MMC_BIN/mmc" get k >/dev/null || fail "mmc get exited $?"
	gets=$((gets + 1))
done
rc=0
wait "$tpid" || rc=$?
[[ $rc == 0 ]] || fail "mmc-top exited $rc: $(cat "$tmp/top.err")"
[[ -s $tmp/top.json ]] || fail "mmc-top printed nothing: $(cat "$tmp/top.err")"

if jq -e '.bpf.enabled == false' "$tmp/top.json" >/dev/null; then
	why=$(jq -r .bpf.reason "$tmp/top.json")
	# no privilege, no BPF build, old kernel: skip; anything else (libmmc
	# without probes, a failed attach) is a failure
	[[ $why =~ "not permitted"|"without BPF"|"kernel lacks" ]] &&
		skip "BPF unavailable here: $why"
	fail "latency histograms off: $why"
fi
jq -e '.bpf.lib | test("libmmc\\.so")' "$tmp/top.json" >/dev/null ||
	fail "mmc-top traced something else than libmmc: $(jq -c .bpf.lib "$tmp/top.json")"
jq -e '.bpf.get.attached == true and .bpf.put.attached == true' "$tmp/top.json" \
	>/dev/null || fail "mmc:get/mmc:put not attached: $(jq -c '.bpf | del(.get.buckets, .put.buckets, .miss.buckets)' "$tmp/top.json")"
jq -e '.bpf.get.count > 0 and (.bpf.get.buckets | add) == .bpf.get.count and
	.bpf.get.p50_ns > 0 and .bpf.get.p99_ns >= .bpf.get.p50_ns' "$tmp/top.json" \
	>/dev/null || fail "no gets in the histogram after $gets mmc get runs: $(jq -c '.bpf.get' "$tmp/top.json")"
echo "PASS: $(jq -r '"\(.bpf.get.count) gets seen, p50 \(.bpf.get.p50_ns) ns, p99 \(.bpf.get.p99_ns) ns"' "$tmp/top.json") ($gets mmc get runs)"
