#!/usr/bin/env bash
# Runs package media's integration tests (build tag `integration`) against a
# private, headless PipeWire with two null sinks, as FACTS.md describes:
#   vspk  virtual speaker (default sink; tests record "vspk.monitor")
#   vmic  virtual microphone (tests feed it with pacat; default source is
#         "vmic.monitor")
# Everything runs under a private XDG_RUNTIME_DIR/HOME inside
# dbus-run-session; every process started here is killed by PID on exit.
# Usage: scripts/test-media.sh [extra go test flags, e.g. -test.v]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d /tmp/mxcall-media.XXXXXX)"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

(cd "$root" && go test -c -tags integration -o "$tmp/media.test" ./media)

mkdir -p "$tmp/run" "$tmp/home"
chmod 700 "$tmp/run"
cat > "$tmp/inner.sh" <<'INNER'
#!/usr/bin/env bash
set -uo pipefail
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap stop EXIT
pipewire >"$TMPDIR_M/pipewire.log" 2>&1 & pids+=($!)
sleep 0.3
wireplumber >"$TMPDIR_M/wireplumber.log" 2>&1 & pids+=($!)
pipewire-pulse >"$TMPDIR_M/pipewire-pulse.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
pactl info >/dev/null || { echo "PipeWire did not start"; cat "$TMPDIR_M"/*.log; exit 1; }
pactl load-module module-null-sink sink_name=vspk rate=48000 channels=2 >/dev/null
pactl load-module module-null-sink sink_name=vmic rate=48000 channels=1 >/dev/null
# A "room": what the speaker plays reaches this sink's monitor 60 ms later,
# as sound through air and converters would (the echo test's microphone).
pactl load-module module-null-sink sink_name=vroom rate=48000 channels=1 >/dev/null
pactl load-module module-loopback source=vspk.monitor sink=vroom latency_msec=60 >/dev/null
pactl set-default-sink vspk
pactl set-default-source vmic.monitor
sleep 0.3
cd "$ROOT_M/media"
"$TMPDIR_M/media.test" -test.run Integration -test.count=1 "$@"
INNER
chmod +x "$tmp/inner.sh"
env XDG_RUNTIME_DIR="$tmp/run" HOME="$tmp/home" TMPDIR_M="$tmp" ROOT_M="$root" \
  MXCALL_PIPEWIRE=1 dbus-run-session -- "$tmp/inner.sh" "$@"
