#!/usr/bin/env bash
# test_install.sh - what an installed mmc gives a program outside the tree.
#
# Installs the build into a private DESTDIR (cmake --install; nothing lands
# on this machine's real /usr or /etc), then checks as a user would:
#   - the installed headers are the public API only (mmc.h, mmc-t.h), they
#     compile on their own as strict C11 and as C++, and mmc.h includes no
#     private layout;
#   - `pkg-config --cflags --libs mmc` answers from the installed mmc.pc;
#   - examples/put-get.c, copied out of the tree, builds with exactly those
#     flags, links the installed libmmc.so, and round-trips a value through
#     a real agent byte for byte ("ok").
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SRC=${MMC_SRC:-$(dirname "${BASH_SOURCE[0]}")/..}
BUILD=$(cd "$BIN/.." && pwd)

command -v pkg-config >/dev/null || skip "pkg-config not installed"
command -v cc >/dev/null || skip "no C compiler"
make_tmp install

DESTDIR=$T/root cmake --install "$BUILD" >"$T/install.log" 2>&1 ||
	die "cmake --install failed: $(cat "$T/install.log")"
pc=$(find "$T/root" -name mmc.pc | head -n 1)
[ -n "$pc" ] || die "no mmc.pc installed"
ok "installed $(echo "${pc#"$T/root"}")"

inc=$(find "$T/root" -type d -path '*/include/mmc' | head -n 1)
headers=$(cd "$inc" && ls | tr '\n' ' ')
[ "$headers" = "mmc-t.h mmc.h " ] || fail "installed headers are '$headers', want the public two"
if grep -n '#include' "$inc/mmc.h" "$inc/mmc-t.h" | grep -v -e '<std' -e '<sys/uio.h>' -e '"mmc/mmc-t.h"'; then
	fail "a public header includes something private"
else
	ok "public headers include only each other and libc"
fi

export PKG_CONFIG_LIBDIR=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$T/root
flags=$(pkg-config --cflags --libs mmc) || die "pkg-config --cflags --libs mmc failed"
ok "pkg-config --cflags --libs mmc: $flags"
libdir=$(pkg-config --variable=libdir mmc)
libdir=$T/root${libdir#"$T/root"}

# An ASan build installs an instrumented library: its users need the runtime.
san=()
if [[ $(nm -D "$libdir/libmmc.so" 2>/dev/null) == *__asan_init* ]]; then
	san=(-fsanitize=address,undefined)
fi

printf '#include <mmc/mmc.h>\nint main(void) { return mmc_strerror(0) == 0; }\n' >"$T/strict.c"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -pedantic "${san[@]}" -o "$T/strict" "$T/strict.c" $flags \
	-Wl,-rpath,"$libdir" 2>"$T/cc.log" || fail "mmc.h as strict C11: $(cat "$T/cc.log")"
if command -v c++ >/dev/null; then
	# shellcheck disable=SC2086
	c++ -x c++ -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags mmc) "$T/strict.c" \
		2>"$T/cxx.log" || fail "mmc.h as C++: $(cat "$T/cxx.log")"
fi
ok "mmc.h compiles as strict C11 and C++"

mkdir "$T/outside"
cp "$SRC/examples/put-get.c" "$T/outside/"
# shellcheck disable=SC2086
cc -O2 -Wall -Werror "${san[@]}" -o "$T/outside/put-get" "$T/outside/put-get.c" $flags \
	-Wl,-rpath,"$libdir" 2>"$T/cc.log" || die "example does not build: $(cat "$T/cc.log")"
linked=$(ldd "$T/outside/put-get")   # not piped into grep -q: pipefail + SIGPIPE
[[ $linked == *"$libdir/libmmc.so"* ]] ||
	fail "example is not linked with the installed libmmc: $linked"
ok "examples/put-get.c builds outside the tree with pkg-config's flags"

start_agent a --arena-size 64M --hugepages off || die "agent did not start"
out=$(MMC_SOCKET=$AGENT_SOCK ASAN_OPTIONS=detect_leaks=0 "$T/outside/put-get" 2>&1) ||
	fail "put-get failed: $out"
case $out in ok:*) ok "put-get: $out" ;; *) fail "put-get printed: $out" ;; esac
stop_agent_ok
finish_checks
