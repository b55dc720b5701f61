#!/usr/bin/env bash
# Samples one process for SECONDS and prints its CPU split into Mesa's
# software painter (threads named llvmpipe-N) and everything else (our Go
# code, libvpx, Opus, the kernel on those threads), as % of one core, and
# its memory: RSS, PSS and the anonymous part of PSS (from smaps_rollup).
#
#   scripts/proc-sample.sh PID SECONDS [LABEL]
#
# Prints one line: LABEL: cpu own N% llvmpipe N% total N% | rss N MB pss N MB anon N MB
set -euo pipefail
pid="$1" secs="$2" label="${3:-sample}"
hz=$(getconf CLK_TCK)
ms() { date +%s%3N; }
total() { awk '{print $14+$15}' "/proc/$pid/stat"; }
painter() { # CPU ticks of the llvmpipe threads
  local sum=0 t
  for t in /proc/"$pid"/task/*; do
    if [[ "$(cat "$t/comm" 2>/dev/null)" == llvmpipe* ]]; then
      sum=$((sum + $(awk '{print $14+$15}' "$t/stat" 2>/dev/null || echo 0)))
    fi
  done
  echo "$sum"
}
t0=$(total) p0=$(painter) s0=$(ms)
sleep "$secs"
t1=$(total) p1=$(painter) s1=$(ms)
pct() { echo $(( $1 * 100000 / hz / (s1 - s0) )); }
all=$(pct $((t1 - t0))) gl=$(pct $((p1 - p0)))
mem=$(awk '/^Rss:/{r=$2} /^Pss:/{p=$2} /^Pss_Anon:/{a=$2} END{printf "rss %d MB pss %d MB anon %d MB", r/1024, p/1024, a/1024}' "/proc/$pid/smaps_rollup")
echo "$label: cpu own $((all - gl))% llvmpipe ${gl}% total ${all}% | $mem"
