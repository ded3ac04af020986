# Cross-compiling for arm64 (GH200, Ascend nodes) on a Debian amd64 machine
# with gcc-aarch64-linux-gnu and the :arm64 -dev packages installed
# (scripts/cross-aarch64.sh installs them and runs the build):
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#
# Libraries and .pc files come from Debian's multiarch directories; programs
# (clang for the BPF objects, bpftool) from the host.  Tests run through
# qemu-aarch64 when ctest is asked to.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

find_program(MMC_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(MMC_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${MMC_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
