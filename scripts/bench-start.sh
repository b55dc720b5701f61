#!/usr/bin/env bash
# Start-up time of the real app to a usable room list, under Xvfb in a
# loopback-only namespace with a local Dendrite and a real (unlocked)
# gnome-keyring: one cold start (a password login: new device, first full
# sync) and N warm starts (default 3) with the session stored in the
# keyring and the encryption store on disk. Each figure is the app's own
# "room list shown" log line: time since exec (from /proc), i.e. process
# start, Go and Fyne initialisation, session restore or login, sync, first
# paint of the list.
#
#   scripts/bench-start.sh [N]
#   MXCALL_BENCH_WRAP="perf record -g -o /tmp/start.data --" scripts/bench-start.sh 1
#                     # runs each start under a wrapper (a profiler); the
#                     # last start's profile is what is left
#
# Artifacts and start-times.txt in ./.cache/start-run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/.cache/start-run"

if [ "${1:-}" != "--inner" ]; then
  . "$root/scripts/lib.sh"
  export MXCALL_BENCH_STARTS="${1:-3}"
  gui_outer bench-start.sh "$work" "$root/.cache/start-run|$root/.cache/bin/mxcall$" "$0"
  exit
fi

cd "$root"
export HOME="$work/home" XDG_RUNTIME_DIR="$work/home/run" LANG=en_US.UTF-8
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share" XDG_CACHE_HOME="$HOME/.cache"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME"
export MXCALL_HS_DIR="$work/hs" MXCALL_HS_PORT=8028 MXCALL_TURN_PORT=3498
export MXCALL_TURN_MIN_PORT=49260 MXCALL_TURN_MAX_PORT=49280
gk_pid="" app_pid=""
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
  "$root/scripts/homeserver.sh" stop "$MXCALL_HS_DIR" >/dev/null 2>&1 || true
  if [ -n "$gk_pid" ]; then kill "$gk_pid" 2>/dev/null || true; wait "$gk_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
printf 'mxcall-bench' | gnome-keyring-daemon --foreground --unlock --components=secrets >"$work/gnome-keyring.out" 2>&1 &
gk_pid=$!
eval "$("$root/scripts/homeserver.sh" start "$MXCALL_HS_DIR")"
password="mxcall-bench-password"
"$root/.cache/bin/create-account" -config "$MXCALL_HS_DIR/dendrite.yaml" -url "$MXCALL_HS_URL" \
  -username me -password "$password" >/dev/null 2>&1
token=$(curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/login" \
  -d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"me"},"password":"'"$password"'"}' |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
for name in Family Work Friends; do # a few rooms, one of them encrypted
  extra=""
  [ "$name" = Family ] && extra=',"initial_state":[{"type":"m.room.encryption","state_key":"","content":{"algorithm":"m.megolm.v1.aes-sha2"}}]'
  curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/createRoom" -H "Authorization: Bearer $token" \
    -d '{"name":"'"$name"'"'"$extra"'}' >/dev/null
done
for _ in $(seq 1 50); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true && break
  sleep 0.1
done

export MXCALL_DATA_DIR="$work/data"
run() { # run LABEL [env...]: start the app, wait for the room list, quit it
  local label="$1" log="$work/$1.log"
  shift
  env "$@" ${MXCALL_BENCH_WRAP:-} "$root/.cache/bin/mxcall" >"$log" 2>&1 &
  app_pid=$!
  for _ in $(seq 1 300); do
    grep -q "room list shown" "$log" && break
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.1
  done
  sleep 1 # let the store settle before quitting
  kill -TERM "$app_pid" 2>/dev/null || true
  wait "$app_pid" 2>/dev/null || true
  app_pid=""
  line=$(grep -h "room list shown" "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "$label: no room list (log: $log)"; tail -5 "$log"; return 1
  fi
  echo "$label: $(sed 's/.*msg="room list shown" //' <<<"$line")"
}
{
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores)"
  run cold MXCALL_USER="@me:$MXCALL_SERVER_NAME" MXCALL_PASSWORD="$password" MXCALL_HOMESERVER="$MXCALL_HS_URL"
  for i in $(seq 1 "${MXCALL_BENCH_STARTS:-3}"); do
    run "warm-$i"
  done
} | tee "$work/start-times.txt"
