#!/usr/bin/env bash
# quickstart.sh - from a bare Debian 12 machine to a running mmc-agent.
#
# Installs the build dependencies, builds, installs (/usr/local/bin,
# /usr/local/lib, /etc/mmc/mmc-agent.conf, the systemd unit), reserves 2 MiB
# hugepages for the default 1 GiB arena when it can, starts the agent on the
# default config - through systemd when systemd runs this machine, else in
# the background (scripts/agent-bg.sh, which restarts only the agent an
# earlier quick-start started) - and shows a put/get round trip and the
# agent's counters.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "quickstart: run it as root: bash $0" >&2; exit 1; }

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
cmake --install build >/dev/null
ldconfig

# 1 GiB arena = 512 pages of 2 MiB (plus a little slack); "auto" falls back
# to ordinary pages with one warning if the kernel cannot find them.
want=520
have=$(cat /proc/sys/vm/nr_hugepages)
if [ "$have" -lt "$want" ]; then
	echo "$want" > /proc/sys/vm/nr_hugepages 2>/dev/null || true
fi

sock=/run/mmc/agent.sock
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	systemctl daemon-reload
	systemctl restart mmc-agent
	echo "mmc-agent started by systemd (systemctl status mmc-agent)"
else
	# Restarts only the agent an earlier quick-start started (its pid file),
	# never other people's agents on this host.
	MMC_SOCKET=$sock bash scripts/agent-bg.sh restart
fi
for _ in $(seq 100); do
	/usr/local/bin/mmc stat >/dev/null 2>&1 && break
	sleep 0.1
done

tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.out"' EXIT
head -c 1048576 /dev/urandom > "$tmp"
/usr/local/bin/mmc put quickstart-demo "$tmp"
/usr/local/bin/mmc get quickstart-demo > "$tmp.out"
if cmp -s "$tmp" "$tmp.out"; then
	echo "round trip: put and got back 1 MiB byte for byte through $sock"
else
	echo "round trip FAILED: bytes differ" >&2
	exit 1
fi
/usr/local/bin/mmc rm quickstart-demo
/usr/local/bin/mmc stat
