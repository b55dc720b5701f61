#!/usr/bin/env bash
# Where a process's memory is: RSS and PSS per mapping (summed by file;
# anonymous memory split into the Go heap's arenas, [heap] — glibc's
# main arena — and other anonymous maps: glibc's thread arenas, Mesa,
# thread stacks), largest first.
#
#   scripts/smaps-top.sh PID [N]     (N lines, default 12)
set -euo pipefail
pid="$1" n="${2:-12}"
awk '
  /^[0-9a-f]+-[0-9a-f]+ / {
    split($1, r, "-"); name = ($6 == "") ? "[anon]" : $6
    for (i = 7; i <= NF; i++) name = name " " $i
    next
  }
  /^Rss:/ { rss[name] += $2 }
  /^Pss:/ { pss[name] += $2 }
  END { for (k in rss) if (rss[k] > 0) printf "%8d %8d  %s\n", rss[k], pss[k], k }
' "/proc/$pid/smaps" | sort -rn | awk -v n="$n" 'BEGIN{print "  RSS kB   PSS kB  mapping"} NR <= n'
