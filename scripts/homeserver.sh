#!/usr/bin/env bash
# Runs a local Matrix homeserver (Dendrite v0.13.8, built by
# scripts/build-homeserver.sh) and a TURN server (coturn) on 127.0.0.1 for
# mxcall's integration tests and demo.
#
#   scripts/homeserver.sh start|stop|status|restart-dendrite|forget [DATA_DIR]
#
# DATA_DIR (or $MXCALL_HS_DIR; default ./.cache/homeserver) receives the
# generated config, databases, logs and pid files. The first start
# generates the config; later starts reuse it (and its accounts).
# Environment:
#   MXCALL_HS_PORT        Dendrite client API port       (default 8008)
#   MXCALL_TURN_PORT      coturn listening port          (default 3478)
#   MXCALL_TURN_MIN_PORT  first relay port               (default 49160)
#   MXCALL_TURN_MAX_PORT  last relay port                (default 49200)
#   MXCALL_HS_OPENID_LIFETIME_MS  lifetime of OpenID tokens (Dendrite's
#                         default 3600000; read when the config is generated)
#   MXCALL_HS_DB_ON_DISK=1  keep the SQLite databases in DATA_DIR (read when
#                         the config is generated; see below)
# The SQLite databases live in memory (/dev/shm/mxcall-hs-<hash of DATA_DIR>)
# unless /dev/shm is missing or MXCALL_HS_DB_ON_DISK=1: SQLite syncs every
# commit to disk, and Dendrite (which drops query parameters from its
# connection strings) offers no way to relax that. On disk an event PUT took
# 56-75 ms here, in memory 14-19 ms; a call's invite and answer are two of
# them. When the in-memory databases are gone (a reboot), the next start
# begins afresh: new config, no accounts.
# Federation is enabled (on the same 127.0.0.1 listener; no other server is
# ever reachable) because Dendrite mounts /_matrix/federation/ only then, and
# the MatrixRTC token service (rtcauth) checks OpenID tokens with
# /_matrix/federation/v1/openid/userinfo.
# `start` waits until both servers answer, then prints shell assignments
# (MXCALL_HS_URL, MXCALL_HS_DIR, MXCALL_SERVER_NAME, MXCALL_TURN_URI) and
# writes them to DATA_DIR/env. `stop` ends both (TERM, then KILL after 10 s)
# and leaves no process behind. `forget` deletes the in-memory databases
# DATA_DIR's config names, once the servers are stopped (call it before
# deleting DATA_DIR: they outlive it, in RAM, until a reboot). All are
# idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.cache/bin"
cmd="${1:-status}"
data="${2:-${MXCALL_HS_DIR:-$root/.cache/homeserver}}"
hs_port="${MXCALL_HS_PORT:-8008}"
turn_port="${MXCALL_TURN_PORT:-3478}"
turn_min="${MXCALL_TURN_MIN_PORT:-49160}"
turn_max="${MXCALL_TURN_MAX_PORT:-49200}"
openid_ms="${MXCALL_HS_OPENID_LIFETIME_MS:-3600000}"

# db_dir is where the config generated for DATA_DIR keeps its databases.
db_dir() {
  if [ -n "${MXCALL_HS_DB_ON_DISK:-}" ] || [ ! -d /dev/shm ] || [ ! -w /dev/shm ]; then
    echo "$data"
  else
    echo "/dev/shm/mxcall-hs-$(printf %s "$data" | sha256sum | cut -c1-16)"
  fi
}

die() { echo "homeserver.sh: $*" >&2; exit 1; }

# alive, http_ok, stop_one
. "$root/scripts/lib.sh"

udp_listening() { ss -Hlun "sport = :$1" 2>/dev/null | grep -q "127.0.0.1:$1"; }

configure() {
  mkdir -p "$data"
  data="$(cd "$data" && pwd)"
  if [ -f "$data/dendrite.yaml" ]; then
    local kept
    kept="$(sed -n 's|^    connection_string: file:\(.*\)/dendrite_roomserver.db$|\1|p' "$data/dendrite.yaml")"
    if [ -n "$kept" ] && [ ! -f "$kept/dendrite_roomserver.db" ]; then
      echo "homeserver.sh: the databases in $kept are gone (a reboot?): starting afresh" >&2
      rm -f "$data/dendrite.yaml"
    else
      # Configs generated before federation was turned on get it now.
      sed -i -e "s|^  disable_federation: true|  disable_federation: false|" "$data/dendrite.yaml"
      return 0
    fi
  fi
  for c in dendrite generate-config generate-keys; do
    [ -x "$bin/$c" ] || die "$bin/$c missing: run scripts/build-homeserver.sh"
  done
  umask 077
  local secret dbs
  secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  dbs="$(db_dir)"
  if [ "$dbs" != "$data" ]; then
    rm -rf "$dbs" # a fresh config: no databases of an older one
    mkdir -p "$dbs"
  fi
  "$bin/generate-keys" --private-key "$data/matrix_key.pem" >/dev/null
  "$bin/generate-config" -ci -dir "$data" |
    sed -e "s|^  private_key: .*|  private_key: $data/matrix_key.pem|" \
        -e "s|^  disable_federation: .*|  disable_federation: false|" \
        -e "s|^  openid_token_lifetime_ms: .*|  openid_token_lifetime_ms: $openid_ms|" \
        -e "s|^    turn_user_lifetime: .*|    turn_user_lifetime: \"1h\"|" \
        -e "s|^    turn_uris: .*|    turn_uris: [\"turn:127.0.0.1:$turn_port?transport=udp\", \"turn:127.0.0.1:$turn_port?transport=tcp\"]|" \
        -e "s|^    turn_shared_secret: .*|    turn_shared_secret: \"$secret\"|" \
        -e "s|^  level: trace|  level: info|" \
        -e "s|^    path: .*/log$|    path: $data/log|" \
        -e "s|^    connection_string: file:$data/|    connection_string: file:$dbs/|" \
        >"$data/dendrite.yaml"
  grep -q "turn_shared_secret: \"$secret\"" "$data/dendrite.yaml" || die "patching dendrite.yaml failed"
  grep -q "disable_federation: false" "$data/dendrite.yaml" || die "patching dendrite.yaml failed"
  grep -q "openid_token_lifetime_ms: $openid_ms" "$data/dendrite.yaml" || die "patching dendrite.yaml failed"
  grep -q "connection_string: file:$dbs/dendrite_roomserver.db" "$data/dendrite.yaml" || die "patching dendrite.yaml failed"
  cat >"$data/turnserver.conf" <<EOF
listening-ip=127.0.0.1
relay-ip=127.0.0.1
listening-port=$turn_port
min-port=$turn_min
max-port=$turn_max
realm=localhost
use-auth-secret
static-auth-secret=$secret
no-tls
no-dtls
no-cli
allow-loopback-peers
no-multicast-peers
userdb=$data/turndb
log-file=$data/turnserver.log
simple-log
no-stdout-log
pidfile=$data/turnserver.own.pid
EOF
}

start_dendrite() {
  if ! alive "$data/dendrite.pid"; then
    (cd "$data" && exec "$bin/dendrite" -config "$data/dendrite.yaml" \
      -http-bind-address "127.0.0.1:$hs_port" -really-enable-open-registration \
      >>"$data/dendrite.out" 2>&1 </dev/null) &
    echo $! >"$data/dendrite.pid"
  fi
  for _ in $(seq 1 300); do
    http_ok "$hs_port" /_matrix/client/versions && return 0
    alive "$data/dendrite.pid" || { tail -20 "$data/dendrite.out" >&2; die "dendrite exited"; }
    sleep 0.1
  done
  die "dendrite not ready on 127.0.0.1:$hs_port after 30 s"
}

start_turn() {
  if ! alive "$data/turnserver.pid"; then
    (exec turnserver -c "$data/turnserver.conf" >>"$data/turnserver.out" 2>&1 </dev/null) &
    echo $! >"$data/turnserver.pid"
  fi
  for _ in $(seq 1 100); do
    udp_listening "$turn_port" && return 0
    alive "$data/turnserver.pid" || { tail -20 "$data/turnserver.out" >&2; die "turnserver exited"; }
    sleep 0.1
  done
  die "turnserver not listening on 127.0.0.1:$turn_port after 10 s"
}

print_env() {
  cat <<EOF | tee "$data/env"
MXCALL_HS_URL=http://127.0.0.1:$hs_port
MXCALL_HS_DIR=$data
MXCALL_SERVER_NAME=localhost
MXCALL_TURN_URI=turn:127.0.0.1:$turn_port?transport=udp
EOF
}

case "$cmd" in
  start)
    configure
    data="$(cd "$data" && pwd)"
    start_turn
    start_dendrite
    print_env
    ;;
  stop)
    [ -d "$data" ] || exit 0
    stop_one "$data/dendrite.pid"
    stop_one "$data/turnserver.pid"
    ;;
  forget)
    # No process is stopped here: the pid files of a run made in a network
    # (and pid) namespace name other processes outside it.
    [ -d "$data" ] || exit 0
    kept=""
    [ -f "$data/dendrite.yaml" ] &&
      kept="$(sed -n 's|^    connection_string: file:\(.*\)/dendrite_roomserver.db$|\1|p' "$data/dendrite.yaml")"
    case "$kept" in
      /dev/shm/mxcall-hs-*) rm -rf "$kept" ;;
    esac
    ;;
  restart-dendrite)
    data="$(cd "$data" && pwd)"
    stop_one "$data/dendrite.pid"
    start_dendrite
    ;;
  stop-dendrite)
    stop_one "$data/dendrite.pid"
    ;;
  start-dendrite)
    data="$(cd "$data" && pwd)"
    start_dendrite
    ;;
  status)
    ok=0
    if alive "$data/dendrite.pid" && http_ok "$hs_port" /_matrix/client/versions; then
      echo "dendrite: running (pid $(cat "$data/dendrite.pid"), http://127.0.0.1:$hs_port)"
    else echo "dendrite: stopped"; ok=1; fi
    if alive "$data/turnserver.pid"; then
      echo "coturn: running (pid $(cat "$data/turnserver.pid"), 127.0.0.1:$turn_port)"
    else echo "coturn: stopped"; ok=1; fi
    exit $ok
    ;;
  *) die "usage: $0 start|stop|status|forget|restart-dendrite|stop-dendrite|start-dendrite [DATA_DIR]" ;;
esac
