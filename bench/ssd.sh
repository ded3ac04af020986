#!/usr/bin/env bash
# ssd.sh - the SSD tier against fio on the same file, and its recovery.
#
#   bench/ssd.sh [--dir DIR] [--size SIZE] [--qd N] [--sizes "64K 1M 4M"]
#                [--quick] [--engine io_uring|threads]
#
# For each value size B, in one run, on one file in DIR (default
# /var/tmp/mmc-ssd-bench: the root filesystem, where O_DIRECT is real):
#
#   fio write    sequential O_DIRECT writes of B, io_uring, queue depth N
#   fio read     random O_DIRECT reads of B, io_uring, queue depth N
#   demotion     mmc-bench puts B-byte values into an agent whose DRAM arena
#                is small: every put beyond it waits for demotions, so the
#                put rate is the rate at which the tier writes (GB/s from
#                the agent's ssd_write_bytes over the phase's wall time)
#   promotion    the agent restarted on the file (DRAM empty, every object
#                recovered from SSD), then mmc-bench gets in batches of 128
#                (an engine's prefetch): every first read is a promotion
#                (GB/s from ssd_read_bytes over the phase's wall time)
#   zero-copy    the same after another restart, read in place: batches of
#                mmc_acquire_batch (mmc-bench -m zget --batch), no copy into
#                the client's buffers behind the reads; 128 keys, or fewer
#                where 128 values pinned at once would not fit in half of
#                DRAM (32 of 4 MiB)
#   recovery     the restart's own log line: objects found, milliseconds
#
# and prints the ratios mmc/fio, each against the mean of the fio runs on
# either side of the phase (the disk of a VM drifts): writes before the
# demotion and at the end, reads before, between and after the promotions
# (fio reads the tier file in place).  fio's first write makes the file,
# which the agent then formats as a new tier.  --quick: one small size, tiny
# files, seconds (what CI runs: the numbers mean nothing).  Needs fio, jq
# and the build in build/bin; root for 2 MiB hugepages (restored on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MMC_BIN:-build/bin}
dir=/var/tmp/mmc-ssd-bench size=4G qd=32 sizes="64K 1M 4M" quick= engine=io_uring
while (($#)); do
	case $1 in
	--dir) dir=$2; shift ;;
	--size) size=$2; shift ;;
	--qd) qd=$2; shift ;;
	--sizes) sizes=$2; shift ;;
	--engine) engine=$2; shift ;;
	--quick) quick=1; size=256M; sizes="256K" ;;
	-h|--help) sed -n '2,35s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "ssd.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done
command -v fio >/dev/null || { echo "ssd.sh: needs fio (scripts/install-deps.sh)" >&2; exit 1; }
command -v jq >/dev/null || { echo "ssd.sh: needs jq" >&2; exit 1; }

mkdir -p "$dir"
file=$dir/tier
sock=$dir/agent.sock
apid=
hp_old=
cleanup() {
	[[ -n $apid ]] && kill -KILL "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
	rm -f "$file" "$dir/agent.conf" "$dir"/*.log "$sock" "$sock.stats"
	rmdir "$dir" 2>/dev/null || true
	[[ -n $hp_old ]] && echo "$hp_old" > /proc/sys/vm/nr_hugepages
	return 0
}
trap cleanup EXIT

bytes() { numfmt --from=iec "${1%iB}"; }
dram=$((256 << 20))
[[ -n $quick ]] && dram=$((32 << 20))
hp=off
if [[ $(id -u) == 0 && -z $quick ]]; then
	hp_old=$(cat /proc/sys/vm/nr_hugepages)
	echo $((hp_old + dram / (2 << 20) + 8)) > /proc/sys/vm/nr_hugepages
	hp=auto
fi

# start_agent: an agent on the tier file, DRAM of $dram bytes; waits until it
# serves.  Its log is $dir/agent.log (appended).
start_agent() {
	cat > "$dir/agent.conf" <<-EOF
	[ssd]
	path = $file
	size = $size
	region_size = $([[ -n $quick ]] && echo 8M || echo 256M)
	queue_depth = $qd
	engine = $engine
	[limits]
	pinned_bytes_per_session = 100%
	EOF
	"$BIN/mmc-agent" --config "$dir/agent.conf" --socket "$sock" \
		--arena-size "$dram" --hugepages "$hp" >>"$dir/agent.log" 2>&1 &
	apid=$!
	for _ in $(seq 300); do
		MMC_SOCKET=$sock "$BIN/mmc" stat >/dev/null 2>&1 && return 0
		kill -0 "$apid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$dir/agent.log" >&2
	exit 1
}
stop_agent() {
	kill -TERM "$apid"
	wait "$apid" || true
	apid=
}
stat_of() { MMC_SOCKET=$sock "$BIN/mmc" stat --json | jq -r ".$1"; }

# rate_of FIELD CMD...: runs CMD while sampling the agent's counter FIELD
# (bytes) every ~250 ms (a sample forks mmc and jq: more often, on a small
# machine, the sampling slows what it measures); prints GB/s over the middle of the transfer (from 20 %
# to 80 % of what the run moved), which leaves out the start (DRAM still
# filling) and the tail (the last writes or reads trickling in).
rate_of() {
	local field=$1 pid samples=$dir/samples
	shift
	: > "$samples"
	"$@" >"$dir/bench.out" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		echo "$(date +%s.%N) $(stat_of "$field")" >> "$samples"
		sleep 0.25
	done
	wait "$pid" || { cat "$dir/bench.out" >&2; exit 1; }
	while [[ $(stat_of ssd_inflight) != 0 ]]; do sleep 0.01; done
	echo "$(date +%s.%N) $(stat_of "$field")" >> "$samples"
	awk 'NR == 1 { b0 = $2 } { t[NR] = $1; v[NR] = $2 - b0; n = NR }
	     END { lo = 0.2 * v[n]; hi = 0.8 * v[n];
		   for (i = 1; i <= n; i++) { if (!a && v[i] >= lo) a = i; if (!z && v[i] >= hi) z = i }
		   if (z <= a) { a = 1; z = n }
		   printf "%.4f\n", (v[z] - v[a]) / (t[z] - t[a]) / 1e9 }' "$samples"
}

# fio_gbps RW BS: GB/s of one fio run on the tier file.
fio_gbps() {
	local rw=$1 bs=$2 runtime=5
	[[ -n $quick ]] && runtime=2
	fio --name=ssd --filename="$file" --size="$size" --ioengine=io_uring --direct=1 \
	    --rw="$rw" --bs="$bs" --iodepth="$qd" --runtime="$runtime" --time_based \
	    --group_reporting --output-format=json 2>/dev/null |
		jq -r 'if .jobs[0].read.bw_bytes > 0 then .jobs[0].read.bw_bytes
		       else .jobs[0].write.bw_bytes end / 1e9'
}

mean() { echo "($1 + $2) / 2" | bc -l; }
printf '%-6s %-10s %10s %10s %8s\n' size phase "mmc GB/s" "fio GB/s" "mmc/fio"
for s in $sizes; do
	b=$(bytes "$s")
	total=$(( $(bytes "$size") * 6 / 10 ))    # what the runs put: 60 % of the file
	n=$((total / b))
	# This VM's disk moves by 30 % and more from one minute to the next, so
	# each mmc phase is compared with fio runs on either side of it: reads
	# (fio reads the tier file, leaving it intact) around each promotion,
	# writes (which overwrite the file) before the demotion and at the end.
	fw1=$(fio_gbps write "$s")
	fr1=$(fio_gbps randread "$s")
	# The agent formats fio's file as a new tier (fio wrote over where a
	# superblock would be): the same file, its blocks written, as fio's
	# own writes find them.  A file the agent creates is fallocated, and
	# the first write to each of its blocks also converts an unwritten
	# extent: 64 KiB demotion 2.05-2.34 GB/s there, 2.60-2.63 here.

	: > "$dir/agent.log"
	start_agent
	dem=$(rate_of ssd_write_bytes "$BIN/mmc-bench" --socket "$sock" -s "$s" -n "$n" -m put)
	wamp=$(echo "$(stat_of ssd_write_bytes) / ($(stat_of demotions) * $b)" | bc -l)
	stop_agent

	start_agent                               # DRAM empty: all on SSD
	rec=$(grep -o '[0-9]* objects recovered in [0-9.]* ms' "$dir/agent.log" | tail -n 1)
	pro=$(rate_of ssd_read_bytes "$BIN/mmc-bench" --socket "$sock" -s "$s" -n "$n" \
		-m get --batch 128 --warmup 0 --ops "$n")
	stop_agent
	fr2=$(fio_gbps randread "$s")

	start_agent                               # again, read in place
	zb=$((dram / 2 / b)); ((zb > 128)) && zb=128  # a batch's pins fit in DRAM
	zpro=$(rate_of ssd_read_bytes "$BIN/mmc-bench" --socket "$sock" -s "$s" -n "$n" \
		-m zget --batch "$zb" --warmup 0 --ops "$n")
	stop_agent
	fr3=$(fio_gbps randread "$s")
	fw2=$(fio_gbps write "$s")

	fw=$(mean "$fw1" "$fw2") fr=$(mean "$fr1" "$fr2") fz=$(mean "$fr2" "$fr3")
	printf '%-6s %-10s %10.2f %10.2f %7.0f%%   fio %.2f / %.2f\n' "$s" demotion "$dem" \
		"$fw" "$(echo "100 * $dem / $fw" | bc -l)" "$fw1" "$fw2"
	printf '%-6s %-10s %10.2f %10.2f %7.0f%%   fio %.2f / %.2f\n' "$s" promotion "$pro" \
		"$fr" "$(echo "100 * $pro / $fr" | bc -l)" "$fr1" "$fr2"
	printf '%-6s %-10s %10.2f %10.2f %7.0f%%   fio %.2f / %.2f\n' "$s" "zero-copy" "$zpro" \
		"$fz" "$(echo "100 * $zpro / $fz" | bc -l)" "$fr2" "$fr3"
	printf '%-6s write amplification %.3f (device bytes / demoted value bytes); ' "$s" "$wamp"
	printf 'put %s x %d; recovery: %s\n' "$s" "$n" "$rec"
	rm -f "$file"
done
