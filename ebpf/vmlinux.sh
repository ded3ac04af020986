#!/usr/bin/env bash
# vmlinux.sh - makes ebpf/ARCH/vmlinux.h again: the kernel types the CO-RE
# programs are compiled against (libbpf relocates them at load time, so any
# recent kernel of that architecture will do).
#
#   ebpf/vmlinux.sh x86     from this machine's kernel (/sys/kernel/btf/vmlinux)
#   ebpf/vmlinux.sh arm64   from Debian's arm64 kernel package: its Image
#                           carries the BTF blob (CONFIG_DEBUG_INFO_BTF=y);
#                           needs `dpkg --add-architecture arm64` and network
#
# Checked in: x86 from Linux 6.18 (the reference VM), arm64 from Debian 12's
# linux-image-6.1.0-50-arm64-unsigned (6.1.176).
set -euo pipefail
cd "$(dirname "$0")"
command -v bpftool >/dev/null || { echo "vmlinux.sh: needs bpftool" >&2; exit 1; }

case ${1:-} in
x86)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > x86/vmlinux.h
	;;
arm64)
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	pkg=$(apt-cache search --names-only '^linux-image-[0-9.-]*-arm64-unsigned$' |
	      sort -V | tail -n 1 | cut -d' ' -f1)
	(cd "$tmp" && apt-get download "$pkg:arm64" && dpkg-deb -x ./*.deb x)
	# The Image is not ELF: find the BTF header (magic 0xeb9f, version 1,
	# 24-byte header, types first then strings) and cut the blob out.
	python3 - "$tmp"/x/boot/vmlinuz-* "$tmp/vmlinux.btf" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
magic = b"\x9f\xeb\x01\x00\x18\x00\x00\x00"
i = d.find(magic)
while i != -1:
    _, _, _, hdr, toff, tlen, soff, slen = struct.unpack_from("<HBBIIIII", d, i)
    if toff == 0 and soff == tlen and tlen > 1 << 20:
        open(sys.argv[2], "wb").write(d[i:i + hdr + soff + slen])
        sys.exit(0)
    i = d.find(magic, i + 1)
sys.exit("no vmlinux BTF in " + sys.argv[1])
PY
	bpftool btf dump file "$tmp/vmlinux.btf" format c > arm64/vmlinux.h
	echo "arm64/vmlinux.h from $pkg"
	;;
*)
	echo "usage: ebpf/vmlinux.sh x86|arm64" >&2
	exit 2
	;;
esac
