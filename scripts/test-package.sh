#!/usr/bin/env bash
# Builds the Linux package (scripts/package.sh), unpacks it into a temporary
# directory and starts the packaged binary under Xvfb: the window must open
# (non-blank screenshot) and the process must still run after 5 s.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
./scripts/package.sh >/dev/null
tmp="$(mktemp -d /tmp/mxcall-pkg.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
tar -xJf dist/mxcall.tar.xz -C "$tmp"
exe="$tmp/mxcall/usr/local/bin/mxcall"
desktop="$tmp/mxcall/usr/local/share/applications/im.mxcall.app.desktop"
[ -x "$exe" ] || { echo "no executable in the package"; exit 1; }
grep -q "^Name=MX Call" "$desktop" || { echo "bad .desktop file:"; cat "$desktop"; exit 1; }
[ -s "$tmp/mxcall/usr/local/share/pixmaps/im.mxcall.app.png" ] || { echo "no icon in the package"; exit 1; }
mkdir -p "$tmp/home/run" && chmod 700 "$tmp/home/run"
HOME="$tmp/home" XDG_RUNTIME_DIR="$tmp/home/run" LANG=en_US.UTF-8 MXCALL_NO_KEYRING=1 \
  dbus-run-session -- xvfb-run -a -s "-noreset -screen 0 1280x800x24" sh -c '
    "$1" >"$2/app.log" 2>&1 & pid=$!
    sleep 5
    import -window root "$2/shot.png"
    kill -0 $pid || { echo "packaged app exited:"; cat "$2/app.log"; exit 1; }
    kill $pid; wait $pid 2>/dev/null || true' sh "$exe" "$tmp"
colors=$(convert "$tmp/shot.png" -format "%k" info:)
[ "$colors" -gt 16 ] || { echo "packaged app's window looks blank ($colors colours)"; exit 1; }
mkdir -p .cache && cp "$tmp/shot.png" .cache/package-shot.png
echo "package ok: $(du -h dist/mxcall.tar.xz | cut -f1) dist/mxcall.tar.xz, window opened ($colors colours)"
