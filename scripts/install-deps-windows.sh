#!/usr/bin/env bash
# Installs what the Windows cross-build and its Wine smoke test need on
# Debian 12, on top of scripts/install-deps.sh: the MinGW-w64 C/C++
# toolchain, nasm (libvpx's assembly), dpkg-dev (apt-get source), zip, Wine
# (64-bit only) and a deb-src entry for Debian's own mirrors, so that
# scripts/build-windows-libs.sh can fetch the C libraries' source packages.
# Idempotent: with everything in place it does nothing (no apt-get update).
set -euo pipefail
pkgs=(gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 nasm dpkg-dev zip unzip wine wine64)
src_list=/etc/apt/sources.list.d/mxcall-deb-src.sources

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# deb-src for the suites the binary packages come from (Debian 12's
# debian.sources has only "Types: deb"); apt-get source needs it.
need_update=0
if ! grep -rqs "^Types:.*deb-src\|^deb-src " /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "adding $src_list (Debian source packages)"
  $sudo tee "$src_list" >/dev/null <<'EOF'
# Added by mxcall's scripts/install-deps-windows.sh: apt-get source for the
# C libraries that the Windows build compiles from Debian's own sources.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  need_update=1
fi

[ ${#missing[@]} -eq 0 ] && [ $need_update = 0 ] && exit 0
$sudo apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
