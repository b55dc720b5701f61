#!/usr/bin/env bash
# Cross-builds mxcall for Windows x86-64 on Debian 12 and packs it as
# dist/mxcall-windows-amd64.zip:
#
#   MX Call/mxcall.exe    the app (icon, version information, manifest)
#   MX Call/README.txt    how to run it
#   MX Call/licenses/     the licences of the C libraries linked into it
#
# The C libraries come from scripts/build-windows-libs.sh (static, built from
# Debian's source packages, cached in .cache/win). The icon and version
# information (from FyneApp.toml) are compiled with MinGW's windres into a
# .syso that go build links in, as `fyne package -os windows` does, but with
# the build flags and cache of a plain go build. Everything is linked
# statically: the exe imports only DLLs that every Windows has (checked).
#
# Environment: MXCALL_WIN_CACHE (library cache, default .cache/win).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export GOTOOLCHAIN=local
host=x86_64-w64-mingw32
cache="${MXCALL_WIN_CACHE:-$root/.cache/win}"
out="$root/.cache/win-build"
t0=$SECONDS

pkgconfig="$("$root/scripts/build-windows-libs.sh" | tail -1)"
# go build keys its cache on CGO_CFLAGS but not on pkg-config's output: name
# the libraries' build in CGO_CFLAGS so that new libraries rebuild the cgo
# packages instead of linking them with stale flags.
# pkg-config's answers hold the cache's path (-L…), so the path is part of
# the name: a cache elsewhere (another checkout) must not reuse packages
# linked against this one.
libs_id="$(cat "$cache/libs.id")-$(printf %s "$cache" | sha256sum | cut -c1-12)"
t_libs=$((SECONDS - t0))

# ---- resources: icon, version information, manifest ----
toml_get() { sed -n "s/^$1 *= *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" FyneApp.toml | head -1; }
name="$(toml_get Name)" version="$(toml_get Version)" build="$(toml_get Build)"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "FyneApp.toml: Version '$version' is not N.N.N" >&2; exit 1; }
[[ "$build" =~ ^[0-9]+$ ]] || build=0
winver="${version//./,},$build" dotver="$version.$build"
rm -rf "$out" && mkdir -p "$out/res"
convert assets/icon.png -define icon:auto-resize=256,128,64,48,32,16 "$out/res/mxcall.ico"
cat >"$out/res/mxcall.manifest" <<EOF
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v1" manifestVersion="1.0">
  <assemblyIdentity version="$dotver" processorArchitecture="amd64" name="im.mxcall.app" type="win32"/>
  <description>$name</description>
  <compatibility xmlns="urn:schemas-microsoft-com:compatibility.v1">
    <application><supportedOS Id="{8e0f7a12-bfb3-4fe8-b9a5-48fd50a15a9a}"/></application>
  </compatibility>
  <application xmlns="urn:schemas-microsoft-com:asm.v3">
    <windowsSettings>
      <dpiAware xmlns="http://schemas.microsoft.com/SMI/2005/WindowsSettings">true/pm</dpiAware>
      <dpiAwareness xmlns="http://schemas.microsoft.com/SMI/2016/WindowsSettings">permonitorv2,permonitor</dpiAwareness>
    </windowsSettings>
  </application>
</assembly>
EOF
cat >"$out/res/mxcall.rc" <<EOF
#include <winver.h>
1 ICON "mxcall.ico"
1 24 "mxcall.manifest"
1 VERSIONINFO
FILEVERSION $winver
PRODUCTVERSION $winver
FILEFLAGSMASK 0x3f
FILEFLAGS 0
FILEOS VOS_NT_WINDOWS32
FILETYPE VFT_APP
FILESUBTYPE 0
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "CompanyName", "$name"
      VALUE "FileDescription", "$name: video calls over Matrix"
      VALUE "FileVersion", "$dotver"
      VALUE "InternalName", "mxcall"
      VALUE "OriginalFilename", "mxcall.exe"
      VALUE "ProductName", "$name"
      VALUE "ProductVersion", "$version"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
EOF
# go build links every *_windows_amd64.syso of the main package into
# windows/amd64 builds only; it is removed again after the build.
syso="$root/zz_resources_windows_amd64.syso"
(cd "$out/res" && "$host-windres" -O coff -i mxcall.rc -o "$syso")
trap 'rm -f "$syso"' EXIT

# ---- the exe ----
t1=$SECONDS
# -H=windowsgui: no console window; -extldflags=-static: libstdc++, libgcc
# and winpthreads inside the exe, not as DLLs beside it.
GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC="$host-gcc" CXX="$host-g++" PKG_CONFIG="$pkgconfig" \
  CGO_CFLAGS="-O2 -g -DMXCALL_WIN_LIBS=$libs_id" CGO_CXXFLAGS="-O2 -g -DMXCALL_WIN_LIBS=$libs_id" \
  go build -tags goolm -trimpath -ldflags "-s -w -H=windowsgui -extldflags=-static" -o "$out/mxcall.exe" .
rm -f "$syso"
t_go=$((SECONDS - t1))

# Only DLLs that come with Windows may be imported (no MinGW runtime, no
# codec DLL): anything else would make the exe fail to start elsewhere.
dlls="$("$host-objdump" -p "$out/mxcall.exe" | sed -n 's/^\s*DLL Name: //p' | tr 'A-Z' 'a-z' | sort -u)"
bad="$(grep -v -x -E 'advapi32|bcrypt|crypt32|dnsapi|dwmapi|gdi32|imm32|iphlpapi|kernel32|mfplat|mfreadwrite|mf|msvcrt|ntdll|ole32|oleaut32|opengl32|powrprof|quartz|secur32|setupapi|shell32|shlwapi|strmiids|user32|userenv|uxtheme|version|winmm|winspool|ws2_32|ksuser|avrt|api-ms-win-[a-z0-9-]+' <<<"${dlls//.dll/}" || true)"
if [ -n "$bad" ]; then
  echo "mxcall.exe imports DLLs that Windows does not ship: $bad" >&2
  exit 1
fi
"$host-objdump" -h "$out/mxcall.exe" | grep -q '\.rsrc' || { echo "mxcall.exe has no resources (icon, version)" >&2; exit 1; }

# ---- the zip ----
pkg="$out/pkg/$name"
mkdir -p "$pkg"
cp "$out/mxcall.exe" "$pkg/"
cp -r "$cache/licenses" "$pkg/licenses"
cat >"$pkg/README.txt" <<EOF
$name $version for Windows (x86-64)

Double-click mxcall.exe to start it, then log in with your Matrix ID and
password. Nothing needs to be installed: the exe contains everything.

Your session is kept in the Windows Credential Manager; the encryption store
in %AppData%\\mxcall. The camera comes through DirectShow, sound through WASAPI.
When there is no camera the app sends a test pattern.

Environment variables (for scripts and troubleshooting): MXCALL_LOG=debug,
MXCALL_TEST_MEDIA=1 (test pattern and tone), MXCALL_NO_KEYRING=1,
MXCALL_DATA_DIR, MXCALL_RESOLUTION=1280x720.

The licences of the C libraries built into mxcall.exe (libvpx, Opus,
opusfile, libogg, SpeexDSP; built from Debian's source packages, whose
copyright files are included) are in licenses\\.
EOF
sed -i 's/$/\r/' "$pkg/README.txt"
mkdir -p dist
rm -f dist/mxcall-windows-amd64.zip
(cd "$out/pkg" && zip -qrX "$root/dist/mxcall-windows-amd64.zip" "$name")
echo "dist/mxcall-windows-amd64.zip: $(du -h dist/mxcall-windows-amd64.zip | cut -f1)," \
  "mxcall.exe $(du -h "$out/mxcall.exe" | cut -f1) (libraries ${t_libs} s, go build ${t_go} s, total $((SECONDS - t0)) s)"
