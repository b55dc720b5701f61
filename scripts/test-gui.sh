#!/usr/bin/env bash
# GUI smoke test: runs the fake-backed UI preview (ui/cmd/preview) under
# Xvfb inside a private D-Bus session, takes screenshots of the whole X
# screen with ImageMagick's `import -window root`, and fails when one is
# blank. Needs xvfb xauth imagemagick dbus xdotool openbox x11-utils
# (scripts/install-deps.sh).
#
#   scripts/test-gui.sh           # smoke test: room list, a video call, and a
#                                 # clicked-through session (xdotool): log in,
#                                 # place a video call, see video, hang up;
#                                 # and the incoming-call window and the
#                                 # screen-sharing bar stay on top
#   scripts/test-gui.sh --docs    # also refresh docs/screen-*.png, one per screen
#                                 # (and share-picker.png, call-share.png,
#                                 # call-sharing.png, grid-share.png)
#   MXCALL_GUI_SCREENS="share-picker call-sharing" scripts/test-gui.sh --docs
#                                 # only those screens
#
# Everything it starts runs inside dbus-run-session/xvfb-run and is gone
# when it returns.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

docs=0
[ "${1:-}" = "--docs" ] && docs=1

work=$(mktemp -d /tmp/mxcall-gui.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/shots" "$work/runtime"
chmod 700 "$work/runtime"

echo "building preview…"
go build -o "$work/preview" ./ui/cmd/preview
echo "X11 tests of ui/internal/ontop under Xvfb"
xvfb-run -a -s "-noreset" go test -count=1 ./ui/internal/ontop

if [ $docs = 1 ]; then
  screens="login login-error rooms rooms-offline incoming call-ringing call-video call-voice call-ended settings verify-emoji
    share-picker call-receiving-share call-sharing call-grid-share"
else
  screens="rooms call-ringing call-video"
fi
# MXCALL_GUI_SCREENS picks the screens (e.g. to refresh a few docs shots).
screens=${MXCALL_GUI_SCREENS:-$screens}

# The inner script runs inside the D-Bus session and the X server.
cat > "$work/inner.sh" <<'INNER'
#!/usr/bin/env bash
set -euo pipefail
work=$1; shift
for s in "$@"; do
  wait_s=4
  case $s in
    call-video) wait_s=6 ;;
    call-voice) wait_s=8 ;;
    call-ended) wait_s=7 ;;
    share-picker | call-receiving-share | call-sharing | call-grid-share) wait_s=8 ;;
  esac
  "$work/preview" -screen "$s" -quit-after $((wait_s + 3))s >"$work/shots/$s.log" 2>&1 &
  pid=$!
  sleep "$wait_s"
  import -window root "$work/shots/$s.png"
  wait "$pid" || { echo "preview -screen $s exited with an error:"; cat "$work/shots/$s.log"; exit 1; }
done
INNER
chmod +x "$work/inner.sh"

# A clicked-through session: log in with the keyboard, click Alice's video
# call button, let it connect, hang up. Positions are those of the preview's
# 960×640 window at the top-left of the (window-manager-less) screen.
cat > "$work/flow.sh" <<'FLOW'
#!/usr/bin/env bash
set -euo pipefail
work=$1
"$work/preview" -screen demo -quit-after 25s >"$work/shots/flow.log" 2>&1 &
pid=$!
sleep 3
xdotool mousemove 480 300
xdotool key Tab Tab
xdotool type --delay 30 hunter2
xdotool key Return
sleep 2
import -window root "$work/shots/flow-rooms.png"
xdotool mousemove 918 252 click 1     # Alice Liddell: video call
sleep 5
import -window root "$work/shots/flow-call.png"
xdotool mousemove 722 613 click 1     # Hang up
sleep 1
import -window root "$work/shots/flow-ended.png"
sleep 4                               # back to the room list after 3 s
import -window root "$work/shots/flow-back.png"
wait "$pid" || { echo "demo preview exited with an error:"; cat "$work/shots/flow.log"; exit 1; }
FLOW
chmod +x "$work/flow.sh"

# The incoming-call window asks to stay above other windows
# (_NET_WM_STATE_ABOVE); a window manager (openbox) has to be running for
# the request to be honoured and visible in the window's state.
cat > "$work/ontop.sh" <<'ONTOP'
#!/usr/bin/env bash
set -euo pipefail
work=$1
openbox >"$work/shots/openbox.log" 2>&1 &
wm=$!
sleep 1
"$work/preview" -screen incoming -quit-after 8s >"$work/shots/ontop.log" 2>&1 &
pid=$!
sleep 5
for id in $(xdotool search --name "^Incoming call" || true); do
  xprop -id "$id" _NET_WM_STATE >>"$work/shots/ontop.state"
done
wait "$pid" || { echo "incoming preview exited with an error:"; cat "$work/shots/ontop.log"; exit 1; }
# The "you are sharing your screen" bar too.
"$work/preview" -screen call-sharing -quit-after 11s >"$work/shots/ontop-share.log" 2>&1 &
pid=$!
sleep 8
for id in $(xdotool search --name "^Sharing your screen" || true); do
  xprop -id "$id" _NET_WM_STATE >>"$work/shots/ontop-share.state"
done
wait "$pid" || { echo "sharing preview exited with an error:"; cat "$work/shots/ontop-share.log"; exit 1; }
kill "$wm" 2>/dev/null || true
ONTOP
chmod +x "$work/ontop.sh"

export HOME="$work/home" XDG_CACHE_HOME="$work/home/.cache" XDG_CONFIG_HOME="$work/home/.config" \
  XDG_DATA_HOME="$work/home/.local/share" XDG_RUNTIME_DIR="$work/runtime" LANG=en_US.UTF-8
echo "running under Xvfb: $screens"
# shellcheck disable=SC2086
dbus-run-session -- xvfb-run -a -s "-noreset -screen 0 1280x800x24" "$work/inner.sh" "$work" $screens 2> >(grep -v "Failed to set fd limit" >&2)
if command -v xdotool >/dev/null; then
  echo "running the clicked-through demo session"
  dbus-run-session -- xvfb-run -a -s "-noreset -screen 0 1280x800x24" "$work/flow.sh" "$work" 2> >(grep -v "Failed to set fd limit" >&2)
else
  echo "xdotool missing: skipping the clicked-through session"
fi
if command -v openbox >/dev/null && command -v xdotool >/dev/null; then
  echo "checking that the incoming-call window stays on top (under openbox)"
  dbus-run-session -- xvfb-run -a -s "-noreset -screen 0 1280x800x24" "$work/ontop.sh" "$work" 2> >(grep -v "Failed to set fd limit" >&2)
fi

fail=0
for s in $screens; do
  shot="$work/shots/$s.png"
  # A blank screen has one colour; a rendered UI has text, icons, video.
  colours=$(identify -format '%k' "$shot")
  sd=$(convert "$shot" -colorspace Gray -format '%[fx:standard_deviation]' info:)
  if [ "$colours" -lt 50 ] || awk "BEGIN{exit !($sd < 0.02)}"; then
    echo "FAIL $s: screenshot looks blank ($colours colours, sd $sd)"
    fail=1
  else
    echo "ok   $s: $colours colours, sd $sd"
  fi
  if [ $docs = 1 ]; then
    case $s in
      incoming) cp "$shot" "$root/docs/screen-$s.png" ;;  # own window, centred on the screen
      verify-emoji) convert "$shot" -crop 960x640+0+0 +repage "$root/docs/verify-emoji.png" ;;
      share-picker) convert "$shot" -crop 960x640+0+0 +repage "$root/docs/share-picker.png" ;;
      call-receiving-share) convert "$shot" -crop 960x640+0+0 +repage "$root/docs/call-share.png" ;;
      call-sharing) cp "$shot" "$root/docs/call-sharing.png" ;; # the bar is a window of its own
      call-grid-share) convert "$shot" -crop 960x640+0+0 +repage "$root/docs/grid-share.png" ;;
      *) convert "$shot" -crop 960x640+0+0 +repage "$root/docs/screen-$s.png" ;;  # the main window
    esac
  fi
done
# The middle of the window: bright synthetic video during the call, the
# dark call background once it ended, the dark room list after that.
centre() { convert "$1" -crop 400x240+280+200 -colorspace Gray -format '%[fx:mean]' info:; }
check_centre() { # name file min max
  local m; m=$(centre "$2")
  if awk "BEGIN{exit !($m >= $3 && $m <= $4)}"; then echo "ok   $1: centre brightness $m"
  else echo "FAIL $1: centre brightness $m, want $3..$4"; fail=1; fi
}
# The self-view (picture-in-picture, bottom right) shows the camera while
# the peer's phone rings, not a black box.
if [ -f "$work/shots/call-ringing.png" ]; then
  m=$(convert "$work/shots/call-ringing.png" -crop 200x140+730+405 -colorspace Gray -format '%[fx:mean]' info:)
  if awk "BEGIN{exit !($m >= 0.2)}"; then echo "ok   ringing: self-view brightness $m"
  else echo "FAIL ringing: self-view brightness $m (black?), want >= 0.2"; fail=1; fi
fi
if [ -f "$work/shots/flow-call.png" ]; then
  check_centre "demo: logged in, room list" "$work/shots/flow-rooms.png" 0 0.2
  check_centre "demo: video call connected" "$work/shots/flow-call.png" 0.35 1
  check_centre "demo: call ended" "$work/shots/flow-ended.png" 0 0.25
  check_centre "demo: back at the room list" "$work/shots/flow-back.png" 0 0.2
  if ! cmp -s <(convert "$work/shots/flow-ended.png" rgb:-) <(convert "$work/shots/flow-back.png" rgb:-); then :; else
    echo "FAIL demo: the ended call did not go back to the room list"; fail=1; fi
fi
if [ -f "$work/shots/ontop.log" ]; then
  if grep -q "_NET_WM_STATE_ABOVE" "$work/shots/ontop.state" 2>/dev/null; then
    echo "ok   incoming window: $(cat "$work/shots/ontop.state")"
  else
    echo "FAIL incoming window not kept on top: $(cat "$work/shots/ontop.state" 2>/dev/null || echo 'no window found')"; fail=1
  fi
  if grep -q "_NET_WM_STATE_ABOVE" "$work/shots/ontop-share.state" 2>/dev/null; then
    echo "ok   sharing bar: $(cat "$work/shots/ontop-share.state")"
  else
    echo "FAIL sharing bar not kept on top: $(cat "$work/shots/ontop-share.state" 2>/dev/null || echo 'no window found')"; fail=1
  fi
fi
if [ $fail = 0 ] && [ -n "${GUI_SHOT:-}" ]; then
  cp "$work/shots/call-video.png" "$GUI_SHOT"
fi
exit $fail
