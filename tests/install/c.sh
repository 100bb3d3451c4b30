#!/usr/bin/env bash
# Installs lookupd for C and C++ as a packager would, then builds and runs
# hosts against the installed copy from outside the repository:
#
#   1. make -C bindings/c install PREFIX=<tmp>/prefix; the files, the
#      soname and its symlinks, the exported symbols
#   2. a staged install (DESTDIR) names only PREFIX, and uninstall
#      removes every file it wrote
#   3. a C host built with pkg-config, linked to the shared library and
#      then statically (pkg-config --static) to liblookupd.a
#   4. a C++ host (lookupd.hpp) and a static C host built with CMake's
#      find_package(lookupd); the package's version check; the same hosts
#      built again after the prefix is moved elsewhere
#
# Everything binds 127.0.0.1 on port 0. Needs cc, c++, pkg-config, cmake,
# readelf and nm; cmake and pkg-config are installed from Debian if missing.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { printf '\n--> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# The shared libraries an executable or library records (DT_NEEDED).
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]} (Debian)"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
fi

VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
case "$VERSION" in
  0.*) COMPAT=$(echo "$VERSION" | cut -d. -f1,2) ;;
  *) COMPAT=$(echo "$VERSION" | cut -d. -f1) ;;
esac
SONAME=liblookupd.so.$COMPAT
REALNAME=liblookupd.so.$VERSION

# ---- 1. install to a prefix ---------------------------------------------

step "make -C bindings/c install PREFIX=$tmp/prefix"
make -s -C "$REPO/bindings/c" install PREFIX="$tmp/prefix"
prefix=$tmp/prefix
lib=$prefix/lib

for f in include/lookupd.h include/lookupd.hpp lib/liblookupd.a lib/"$REALNAME" \
         lib/pkgconfig/lookupd.pc lib/cmake/lookupd/lookupdConfig.cmake \
         lib/cmake/lookupd/lookupdConfigVersion.cmake; do
  [ -f "$prefix/$f" ] && [ ! -L "$prefix/$f" ] || fail "$f is not an installed file"
done
cmp -s "$REPO/include/lookupd.h" "$prefix/include/lookupd.h" || fail "installed lookupd.h differs"
cmp -s "$REPO/include/lookupd.hpp" "$prefix/include/lookupd.hpp" || fail "installed lookupd.hpp differs"

# liblookupd.so -> $SONAME -> $REALNAME, relative links.
[ "$(readlink "$lib/liblookupd.so")" = "$SONAME" ] || fail "liblookupd.so does not link to $SONAME"
[ "$(readlink "$lib/$SONAME")" = "$REALNAME" ] || fail "$SONAME does not link to $REALNAME"
soname=$(readelf -d "$lib/$REALNAME" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "$SONAME" ] || fail "soname is '$soname', expected $SONAME (the Makefile's lib rule links it with its SONAME)"
echo "soname $soname; links: liblookupd.so -> $SONAME -> $REALNAME"

# The shared library exports exactly the functions lookupd.h declares.
exports=$(nm -D --defined-only "$lib/$REALNAME" | awk '{print $3}' | sort)
declared=$(grep -o 'lookupd_[a-z_]*(' "$REPO/include/lookupd.h" | tr -d '(' | sort -u)
[ "$exports" = "$declared" ] ||
  fail "liblookupd.so exports differ from lookupd.h: $(diff <(echo "$declared") <(echo "$exports") || true)"
echo "exports the $(wc -l <<<"$exports") functions of lookupd.h, nothing else"

# ---- 2. staged install and uninstall ------------------------------------

step "staged install: DESTDIR=$tmp/stage PREFIX=/opt/lookupd-test"
make -s -C "$REPO/bindings/c" install DESTDIR="$tmp/stage" PREFIX=/opt/lookupd-test
stage=$tmp/stage/opt/lookupd-test
for f in include/lookupd.h include/lookupd.hpp lib/liblookupd.a lib/"$REALNAME" lib/"$SONAME" \
         lib/liblookupd.so lib/pkgconfig/lookupd.pc lib/cmake/lookupd/lookupdConfig.cmake \
         lib/cmake/lookupd/lookupdConfigVersion.cmake; do
  [ -e "$stage/$f" ] || fail "staged install lacks $f"
done
[ "$(find "$tmp/stage" -mindepth 1 -maxdepth 1)" = "$tmp/stage/opt" ] || fail "staged install wrote outside PREFIX"
if grep -rlF "$tmp/stage" "$tmp/stage"; then
  fail "installed files name the staging directory"
fi
grep -qx 'prefix=/opt/lookupd-test' "$stage/lib/pkgconfig/lookupd.pc" || fail "lookupd.pc prefix is not PREFIX"
make -s -C "$REPO/bindings/c" uninstall DESTDIR="$tmp/stage" PREFIX=/opt/lookupd-test
left=$(find "$tmp/stage" ! -type d)
[ -z "$left" ] || fail "uninstall left: $left"
echo "staged layout ok; uninstall removed every file"

# ---- 3. a C host through pkg-config -------------------------------------

work=$tmp/work
mkdir -p "$work"
cd "$work"
export PKG_CONFIG_PATH=$lib/pkgconfig

step "pkg-config"
[ "$(pkg-config --modversion lookupd)" = "$VERSION" ] || fail "pkg-config --modversion is not $VERSION"
[ "$(pkg-config --variable=prefix lookupd)" = "$prefix" ] || fail "pkg-config prefix is wrong"
echo "cflags: $(pkg-config --cflags lookupd)"
echo "libs:   $(pkg-config --libs lookupd)"
echo "static: $(pkg-config --static --libs lookupd)"

cat >host.c <<'EOF'
/* A C host of an installed lookupd: start on 127.0.0.1:0, wait for a
 * topic nobody registers (a timeout), ask for the topics, stop. */
#include <stdio.h>
#include <string.h>

#include <lookupd.h>

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "host.c:%d: %s failed (%s)\n", __LINE__, #cond,           \
                    lookupd_last_error() ? lookupd_last_error() : "no lookupd error"); \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

int main(void) {
    lookupd *l = NULL;
    EXPECT(lookupd_start("{\"tcp_address\":\"127.0.0.1:0\",\"http_address\":\"127.0.0.1:0\","
                         "\"log_level\":\"warn\"}", &l) == LOOKUPD_OK);
    uint16_t tcp = 0, http = 0, https = 1;
    uint32_t waiting = 1;
    EXPECT(lookupd_tcp_port(l, &tcp) == LOOKUPD_OK && tcp != 0);
    EXPECT(lookupd_http_port(l, &http) == LOOKUPD_OK && http != 0);
    EXPECT(lookupd_https_port(l, &https) == LOOKUPD_OK && https == 0);
    EXPECT(lookupd_waiting(l, &waiting) == LOOKUPD_OK && waiting == 0);

    char *json = NULL;
    EXPECT(lookupd_wait_lookup(l, "orders", 1, 100, &json) == LOOKUPD_ERR_TIMEOUT);
    EXPECT(json == NULL);
    EXPECT(lookupd_query_topics(l, &json) == LOOKUPD_OK);
    EXPECT(strcmp(json, "{\"topics\":[]}") == 0);
    lookupd_string_free(json);
    EXPECT(lookupd_stop(l) == LOOKUPD_OK);
    printf("C host ok: lookupd %s on TCP %u, HTTP %u\n", lookupd_version(), (unsigned)tcp,
           (unsigned)http);
    return 0;
}
EOF

CSTRICT=(-std=c99 -Wall -Wextra -Werror -pedantic)

step "C host, shared: cc host.c \$(pkg-config --cflags --libs lookupd)"
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
cc "${CSTRICT[@]}" -o host host.c $(pkg-config --cflags --libs lookupd)
needed host | grep -qx "$SONAME" || fail "host does not record $SONAME"
resolved=$(LD_LIBRARY_PATH=$lib ldd ./host)
grep -qF "$SONAME => $lib/$SONAME" <<<"$resolved" || fail "host does not load $lib/$SONAME"
LD_LIBRARY_PATH=$lib ./host

step "C host, static: liblookupd.a and pkg-config --static --libs"
# -llookupd would pick the shared library; -l:liblookupd.a names the archive.
static_libs=$(pkg-config --static --libs lookupd | sed 's/-llookupd\b/-l:liblookupd.a/')
# shellcheck disable=SC2046,SC2086
cc "${CSTRICT[@]}" -o host_static host.c $(pkg-config --cflags lookupd) $static_libs
! needed host_static | grep -q liblookupd || fail "host_static needs the shared library"
./host_static

# ---- 4. CMake: find_package(lookupd) -------------------------------------

cat >host.cpp <<'EOF'
// A C++ host of an installed lookupd, through lookupd.hpp.
#include <chrono>
#include <cstdio>
#include <string>

#include <lookupd.hpp>

int main() {
    try {
        lookupd_cpp::instance l; // loopback, ports the system picks
        if (l.https_port() != 0 || l.waiting() != 0) {
            std::fprintf(stderr, "https_port %u, waiting %u\n", static_cast<unsigned>(l.https_port()),
                         static_cast<unsigned>(l.waiting()));
            return 1;
        }
        try {
            l.wait_lookup("orders", 1, std::chrono::milliseconds(100));
            std::fprintf(stderr, "wait_lookup: no timeout\n");
            return 1;
        } catch (const lookupd_cpp::wait_timeout &) {
        }
        try {
            l.lookup("orders");
            std::fprintf(stderr, "lookup: found\n");
            return 1;
        } catch (const lookupd_cpp::topic_not_found &e) {
            if (e.code() != LOOKUPD_ERR_TOPIC_NOT_FOUND) {
                return 1;
            }
        }
        lookupd_cpp::cancel_token token;
        token.fire();
        try {
            l.wait_lookup("orders", 1, std::chrono::seconds(60), token);
            return 1;
        } catch (const lookupd_cpp::cancelled &) {
        }
        if (l.topics() != R"({"topics":[]})") {
            std::fprintf(stderr, "topics: %s\n", l.topics().c_str());
            return 1;
        }
        std::printf("C++ host ok: lookupd %s on TCP %u, HTTP %u\n", lookupd_cpp::version().c_str(),
                    static_cast<unsigned>(l.tcp_port()), static_cast<unsigned>(l.http_port()));
    } catch (const lookupd_cpp::error &e) {
        std::fprintf(stderr, "lookupd error %d: %s\n", static_cast<int>(e.code()), e.what());
        return 1;
    }
    return 0;
}
EOF

cat >CMakeLists.txt <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(lookupd_host LANGUAGES C CXX)
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)

find_package(lookupd 0.1 REQUIRED)
message(STATUS "lookupd ${lookupd_VERSION} from ${lookupd_DIR}")

add_executable(host_cpp host.cpp)
target_compile_options(host_cpp PRIVATE -Wall -Wextra -Werror -pedantic)
target_link_libraries(host_cpp PRIVATE lookupd::lookupd)

add_executable(host_c_static host.c)
target_compile_options(host_c_static PRIVATE -Wall -Wextra -Werror -pedantic)
target_link_libraries(host_c_static PRIVATE lookupd::lookupd_static)
EOF

cmake_hosts() { # cmake_hosts <prefix> <build dir>
  cmake -S "$work" -B "$2" -DCMAKE_PREFIX_PATH="$1" -DCMAKE_BUILD_TYPE=Release >"$2.log" 2>&1 ||
    { cat "$2.log"; fail "cmake configure against $1"; }
  grep -- '-- lookupd .* from ' "$2.log"
  cmake --build "$2" >>"$2.log" 2>&1 || { cat "$2.log"; fail "cmake build against $1"; }
  needed "$2/host_cpp" | grep -qx "$SONAME" || fail "host_cpp does not record $SONAME"
  ! needed "$2/host_c_static" | grep -q liblookupd || fail "host_c_static needs the shared library"
  # No LD_LIBRARY_PATH: CMake gives imported libraries a build RPATH.
  "$2/host_cpp"
  "$2/host_c_static"
}

step "CMake: find_package(lookupd 0.1), lookupd::lookupd (C++) and lookupd::lookupd_static (C)"
cmake_hosts "$prefix" "$tmp/build"

step "CMake: the package's version check"
mkdir -p "$tmp/probe"
cat >"$tmp/probe/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(probe NONE)
find_package(lookupd ${WANT} QUIET)
if(NOT lookupd_FOUND)
  message(FATAL_ERROR "not found")
endif()
EOF
probe() { # probe <version asked for> <yes|no>
  local got=no
  rm -rf "$tmp/probe/b"
  if cmake -S "$tmp/probe" -B "$tmp/probe/b" -DCMAKE_PREFIX_PATH="$prefix" -DWANT="$1" \
      >/dev/null 2>&1; then
    got=yes
  fi
  [ "$got" = "$2" ] || fail "find_package(lookupd $1): found=$got, expected $2"
}
probe "" yes
probe "$COMPAT" yes
probe "$VERSION" yes
if [ "${COMPAT%%.*}" = 0 ]; then
  probe "0.$(( ${COMPAT#0.} + 1 ))" no # the next 0.x is incompatible
  probe 1.0 no
else
  probe "$(( COMPAT + 1 ))" no
fi
probe "$COMPAT.999" no # newer than installed
echo "version check ok"

step "CMake: the prefix moved elsewhere (relocatable package)"
mv "$prefix" "$tmp/moved"
cmake_hosts "$tmp/moved" "$tmp/build-moved"

step "C and C++ install test passed"
