#!/usr/bin/env bash
# compare.sh - mmc side by side with memcached and Redis, on one machine, in
# one run: the same workload against all three stores, one table.
#
#   bench/compare.sh [--quick] [--out DIR] [--sizes "4K 64K ..."]
#                    [--batch B] [--no-hugepages] [--help]
#   bench/compare.sh --report DIR      the table of an earlier run, again
#
# Starts, as its own children on loopback, memcached (item size limit raised
# above the largest value), redis-server (no persistence) and an mmc-agent
# (build/bin, private socket), then for every value size x client processes
# (1, 2) x form (single calls, batches of B) runs mmc-bench once per store:
#
#   mmc        -m P,get,zget --mix 95     put-only, get-heavy copying (mmc_get)
#                                         and get-heavy zero copy (acquire +
#                                         release)
#   memcached  -m P,get --mix 95          libmemcached, binary protocol
#   redis      -m P,get --mix 95          hiredis
#
# where P is put,put,put: a put-only phase is short (every key once, 256 MiB:
# tens of ms for mmc) and one stall on this shared VM moved it 3x from run
# to run, so every store puts three rounds and the table shows the median
# round by ops/s (each round deletes its keys first, untimed).
#
# "put" is the put-only workload (every key put once, into a store that does
# not hold it); "get" with --mix 95 is the get-heavy one (95 % gets, 5 %
# replacing values of a small private write set).  Each run's JSON goes to
# the results directory (--out, default a new /tmp/mmc-compare-*), and one
# table is printed from them, then the issue's "done when" verdicts (1
# client, single calls): information, never the exit status.
#
# Needs memcached, redis-server, redis-cli, jq and a build with mmc-bench's
# memcached and Redis stores (libmemcached-dev, libhiredis-dev:
# scripts/install-deps.sh).  Root is only needed for 2 MiB hugepages for the
# arena (reserved here, nr_hugepages restored on exit); without root it runs
# on 4 KiB pages and says so.  --quick: two sizes, tiny counts, a few seconds
# per store, every path exercised (what CI runs; the numbers mean nothing).
#
# Everything started here is killed on exit; nothing else is touched (other
# agents may run on this machine).  Exit status: 0 when every run succeeded,
# 1 when one failed (a content mismatch included), 2 bad usage or missing
# tools.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${MMC_BIN:-$ROOT/build/bin}
QUICK=0
OUT=
SIZES=
BATCH=32
HUGE=1
REPORT=

usage() {
	sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}
die() { echo "compare.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--out) [ $# -ge 2 ] || die "--out needs a directory"; OUT=$2; shift ;;
	--sizes) [ $# -ge 2 ] || die "--sizes needs a list"; SIZES=$2; shift ;;
	--batch) [ $# -ge 2 ] || die "--batch needs a number"; BATCH=$2; shift ;;
	--no-hugepages) HUGE=0 ;;
	--report) [ $# -ge 2 ] || die "--report needs a directory"; REPORT=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ $BATCH =~ ^[0-9]+$ ]] && [ "$BATCH" -ge 2 ] || die "--batch must be 2 or more"

# ---- what a run measures ----
# Key counts: each size's working set is 256 MiB, far out of the 32 MiB L3;
# a full run takes about five minutes on the 2-vCPU reference VM.
declare -A COUNT=([4K]=65536 [64K]=4096 [256K]=1024 [1M]=256 [4M]=64)
if [ "$QUICK" = 1 ]; then
	COUNT=([4K]=256 [64K]=64 [256K]=16 [1M]=8 [4M]=4)
	[ -n "$SIZES" ] || SIZES="4K 1M"
	BATCH=4
	HUGE=0
	EXTRA=(--ops 1200 --baseline-ms 20)
else
	[ -n "$SIZES" ] || SIZES="4K 64K 256K 1M 4M"
	EXTRA=()
fi
for s in $SIZES; do
	[ -n "${COUNT[$s]:-}" ] || die "size '$s' is not one of ${!COUNT[*]}"
done
bytes_of() {   # 4K -> 4096
	local n=${1%[KM]}
	case $1 in *K) echo $((n << 10)) ;; *M) echo $((n << 20)) ;; *) echo "$n" ;; esac
}

# ---- the table ----
# One TSV line per row from every JSON: size procs form workload store and
# the figures; then the ratios against the same row of memcached and Redis.
rows() {
	local s p f st j
	for s in $SIZES; do for p in 1 2; do for f in single batch; do
		for st in mmc memcached redis; do
			j=$OUT/$s-p$p-$f-$st.json
			jq -r --arg size "$s" --arg form "$f" --arg st "$st" '
				select(.ok) | . as $r |
				([.results[] | select(.mode == "put")] | sort_by(.ops_per_s) |
				 .[length / 2 | floor]) as $put |
				([$put] + [.results[] | select(.mode != "put")])[] | select(. != null) |
				[$size, (.procs|tostring), $form,
				 (if .mode == "put" then "put-only" else "get 95/5" end),
				 (if $st != "mmc" then $st elif .mode == "zget" then "mmc 0-copy"
				  else "mmc copy" end),
				 .ops_per_s, (.gbps // "-"), .latency_ns.p50, .latency_ns.p99,
				 (if .baseline == "write" then $r.baseline.write_gbps
				  else $r.baseline.read_gbps end),
				 (.memcpy_ratio // "-"), (.get_keys_per_s // "-"),
				 (.per_proc_gbps // "-")] | @tsv' "$j" 2>/dev/null
		done
	done; done; done
}
fmt_table() {
	awk -F'\t' -v OFS='\t' '
	function lat(ns) {
		if (ns == "" || ns == "-") return "-"
		if (ns < 1000) return sprintf("%.0f ns", ns)
		if (ns < 1e6) return sprintf("%.1f us", ns / 1e3)
		return sprintf("%.1f ms", ns / 1e6)
	}
	function num(x) {
		if (x >= 1e6) return sprintf("%.2fM", x / 1e6)
		if (x >= 1e3) return sprintf("%.1fk", x / 1e3)
		return sprintf("%.0f", x)
	}
	function ratio(a, b) { return (b > 0) ? sprintf("%.1fx", a / b) : "-" }
	{ key = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4; n++; line[n] = $0; k[n] = key
	  if ($5 == "memcached") mc[key] = $6; if ($5 == "redis") rd[key] = $6 }
	END {
		printf "%-5s %-8s %5s %-6s %-11s %9s %7s %9s %9s %8s %7s %8s %8s\n",
		       "size", "workload", "procs", "form", "store", "ops/s", "GB/s",
		       "p50", "p99", "memcpy", "vs cpy", "/memcd", "/redis"
		for (i = 1; i <= n; i++) {
			split(line[i], c, "\t")
			gb = c[7] == "-" ? "-" : sprintf("%.2f", c[7])
			vs = c[11] == "-" ? "-" : sprintf("%.0f%%", 100 * c[11])
			rm = c[5] ~ /^mmc/ ? ratio(c[6], mc[k[i]]) : ""
			rr = c[5] ~ /^mmc/ ? ratio(c[6], rd[k[i]]) : ""
			printf "%-5s %-8s %5s %-6s %-11s %9s %7s %9s %9s %8.2f %7s %8s %8s\n",
			       c[1], c[4], c[2], c[3], c[5], num(c[6]), gb, lat(c[8]),
			       lat(c[9]), c[10], vs, rm, rr
		}
	}' "$OUT/rows.tsv"
}

# ---- the verdicts: 1 client, single calls, get-heavy rows ----
verdicts() {
	awk -F'\t' -v quick="$QUICK" '
	function bytes(s) { return s ~ /K$/ ? s * 1024 : s ~ /M$/ ? s * 1048576 : s }
	function pf(x, need) { return x >= need ? "PASS" : "FAIL" }
	$2 == 1 && $3 == "single" && $4 == "get 95/5" {
		ops[$1, $5] = $6; gbps[$1, $5] = $7; cpy[$1, $5] = $11
		alone[$1, $5] = $12; base[$1, $5] = $10
		if (!($1 in order)) { order[$1] = ++ns; sz[ns] = $1 }
	}
	function line(what, x, need, y) {
		printf "  %-44s %8.1fx %s   (gets alone %8.1fx %s)\n", what, x, pf(x, need),
		       y, pf(y, need)
	}
	END {
		print "Done when (1 client, single calls, get-heavy 95/5; \"gets alone\" =" \
		      " the gets of the same run, their keys per second inside get calls):"
		if (quick) print "  (--quick: tiny counts and runs; these numbers mean nothing)"
		for (i = 1; i <= ns; i++) {
			s = sz[i]; b = bytes(s)
			for (o = 1; o <= 2; o++) {
				other = o == 1 ? "memcached" : "redis"
				if (!((s, other) in ops) || !((s, "mmc copy") in ops)) continue
				if (b <= 65536)
					line(sprintf("%-4s mmc copy ops/s >= 10x %s", s, other),
					     ops[s, "mmc copy"] / ops[s, other], 10,
					     alone[s, "mmc copy"] / alone[s, other])
				else
					line(sprintf("%-4s mmc copy GB/s >= 2x %s", s, other),
					     gbps[s, "mmc copy"] / gbps[s, other], 2,
					     alone[s, "mmc copy"] / alone[s, other])
			}
			if (b > 65536 && (s, "mmc copy") in cpy)
				printf "  %-44s %8.0f%% %s   (gets alone %7.0f%% %s)\n",
				       sprintf("%-4s mmc copy >= 80%% of memcpy (%.2f GB/s)", s,
					       base[s, "mmc copy"]),
				       100 * cpy[s, "mmc copy"], pf(cpy[s, "mmc copy"], 0.8),
				       100 * alone[s, "mmc copy"] * b / 1e9 / base[s, "mmc copy"],
				       pf(alone[s, "mmc copy"] * b / 1e9 / base[s, "mmc copy"], 0.8)
			for (o = 1; o <= 2; o++) {
				other = o == 1 ? "memcached" : "redis"
				if (!((s, other) in ops) || !((s, "mmc 0-copy") in ops)) continue
				line(sprintf("%-4s mmc zero-copy ops/s >= 100x %s", s, other),
				     ops[s, "mmc 0-copy"] / ops[s, other], 100,
				     alone[s, "mmc 0-copy"] / alone[s, other])
			}
		}
		print "  (information only: the exit status says whether every run worked)"
	}' "$OUT/rows.tsv"
}

summary() {
	echo
	echo "mmc vs memcached vs Redis: $HOST_NOTE, $WHEN, runs took ${ELAPSED} s"
	echo "  memcached $MC_VER (libmemcached, binary protocol) and redis $RD_VER (hiredis) on"
	echo "  loopback TCP; mmc over shared memory, arena on $HP_NOTE."
	echo "  ops/s count keys (a batched call of $BATCH keys counts $BATCH); p50/p99 are per call"
	echo "  (per batch in the batch rows), gets and puts together in get 95/5;"
	echo "  memcpy = the one-core baseline GB/s of the same run (read for gets, write for puts),"
	echo "  vs cpy = GB/s per client / memcpy; /memcd, /redis = mmc ops/s over theirs in the"
	echo "  same row (the GB/s ratio too where both copy)."
	echo
	fmt_table
	echo
	verdicts
}

# What the table's header says about a run, kept beside its JSON
# (meta.env) so that --report prints the same table again.
save_meta() {
	{
		printf 'SIZES=%q\nBATCH=%q\nQUICK=%q\nHP_NOTE=%q\nELAPSED=%q\n' \
			"$SIZES" "$BATCH" "$QUICK" "$HP_NOTE" "$ELAPSED"
		printf 'HOST_NOTE=%q\nWHEN=%q\nMC_VER=%q\nRD_VER=%q\n' "$HOST_NOTE" "$WHEN" \
			"$MC_VER" "$RD_VER"
	} >"$OUT/meta.env"
}
load_meta() {
	local key val
	while IFS='=' read -r key val; do
		case $key in
		SIZES|BATCH|QUICK|HP_NOTE|ELAPSED|HOST_NOTE|WHEN|MC_VER|RD_VER)
			eval "$key=$val" ;;
		esac
	done <"$OUT/meta.env"
}

if [ -n "$REPORT" ]; then
	command -v jq >/dev/null || die "jq not installed"
	OUT=$REPORT
	[ -r "$OUT/meta.env" ] || die "$OUT has no meta.env: not a compare.sh results directory"
	load_meta
	rows >"$OUT/rows.tsv"
	summary
	exit 0
fi

# ---- tools ----
for x in mmc-agent mmc mmc-bench; do
	[ -x "$BIN/$x" ] || die "$BIN/$x not built (cmake --build build)"
done
for x in memcached redis-server redis-cli jq; do
	command -v "$x" >/dev/null || die "$x not installed (scripts/install-deps.sh)"
done
STORES=$("$BIN/mmc-bench" --help | sed -n 's/^stores built in: //p')
for s in memcached redis; do
	[[ " $STORES " == *" $s "* ]] ||
		die "mmc-bench was built without the $s store (install libmemcached-dev and libhiredis-dev, rebuild)"
done

# ---- children, and the clean-up that always runs ----
T=$(mktemp -d /tmp/mmc-compare-work-XXXXXX) || die "mktemp failed"
if [ -z "$OUT" ]; then
	OUT=$(mktemp -d /tmp/mmc-compare-XXXXXX) || die "mktemp failed"
else
	mkdir -p "$OUT" || die "cannot create $OUT"
fi
PIDS=()
HP_OLD=
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ -n "$HP_OLD" ]; then
		echo "$HP_OLD" >/proc/sys/vm/nr_hugepages 2>/dev/null ||
			echo "compare.sh: could not restore nr_hugepages to $HP_OLD" >&2
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody listens on: a random one that refuses a connection (a
# server that still loses a race exits, and its start tries another).
free_port() {
	local port i
	for ((i = 0; i < 100; i++)); do
		port=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
	done
	echo "$port"
}

# wait_ready NAME PID CHECK...: polls CHECK every 0.1 s for up to 20 s while
# PID lives.  Returns 0 when CHECK succeeds and PID is still ours and alive
# (so an answer from someone else's server that won the port never counts).
wait_ready() {
	local name=$1 pid=$2 i
	shift 2
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		"$@" >/dev/null 2>&1 && kill -0 "$pid" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "compare.sh: $name did not become ready in 20 s" >&2
	return 1
}
memcached_up() {   # PORT: "version" answered over bash's /dev/tcp
	local fd line
	exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'version\r\n' >&"$fd"
	read -r -t 2 line <&"$fd"
	exec {fd}>&-
	[[ $line == VERSION* ]]
}
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
mmc_up() { MMC_SOCKET=$1 "$BIN/mmc" stat; }

LARGEST=0
for s in $SIZES; do
	b=$(bytes_of "$s")
	[ "$b" -gt "$LARGEST" ] && LARGEST=$b
done
# memcached's -I: the largest value plus room for the key and item header,
# rounded up to a power of two MiB.
ITEM_MB=1
while [ $((ITEM_MB << 20)) -le $((LARGEST + 4096)) ]; do ITEM_MB=$((ITEM_MB * 2)); done
if [ "$QUICK" = 1 ]; then MEM_MB=1024; else MEM_MB=3072; fi

# forget PID: a start attempt that failed: reaped now and dropped from
# PIDS, so the exit trap never signals a number the system has reused.
forget() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	unset 'PIDS[-1]'
}
start_memcached() {
	local try
	for try in 1 2 3 4 5; do
		MC_PORT=$(free_port)
		memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -t 2 -c 64 -I "${ITEM_MB}m" \
			-m "$MEM_MB" $([ "$(id -u)" -eq 0 ] && echo "-u nobody") \
			>"$T/memcached.log" 2>&1 &
		MC_PID=$!
		PIDS+=("$MC_PID")
		wait_ready memcached "$MC_PID" memcached_up "$MC_PORT" && return 0
		forget "$MC_PID"
	done
	echo "compare.sh: memcached would not start:" >&2
	cat "$T/memcached.log" >&2
	return 1
}
start_redis() {
	local try
	for try in 1 2 3 4 5; do
		RD_PORT=$(free_port)
		redis-server --bind 127.0.0.1 --port "$RD_PORT" --save '' --appendonly no \
			--maxmemory "${MEM_MB}mb" --maxmemory-policy noeviction \
			--dir "$T" --logfile "$T/redis.log" --daemonize no \
			>/dev/null 2>&1 &
		RD_PID=$!
		PIDS+=("$RD_PID")
		wait_ready redis-server "$RD_PID" redis_up "$RD_PORT" && return 0
		forget "$RD_PID"
	done
	echo "compare.sh: redis-server would not start:" >&2
	cat "$T/redis.log" >&2
	return 1
}

# The arena holds every size's working set and write sets at once (keys
# differ by size, the agent keeps them all): the sum of count x size plus
# 2 processes x B write-set keys per size, plus a quarter, under the 90 %
# eviction watermark.
ARENA=0
for s in $SIZES; do
	b=$(bytes_of "$s")
	b=$(( (b + 4095) / 4096 * 4096 ))
	ARENA=$((ARENA + b * (COUNT[$s] + 2 * BATCH + 16)))
done
ARENA=$(( (ARENA * 5 / 4 * 10 / 9 + (64 << 20)) / (2 << 20) * (2 << 20) ))
HP_MODE=off
HP_NOTE="4 KiB pages"
reserve_hugepages() {
	local need=$((ARENA / (2 << 20) + 160)) free
	if [ "$HUGE" = 0 ]; then
		HP_NOTE="4 KiB pages (--quick or --no-hugepages)"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		HP_NOTE="4 KiB pages: not root, so no hugepages were reserved"
		echo "compare.sh: not root: running the arena on 4 KiB pages" >&2
		return 0
	fi
	HP_OLD=$(cat /proc/sys/vm/nr_hugepages)
	echo $((HP_OLD + need)) >/proc/sys/vm/nr_hugepages 2>/dev/null
	free=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
	if [ "${free:-0}" -ge "$need" ]; then
		HP_MODE=on
		HP_NOTE="2 MiB hugepages ($need reserved, nr_hugepages $HP_OLD restored on exit)"
	else
		HP_NOTE="4 KiB pages: only ${free:-0} of $need hugepages could be reserved"
		echo "compare.sh: $HP_NOTE" >&2
		echo "$HP_OLD" >/proc/sys/vm/nr_hugepages
		HP_OLD=
	fi
}
start_agent() {
	AGENT_SOCK=$T/agent.sock
	: >"$T/agent.conf"    # defaults, whatever /etc/mmc holds
	"$BIN/mmc-agent" --config "$T/agent.conf" --socket "$AGENT_SOCK" \
		--arena-size "$ARENA" --hugepages "$HP_MODE" \
		--max-objects $((ARENA / 4096 < 262144 ? ARENA / 4096 : 262144)) \
		>"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
	wait_ready mmc-agent "$AGENT_PID" mmc_up "$AGENT_SOCK" && return 0
	echo "compare.sh: mmc-agent would not start:" >&2
	cat "$T/agent.log" >&2
	return 1
}

reserve_hugepages
start_memcached || exit 1
start_redis || exit 1
start_agent || exit 1
echo "compare.sh: memcached :$MC_PORT (-I ${ITEM_MB}m -m $MEM_MB -t 2), redis :$RD_PORT" \
     "(maxmemory ${MEM_MB}mb, no persistence), mmc-agent arena $((ARENA >> 20)) MiB on $HP_NOTE"
echo "compare.sh: raw JSON in $OUT"

# ---- the runs ----
FAILED=0
START=$SECONDS
# run NAME ARGS...: one mmc-bench run into $OUT/NAME.json (stderr NAME.err).
run() {
	local name=$1 rc
	shift
	"$BIN/mmc-bench" "$@" "${EXTRA[@]}" --json >"$OUT/$name.json" 2>"$OUT/$name.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		FAILED=$((FAILED + 1))
		echo "compare.sh: FAILED ($rc): mmc-bench $*: $(tail -n 3 "$OUT/$name.err")" >&2
	fi
	printf '.'
}
# Every store keeps every size's keys (they differ per size, and -m,
# maxmemory and the arena have room for all of them).  Flushing memcached
# between sizes made no difference to the rows that follow, and nothing is
# left for a store to do in the background while another one is measured.
PUTS=put,put,put        # three put-only rounds; the table takes the median
printf 'compare.sh: running'
for s in $SIZES; do
	for p in 1 2; do
		for f in single batch; do
			args=(-s "$s" -n "${COUNT[$s]}" -p "$p" --mix 95)
			[ "$f" = batch ] && args+=(--batch "$BATCH")
			run "$s-p$p-$f-mmc" --store mmc --socket "$AGENT_SOCK" -m "$PUTS,get,zget" "${args[@]}"
			run "$s-p$p-$f-memcached" --store memcached --server "127.0.0.1:$MC_PORT" \
				-m "$PUTS,get" "${args[@]}"
			run "$s-p$p-$f-redis" --store redis --server "127.0.0.1:$RD_PORT" \
				-m "$PUTS,get" "${args[@]}"
		done
	done
done
ELAPSED=$((SECONDS - START))
echo " ${ELAPSED} s"
HOST_NOTE="$(uname -n), $(nproc) CPUs"
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC')
MC_VER=$(memcached -V 2>/dev/null | awk '{print $2}')
RD_VER=$(redis-server -v | sed -n 's/.*v=\([^ ]*\).*/\1/p')
save_meta

rows >"$OUT/rows.tsv"
summary | tee "$OUT/summary.txt"

if [ "$FAILED" -ne 0 ]; then
	echo "compare.sh: $FAILED run(s) failed (see $OUT/*.err)" >&2
	exit 1
fi
exit 0
