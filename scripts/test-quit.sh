#!/usr/bin/env bash
# Quitting the real app with SIGTERM (as a session logout or `kill` does)
# in the four moments that broke before: as caller and as callee, while
# the call rings and once it is connected; and twice in a row in a call. Each run starts the README's
# demo (scripts/demo.sh) under Xvfb in a loopback-only network namespace,
# brings the call to that moment, sends SIGTERM to the app and checks:
#   - the app exits with status 0, without a panic;
#   - its log has no "Error in Fyne call thread" line (a widget touched
#     off Fyne's goroutine after shutdown began);
#   - the other side sees the call end (rejected or hung up by the app);
#   - under Debian's default C.UTF-8 locale, Fyne's locale, preferences and
#     notification-service noise stays out of the log (no "Fyne error:"
#     line, and no locale error at all).
# The callee runs use a second `mxcall echo --call ROOM` device of the
# partner as the caller.
#
# Artifacts (logs, timings) go to ./.cache/quit-run.
# Needs xvfb xauth xdotool dbus (scripts/install-deps.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/.cache/quit-run"

if [ "${1:-}" != "--inner" ]; then
  . "$root/scripts/lib.sh"
  gui_outer test-quit.sh "$work" "$root/.cache/(demo-quit|quit-run)|$root/.cache/bin/mxcall" "$0"
  exit
fi

# ---- inside the namespace, D-Bus session and X server ----
cd "$root"
export HOME="$work/home" XDG_RUNTIME_DIR="$work/home/run" LANG=C.UTF-8
export MXCALL_DEMO_DIR="$root/.cache/demo-quit" MXCALL_ICE_LOOPBACK=1 MXCALL_TEST_MEDIA=1 MXCALL_LOG=debug
# These are legacy (m.call.invite) calls: the demo's encrypted DM would
# otherwise place MatrixRTC calls.
export MXCALL_LEGACY_CALLS=1
. "$root/scripts/lib.sh"
clean_work "$MXCALL_DEMO_DIR"
password="mxcall-demo-password" # demo.sh's local accounts
mxcall="$root/.cache/bin/mxcall"
demo="" caller=""
finish() {
  for p in $caller $demo; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
}
trap finish EXIT

waitlog() { # waitlog FILE PATTERN SECONDS
  for _ in $(seq $(($3 * 10))); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1"; tail -30 "$1"; return 1
}
ms() { date +%s%3N; }

fail=0
# run NAME ECHO_ARGS: the demo with the partner's extra flags; sets $log, $app.
start() {
  log="$work/$1.log"
  MXCALL_ECHO_ARGS="$2" MXCALL_DEMO_LINGER=6 ./scripts/demo.sh >"$log" 2>&1 &
  demo=$!
  waitlog "$log" "logged in" 120
  sleep 3 # the room list fills after the first sync
  app=$(pgrep -f -n "^$mxcall\$")
}

# quit NAME PEERLOG [twice]: SIGTERM the app (twice: two SIGTERMs, the
# second while the first one's hangup runs); check its exit and log, and
# that the peer (whose log is PEERLOG) saw the call end by the remote side.
quit() {
  local t0 rc took ok=1
  t0=$(ms)
  kill -TERM "$app"
  if [ "${3:-}" = twice ]; then sleep 0.02; kill -TERM "$app" 2>/dev/null || true; fi
  rc=0
  while kill -0 "$app" 2>/dev/null; do sleep 0.05; done # not our child: poll
  took=$(($(ms) - t0))
  # The partner and homeserver linger (MXCALL_DEMO_LINGER) while the peer's
  # log is read; demo.sh exits with the app's status.
  if ! waitlog "$2" 'call ended.*by=remote' 6 >/dev/null; then
    echo "FAIL $1: the peer did not see the call end"; tail -5 "$2"; ok=0
  fi
  wait "$demo" || rc=$?
  demo=""
  if [ "$rc" -ne 0 ]; then echo "FAIL $1: app exit status $rc"; ok=0; fi
  local bad="^panic:\|fatal error:\|Error in Fyne call thread\|Fyne error:\|user locale"
  if grep -q "$bad" "$log"; then
    echo "FAIL $1: the app's log has:"; grep -m5 "$bad" "$log"; ok=0
  fi
  if [ $ok = 1 ]; then
    echo "ok   $1: app exited (status 0) $took ms after SIGTERM${3:+ ($3)}; peer: $(grep -m1 'call ended.*by=remote' "$2" | grep -o 'reason=[a-z_]*')"
  else
    fail=1
  fi
}

# click_video_call NAME: the first room's video-call button, again until
# the call starts (the room list may still be filling).
click_video_call() {
  for _ in 1 2 3 4 5 6; do
    xdotool mousemove 917 155 click 1
    waitlog "$log" "to=gathering" 3 >/dev/null && return 0
  done
  import -window root "$work/$1-noclick.png"
  echo "FAIL $1: clicking the video-call button placed no call"; return 1
}

# 1. Caller, connected.
start caller-connected ""
click_video_call caller-connected
waitlog "$log" "call connected" 20
quit caller-connected "$MXCALL_DEMO_DIR/echo.log"

# 1b. Caller, connected, two SIGTERMs: the second ends the event loop at
# once, and the end of the first one's hangup must not quit again.
# Before the callee runs: their missed-call entry moves the room list down.
start caller-twice ""
click_video_call caller-twice
waitlog "$log" "call connected" 20
quit caller-twice "$MXCALL_DEMO_DIR/echo.log" twice

# 2. Caller, ringing: the partner lets it ring.
start caller-ringing "--answer-after 60s"
click_video_call caller-ringing
waitlog "$log" "to=invite_sent" 20
waitlog "$MXCALL_DEMO_DIR/echo.log" "to=ringing\|echo: answering" 20 >/dev/null || sleep 1
quit caller-ringing "$MXCALL_DEMO_DIR/echo.log"

# 3 and 4. Callee: a second device of the partner calls the app.
room=$(cat "$MXCALL_DEMO_DIR/dm")
call_app() { # call_app NAME: starts the caller, waits until the app rings
  local clog="$work/$1-caller.log"
  MXCALL_PASSWORD="$password" MXCALL_NO_KEYRING=1 MXCALL_DATA_DIR="$work/$1-caller-data" \
    "$mxcall" echo --user "@echo:localhost" --homeserver "http://127.0.0.1:${MXCALL_HS_PORT:-8018}" --call "$room" >"$clog" 2>&1 &
  caller=$!
  waitlog "$log" "to=ringing" 30
  sleep 1 # the incoming window is up
}

start callee-ringing ""
call_app callee-ringing
quit callee-ringing "$work/callee-ringing-caller.log"
kill "$caller" 2>/dev/null; wait "$caller" 2>/dev/null || true; caller=""

start callee-connected ""
call_app callee-connected
wid=$(xdotool search --name "^Incoming call" | head -1)
# "Video" is 31 px above the window's bottom; the window grows (340 → 440
# px) when it warns about the caller's unverified devices, which it may do
# a moment after it opens: click where the button is now, again if missed.
for _ in 1 2 3; do
  h=$(xdotool getwindowgeometry "$wid" | awk -F'[x ]' '/Geometry/ {print $NF}')
  xdotool mousemove --window "$wid" 291 $((h - 31)) click 1
  waitlog "$log" "call connected" 5 >/dev/null && break
done
waitlog "$log" "call connected" 15
quit callee-connected "$work/callee-connected-caller.log"
kill "$caller" 2>/dev/null; wait "$caller" 2>/dev/null || true; caller=""

exit $fail
