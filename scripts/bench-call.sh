#!/usr/bin/env bash
# Where the time of a call goes: places N video calls (default 20) from the
# app's backend to the echo partner over the real Dendrite (test pattern and
# tone, loopback-only namespace; scripts/test-integration.sh sets it up) and
# prints the median time after the click of each step (created, invite sent,
# answered, connected, first remote frame), the first call apart, the CPU
# time and page faults from click to first frame, and the CPU time and RSS
# of the process (app backend and partner share it). After each call the
# Go heap's free pages and the C heap's free space go back to the system,
# as the app does once a call's screen is gone.
#
#   scripts/bench-call.sh [N]
#   scripts/bench-call.sh --soak [N]
#
# --soak runs the soak test instead (TestIntegrationSoakCallsReleaseMemory,
# N calls, default 50; the test command runs 12): the live Go heap, the C
# heap in use and the goroutines after the first call and after the last,
# which must be back within a few MB of each other; heap profiles of both
# stay in .cache/it-run/logs/soak (`go tool pprof -base heap-first.pb.gz
# heap-last.pb.gz`).
#
# The figures also stay in .cache/it-run/logs/call-steps.txt. Run it on a
# quiet machine: other load shows up in every step.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
run() { # run LOG VAR=VALUE...: scripts/test-integration.sh with those variables, its output in .cache/LOG
  local log="$1"
  shift
  if ! env "$@" ./scripts/test-integration.sh >"$root/.cache/$log" 2>&1; then
    tail -40 "$root/.cache/$log" >&2
    echo "bench-call.sh: the run failed (log: .cache/$log)" >&2
    exit 1
  fi
}
if [ "${1:-}" = --soak ]; then
  n="${2:-50}"
  run bench-soak.log MXCALL_SOAK_CALLS="$n" MXCALL_IT_RUN='^TestIntegrationSoakCallsReleaseMemory$'
  echo "soak: $n video calls in a row to the echo partner (one process: app backend + partner)"
  grep -o 'after call [0-9]*: .*' "$root/.cache/bench-soak.log"
  exit 0
fi
n="${1:-20}"
run bench-call.log MXCALL_BENCH_CALLS="$n" MXCALL_IT_RUN='^TestIntegrationCallSteps$'
cat "$root/.cache/it-run/logs/call-steps.txt"
