#!/usr/bin/env bash
# test_ebpf.sh - mmc-top's latency histograms see real libshm calls, and
# the agent's reads back from its SSD tier (mmc:promote).
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

: "${MMC_BIN:?MMC_BIN must point to the build bin directory}"
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $(id -u) == 0 ]] || skip "needs root to load BPF and attach uprobes"
for b in mmc-agent mmc mmc-top; do
	[[ -x $BIN/$b ]] || skip "$BIN/$b not built"
done
require_jq
make_tmp ebpf

start_agent agent --arena-size 64M --hugepages off || die "agent did not start"
export MMC_SOCKET=$AGENT_SOCK

"$MMC" put k /etc/hostname || die "mmc put exited $?"
"$MMC" get k >/dev/null || die "mmc get exited $? right after the put"

"$BIN/mmc-top" -b -n 1 -d 1 --json >"$T/top.json" 2>"$T/top.err" &
tpid=$!
track "$tpid"
gets=0
while kill -0 "$tpid" 2>/dev/null; do
	"$MMC" get k >/dev/null || die "mmc get exited $?"
	gets=$((gets + 1))
done
rc=0
wait "$tpid" || rc=$?
[[ $rc == 0 ]] || die "mmc-top exited $rc: $(cat "$T/top.err")"
[[ -s $T/top.json ]] || die "mmc-top printed nothing: $(cat "$T/top.err")"

if jq -e '.bpf.enabled == false' "$T/top.json" >/dev/null; then
	why=$(jq -r .bpf.reason "$T/top.json")
	# no privilege, no BPF build, old kernel: skip; anything else (libmmc
	# without probes, a failed attach) is a failure
	[[ $why =~ "not permitted"|"without BPF"|"kernel lacks" ]] &&
		skip "BPF unavailable here: $why"
	die "latency histograms off: $why"
fi
jq -e '.bpf.lib | test("libmmc\\.so")' "$T/top.json" >/dev/null ||
	die "mmc-top traced something else than libmmc: $(jq -c .bpf.lib "$T/top.json")"
jq -e '.bpf.get.attached == true and .bpf.put.attached == true' "$T/top.json" \
	>/dev/null || die "mmc:get/mmc:put not attached: $(jq -c '.bpf | del(.get.buckets, .put.buckets, .miss.buckets)' "$T/top.json")"
jq -e '.bpf.get.count > 0 and (.bpf.get.buckets | add) == .bpf.get.count and
	.bpf.get.p50_ns > 0 and .bpf.get.p99_ns >= .bpf.get.p50_ns' "$T/top.json" \
	>/dev/null || die "no gets in the histogram after $gets mmc get runs: $(jq -c '.bpf.get' "$T/top.json")"
echo "ok: $(jq -r '"\(.bpf.get.count) gets seen, p50 \(.bpf.get.p50_ns) ns, p99 \(.bpf.get.p99_ns) ns"' "$T/top.json") ($gets mmc get runs)"

# The agent's own probe, mmc:promote: an agent with an SSD tier and 16 MiB
# of DRAM holds 24 values of 1 MiB, most of them on SSD; reading them round
# and round promotes one on nearly every get (LRU pushes the next one out).
stop_agent || die "agent exit status $?"
[[ -x $BIN/mmc-agent ]] && readelf -n "$BIN/mmc-agent" | grep 'Name: promote' >/dev/null ||
	die "mmc-agent has no mmc:promote probe"
printf '[ssd]\npath = %s\nsize = 64M\nregion_size = 4M\n' "$T/tier" >"$T/tier.conf"
start_agent ssd --config "$T/tier.conf" --arena-size 16M --hugepages off ||
	die "agent with an SSD tier did not start"
export MMC_SOCKET=$AGENT_SOCK
head -c 1048576 /dev/urandom >"$T/v"
for i in $(seq 0 23); do "$MMC" put "v$i" "$T/v" || die "mmc put v$i exited $?"; done
"$BIN/mmc-top" -b -n 1 -d 1 --json --agent "$BIN/mmc-agent" >"$T/top2.json" 2>"$T/top2.err" &
tpid=$!
track "$tpid"
i=0
while kill -0 "$tpid" 2>/dev/null; do
	"$MMC" get "v$((i % 24))" >"$T/out" || die "mmc get v$((i % 24)) exited $?"
	cmp -s "$T/v" "$T/out" || die "v$((i % 24)) read back with other bytes"
	i=$((i + 1))
done
wait "$tpid" || die "mmc-top exited $?: $(cat "$T/top2.err")"
jq -e '.bpf.promote.attached == true and .bpf.promote.count > 0 and
	.bpf.promote.errors == 0 and .bpf.promote.p50_ns > 0 and
	.bpf.promote.bytes == .bpf.promote.count * 1048576' "$T/top2.json" >/dev/null ||
	die "no promotions in the histogram after $i gets: $(jq -c '.bpf.promote | del(.buckets)' "$T/top2.json")"
echo "PASS: $(jq -r '"\(.bpf.get.count) gets seen, p50 \(.bpf.get.p50_ns) ns; \(.bpf.promote.count) promotions, p50 \(.bpf.promote.p50_ns) ns"' "$T/top2.json")"
