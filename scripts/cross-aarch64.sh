#!/usr/bin/env bash
# cross-aarch64.sh - builds the whole tree for arm64 (GH200 and Ascend nodes
# are arm64) with Debian's gcc-aarch64-linux-gnu, then runs the unit tests
# under qemu-aarch64.  Run as root on Debian 12 amd64; scripts/test.sh (CI)
# runs it after the native suites.
#
# It adds arm64 as a dpkg architecture and installs the :arm64 -dev packages
# the build links against (Debian multiarch), the cross compiler and
# qemu-user.  Under qemu-user (Debian 12's 7.2) threads that spin on
# atomics barely progress and check's fork mode hangs, so the unit tests run
# unforked and without their threaded cases: allocator, config, the index
# (single-threaded case: seqlock writer against the lock-free reader code)
# and the ring protocol (agent and client sides, tags, parked requests).
# The integration tests and the threaded stress runs need an arm64 machine.
set -euo pipefail
cd "$(dirname "$0")/.."

libs=(libinih-dev libsystemd-dev libxxhash-dev liburing-dev check libseccomp-dev
      libncurses-dev libjson-c-dev libbpf-dev systemtap-sdt-dev libssl-dev
      libcurl4-openssl-dev libmicrohttpd-dev)
pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user file "${libs[@]/%/:arm64}")

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	fresh=1
fi
missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[[ $status == ii* ]] || missing+=("$p")
done
if ((${#missing[@]})) || [[ -n ${fresh:-} ]]; then
	apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q)
	"${apt[@]}" update >/dev/null
	echo "cross-aarch64.sh: installing ${missing[*]}"
	"${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-arm64 -j"$(nproc)"
for f in build-arm64/bin/mmc-agent build-arm64/lib/libmmc.so; do
	file -L "$f" | grep -q 'ARM aarch64' || { echo "$f is not an arm64 binary" >&2; exit 1; }
done
echo "cross-aarch64.sh: built for arm64: $(cd build-arm64/bin && ls | tr '\n' ' ')"
cd build-arm64
export CK_FORK=no
ctest --output-on-failure --timeout 120 -R '^test_(alloc|config)$'
CK_RUN_CASE=single ctest --output-on-failure --timeout 120 -R '^test_index$'
CK_RUN_CASE=ops ctest --output-on-failure --timeout 120 -R '^test_ring$'
echo "cross-aarch64.sh: arm64 unit tests passed under qemu-aarch64"
