#!/usr/bin/env bash
# Builds the C libraries that mxcall links through cgo — libvpx (VP8),
# libopus, libogg + libopusfile (gopkg.in/hraban/opus.v2), speexdsp (echo
# cancellation) — for Windows x86-64 with Debian's MinGW-w64 toolchain, as
# static libraries, from Debian's own source packages of the versions the
# Linux build links (those of the installed -dev packages; `apt-get source`
# applies Debian's patches, security fixes included).
#
#   scripts/build-windows-libs.sh      # prints the pkg-config wrapper's path
#
# Each library goes to .cache/win/<source>-<debian version>/ (include/, lib/,
# lib/pkgconfig/, share/licenses/<source>/) with a stamp holding the version
# and a hash of the shell functions that build it (build, autotools and its
# conf_<source>): a library whose stamp matches is not built again, so a
# cached run takes about a second. MXCALL_WIN_CACHE moves the cache elsewhere.
#
# The last line printed is the path of .cache/win/pkg-config, a wrapper that
# answers `pkg-config --static` from these libraries only (never the host's
# Linux .pc files); give it to go build as PKG_CONFIG. .cache/win/libs.id
# names the libraries' versions and recipes in one short hash: go build does
# not key its cache on pkg-config's answers, so put it into CGO_CFLAGS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MXCALL_WIN_CACHE:-$root/.cache/win}"
host=x86_64-w64-mingw32
jobs="$(nproc)"

"$root/scripts/install-deps-windows.sh" >&2
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
# One build at a time per cache (checkouts on one machine may share one).
exec 9>"$cache/.lock"
flock 9

# The Debian source package and version behind an installed -dev package.
src_of() { dpkg-query -W -f='${source:Package}' "$1"; }
ver_of() { dpkg-query -W -f='${source:Version}' "$1"; }
for dev in libvpx-dev libopus-dev libogg-dev libopusfile-dev libspeexdsp-dev; do
  dpkg-query -W -f='${Status}' "$dev" 2>/dev/null | grep -q "install ok installed" ||
    "$root/scripts/install-deps.sh" >&2
done

prefixes=()
# build DEV-PACKAGE LICENCE-FILES...: builds the library of DEV-PACKAGE's
# source package unless its stamp is current. The configure step is the
# function conf_<source> (run in the unpacked source with $prefix set).
build() {
  local dev="$1" src ver prefix stamp want work dir
  shift
  src="$(src_of "$dev")" ver="$(ver_of "$dev")"
  prefix="$cache/$src-$ver" stamp="$cache/$src-$ver/.stamp"
  want="$src $ver $(declare -f build autotools "conf_$src" | sha256sum | cut -c1-16)"
  prefixes+=("$prefix")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "building $src $ver for Windows ($host) into $prefix" >&2
  local t0=$SECONDS
  rm -rf "$prefix"
  work="$(mktemp -d "$cache/src.XXXXXX")"
  (
    cd "$work"
    apt-get source -qq "$src=$ver" >/dev/null 2>"$work/apt.log" || { cat "$work/apt.log" >&2; exit 1; }
    dir="$(find . -mindepth 1 -maxdepth 1 -type d | head -1)"
    cd "$dir"
    "conf_${src}" >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; exit 1; }
    { make -j"$jobs" && make install; } >>"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; exit 1; }
    mkdir -p "$prefix/share/licenses/$src"
    for f in "$@"; do cp "$f" "$prefix/share/licenses/$src/"; done
    cp debian/copyright "$prefix/share/licenses/$src/debian-copyright"
  )
  rm -rf "$work"
  echo "$want" >"$stamp"
  echo "built $src $ver in $((SECONDS - t0)) s" >&2
}

# PKG_CONFIG_LIBDIR of the libraries built so far (for opusfile's configure).
pc_dirs() { local IFS=:; echo "${prefixes[*]/%//lib/pkgconfig}"; }
autotools() { # common flags of the autoconf-based libraries
  PKG_CONFIG_LIBDIR="$(pc_dirs)" PKG_CONFIG_PATH="" ./configure --host="$host" --prefix="$prefix" \
    --enable-static --disable-shared --disable-dependency-tracking CFLAGS="-O2" "$@"
}
conf_libogg() { autotools; }
conf_opus() {
  # Opus's configure turns on _FORTIFY_SOURCE (as Debian's build does), whose
  # checked memcpy/memset live in MinGW's libssp: the .pc says so for cgo.
  sed -i 's/^Libs.private: \(.*\)/Libs.private: \1 -lssp/' opus.pc.in
  autotools --disable-doc --disable-extra-programs
}
conf_opusfile() { autotools --disable-http --disable-examples --disable-doc; }
conf_speexdsp() { autotools --disable-examples; }
conf_libvpx() {
  # Debian's configure flags for the library (debian/rules), less the shared
  # library and VP9, which mxcall does not use (it codes VP8 only).
  CROSS="$host-" ./configure --target=x86_64-win64-gcc --prefix="$prefix" --as=nasm \
    --enable-static --disable-shared --disable-vp9 --enable-vp8 \
    --disable-examples --disable-tools --disable-docs --disable-unit-tests --disable-install-bins \
    --disable-install-srcs --size-limit=16384x16384 --enable-postproc --enable-multi-res-encoding \
    --enable-temporal-denoising
}

build libogg-dev COPYING AUTHORS
build libopus-dev COPYING AUTHORS
build libopusfile-dev COPYING AUTHORS
build libspeexdsp-dev COPYING AUTHORS
build libvpx-dev LICENSE PATENTS AUTHORS

# The pkg-config wrapper for cgo: static link flags, these libraries only.
wrapper="$cache/pkg-config"
cat >"$wrapper.tmp" <<EOF
#!/bin/sh
# Written by scripts/build-windows-libs.sh: pkg-config for the Windows build.
PKG_CONFIG_LIBDIR='$(pc_dirs)' PKG_CONFIG_PATH='' PKG_CONFIG_SYSROOT_DIR='' exec pkg-config --static "\$@"
EOF
chmod +x "$wrapper.tmp"
mv "$wrapper.tmp" "$wrapper"
# The licence files of every library, for the zip (licenses/<source>/).
rm -rf "$cache/licenses.tmp" && mkdir -p "$cache/licenses.tmp"
for p in "${prefixes[@]}"; do cp -r "$p/share/licenses/." "$cache/licenses.tmp/"; done
rm -rf "$cache/licenses" && mv "$cache/licenses.tmp" "$cache/licenses"
for p in "${prefixes[@]}"; do cat "$p/.stamp"; done | sha256sum | cut -c1-16 >"$cache/libs.id"
echo "$wrapper"
