#!/usr/bin/env bash
# test_systemd.sh - the shipped systemd unit must load cleanly.
#
# `systemd-analyze verify` parses systemd/mmc-agent.service the way PID 1
# would and checks that ExecStart's binary exists, so the unit is copied to a
# temporary directory with ExecStart pointing at a binary that does exist
# here: the freshly built "$MMC_BIN/mmc-agent" when there is one, else
# /bin/true.  Any warning about the unit fails the test (systemd only warns,
# then ignores, an unknown or misspelt key: exactly the mistake to catch).
# When this systemd can score the unit offline, `systemd-analyze security`
# must also rate it no worse than MAX_EXPOSURE, so hardening cannot quietly
# rot.  The tenant template CMake makes from the unit (mmc-agent@.service,
# in the build directory) gets the same checks as an instance.  Exits 77
# (skipped) without systemd-analyze.
set -euo pipefail

MAX_EXPOSURE=${MAX_EXPOSURE:-2.5}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not found (install the systemd package)"
	exit 77
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${MMC_SRC:-$here/..}
unit_src=$src/systemd/mmc-agent.service
[[ -f $unit_src ]] || { echo "FAIL: $unit_src missing"; exit 1; }

bin=/bin/true
if [[ -n ${MMC_BIN:-} && -x $MMC_BIN/mmc-agent ]]; then
	bin=$MMC_BIN/mmc-agent
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# check SRC NAME: verify unit file SRC installed as NAME, score its hardening.
check() {
	local unit_src=$1 unit=$tmp/$2 out rc=0 score
	sed "s#^ExecStart=[^ ]*#ExecStart=$bin#" "$unit_src" >"$unit"
	grep -q "^ExecStart=$bin " "$unit" || { echo "FAIL: no ExecStart= to rewrite in $2"; exit 1; }
	echo "verify: $unit (ExecStart=$bin)"
	out=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$unit" 2>&1) || rc=$?
	[[ -n $out ]] && printf '%s\n' "$out"
	if ((rc != 0)); then
		echo "FAIL: systemd-analyze verify exited $rc"
		exit 1
	fi
	# Warnings about other units on this machine are not ours to fix.
	if grep -E 'mmc-agent' <<<"$out" >/dev/null; then
		echo "FAIL: systemd-analyze verify complained about $2 (above)"
		exit 1
	fi
	if systemd-analyze security --help 2>&1 | grep -- '--offline' >/dev/null; then
		score=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1 |
			sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
		if [[ -z $score ]]; then
			echo "FAIL: systemd-analyze security gave no score for $2"
			exit 1
		fi
		echo "security: $2 exposure $score (limit $MAX_EXPOSURE)"
		if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
			echo "FAIL: $2's hardening regressed (exposure $score > $MAX_EXPOSURE)"
			exit 1
		fi
	fi
}

check "$unit_src" mmc-agent.service
# With the opt-in drop-in a pool needs (systemd/network.conf), beside it as
# systemd would find it: still verified, still under the limit.
mkdir -p "$tmp/mmc-agent.service.d"
cp "$src/systemd/network.conf" "$tmp/mmc-agent.service.d/network.conf"
check "$unit_src" mmc-agent.service
grep -q '^PrivateNetwork=no' "$tmp/mmc-agent.service.d/network.conf" ||
	{ echo "FAIL: network.conf does not lift PrivateNetwork"; exit 1; }
rm -rf "$tmp/mmc-agent.service.d"
# The tenant template CMake makes from it (an instance of it, as systemd
# would load mmc-agent@NAME.service), when this build has one.
tmpl=${MMC_BIN:+$MMC_BIN/../mmc-agent@.service}
if [[ -n $tmpl && -f $tmpl ]]; then
	grep -q '^ExecStart=.*--config /etc/mmc/tenants/%i.conf --socket /run/mmc-%i/agent.sock' "$tmpl" ||
		{ echo "FAIL: $tmpl: ExecStart is not the tenant's"; exit 1; }
	grep -q '^RuntimeDirectory=mmc-%i$' "$tmpl" ||
		{ echo "FAIL: $tmpl: RuntimeDirectory is not the tenant's"; exit 1; }
	check "$tmpl" mmc-agent@test.service
fi
echo "PASS"
