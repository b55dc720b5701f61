#!/usr/bin/env bash
# End-to-end smoke test of the real app: runs the README's demo
# (scripts/demo.sh: Dendrite, coturn, the echo partner, the app logged in)
# under Xvfb in a loopback-only network namespace, clicks the video-call
# button of the "Echo" room, waits until the app has decoded the echoed
# video, checks the screenshot shows the test pattern's colours, closes
# everything and checks that nothing is left running.
#
# MXCALL_APP_RTC=1 calls the second room instead, "Echo (unencrypted)":
# a MatrixRTC call through the demo's LiveKit SFU that rings the partner.
# MXCALL_APP_RTC=2 places a MatrixRTC call in the first, encrypted room:
# media encrypted end to end (keys over Olm; the partner mirrors ours).
#
# Artifacts (screenshots, logs, timings.txt) go to ./.cache/app-run.
# Needs xvfb xauth imagemagick xdotool dbus (scripts/install-deps.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/.cache/app-run"

if [ "${1:-}" != "--inner" ]; then
  . "$root/scripts/lib.sh"
  gui_outer test-app.sh "$work" "$root/.cache/(demo-test|app-run)|$root/.cache/bin/mxcall" "$0"
  exit
fi

# ---- inside the namespace, D-Bus session and X server ----
cd "$root"
export HOME="$work/home" XDG_RUNTIME_DIR="$work/home/run" LANG=en_US.UTF-8
export MXCALL_DEMO_DIR="$root/.cache/demo-test" MXCALL_ICE_LOOPBACK=1 MXCALL_TEST_MEDIA=1
# Without MXCALL_APP_RTC the first room (the encrypted DM) gets a legacy
# call, the one-to-one view this script checks.
[ -n "${MXCALL_APP_RTC:-}" ] || export MXCALL_LEGACY_CALLS=1
rm -rf "$MXCALL_DEMO_DIR"
log="$work/demo.log"
[ -n "${MXCALL_MEASURE:-}" ] && export MXCALL_PROFILE="$work" # SIGUSR1: heap profile and a "memory" log line
./scripts/demo.sh >"$log" 2>&1 &
demo=$!
finish() { kill "$demo" 2>/dev/null; wait "$demo" 2>/dev/null || true; }
trap finish EXIT

waitlog() { # waitlog PATTERN SECONDS
  for _ in $(seq $(($2 * 10))); do
    grep -q "$1" "$log" && return 0
    kill -0 "$demo" 2>/dev/null || { echo "demo exited early:"; tail -30 "$log"; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for '$1'"; tail -30 "$log"; return 1
}
ms() { date +%s%3N; }
memory() { # memory LABEL: the app's own account of its memory, and its largest mappings
  kill -USR1 "$app"
  sleep 1
  echo "$1: $(grep -h 'msg=memory' "$log" | tail -1 | sed 's/.*msg=memory //')"
  ./scripts/smaps-top.sh "$app" 10 | sed 's/^/  /'
}
# The test pattern has red, green, blue and yellow quadrants.
px() { convert "$shot" -format "%[fx:int(255*p{$1,$2}.r)] %[fx:int(255*p{$1,$2}.g)] %[fx:int(255*p{$1,$2}.b)]" info:; }
check() { # check NAME X Y R G B: each channel within 60 of the expected
  read -r r g b <<<"$(px "$2" "$3")"
  for pair in "$r:$4" "$g:$5" "$b:$6"; do
    v=${pair%:*} want=${pair#*:}
    if [ $((v > want ? v - want : want - v)) -gt 60 ]; then
      echo "$shot at ($2,$3) is rgb($r,$g,$b), want $1"; return 1
    fi
  done
}

waitlog "logged in" 120
t_login=$(ms)
sleep 3 # the room list fills after the first sync
import -window root "$work/rooms.png"
app=$(pgrep -f -n "$root/.cache/bin/mxcall$") || true
if [ -n "${MXCALL_MEASURE:-}" ]; then
  sleep 5 # let the first sync settle
  {
    ./scripts/proc-sample.sh "$app" "$MXCALL_MEASURE" "idle on the room list"
    memory idle
  } >"$work/idle.txt"
fi
# Settings (the gear, top right): the camera preview runs with the test pattern.
xdotool mousemove 837 26 click 1
sleep 2.5
import -window root "$work/settings.png"
shot="$work/settings.png"
check red 300 300 226 44 44
check blue 300 550 40 56 220
xdotool mousemove 45 26 click 1 # Back
sleep 1
# The first room's video-call button (the window is 960x640 at 0,0), or
# the second's.
row_y=155
[ "${MXCALL_APP_RTC:-}" = 1 ] && row_y=217
t_click=$(ms)
xdotool mousemove 917 "$row_y" click 1
waitlog "call connected" 20
t_conn=$(ms)
waitlog "first remote video frame" 20
t_frame=$(ms)
sleep 1.5 # a few repaints
import -window root "$work/call.png"

shot="$work/call.png"
if [ -n "${MXCALL_APP_RTC:-}" ]; then
  # The grid: our tile on the left, the partner's (our picture echoed) on
  # the right.
  check red 600 280 226 44 44
  check green 820 280 40 200 64
  check blue 600 430 40 56 220
else
  # The remote picture fills the window's middle (the self view sits bottom right).
  check red 150 200 226 44 44
  check green 800 200 40 200 64
  check blue 150 500 40 56 220
fi

# Optional: MXCALL_MEASURE=N samples the app N seconds at a time
# (scripts/proc-sample.sh: CPU of our threads and of Mesa's llvmpipe
# painter apart, RSS/PSS): idle on the room list (taken before the call, see
# above), in the call, in the call with the window minimised (under openbox),
# and after hanging up. With MXCALL_STATS=1 the repaint rates are logged
# too. Everything goes to measure.txt.
if [ -n "${MXCALL_MEASURE:-}" ]; then
  win=$(xdotool search --name '^MX Call$' | head -1)
  echo_pid=$(pgrep -f -n "$root/.cache/bin/mxcall echo") || true
  {
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores); call at ${MXCALL_RESOLUTION:-640x480}"
    cat "$work/idle.txt"
    ./scripts/proc-sample.sh "$app" "$MXCALL_MEASURE" "in call"
    ./scripts/proc-sample.sh "$echo_pid" "$MXCALL_MEASURE" "echo partner in call"
    memory "in call"
    grep -h "video repaint" "$log" | tail -2
    if [ -n "${MXCALL_PERF:-}" ] && command -v perf >/dev/null; then # where the CPU goes, by thread and library
      perf record -q -F 499 -p "$app" -o "$work/perf.data" -- sleep "$MXCALL_MEASURE" >/dev/null 2>&1 || true
      perf report -q -i "$work/perf.data" --sort comm,dso --stdio 2>/dev/null | grep -v '^$' | awk 'NR <= 25' || true
    fi
    if command -v openbox >/dev/null; then
      openbox >"$work/openbox.log" 2>&1 &
      sleep 2
      xdotool windowminimize "$win"
      sleep 1
      echo "window $(xwininfo -id "$win" | grep -o 'Map State: .*')"
      ./scripts/proc-sample.sh "$app" "$MXCALL_MEASURE" "in call, window minimised"
      grep -h "video repaint" "$log" | tail -1
      xdotool windowactivate --sync "$win" 2>/dev/null || true
      sleep 1
    fi
    xdotool mousemove --window "$win" 639 613 click 1 # Hang up (bottom bar, middle)
    sleep 8 # the ended screen, back to the room list, caches settle
    ./scripts/proc-sample.sh "$app" "$MXCALL_MEASURE" "idle after the call"
    memory "after the call"
  } >"$work/measure.txt"
  cat "$work/measure.txt"
fi

{
  echo "login → click: $((t_click - t_login)) ms (fixed waits: room list, settings visit)"
  echo "click video call → call connected (seen in the log): $((t_conn - t_click)) ms"
  echo "click video call → first remote video frame decoded: $((t_frame - t_click)) ms"
  grep -h "call connected\|first remote video frame" "$log" | sed 's/^/app: /'
  grep -h "call connected\|MatrixRTC" "$MXCALL_DEMO_DIR/echo.log" | sed 's/^/echo: /'
} >"$work/timings.txt"
cat "$work/timings.txt"
