#!/usr/bin/env bash
# Runs matrixclient's integration tests (build tags `integration,goolm`) against a
# real Dendrite and coturn. Everything runs inside a fresh network namespace
# that has only loopback (so media stays on 127.0.0.1) and under
# dbus-run-session with an unlocked gnome-keyring (the real Secret Service).
# The servers are always stopped, even when a test fails, and the script
# fails if any process it started is left behind.
#
#   scripts/test-integration.sh            # all integration tests
#   MXCALL_IT_RUN=Reject scripts/test-integration.sh   # a -run filter
#   MXCALL_IT_RACE=1 scripts/test-integration.sh       # with the race detector
#
# The backend's tests include a soak test (TestIntegrationSoakCallsReleaseMemory,
# about 20 s): a dozen calls in a row to the echo partner, after which the
# live heap and goroutines must be back where they were after the first.
#
# Artifacts (test output, client and server logs, latency.txt, the soak
# test's heap profiles in logs/soak) stay in ./.cache/it-run/ for inspection.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ "${1:-}" != "--inner" ]; then
  cd "$root"
  ./scripts/build-homeserver.sh
  work="$root/.cache/it-run"
  . "$root/scripts/lib.sh"
  clean_work "$work"
  mkdir -p "$work/logs"
  # The js-sdk peer of the verification test (skipped without it).
  if command -v npm >/dev/null && [ ! -d matrixclient/testdata/jsverify/node_modules ]; then
    (cd matrixclient/testdata/jsverify && npm ci --no-audit --no-fund) || echo "npm ci failed: the js-sdk verification test will be skipped"
  fi
  # Build outside the namespace: it has no network for the Go proxy.
  race=()
  [ -n "${MXCALL_IT_RACE:-}" ] && race=(-race)
  go test -c "${race[@]}" -tags integration,goolm -o "$work/matrixclient.test" ./matrixclient
  go test -c "${race[@]}" -tags integration,goolm -o "$work/backend.test" ./backend
  unshare_flags=(-n)
  [ "$(id -u)" -eq 0 ] || unshare_flags=(-r -n)
  set +e
  unshare "${unshare_flags[@]}" -- bash -c 'ip link set lo up && exec dbus-run-session -- "$0" --inner "$1"' "$0" "$work"
  rc=$?
  set -e
  # No process started for this run may survive it.
  stray="$(pgrep -f -- "$work" || true)"
  if [ -n "$stray" ]; then
    echo "test-integration.sh: stray processes left behind:" >&2
    ps -o pid,args -p $stray >&2 || true
    kill -KILL $stray 2>/dev/null || true
    rc=1
  fi
  if [ "$rc" -ne 0 ] && [ -f "$work/logs/dendrite.out" ]; then
    # CI keeps only this output: show what the homeserver complained about.
    echo "--- last homeserver errors (dendrite.out) ---"
    grep -E 'level=(error|fatal|panic)' "$work/logs/dendrite.out" | tail -n 30 | cut -c1-400 || true
  fi
  echo "integration artifacts: $work/logs (rc=$rc)"
  exit $rc
fi

# --- inside the namespace and the D-Bus session ---
work="$2"
export HOME="$work/home" XDG_RUNTIME_DIR="$work/run"
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share" XDG_CACHE_HOME="$HOME/.cache"
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
export MXCALL_HS_DIR="$work/hs" MXCALL_HS_PORT="${MXCALL_HS_PORT:-8008}"

gk_pid=""
cleanup() {
  "$root/scripts/homeserver.sh" stop "$MXCALL_HS_DIR" || true
  if [ -n "$gk_pid" ]; then kill "$gk_pid" 2>/dev/null || true; wait "$gk_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf 'mxcall-test' | gnome-keyring-daemon --foreground --unlock --components=secrets \
  >"$work/logs/gnome-keyring.out" 2>&1 &
gk_pid=$!

"$root/scripts/homeserver.sh" start "$MXCALL_HS_DIR" >"$work/logs/homeserver.env"
set -a
# shellcheck disable=SC1091
. "$work/logs/homeserver.env"
set +a
export MXCALL_HS_SCRIPT="$root/scripts/homeserver.sh" MXCALL_KEYRING=real
export MXCALL_LOG_DIR="$work/logs" MXCALL_SECRET_DIRS="$HOME"
export MXCALL_SOAK_PROFILES="${MXCALL_SOAK_PROFILES:-$work/logs/soak}"

# Wait until the Secret Service answers on the bus.
for _ in $(seq 1 50); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true && break
  sleep 0.1
done

args=(-test.v -test.timeout 15m)
[ -n "${MXCALL_IT_RUN:-}" ] && args+=(-test.run "$MXCALL_IT_RUN")
set +e
(cd "$root/matrixclient" && "$work/matrixclient.test" "${args[@]}") 2>&1 | tee "$work/logs/test.out"
rc=${PIPESTATUS[0]}
(cd "$root/backend" && "$work/backend.test" "${args[@]}") 2>&1 | tee "$work/logs/backend-test.out"
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
set -e
# The servers' logs travel with the test logs.
cp "$MXCALL_HS_DIR"/dendrite.out "$MXCALL_HS_DIR"/turnserver.log "$work/logs/" 2>/dev/null || true
exit "$rc"
