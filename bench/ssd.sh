#!/usr/bin/env bash
# ssd.sh - the SSD tier against fio on the same file, and its recovery.
#
#   bench/ssd.sh [--dir DIR] [--size SIZE] [--qd N] [--sizes "64K 1M 4M"]
#                [--clients "1 2"] [--quick] [--engine io_uring|threads]
#
# For each value size B, in one run, on one file in DIR (default
# /var/tmp/mmc-ssd-bench: the root filesystem, where O_DIRECT is real):
#
#   fio write    sequential O_DIRECT writes of B, io_uring, queue depth N
#   fio read     random O_DIRECT reads of B, io_uring, queue depth N
#   demotion     mmc-bench puts B-byte values into an agent whose DRAM arena
#                is small: every put beyond it waits for demotions, so the
#                put rate is the rate at which the tier writes (GB/s of
#                values: the agent's demotions x B over the phase's time)
#   promotion/P  the agent restarted on the file (DRAM empty, every object
#                recovered from SSD), then P mmc-bench processes get random
#                keys in batches of 128 (an engine's prefetch), P = each of
#                --clients: 1, a single synchronous caller, and 2, as two
#                tensor-parallel ranks of one node do; every first read is
#                a promotion (GB/s of values: promotions x B over the time)
#   zero-copy/P  the same, read in place: batches of mmc_acquire_batch
#                (mmc-bench -m zget --batch), no copy into the client's
#                buffers behind the reads; 128 keys, or fewer where the
#                batches pinned at once would not fit in half of DRAM
#   recovery     the first restart's own log line: objects found, ms
#
# GB/s of mmc are of values, what a client gets: the 512-byte header read
# with each value and the 4 KiB header sector written with it are device
# bytes on top (printed as read and write amplification).  The agent keeps
# at most N I/Os in flight, as fio does.
# It prints the ratios mmc/fio, each against the mean of the fio runs on
# either side of the phase (the disk of a VM drifts): writes before the
# demotion and at the end, a read before, between and after the read
# phases (fio reads the tier file in place).  fio's first write makes the
# file, which the agent then formats as a new tier.  --quick: one small
# size, tiny files, seconds (what CI runs: the numbers mean nothing).
# Needs fio, jq and the build in build/bin; root for 2 MiB hugepages
# (restored on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MMC_BIN:-build/bin}
dir=/var/tmp/mmc-ssd-bench size=4G qd=32 sizes="64K 1M 4M" clients="1 2" quick= engine=io_uring
while (($#)); do
	case $1 in
	--dir) dir=$2; shift ;;
	--size) size=$2; shift ;;
	--qd) qd=$2; shift ;;
	--sizes) sizes=$2; shift ;;
	--clients) clients=$2; shift ;;
	--engine) engine=$2; shift ;;
	--quick) quick=1; size=256M; sizes="256K" ;;
	-h|--help) sed -n '2,41s/^# \{0,1\}//p' "$0"; exit 0 ;;
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

# rate_of FIELD SCALE CMD...: runs CMD while sampling the agent's counter
# FIELD (times SCALE: bytes) every ~250 ms (a sample forks mmc and jq: more often, on a small
# machine, the sampling slows what it measures); prints GB/s over the middle of the transfer (from 20 %
# to 80 % of what the run moved), which leaves out the start (DRAM still
# filling) and the tail (the last writes or reads trickling in).
rate_of() {
	local field=$1 scale=$2 pid samples=$dir/samples
	shift 2
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
		   printf "%.4f\n", (v[z] - v[a]) * s / (t[z] - t[a]) / 1e9 }' s="$scale" "$samples"
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

# read_phase MODE P: restarts the agent on the tier file (DRAM empty), then P
# client processes read n keys' worth between them in batches (mode get:
# mmc_get_batch of 128; zget: mmc_acquire_batch, as many as the batches of
# all P clients pinned at once fit in half of DRAM, at most 128).  Sets got
# (GB/s of values promoted), and rec and ramp on the first call.
read_phase() {
	local mode=$1 p=$2 batch=128

	[[ $mode == zget ]] && batch=$((dram / 2 / b / p)) && ((batch > 128)) && batch=128
	start_agent
	[[ -z $rec ]] && rec=$(grep -o '[0-9]* objects recovered in [0-9.]* ms' "$dir/agent.log" | tail -n 1)
	got=$(rate_of promotions "$b" "$BIN/mmc-bench" --socket "$sock" -s "$s" -n "$n" -p "$p" \
		-m "$mode" --batch "$batch" --warmup 0 --ops $((n / p)))
	[[ -z $ramp ]] && ramp=$(echo "$(stat_of ssd_read_bytes) / ($(stat_of promotions) * $b)" | bc -l)
	stop_agent
}
printf '%-6s %-12s %10s %10s %8s\n' size phase "mmc GB/s" "fio GB/s" "mmc/fio"
for s in $sizes; do
	b=$(bytes "$s")
	total=$(( $(bytes "$size") * 6 / 10 ))    # what the runs put: 60 % of the file
	n=$((total / b))
	# This VM's disk moves by 30 % and more from one minute to the next, so
	# each mmc phase is compared with fio runs on either side of it: reads
	# (fio reads the tier file, leaving it intact) around each promotion,
	# writes (which overwrite the file) before the demotion and at the end.
	fw1=$(fio_gbps write "$s")
	# The agent formats fio's file as a new tier (fio wrote over where a
	# superblock would be): the same file, its blocks written, as fio's
	# own writes find them.  A file the agent creates is fallocated, and
	# the first write to each of its blocks also converts an unwritten
	# extent: 64 KiB demotion 2.05-2.34 GB/s there, 2.60-2.63 here.

	: > "$dir/agent.log"
	start_agent
	dem=$(rate_of demotions "$b" "$BIN/mmc-bench" --socket "$sock" -s "$s" -n "$n" -m put)
	wamp=$(echo "$(stat_of ssd_write_bytes) / ($(stat_of demotions) * $b)" | bc -l)
	stop_agent

	# Read phases, each on an agent restarted on the file (DRAM empty:
	# every first read is a promotion), each between two fio reads.
	fr=("$(fio_gbps randread "$s")") rows=() ramp= rec=
	for mode in get zget; do
		for p in $clients; do
			read_phase "$mode" "$p"
			fr+=("$(fio_gbps randread "$s")")
			rows+=("$([[ $mode == get ]] && echo promotion || echo zero-copy)/$p $got")
		done
	done
	fw2=$(fio_gbps write "$s")

	fw=$(mean "$fw1" "$fw2")
	printf '%-6s %-12s %10.2f %10.2f %7.0f%%   fio %.2f / %.2f\n' "$s" demotion "$dem" \
		"$fw" "$(echo "100 * $dem / $fw" | bc -l)" "$fw1" "$fw2"
	for i in "${!rows[@]}"; do
		set -- ${rows[$i]}
		f=$(mean "${fr[$i]}" "${fr[$((i + 1))]}")
		printf '%-6s %-12s %10.2f %10.2f %7.0f%%   fio %.2f / %.2f\n' "$s" "$1" "$2" \
			"$f" "$(echo "100 * $2 / $f" | bc -l)" "${fr[$i]}" "${fr[$((i + 1))]}"
	done
	printf '%-6s write amplification %.3f, read %.3f (device bytes / value bytes); ' \
		"$s" "$wamp" "$ramp"
	printf 'put %s x %d; recovery: %s\n' "$s" "$n" "$rec"
	rm -f "$file"
done
