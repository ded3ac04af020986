#!/usr/bin/env bash
# install-deps.sh - install everything mmc needs to build, test and benchmark
# on a bare Debian 12 (bookworm).
#
#   scripts/install-deps.sh            build + test + benchmark packages
#   scripts/install-deps.sh --no-bench skip the benchmark-only packages
#                                      (memcached and redis-server are
#                                      daemons: on a production node you may
#                                      not want them installed and running)
#
# Idempotent and fast to rerun: packages already installed are detected with
# dpkg-query, and when none is missing apt is not run at all (no update, no
# root needed).  Otherwise it runs apt-get update once and installs only the
# missing packages, without recommends, non-interactively.  Needs root; as
# another user it uses sudo if there is one.
set -euo pipefail

# Build and unit/integration tests.
pkgs=(
	build-essential cmake pkg-config
	clang llvm libbpf-dev bpftool     # eBPF programs and mmc-top's BPF side
	clang-14 libfuzzer-14-dev         # tests/fuzz: libFuzzer harnesses (scripts/fuzz.sh)
	liburing-dev libssl-dev check libinih-dev libsystemd-dev libxxhash-dev
	systemtap-sdt-dev                 # <sys/sdt.h> USDT probes in libshm
	libncurses-dev libseccomp-dev
	libjson-c-dev                     # mmc-bench trace, the agent's etcd client
	libcurl4-openssl-dev              # the agent reaches etcd's JSON gateway
	libmicrohttpd-dev                 # the agent's GET /metrics
	libfuse3-dev fuse3                # tests/faultfs: a disk that fails (test_ssd_faults)
	prometheus curl                   # tests/test_metrics.sh: promtool check metrics
	etcd-server etcd-client openssl   # tests/test_cluster*.sh: a real etcd, a CA
	systemd                           # systemd-analyze for test_systemd
	procps util-linux iproute2        # ps/pgrep, nsenter/taskset, ss
	jq                                # tests parse JSON output
	python3
	python3-dev python3-numpy python3-pytest python3-torch   # the mmc Python package
)
# Benchmarks against other caches.
bench=(libmemcached-dev libhiredis-dev memcached redis-server fio
       python3-redis python3-hiredis python3-pymemcache    # bench/python.py
       iperf3 iputils-ping)                                # bench/cluster.sh

case ${1:-} in
	"") pkgs+=("${bench[@]}") ;;
	--no-bench) ;;
	-h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "install-deps.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps.sh: this script needs a Debian-based system (apt, dpkg)" >&2
	exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[[ $status == ii* ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	echo "install-deps.sh: all ${#pkgs[@]} packages are already installed"
	exit 0
fi

as_root=()
if ((EUID != 0)); then
	if command -v sudo >/dev/null 2>&1; then
		as_root=(sudo)
	else
		echo "install-deps.sh: must run as root (and sudo is not installed)" \
		     "to install: ${missing[*]}" >&2
		exit 1
	fi
fi

apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get
     -o DPkg::Lock::Timeout=300 -q)
echo "install-deps.sh: installing ${missing[*]}"
"${apt[@]}" update
"${apt[@]}" install -y --no-install-recommends "${missing[@]}"

# apt-get succeeded, but make sure every package really is there now.
still=()
for p in "${missing[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[[ $status == ii* ]] || still+=("$p")
done
if ((${#still[@]})); then
	echo "install-deps.sh: still not installed: ${still[*]}" >&2
	exit 1
fi
echo "install-deps.sh: done"
