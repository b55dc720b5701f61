#!/usr/bin/env bash
# CPU and memory of the real app in a real 4-way MatrixRTC group call, and
# a screenshot of its grid. In a loopback-only network namespace, under a
# private D-Bus session (with an unlocked gnome-keyring) and Xvfb
# (1280x800): Dendrite (scripts/homeserver.sh), the LiveKit SFU and the
# token service (scripts/rtc.sh), four accounts in one unencrypted group
# room "Team call", three headless members (the hidden `mxcall member`:
# test pattern at $MXCALL_RESOLUTION and a tone each, subscribed to no one)
# in its call, and the app logged in as the fourth (test pattern too),
# which joins the call with the room list's Join button. Once the app has
# decoded video from all three it takes a screenshot of the window
# (docs/grid-4-real.png with --docs), checks that the four tiles show the
# test pattern, and samples the app for SECONDS (default 30) with
# scripts/proc-sample.sh: CPU of its own threads and of Mesa's llvmpipe
# painter threads apart, RSS/PSS, then its Go and C heaps (SIGUSR1, see
# memprofile.go) and its repaint rates (MXCALL_STATS). Then it hangs up and
# stops everything, and fails if any process is left.
#
#   scripts/bench-group.sh [--docs] [SECONDS]
#
# MXCALL_RESOLUTION (default 640x360) is the size every participant sends.
# The summary goes to .cache/bench-group/summary.txt; logs and screenshots
# stay in .cache/bench-group. Figures depend on the machine's load: the
# summary starts with the load average.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/.cache/bench-group"

if [ "${1:-}" != "--inner" ]; then
  docs=""
  if [ "${1:-}" = --docs ]; then docs=1; shift; fi
  export MXCALL_BENCH_SECONDS="${1:-30}" MXCALL_BENCH_DOCS="$docs"
  . "$root/scripts/lib.sh"
  rc=0
  gui_outer bench-group.sh "$work" "$root/.cache/bench-group|$root/.cache/bin/mxcall( |$)" "$0" || rc=$?
  [ $rc -eq 0 ] && cat "$work/summary.txt"
  exit $rc
fi

# ---- inside the namespace, D-Bus session and X server ----
cd "$root"
export HOME="$work/home" XDG_RUNTIME_DIR="$work/home/run" LANG=en_US.UTF-8
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share" XDG_CACHE_HOME="$HOME/.cache"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME"
export MXCALL_HS_DIR="$work/hs" MXCALL_RTC_DIR="$work/rtc" MXCALL_RTC_NODES=1
export MXCALL_RESOLUTION="${MXCALL_RESOLUTION:-640x360}" MXCALL_ICE_LOOPBACK=1
secs="$MXCALL_BENCH_SECONDS"
bin="$root/.cache/bin"
password="mxcall-bench-password" # local accounts only
members=(alice bob carol)

gk_pid="" app="" member_pids=()
cleanup() {
  local p
  for p in $app "${member_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $app "${member_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/scripts/rtc.sh" stop "$MXCALL_RTC_DIR" >/dev/null 2>&1 || true
  "$root/scripts/homeserver.sh" stop "$MXCALL_HS_DIR" >/dev/null 2>&1 || true
  if [ -n "$gk_pid" ]; then kill "$gk_pid" 2>/dev/null || true; wait "$gk_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

waitfor() { # waitfor PATTERN FILE SECONDS [PID]: PATTERN appears in FILE
  for _ in $(seq $(($3 * 10))); do
    grep -q -- "$1" "$2" 2>/dev/null && return 0
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then echo "exited before '$1':"; tail -30 "$2"; return 1; fi
    sleep 0.1
  done
  echo "timed out waiting for '$1' in $2"; tail -30 "$2"; return 1
}
api() { # api METHOD PATH TOKEN [JSON]: a client-server API request, prints the answer
  curl -fsS -X "$1" "$MXCALL_HS_URL/_matrix/client/v3$2" -H "Authorization: Bearer $3" ${4:+-d "$4"}
}
px() { convert "$shot" -format "%[fx:int(255*p{$1,$2}.r)] %[fx:int(255*p{$1,$2}.g)] %[fx:int(255*p{$1,$2}.b)]" info:; }
near() { # near X Y R G B: each channel within 60
  local r g b v want pair
  read -r r g b <<<"$(px "$1" "$2")"
  for pair in "$r:$3" "$g:$4" "$b:$5"; do
    v=${pair%:*} want=${pair#*:}
    [ $((v > want ? v - want : want - v)) -le 60 ] || return 1
  done
}
json_field() { sed -n 's/.*"'"$1"'":"\([^"]*\)".*/\1/p'; }

printf 'mxcall-bench' | gnome-keyring-daemon --foreground --unlock --components=secrets >"$work/gnome-keyring.out" 2>&1 &
gk_pid=$!
eval "$("$root/scripts/homeserver.sh" start "$MXCALL_HS_DIR")"
eval "$(MXCALL_HS_URL="$MXCALL_HS_URL" MXCALL_SERVER_NAME="$MXCALL_SERVER_NAME" "$root/scripts/rtc.sh" start "$MXCALL_RTC_DIR")"

# Four accounts; "me" makes the room (anyone may join its calls) and
# invites the others, who join.
declare -A token
for u in me "${members[@]}"; do
  "$bin/create-account" -config "$MXCALL_HS_DIR/dendrite.yaml" -url "$MXCALL_HS_URL" \
    -username "$u" -password "$password" >/dev/null 2>&1 || true # exists after a first run
  token[$u]=$(curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/login" \
    -d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"'"$u"'"},"password":"'"$password"'"}' | json_field access_token)
done
invites=$(for u in "${members[@]}"; do printf '"@%s:%s",' "$u" "$MXCALL_SERVER_NAME"; done | sed 's/,$//')
room=$(api POST /createRoom "${token[me]}" \
  '{"name":"Team call","preset":"private_chat","invite":['"$invites"'],"power_level_content_override":{"events":{"org.matrix.msc3401.call.member":0}}}' |
  json_field room_id)
[ -n "$room" ] || { echo "no room made"; exit 1; }
for u in "${members[@]}"; do
  api POST "/rooms/$room/join" "${token[$u]}" '{}' >/dev/null
done
for u in me "${members[@]}"; do api POST /logout "${token[$u]}" '{}' >/dev/null; done
echo "room $room" >"$work/room.txt"

# The three headless members join the call.
for i in "${!members[@]}"; do
  u=${members[$i]}
  MXCALL_PASSWORD="$password" MXCALL_DATA_DIR="$work/$u-data" "$bin/mxcall" member \
    --user "@$u:$MXCALL_SERVER_NAME" --homeserver "$MXCALL_HS_URL" --room "$room" \
    --focus "$MXCALL_RTC_AUTH_URL" --tone $((330 + 110 * i)) >"$work/$u.log" 2>&1 &
  member_pids+=($!)
done
for i in "${!members[@]}"; do
  waitfor "joined the call" "$work/${members[$i]}.log" 60 "${member_pids[$i]}"
done

# The app, logged in as the fourth.
log="$work/app.log"
MXCALL_USER="@me:$MXCALL_SERVER_NAME" MXCALL_PASSWORD="$password" MXCALL_HOMESERVER="$MXCALL_HS_URL" \
  MXCALL_DATA_DIR="$work/me-data" MXCALL_RTC_FOCUS="$MXCALL_RTC_AUTH_URL" MXCALL_TEST_MEDIA=1 \
  MXCALL_STATS=1 MXCALL_PROFILE="$work" "$bin/mxcall" >"$log" 2>&1 &
app=$!
waitfor "room list shown" "$log" 120 "$app"
win=""
for _ in $(seq 50); do
  win=$(xdotool search --name '^MX Call$' 2>/dev/null | head -1) && [ -n "$win" ] && break
  sleep 0.1
done
[ -n "$win" ] || { echo "no app window"; exit 1; }
xdotool windowmove --sync "$win" 0 0 || true
# The room's row shows "Call in progress · 3 joined" and a green Join
# button (right end of the only row) once the app's sync has the
# memberships.
shot="$work/rooms.png"
for _ in $(seq 60); do
  import -window "$win" "$shot"
  near 877 145 67 244 54 && break
  sleep 0.5
done
near 877 145 67 244 54 || { echo "no Join button at (877,145): $(px 877 145) (screenshot $shot)"; exit 1; }
xdotool mousemove --window "$win" 907 155 click 1
t_click=$(date +%s%3N)
waitfor "call connected" "$log" 30 "$app"
for _ in $(seq 300); do
  [ "$(grep -h 'first remote video frame' "$log" | grep -o 'identity=[^ ]*' | sort -u | wc -l)" -ge 3 ] && break
  kill -0 "$app" 2>/dev/null || break
  sleep 0.1
done
n=$(grep -h 'first remote video frame' "$log" | grep -o 'identity=[^ ]*' | sort -u | wc -l)
[ "$n" -ge 3 ] || { echo "video decoded from $n of 3 members"; tail -30 "$log"; exit 1; }
t_frames=$(date +%s%3N)
sleep 3 # a few repaints of every tile
shot="$work/grid.png"
import -window "$win" "$shot"

# The 2x2 grid in the 960x640 window: every tile (ours top left, then the
# members) shows the test pattern (a 16:9 picture filling its 421x237
# tile, centred at (267|692, 228|469)), whose top left quadrant is red and
# bottom right yellow.
bad=0
for x in 267 692; do
  for y in 228 469; do
    if ! near $((x - 105)) $((y - 60)) 226 44 44 || ! near $((x + 105)) $((y + 60)) 230 220 50; then
      echo "the tile at ($x,$y) does not show the test pattern: $(px $((x - 105)) $((y - 60))) / $(px $((x + 105)) $((y + 60)))"
      bad=1
    fi
  done
done
[ $bad -eq 0 ] || { echo "screenshot: $shot"; exit 1; }
[ -n "${MXCALL_BENCH_DOCS:-}" ] && cp "$shot" "$root/docs/grid-4-real.png"

# Measure.
sleep 2
load=$(cut -d' ' -f1-3 /proc/loadavg)
sample=$("$root/scripts/proc-sample.sh" "$app" "$secs" "app in the call")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
kill -USR1 "$app"
waitfor "msg=memory" "$log" 10 "$app"
{
  echo "mxcall in a 4-way MatrixRTC call ($MXCALL_RESOLUTION test pattern from each of 4 participants; 3 remote tiles decoded and painted)"
  echo "machine: $(nproc) cores; load average before: $load, after: $load_after"
  echo "join click → video from all 3 decoded: $((t_frames - t_click)) ms"
  echo "$sample (CPU over ${secs} s, % of one core: own = Go, libvpx, Opus; llvmpipe = Mesa's painter threads)"
  echo "heaps: $(grep -h 'msg=memory' "$log" | tail -1 | sed 's/.*msg=memory //; s/ profile=[^ ]*//')"
  echo "repaints (MXCALL_STATS, every 5 s, the last 3; grid_fps is 4 tiles × 30 = 120 at full rate):"
  grep -h "video repaint" "$log" | tail -3 | grep -o 'grid_tiles=.*' | sed 's/^/  /'
  for i in "${!members[@]}"; do
    echo "member ${members[$i]}: $("$root/scripts/proc-sample.sh" "${member_pids[$i]}" 3 cpu)"
  done
} >"$work/summary.txt"

# Hang up (bottom bar, middle), then leave everything to cleanup.
xdotool mousemove --window "$win" 639 613 click 1
waitfor "matrixrtc call ended" "$log" 10 "$app"
cat "$work/summary.txt"
