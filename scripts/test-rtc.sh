#!/usr/bin/env bash
# Runs the MatrixRTC integration tests (rtcauth, matrixrtc, and the app's
# MatrixRTC calls in backend; build tag `integration`)
# against the real stack: Dendrite (scripts/homeserver.sh), the LiveKit SFU
# and the token service (scripts/rtc.sh), all inside a fresh network
# namespace that has only loopback. Two rounds: one SFU node (token service
# tests, the MatrixRTC client's: two and four members, leave and rejoin, a
# member killed, the SFU restarted), then two SFU nodes sharing Redis
# (members connected to different nodes). Every server is stopped even when a
# test fails, and the script fails if any process it started is left behind.
#
#   scripts/test-rtc.sh                       # all MatrixRTC integration tests
#   MXCALL_RTC_RUN=TestSFU scripts/test-rtc.sh   # a -run filter (both rounds)
#   MXCALL_RTC_RACE=1 scripts/test-rtc.sh         # with the race detector
#   MXCALL_RTC_COUNT=20 MXCALL_RTC_RUN=TestIntegrationRTCDMCall scripts/test-rtc.sh
#                         # each test 20 times (-test.count), to hunt a flake
#   MXCALL_RTC_LAN=1 MXCALL_BENCH_CALLS=20 MXCALL_RTC_RUN=RTCCallSteps scripts/test-rtc.sh
#                         # the MatrixRTC call-steps benchmark as on a LAN (see below)
#
# Artifacts (test output, server logs) stay in ./.cache/rtc-run/ for inspection.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ "${1:-}" != "--inner" ]; then
  cd "$root"
  ./scripts/build-homeserver.sh
  ./scripts/build-livekit.sh
  work="$root/.cache/rtc-run"
  . "$root/scripts/lib.sh"
  clean_work "$work"
  mkdir -p "$work/logs"
  # Build outside the namespace: it has no network for the Go proxy.
  race=()
  [ -n "${MXCALL_RTC_RACE:-}" ] && race=(-race)
  go test -c "${race[@]}" -tags integration -o "$work/rtcauth.test" ./rtcauth
  go test -c "${race[@]}" -tags 'goolm integration' -o "$work/matrixrtc.test" ./matrixrtc
  go test -c "${race[@]}" -tags 'goolm integration' -o "$work/backend.test" ./backend
  go build -o "$root/.cache/bin/mxcall-rtc-auth" ./cmd/mxcall-rtc-auth
  unshare_flags=(-n)
  [ "$(id -u)" -eq 0 ] || unshare_flags=(-r -n)
  set +e
  # MXCALL_RTC_LAN=1 (benchmarks only): the namespace also gets a veth
  # pair whose one end has 10.89.0.1, a stand-in for a machine's LAN
  # address. Without it no client has a host candidate (pion leaves out
  # loopback), and the LiveKit client (whose pion settings lksdk fixes)
  # waits pion's 500 ms before it may pick a server-reflexive pair, on
  # every connection. Packets still never leave the namespace.
  lan=""
  [ -n "${MXCALL_RTC_LAN:-}" ] && lan='ip link add lan0 type veth peer name lan1 && ip addr add 10.89.0.1/24 dev lan0 && ip link set lan0 up && ip link set lan1 up && '
  unshare "${unshare_flags[@]}" -- bash -c "ip link set lo up && $lan"'exec "$0" --inner "$1"' "$0" "$work"
  rc=$?
  set -e
  stray="$(pgrep -f -- "$work" || true)"
  if [ -n "$stray" ]; then
    echo "test-rtc.sh: stray processes left behind:" >&2
    ps -o pid,args -p $stray >&2 || true
    kill -KILL $stray 2>/dev/null || true
    rc=1
  fi
  echo "MatrixRTC artifacts: $work/logs (rc=$rc)"
  exit $rc
fi

# --- inside the namespace ---
work="$2"
export MXCALL_HS_DIR="$work/hs" MXCALL_RTC_DIR="$work/rtc" MXCALL_RTC_BUILD=0 # built above
# Short-lived OpenID tokens, so the expiry test waits seconds, not an hour.
export MXCALL_HS_OPENID_LIFETIME_MS=8000

cleanup() {
  "$root/scripts/rtc.sh" stop "$MXCALL_RTC_DIR" || true
  "$root/scripts/homeserver.sh" stop "$MXCALL_HS_DIR" || true
  cp "$MXCALL_HS_DIR"/dendrite.out "$MXCALL_RTC_DIR"/redis.log "$work/logs/" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/scripts/homeserver.sh" start "$MXCALL_HS_DIR" >"$work/logs/homeserver.env"
set -a
# shellcheck disable=SC1091
. "$work/logs/homeserver.env"
set +a

# Each test binary's bound: 10 minutes per repetition.
count=(-test.count "${MXCALL_RTC_COUNT:-1}" -test.timeout "$(( 10 * ${MXCALL_RTC_COUNT:-1} ))m")
args=(-test.v "${count[@]}")
[ -n "${MXCALL_RTC_RUN:-}" ] && args+=(-test.run "$MXCALL_RTC_RUN")
rc=0
for nodes in 1 2; do
  echo "== MatrixRTC tests with $nodes SFU node(s)"
  MXCALL_RTC_NODES=$nodes "$root/scripts/rtc.sh" start "$MXCALL_RTC_DIR" >"$work/logs/rtc-$nodes.env"
  set +e
  (
    set -a
    # shellcheck disable=SC1091
    . "$MXCALL_RTC_DIR/env"
    set +a
    run=("${args[@]}")
    # Round 1: the integration tests (unit tests ran before); round 2 adds
    # the two-node test.
    if [ -z "${MXCALL_RTC_RUN:-}" ]; then
      if [ "$nodes" = 1 ]; then run+=(-test.run '^(TestTokenService|TestSFU)$'); else run+=(-test.run '^TestSFUTwoNodes$'); fi
    fi
    cd "$root/rtcauth" && "$work/rtcauth.test" "${run[@]}" || exit 1
    # The MatrixRTC client (matrixrtc) against the same stack: everything
    # on one node (TestSFURestart restarts it), members on two nodes in
    # round 2.
    mrun=(-test.v "${count[@]}")
    if [ -n "${MXCALL_RTC_RUN:-}" ]; then
      mrun+=(-test.run "$MXCALL_RTC_RUN")
    elif [ "$nodes" = 2 ]; then
      mrun+=(-test.run '^TestTwoNodes$')
    fi
    (cd "$root/matrixrtc" && "$work/matrixrtc.test" "${mrun[@]}") || exit 1
    # The app's MatrixRTC calls (ring, decline, timeout, answer, the echo
    # partner), one node.
    if [ "$nodes" = 1 ]; then
      brun=(-test.v "${count[@]}" -test.run "${MXCALL_RTC_RUN:-^TestIntegrationRTC}")
      cd "$root/backend" && exec "$work/backend.test" "${brun[@]}"
    fi
  ) 2>&1 | tee "$work/logs/test-$nodes.out"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  set -e
  "$root/scripts/rtc.sh" stop "$MXCALL_RTC_DIR"
  for f in "$MXCALL_RTC_DIR"/*.out; do mv "$f" "$work/logs/$(basename "$f" .out)-round$nodes.out"; done
done
exit "$rc"
