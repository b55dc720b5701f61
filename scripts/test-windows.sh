#!/usr/bin/env bash
# Smoke test of the Windows build under Wine: cross-builds
# dist/mxcall-windows-amd64.zip (scripts/build-windows.sh), unpacks it, and in
# a loopback-only network namespace under a private D-Bus session and Xvfb
# runs a local Dendrite + coturn, the echo partner (the Linux binary,
# `mxcall echo`) and mxcall.exe under Wine (a fresh 64-bit prefix):
#
#   1. the login screen shows (screenshot checked: not blank, the window is
#      the app's 960x640 one, the blue "Log in" button is there);
#   2. the homeserver, Matrix ID and password are typed in with xdotool and
#      the app logs in;
#   3. the video-call button of the "Echo" room is clicked: the call must
#      connect and the app decode the echoed video (its log says so, as
#      scripts/test-app.sh checks on Linux), and the screenshot shows the
#      test pattern's colours in the remote picture;
#   4. the app has no camera or microphone under Wine, so it must have fallen
#      back to the test pattern and silence on its own (no MXCALL_TEST_MEDIA);
#   5. Alt+F4 mid-call hangs up (the partner sees it) and ends the app, and
#      nothing of Wine is left running.
# Before that, internal/stderrlog's unit tests (the log file of a GUI exe
# without standard error) run under the same Wine as a Windows test binary.
#
# Wine 8 cannot do everything Windows does (README, "Windows"): it lacks
# bcryptprimitives.dll, without which no Go program starts, so a stand-in
# (scripts/wine/bcryptprimitives.c) goes into the prefix; and it refuses the
# SIO_UDP_NETRESET option Go sets on every UDP socket, so the app has no UDP
# and the call goes through coturn over TCP.
#
# Artifacts (screenshots, logs, timings.txt) go to ./.cache/win-run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/.cache/win-run"

if [ "${1:-}" != "--inner" ]; then
  cd "$root"
  t0=$(date +%s)
  ./scripts/build-windows.sh
  t_build=$(($(date +%s) - t0))
  # internal/stderrlog's tests, built for Windows, run under Wine below.
  CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go test -c -o "$root/.cache/win-build/stderrlog.test.exe" ./internal/stderrlog
  ./scripts/install-deps.sh
  . "$root/scripts/lib.sh"
  rc=0
  gui_outer test-windows.sh "$work" "$root/.cache/win-run/hs|$root/.cache/bin/mxcall echo" "$0" || rc=$?
  # Wine's processes do not name the prefix on their command line: find
  # them by their environment.
  left=""
  for e in /proc/[0-9]*/environ; do
    if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qx "WINEPREFIX=$work/prefix"; then
      p="${e#/proc/}" && left="$left ${p%/environ}"
    fi
  done
  if [ -n "$left" ]; then
    echo "test-windows.sh: Wine processes left behind:" >&2
    ps -o pid,args -p $left >&2 || true
    kill -KILL $left 2>/dev/null || true
    rc=1
  fi
  if [ -f "$work/timings.txt" ]; then
    echo "cross-build (scripts/build-windows.sh): $t_build s" | tee -a "$work/timings.txt"
  fi
  exit $rc
fi

# ---- inside the namespace, D-Bus session and X server ----
cd "$root"
export HOME="$work/home" XDG_RUNTIME_DIR="$work/home/run" LANG=en_US.UTF-8
export WINEPREFIX="$work/prefix" WINEARCH=win64 WINEDEBUG="-all,err+module"
# No Mono or Gecko install dialogs: the app needs neither.
export WINEDLLOVERRIDES="mscoree,mshtml="
export MXCALL_HS_PORT=8028 MXCALL_TURN_PORT=3498 MXCALL_TURN_MIN_PORT=49260 MXCALL_TURN_MAX_PORT=49290
password="mxcall-wine-password"
log="$work/mxcall.log"
ms() { date +%s%3N; }
say() { echo "test-windows: $*"; }

partner=""
app=""
finish() {
  [ -n "$app" ] && kill "$app" 2>/dev/null
  wineserver -k 2>/dev/null || true
  wineserver -w 2>/dev/null || true
  [ -n "$partner" ] && { kill "$partner" 2>/dev/null; wait "$partner" 2>/dev/null || true; }
  "$root/scripts/homeserver.sh" stop "$work/hs" >/dev/null 2>&1 || true
}
trap finish EXIT

waitlog() { # waitlog FILE PATTERN SECONDS
  for _ in $(seq $(($3 * 10))); do
    grep -q "$2" "$1" && return 0
    [ -z "$app" ] || kill -0 "$app" 2>/dev/null || { say "mxcall.exe exited early:"; tail -30 "$log"; return 1; }
    sleep 0.1
  done
  say "timed out waiting for '$2' in $1"; tail -30 "$1"; return 1
}

# The package, as a user would get it.
rm -rf "$work/pkg" && mkdir -p "$work/pkg"
unzip -q "$root/dist/mxcall-windows-amd64.zip" -d "$work/pkg"
exe="$work/pkg/MX Call/mxcall.exe"
[ -f "$exe" ] || { say "no mxcall.exe in the zip"; exit 1; }
for l in libvpx opus opusfile libogg speexdsp; do
  [ -d "$work/pkg/MX Call/licenses/$l" ] || { say "no licence of $l in the zip"; exit 1; }
done

t=$(ms)
wineboot -i >"$work/wineboot.log" 2>&1
wineserver -w
# Debian 12's Wine 8.0 lacks bcryptprimitives.dll (ProcessPrng), without
# which no Go program since Go 1.21 starts; every Windows 10 and 11 has it.
# A stand-in goes into the prefix's system32 (not into the zip).
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -lbcrypt
say "fresh Wine prefix in $(($(ms) - t)) ms"

# The log-file fallback of a GUI exe without standard error, unit-tested on
# Windows (the smoke test below uses it for the app's log).
wine "$root/.cache/win-build/stderrlog.test.exe" -test.count=1 >"$work/stderrlog-test.log" 2>&1 ||
  { say "FAIL internal/stderrlog tests under Wine:"; cat "$work/stderrlog-test.log"; exit 1; }
say "ok internal/stderrlog tests under Wine: $(tail -1 "$work/stderrlog-test.log")"

# Homeserver, accounts, the echo partner, a direct chat (as scripts/demo.sh).
eval "$("$root/scripts/homeserver.sh" start "$work/hs")"
for u in me echo; do
  "$root/.cache/bin/create-account" -config "$MXCALL_HS_DIR/dendrite.yaml" -url "$MXCALL_HS_URL" \
    -username "$u" -password "$password" >/dev/null
done
me="@me:$MXCALL_SERVER_NAME" echo_id="@echo:$MXCALL_SERVER_NAME"
MXCALL_PASSWORD="$password" MXCALL_NO_KEYRING=1 MXCALL_DATA_DIR="$work/echo-data" MXCALL_ICE_LOOPBACK=1 \
  "$root/.cache/bin/mxcall" echo --user "$echo_id" --homeserver "$MXCALL_HS_URL" >"$work/echo.log" 2>&1 &
partner=$!
token=$(curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/login" \
  -d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"me"},"password":"'"$password"'"}' |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
room=$(curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/createRoom" -H "Authorization: Bearer $token" \
  -d '{"preset":"trusted_private_chat","is_direct":true,"invite":["'"$echo_id"'"],"name":"Echo","initial_state":[{"type":"m.room.encryption","state_key":"","content":{"algorithm":"m.megolm.v1.aes-sha2"}}]}' |
  sed -n 's/.*"room_id":"\([^"]*\)".*/\1/p')
curl -fsS -X PUT "$MXCALL_HS_URL/_matrix/client/v3/user/$me/account_data/m.direct" -H "Authorization: Bearer $token" \
  -d '{"'"$echo_id"'":["'"$room"'"]}' >/dev/null
curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/logout" -H "Authorization: Bearer $token" >/dev/null
waitlog "$work/echo.log" "is ready" 60

# ---- 1. start → the login screen ----
# No MXCALL_TEST_MEDIA: without a camera and microphone (Wine has neither
# here) the app must fall back to the test pattern and silence by itself.
t_start=$(ms)
# mxcall.exe is a GUI program: its log goes to a file (MXCALL_LOG_FILE;
# without it to %LocalAppData%\mxcall\mxcall.log when it has no standard
# error, but Wine hands a GUI program started from a shell a standard-error
# handle that leads nowhere).
log="$work/mxcall.log"
MXCALL_NO_KEYRING=1 MXCALL_ICE_LOOPBACK=1 MXCALL_DATA_DIR="$(winepath -w "$work/me-data")" \
  MXCALL_LOG_FILE="$(winepath -w "$log")" wine "$exe" >"$work/wine.log" 2>&1 &
app=$!
win=""
for _ in $(seq 600); do
  win=$(xdotool search --onlyvisible --name "^MX Call$" 2>/dev/null | head -1) && [ -n "$win" ] && break
  kill -0 "$app" 2>/dev/null || { say "mxcall.exe exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$win" ] || { say "no MX Call window after 60 s"; tail -30 "$log"; exit 1; }
t_window=$(ms)
eval "$(xdotool getwindowgeometry --shell "$win")" # X Y WIDTH HEIGHT
say "window $WIDTH x $HEIGHT at $X,$Y"
# px X Y: "R G B" of the screenshot's pixel at window-relative X,Y.
px() { convert "$shot" -format "%[fx:int(255*p{$((X + $1)),$((Y + $2))}.r)] %[fx:int(255*p{$((X + $1)),$((Y + $2))}.g)] %[fx:int(255*p{$((X + $1)),$((Y + $2))}.b)]" info:; }
check() { # check NAME X Y R G B: each channel within 60 of the expected
  local r g b pair v want
  read -r r g b <<<"$(px "$2" "$3")"
  for pair in "$r:$4" "$g:$5" "$b:$6"; do
    v=${pair%:*} want=${pair#*:}
    if [ $((v > want ? v - want : want - v)) -gt 60 ]; then
      say "FAIL $shot at window ($2,$3) is rgb($r,$g,$b), want $1"; return 1
    fi
  done
}
# The window shows "Starting…" first: wait for the login form, whose blue
# "Log in" button spans the form's width under the password.
shot="$work/login.png"
for _ in $(seq 120); do
  import -window root "$shot"
  check "the blue Log in button" 330 471 43 107 240 >/dev/null && break
  kill -0 "$app" 2>/dev/null || { say "mxcall.exe exited"; exit 1; }
  sleep 0.5
done
t_login=$(ms)
check "the blue Log in button" 330 471 43 107 240
colours=$(identify -format '%k' "$shot")
sd=$(convert "$shot" -colorspace Gray -format '%[fx:standard_deviation]' info:)
if [ "$colours" -lt 50 ] || awk "BEGIN{exit !($sd < 0.02)}"; then
  say "FAIL login screen looks blank ($colours colours, sd $sd)"; exit 1
fi
[ "$WIDTH" -ge 900 ] && [ "$HEIGHT" -ge 600 ] || { say "FAIL window is ${WIDTH}x$HEIGHT, want about 960x640"; exit 1; }
say "ok login screen: $colours colours, sd $sd"

# ---- 2. log in through the form ----
[ -f "$log" ] || { say "FAIL mxcall.exe made no log file at $log"; exit 1; }
click() { xdotool mousemove $((X + $1)) $((Y + $2)) click 1; sleep 0.3; }
click 532 388 # Homeserver first: a typed Matrix ID would look the server up
xdotool type --delay 20 "$MXCALL_HS_URL"
click 532 349
xdotool type --delay 20 "$me"
click 500 427
xdotool type --delay 20 "$password"
t_submit=$(ms)
xdotool key Return
waitlog "$log" "logged in" 60
t_loggedin=$(ms)
sleep 3 # the room list fills after the first sync
shot="$work/rooms.png"
import -window root "$shot"

# ---- 3. call the echo partner ----
t_click=$(ms)
click 917 155 # the first (only) room's video-call button
waitlog "$log" "call connected" 30
t_conn=$(ms)
waitlog "$log" "first remote video frame" 30
t_frame=$(ms)
sleep 1.5 # a few repaints
shot="$work/call.png"
import -window root "$shot"
# The remote picture (the echoed test pattern) fills the window's middle.
check red 150 200 226 44 44
check green 800 200 40 200 64
check blue 150 500 40 56 220
say "ok call connected, echoed test pattern on screen"

# ---- 4. the fallbacks for devices Wine does not have ----
grep -q "no camera, sending the test pattern" "$log" || { say "FAIL no camera fallback in the log"; exit 1; }
grep -q "no microphone, sending silence" "$log" || { say "FAIL no microphone fallback in the log"; exit 1; }
say "ok fell back to the test pattern and silence"

# ---- 5. closing the window hangs up and quits ----
t_close=$(ms)
xdotool key --window "$win" alt+F4
for _ in $(seq 200); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$app" 2>/dev/null; then say "FAIL mxcall.exe still runs 20 s after its window was closed"; exit 1; fi
rc=0
wait "$app" || rc=$?
app=""
[ $rc -eq 0 ] || { say "FAIL mxcall.exe exited with status $rc"; tail -20 "$log"; exit 1; }
t_exit=$(ms)
waitlog "$work/echo.log" "hangup\|call ended" 10
say "ok window closed: the app hung up and exited"

{
  echo "Wine prefix created before the test (not counted below)"
  echo "start → MX Call window mapped: $((t_window - t_start)) ms"
  echo "start → login screen drawn (screenshot not blank): $((t_login - t_start)) ms"
  echo "Return in the login form → logged in (seen in the log): $((t_loggedin - t_submit)) ms"
  echo "click video call → call connected (seen in the log): $((t_conn - t_click)) ms"
  echo "click video call → first remote video frame decoded: $((t_frame - t_click)) ms"
  echo "Alt+F4 mid-call → mxcall.exe exited: $((t_exit - t_close)) ms"
  grep -h "call connected\|first remote video frame" "$log" | sed 's/^/app: /'
} >"$work/timings.txt"
cat "$work/timings.txt"
