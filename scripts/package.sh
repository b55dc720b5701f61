#!/usr/bin/env bash
# Builds the Linux package: `fyne package -os linux` (fyne CLI pinned below,
# built from the Go module proxy into ./.cache/bin) gives dist/mxcall.tar.xz
# with the binary, the icon and a .desktop file (make install inside it
# puts them under /usr/local).
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.7.4
bin="$PWD/.cache/bin"
if [ ! -x "$bin/fyne" ] || ! "$bin/fyne" version 2>/dev/null | grep -q "${version#v}"; then
  GOBIN="$bin" go install "fyne.io/tools/cmd/fyne@$version"
fi
mkdir -p dist
# Build with the normal build cache (fyne's own build would redo cgo from
# scratch with other flags), then let fyne package that binary.
mkdir -p "$bin/release"
go build -tags goolm -ldflags "-s -w" -o "$bin/release/mxcall" .
# fyne package bumps Build in FyneApp.toml: keep the checked-in file as it is.
cp FyneApp.toml "$bin/FyneApp.toml.orig"
trap 'cp "$bin/FyneApp.toml.orig" FyneApp.toml' EXIT
"$bin/fyne" package -os linux -release -executable "$bin/release/mxcall"
mv -f "MX Call.tar.xz" dist/mxcall.tar.xz 2>/dev/null || mv -f ./*.tar.xz dist/mxcall.tar.xz
echo "dist/mxcall.tar.xz:"
tar -tJf dist/mxcall.tar.xz
