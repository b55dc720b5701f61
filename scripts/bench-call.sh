#!/usr/bin/env bash
# Where the time of a call goes: places N video calls (default 20) from the
# app's backend to the echo partner over the real Dendrite (test pattern and
# tone, loopback-only namespace; scripts/test-integration.sh sets it up) and
# prints the median time after the click of each step (created, invite sent,
# answered, connected, first remote frame), the first call apart, and the
# CPU time and RSS of the process (app backend and partner share it).
#
#   scripts/bench-call.sh [N]
#
# The figures also stay in .cache/it-run/logs/call-steps.txt. Run it on a
# quiet machine: other load shows up in every step.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-20}"
if ! MXCALL_BENCH_CALLS="$n" MXCALL_IT_RUN='^TestIntegrationCallSteps$' ./scripts/test-integration.sh >"$root/.cache/bench-call.log" 2>&1; then
  tail -40 "$root/.cache/bench-call.log" >&2
  echo "bench-call.sh: the run failed (log: .cache/bench-call.log)" >&2
  exit 1
fi
cat "$root/.cache/it-run/logs/call-steps.txt"
