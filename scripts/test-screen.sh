#!/usr/bin/env bash
# Screen-capture tests (package media/screen, and package media's screen
# track and its capture + encode benchmark run once) under Xvfb at
# 1920x1080: once on a bare X server (no window manager: windows are
# found as the root's children) and once with openbox (EWMH
# _NET_CLIENT_LIST, reparented windows). Without DISPLAY the same tests
# skip themselves in the plain unit-test run.
# Needs xvfb xauth openbox x11-utils (scripts/install-deps.sh).
# Usage: scripts/test-screen.sh [extra go test flags, e.g. -test.v]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d /tmp/mxcall-screen.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
cd "$root"
go test -c -o "$tmp/screen.test" ./media/screen
go test -c -o "$tmp/media.test" ./media
cat > "$tmp/inner.sh" <<'INNER'
#!/usr/bin/env bash
# inner.sh bare|wm [go test flags]: runs inside xvfb-run.
set -uo pipefail
mode=$1
shift
wm=
if [ "$mode" = wm ]; then
  openbox >/dev/null 2>&1 &
  wm=$!
  for _ in $(seq 1 100); do
    xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q 'window id' && break
    sleep 0.05
  done
fi
rc=0
(cd "$ROOT_S/media/screen" && "$TMP_S/screen.test" -test.count=1 "$@") || rc=1
(cd "$ROOT_S/media" && "$TMP_S/media.test" -test.count=1 -test.run 'Screen' "$@") || rc=1
if [ "$mode" = bare ]; then
  # The share's cost: capture + encode + send of the 1920x1080 screen at 5 fps.
  (cd "$ROOT_S/media" && "$TMP_S/media.test" -test.run '^$' -test.bench 'ScreenCaptureEncode' -test.benchtime 10x) || rc=1
fi
if [ -n "$wm" ]; then kill "$wm" 2>/dev/null; wait "$wm" 2>/dev/null; fi
exit $rc
INNER
chmod +x "$tmp/inner.sh"
for mode in bare wm; do
  echo "screen capture under Xvfb ($mode)"
  # -noreset: an X server resets when its last client leaves, and a
  # connection made during the reset fails (EOF, "connection reset by
  # peer"): the tests and benchmarks here come and go one after another.
  # Xvfb's own messages are shown when a step fails.
  rc=0
  ROOT_S="$root" TMP_S="$tmp" xvfb-run -a -e "$tmp/xvfb-$mode.log" -s "-noreset -screen 0 1920x1080x24" "$tmp/inner.sh" "$mode" "$@" || rc=$?
  if [ $rc -ne 0 ]; then
    echo "test-screen.sh: failed under Xvfb ($mode); Xvfb's log:" >&2
    cat "$tmp/xvfb-$mode.log" >&2 || true
    exit $rc
  fi
done
