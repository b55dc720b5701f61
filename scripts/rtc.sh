#!/usr/bin/env bash
# Runs the local MatrixRTC stack on 127.0.0.1: the LiveKit SFU
# (livekit-server v1.13.5, built by scripts/build-livekit.sh) and mxcall's
# token service (cmd/mxcall-rtc-auth, built here) next to it; with two
# nodes also a Redis that the two SFUs share (LiveKit's distributed mode).
# The homeserver (scripts/homeserver.sh) must already run: the token
# service checks OpenID tokens with it.
#
#   scripts/rtc.sh start|stop|status [RUN_DIR]
#   scripts/rtc.sh restart-sfu [RUN_DIR]   # node $MXCALL_RTC_NODE (default 1)
#
# RUN_DIR (or $MXCALL_RTC_DIR; default ./.cache/rtc) receives configs, logs
# and pid files. Every start (from stopped) makes a fresh API key and secret.
# Environment:
#   MXCALL_RTC_NODES      1, or 2 for two SFU nodes sharing Redis   (default 1)
#   MXCALL_RTC_PORT       node 1 HTTP/WebSocket port; node 2: +10   (default 7880)
#   MXCALL_RTC_UDP_PORT   node 1 WebRTC UDP port (one muxed port);  (default 7882)
#                         node 2: +10
#   MXCALL_RTC_TURN_PORT  node 1 embedded TURN/UDP port; node 2: +10 (default 3479)
#   MXCALL_RTC_RELAY_MIN  first TURN relay port; node 1 has 50, node 2 the
#                         next 50                                   (default 50100)
#   MXCALL_RTC_AUTH_PORT  node 1 token service port; node 2: +1     (default 8090)
#   MXCALL_RTC_REDIS_PORT Redis port (2 nodes only)                 (default 6390)
#   MXCALL_HS_URL         homeserver whose OpenID tokens are accepted
#                         (default http://127.0.0.1:8008)
#   MXCALL_SERVER_NAME    its server name                          (default localhost)
#   MXCALL_RTC_BUILD      0: do not (re)build the token service (default 1)
#   MXCALL_RTC_LOG_LEVEL  the SFU's log level: debug shows its key frame
#                         requests (PLIs) and subscriptions    (default info)
# `start` waits until everything answers, writes RUN_DIR/env (mode 600: it
# holds the API secret) with MXCALL_RTC_LIVEKIT_URL, MXCALL_RTC_AUTH_URL (and
# _2 for node 2), MXCALL_RTC_API_KEY, MXCALL_RTC_API_SECRET, MXCALL_RTC_NODES,
# MXCALL_RTC_REDIS, and prints it without the secret. `stop` ends everything
# (TERM, then KILL after 10 s). Both are idempotent. `restart-sfu` stops one
# running SFU node and starts it again with the same config (key, secret,
# ports), for tests of clients surviving an SFU restart; how it stops:
#   MXCALL_RTC_RESTART_SIGNAL  KILL (a crash, the default), or TERM: a
#                              graceful shutdown that does not wait for the
#                              participants (LiveKit tells them
#                              SERVER_SHUTDOWN)
#
# Media stays on 127.0.0.1: the SFU offers loopback host candidates, and
# its embedded TURN server (relaying to 127.0.0.0/8 only) gives clients that
# gather no loopback candidates of their own (LiveKit's Go SDK) a relay
# candidate on 127.0.0.1, so calls work in a loopback-only namespace.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.cache/bin"
cmd="${1:-status}"
run="${2:-${MXCALL_RTC_DIR:-$root/.cache/rtc}}"
nodes="${MXCALL_RTC_NODES:-1}"
lk_port="${MXCALL_RTC_PORT:-7880}"
udp_port="${MXCALL_RTC_UDP_PORT:-7882}"
turn_port="${MXCALL_RTC_TURN_PORT:-3479}"
relay_min="${MXCALL_RTC_RELAY_MIN:-50100}"
auth_port="${MXCALL_RTC_AUTH_PORT:-8090}"
redis_port="${MXCALL_RTC_REDIS_PORT:-6390}"
hs_url="${MXCALL_HS_URL:-http://127.0.0.1:8008}"
server_name="${MXCALL_SERVER_NAME:-localhost}"

die() { echo "rtc.sh: $*" >&2; exit 1; }

# alive, http_ok, stop_one
. "$root/scripts/lib.sh"

redis_ok() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$redis_port"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 line <&3 || true
  exec 3<&- 3>&-
  [[ "$line" == "+PONG"* ]]
}

wait_for() { # wait_for WHAT PIDFILE LOG CHECK...
  local what="$1" pidf="$2" log="$3"
  shift 3
  for _ in $(seq 1 300); do
    "$@" && return 0
    alive "$pidf" || { tail -20 "$log" >&2; die "$what exited"; }
    sleep 0.1
  done
  tail -20 "$log" >&2
  die "$what not ready after 30 s"
}

any_alive() {
  local f
  for f in "$run"/*.pid; do alive "$f" && return 0; done
  return 1
}

new_keys() {
  umask 077
  printf 'API%s\n' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$run/api.key"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$run/api.secret"
  echo >>"$run/api.secret"
}

node_config() { # node_config N
  local n="$1" off=$(( ($1 - 1) * 10 )) rmin=$(( relay_min + ($1 - 1) * 50 ))
  umask 077
  cat >"$run/livekit-$n.yaml" <<EOC
# LiveKit SFU node $n for mxcall's tests: everything on 127.0.0.1.
port: $(( lk_port + off ))
bind_addresses: ["127.0.0.1"]
rtc:
  udp_port: $(( udp_port + off ))
  tcp_port: 0
  use_external_ip: false
  node_ip: 127.0.0.1
  enable_loopback_candidate: true
turn:
  enabled: true
  udp_port: $(( turn_port + off ))
  bind_addresses: ["127.0.0.1"]
  relay_range_start: $rmin
  relay_range_end: $(( rmin + 49 ))
  allow_restricted_peer_cidrs: ["127.0.0.0/8"]
room:
  auto_create: true
  empty_timeout: 60
  departure_timeout: 5
logging:
  level: ${MXCALL_RTC_LOG_LEVEL:-info}
keys:
  $(cat "$run/api.key"): $(cat "$run/api.secret")
EOC
  if [ "$nodes" -gt 1 ]; then
    printf 'redis:\n  address: 127.0.0.1:%s\n' "$redis_port" >>"$run/livekit-$n.yaml"
  fi
}

start_redis() {
  if ! alive "$run/redis.pid"; then
    (cd "$run" && exec redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
      --protected-mode yes --dir "$run" --logfile "$run/redis.log" </dev/null >/dev/null 2>&1) &
    echo $! >"$run/redis.pid"
  fi
  wait_for redis "$run/redis.pid" "$run/redis.log" redis_ok
}

start_node() { # start_node N
  local n="$1" off=$(( ($1 - 1) * 10 ))
  if ! alive "$run/livekit-$n.pid"; then
    (exec "$bin/livekit-server" --config "$run/livekit-$n.yaml" >>"$run/livekit-$n.out" 2>&1 </dev/null) &
    echo $! >"$run/livekit-$n.pid"
  fi
  wait_for "livekit-server node $n" "$run/livekit-$n.pid" "$run/livekit-$n.out" http_ok $(( lk_port + off )) /
}

start_auth() { # start_auth N
  local n="$1" off=$(( ($1 - 1) * 10 )) port=$(( auth_port + $1 - 1 ))
  if ! alive "$run/auth-$n.pid"; then
    (exec "$bin/mxcall-rtc-auth" -listen "127.0.0.1:$port" \
      -livekit-url "ws://127.0.0.1:$(( lk_port + off ))" \
      -livekit-key "$(cat "$run/api.key")" -livekit-secret-file "$run/api.secret" \
      -homeservers "$server_name=$hs_url" >>"$run/auth-$n.out" 2>&1 </dev/null) &
    echo $! >"$run/auth-$n.pid"
  fi
  wait_for "mxcall-rtc-auth $n" "$run/auth-$n.pid" "$run/auth-$n.out" http_ok "$port" /healthz
}

write_env() {
  umask 077
  {
    echo "MXCALL_RTC_DIR=$run"
    echo "MXCALL_RTC_NODES=$nodes"
    echo "MXCALL_RTC_LIVEKIT_URL=ws://127.0.0.1:$lk_port"
    echo "MXCALL_RTC_AUTH_URL=http://127.0.0.1:$auth_port"
    if [ "$nodes" -gt 1 ]; then
      echo "MXCALL_RTC_LIVEKIT_URL_2=ws://127.0.0.1:$(( lk_port + 10 ))"
      echo "MXCALL_RTC_AUTH_URL_2=http://127.0.0.1:$(( auth_port + 1 ))"
      echo "MXCALL_RTC_REDIS=127.0.0.1:$redis_port"
    fi
    echo "MXCALL_RTC_API_KEY=$(cat "$run/api.key")"
    echo "MXCALL_RTC_API_SECRET=$(cat "$run/api.secret")"
  } >"$run/env"
  grep -v '^MXCALL_RTC_API_SECRET=' "$run/env"
}

stop_all() {
  local n
  for n in 2 1; do stop_one "$run/auth-$n.pid"; done
  for n in 2 1; do stop_one "$run/livekit-$n.pid"; done
  stop_one "$run/redis.pid"
}

case "$nodes" in 1|2) ;; *) die "MXCALL_RTC_NODES must be 1 or 2" ;; esac

case "$cmd" in
  start)
    [ -x "$bin/livekit-server" ] || die "$bin/livekit-server missing: run scripts/build-livekit.sh"
    if [ "$nodes" -gt 1 ]; then command -v redis-server >/dev/null || die "redis-server missing: run scripts/install-deps.sh"; fi
    mkdir -p "$run"
    run="$(cd "$run" && pwd)"
    # The token service is part of this repository: (re)build it.
    if [ "${MXCALL_RTC_BUILD:-1}" != 0 ]; then
      (cd "$root" && go build -o "$bin/mxcall-rtc-auth" ./cmd/mxcall-rtc-auth)
    fi
    [ -x "$bin/mxcall-rtc-auth" ] || die "$bin/mxcall-rtc-auth missing"
    if ! any_alive; then
      new_keys
      for n in $(seq 1 "$nodes"); do node_config "$n"; done
    fi
    if [ "$nodes" -gt 1 ]; then start_redis; fi
    for n in $(seq 1 "$nodes"); do start_node "$n"; done
    for n in $(seq 1 "$nodes"); do start_auth "$n"; done
    write_env
    ;;
  stop)
    [ -d "$run" ] || exit 0
    stop_all
    ;;
  status)
    ok=0
    for f in "$run"/redis.pid "$run"/livekit-*.pid "$run"/auth-*.pid; do
      [ -f "$f" ] || continue
      name="$(basename "$f" .pid)"
      if alive "$f"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: stopped"; ok=1; fi
    done
    exit $ok
    ;;
  restart-sfu)
    n="${MXCALL_RTC_NODE:-1}"
    pidf="$run/livekit-$n.pid"
    alive "$pidf" || die "livekit-server node $n is not running"
    pid="$(cat "$pidf")"
    case "${MXCALL_RTC_RESTART_SIGNAL:-KILL}" in
      KILL) kill -KILL "$pid" ;;
      # LiveKit waits for its participants after the first TERM; the
      # second one makes it close their rooms (SERVER_SHUTDOWN) and exit.
      TERM) kill -TERM "$pid"; sleep 0.2; kill -TERM "$pid" 2>/dev/null || true ;;
      *) die "MXCALL_RTC_RESTART_SIGNAL must be KILL or TERM" ;;
    esac
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; sleep 0.2; }
    rm -f "$pidf"
    echo "--- restart ($(date -u +%FT%TZ), ${MXCALL_RTC_RESTART_SIGNAL:-KILL})" >>"$run/livekit-$n.out"
    start_node "$n"
    ;;
  *) die "usage: $0 start|stop|status|restart-sfu [RUN_DIR]" ;;
esac
