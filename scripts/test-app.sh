#!/usr/bin/env bash
# End-to-end smoke test of the real app: runs the README's demo
# (scripts/demo.sh: Dendrite, coturn, the echo partner, the app logged in)
# under Xvfb in a loopback-only network namespace, clicks the video-call
# button of the "Echo" room, waits until the app has decoded the echoed
# video, checks the screenshot shows the test pattern's colours, closes
# everything and checks that nothing is left running.
#
# In the legacy call (the default) it then shares the screen (on by
# default; MXCALL_APP_SHARE=0 skips it, ~10 s): under openbox, the screen
# behind the windows painted in four known colours (media/screen/cmd/
# rootpattern), Share screen → the screen in the picker → Share; the echo
# partner decodes the share and must log those colours in its corners;
# Stop on the sharing bar, kept above the app, must end the share at the
# partner. call-share.png is the call while sharing (MXCALL_APP_DOCS=1
# copies it to docs/call-share-real.png).
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
. "$root/scripts/lib.sh"
clean_work "$MXCALL_DEMO_DIR"
log="$work/demo.log"
[ -n "${MXCALL_MEASURE:-}" ] && export MXCALL_PROFILE="$work" # SIGUSR1: heap profile and a "memory" log line
./scripts/demo.sh >"$log" 2>&1 &
demo=$!
wm= pat=
finish() {
  for p in $pat $demo $wm; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
}
trap finish EXIT
# The screen-share phase (legacy calls; MXCALL_APP_SHARE=0 skips it) paints
# the screen behind the windows with rootpattern, built while the demo starts.
share=
[ -z "${MXCALL_APP_RTC:-}" ] && [ "${MXCALL_APP_SHARE:-1}" != 0 ] && share=1
[ -n "$share" ] && nice -n 15 go build -o "$work/rootpattern" ./media/screen/cmd/rootpattern

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
check red 390 420 226 44 44 # the preview sits below the settings rows
check blue 390 590 40 56 220
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

# Screen sharing (legacy call): the screen behind the windows shows four
# known colours (rootpattern); under openbox, with the app moved off the
# screen's corners, "Share screen", the screen in the picker, Share. The
# echo partner decodes the share and logs its corners' colours, which must
# be the pattern's; then Stop on the always-on-top sharing bar (over the
# app, which is raised) ends the share, and the partner must see it end.
# A screenshot of the call while sharing goes to docs/call-share-real.png.
echo_log="$MXCALL_DEMO_DIR/echo.log"
waitecho() { # waitecho PATTERN SECONDS
  for _ in $(seq $(($2 * 10))); do
    grep -q "$1" "$echo_log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for the echo partner to log '$1'"; tail -20 "$echo_log"; return 1
}
near_hex() { # near_hex #rrggbb #rrggbb: each channel within 40
  local a=${1#\#} b=${2#\#} i x y
  for i in 0 2 4; do
    x=$((16#${a:$i:2})) y=$((16#${b:$i:2}))
    [ $((x > y ? x - y : y - x)) -le 40 ] || return 1
  done
}
share_colours="#c828c8 #28c8c8 #f08c14 #ebebeb" # top left, top right, bottom left, bottom right
if [ -n "$share" ]; then
  t_share0=$(ms)
  openbox >"$work/openbox.log" 2>&1 &
  wm=$!
  for _ in $(seq 100); do
    xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q 'window id' && break
    sleep 0.05
  done
  "$work/rootpattern" -colours "$(tr ' ' , <<<"$share_colours")" >"$work/rootpattern.log" 2>&1 &
  pat=$!
  for _ in $(seq 100); do grep -qs ready "$work/rootpattern.log" && break; sleep 0.05; done
  grep -q ready "$work/rootpattern.log" || { echo "rootpattern did not start:"; cat "$work/rootpattern.log"; exit 1; }
  win=$(xdotool search --name '^MX Call$' | head -1)
  xdotool windowmove --sync "$win" 160 90 2>/dev/null || xdotool windowmove "$win" 160 90
  sleep 1
  import -window root "$work/share-0-call.png"
  xdotool mousemove --window "$win" 450 613 click 1 # Share screen (bottom bar)
  sleep 3 # the picker lists the sources and starts the thumbnails
  import -window root "$work/share-1-picker.png"
  xdotool mousemove --window "$win" 160 228 click 1 # the screen's card
  sleep 0.5
  xdotool mousemove --window "$win" 525 581 click 1 # Share
  waitecho "echo: screen share started" 15
  # openbox may place the sharing bar in a corner of the screen: move it
  # over the app (it must stay above it), once it is shown.
  bar=
  for _ in $(seq 50); do
    bar=$(xdotool search --onlyvisible --name '^Sharing your screen' | head -1 || true)
    [ -n "$bar" ] && break
    sleep 0.1
  done
  [ -n "$bar" ] || { echo "no sharing bar window"; exit 1; }
  xdotool windowmove "$bar" 400 300
  ok=
  for i in $(seq 300); do
    # (again now and then: openbox may place the bar after our first move)
    [ $((i % 10)) = 0 ] && xdotool windowmove "$bar" 400 300
    got=$(grep -o 'corners="[^"]*"' "$echo_log" | tail -1 | sed 's/corners="\(.*\)"/\1/' || true)
    if [ -n "$got" ]; then
      read -r -a g <<<"$got"
      read -r -a w <<<"$share_colours"
      ok=1
      for j in 0 1 2 3; do near_hex "${g[$j]}" "${w[$j]}" || ok=; done
      [ -n "$ok" ] && break
    fi
    sleep 0.1
  done
  grep 'echo: screen share' "$echo_log" | sed 's/^/echo: /' >"$work/share.txt" || true
  if [ -z "$ok" ]; then
    import -window root "$work/share-failed.png"
    echo "the echo partner never saw the shared pattern's corners ($share_colours); it logged:"
    cat "$work/share.txt"; exit 1
  fi
  t_share1=$(ms)
  sleep 1
  import -window root "$work/share-2-sharing.png"
  # (xwininfo, not xdotool getwindowgeometry: that counts openbox's title bar twice)
  read -r X Y W H <<<"$(xwininfo -id "$win" | awk '/Absolute upper-left X/ {x=$NF} /Absolute upper-left Y/ {y=$NF}
    /Width:/ {w=$NF} /Height:/ {h=$NF} END {print x, y, w, h}')"
  convert "$work/share-2-sharing.png" -crop "${W}x${H}+${X}+${Y}" +repage "$work/call-share.png"
  [ -n "${MXCALL_APP_DOCS:-}" ] && cp "$work/call-share.png" "$root/docs/call-share-real.png"
  # The sharing bar: kept above the app (openbox honours _NET_WM_STATE_ABOVE);
  # moved over the app, the app raised, its Stop clicked where the app would
  # be if the bar were below.
  xprop -id "$bar" _NET_WM_STATE >"$work/share-bar.state"
  grep -q _NET_WM_STATE_ABOVE "$work/share-bar.state" || { echo "sharing bar not kept on top: $(cat "$work/share-bar.state")"; exit 1; }
  xdotool windowactivate "$win" 2>/dev/null || true
  sleep 0.5
  import -window root "$work/share-3-bar.png"
  # The bar's Stop; the click goes to whatever is on top at that point.
  xdotool mousemove --window "$bar" 316 28 click 1
  waitecho "echo: screen share ended" 15
  t_share2=$(ms)
  sleep 1
  import -window root "$work/share-4-stopped.png"
  kill "$pat" 2>/dev/null; wait "$pat" 2>/dev/null || true
  pat=
  {
    echo "share phase: $((t_share2 - t_share0)) ms (openbox, pattern, click → partner saw the colours: $((t_share1 - t_share0)) ms)"
    cat "$work/share.txt"
  } >"$work/share-timings.txt"
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
    grep -h "video repaint" "$log" | tail -2 || true # only with MXCALL_STATS=1
    if [ -n "${MXCALL_PERF:-}" ] && command -v perf >/dev/null; then # where the CPU goes, by thread and library
      perf record -q -F 499 -p "$app" -o "$work/perf.data" -- sleep "$MXCALL_MEASURE" >/dev/null 2>&1 || true
      perf report -q -i "$work/perf.data" --sort comm,dso --stdio 2>/dev/null | grep -v '^$' | awk 'NR <= 25' || true
    fi
    if [ -z "$wm" ] && command -v openbox >/dev/null; then
      openbox >"$work/openbox.log" 2>&1 &
      wm=$!
      sleep 2
    fi
    if [ -n "$wm" ]; then
      xdotool windowminimize "$win"
      sleep 1
      echo "window $(xwininfo -id "$win" | grep -o 'Map State: .*')"
      ./scripts/proc-sample.sh "$app" "$MXCALL_MEASURE" "in call, window minimised"
      grep -h "video repaint" "$log" | tail -1 || true
      xdotool windowactivate --sync "$win" 2>/dev/null || true
      sleep 1
    fi
    xdotool mousemove --window "$win" 725 613 click 1 # Hang up (bottom bar, right of the settings and full-screen buttons)
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
  [ -f "$work/share-timings.txt" ] && cat "$work/share-timings.txt"
} >"$work/timings.txt"
cat "$work/timings.txt"
