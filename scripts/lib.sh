# Shell helpers shared by mxcall's scripts; source it, do not run it.

# alive PIDFILE: true when the process named in PIDFILE runs.
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_one PIDFILE: ends the process named in PIDFILE (TERM, then KILL
# after 10 s) and removes the file.
stop_one() {
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$f"
}

# http_ok PORT PATH: true when GET http://127.0.0.1:PORT/PATH answers 200.
http_ok() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  IFS= read -r -t 2 line <&3 || true
  exec 3<&- 3>&-
  [[ "$line" == *" 200 "* ]]
}

# clean_work DIR: deletes a run's work directory (of a run that has ended),
# first forgetting every homeserver kept under it (homeserver.sh forget:
# its databases live in /dev/shm, outside DIR).
clean_work() {
  local dir="$1" cfg
  if [ -d "$dir" ]; then
    while IFS= read -r cfg; do
      "$(dirname "${BASH_SOURCE[0]}")/homeserver.sh" forget "$(dirname "$cfg")" >/dev/null 2>&1 || true
    done < <(find "$dir" -maxdepth 3 -name dendrite.yaml 2>/dev/null)
  fi
  rm -rf "$dir"
}

# gui_outer NAME WORK STRAY SCRIPT: the outer half of a GUI test. Builds the
# homeserver, the LiveKit SFU and the app, runs "SCRIPT --inner" in a loopback-only network
# namespace under a private D-Bus session and Xvfb (1280x800), keeping the
# caller's Go caches (HOME changes inside), then fails if any process whose
# command line matches the extended regex STRAY is left. Artifacts in WORK.
gui_outer() {
  local name="$1" work="$2" stray_re="$3" script="$4" root rc stray
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$root"
  clean_work "$work" && mkdir -p "$work/home/run" && chmod 700 "$work/home/run"
  ./scripts/build-homeserver.sh
  ./scripts/build-livekit.sh # demo.sh starts the SFU too
  go build -tags goolm -o "$root/.cache/bin/mxcall" . # the namespace has no Go proxy
  set +e
  GOPATH="$(go env GOPATH)" GOCACHE="$(go env GOCACHE)" GOMODCACHE="$(go env GOMODCACHE)" GOFLAGS=-mod=mod GOPROXY=off \
    "$root/scripts/netns.sh" dbus-run-session -- xvfb-run -a -s "-noreset -screen 0 1280x800x24" "$script" --inner
  rc=$?
  set -e
  stray="$(pgrep -f -- "$stray_re" || true)"
  if [ -n "$stray" ]; then
    echo "$name: processes left behind:" >&2
    ps -o pid,args -p $stray >&2 || true
    kill -KILL $stray 2>/dev/null || true
    rc=1
  fi
  [ $rc -eq 0 ] && echo "$name: passed" || echo "$name: FAILED (artifacts in $work)"
  return $rc
}
