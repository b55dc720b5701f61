#!/usr/bin/env bash
# The README's run command: the app on an embedded default. Starts a local Dendrite and
# coturn (scripts/homeserver.sh) and the MatrixRTC stack (scripts/rtc.sh:
# the LiveKit SFU and mxcall's token service) in .cache/demo, creates two
# accounts (you, "@me", and the call partner "@echo"), runs `mxcall echo` as
# the partner, makes two direct chats between you, and opens the app logged
# in as @me with the token service as its MatrixRTC focus
# ($MXCALL_RTC_FOCUS; Dendrite advertises none). Call "Echo" (end-to-end
# encrypted) or "Echo (unencrypted)" from the room list: a MatrixRTC call
# through the SFU that rings the partner, with its media end-to-end
# encrypted in the first; the partner answers and sends your media back.
# Settings' "legacy calls" (or MXCALL_LEGACY_CALLS=1) makes them legacy
# m.call.invite calls, which the partner answers too.
# Closing the app stops everything this script started.
#
# Environment: MXCALL_DEMO_DIR (default .cache/demo), MXCALL_HS_PORT (8018),
# the demo SFU's ports (MXCALL_RTC_PORT 7980, MXCALL_RTC_UDP_PORT 7982,
# MXCALL_RTC_TURN_PORT 3579, MXCALL_RTC_RELAY_MIN 50200, token service
# MXCALL_RTC_AUTH_PORT 8190; see scripts/rtc.sh),
# MXCALL_TEST_MEDIA=1 to send a test pattern and tone instead of camera and
# microphone (the default when the machine has no camera), MXCALL_ECHO_ARGS
# (more flags for the partner, e.g. "--answer-after 10s"),
# MXCALL_DEMO_LINGER=N (keep the partner and homeserver N seconds after the
# app exits, so a test can read what the partner saw). The script exits
# with the app's exit status.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
demo="${MXCALL_DEMO_DIR:-$root/.cache/demo}"
export MXCALL_HS_PORT="${MXCALL_HS_PORT:-8018}"
export MXCALL_TURN_PORT="${MXCALL_TURN_PORT:-3488}"
export MXCALL_TURN_MIN_PORT="${MXCALL_TURN_MIN_PORT:-49210}" MXCALL_TURN_MAX_PORT="${MXCALL_TURN_MAX_PORT:-49250}"
# The demo's SFU and token service, beside a `scripts/rtc.sh start` of your own.
export MXCALL_RTC_PORT="${MXCALL_RTC_PORT:-7980}" MXCALL_RTC_UDP_PORT="${MXCALL_RTC_UDP_PORT:-7982}"
export MXCALL_RTC_TURN_PORT="${MXCALL_RTC_TURN_PORT:-3579}" MXCALL_RTC_RELAY_MIN="${MXCALL_RTC_RELAY_MIN:-50200}"
export MXCALL_RTC_AUTH_PORT="${MXCALL_RTC_AUTH_PORT:-8190}" MXCALL_RTC_NODES=1
mkdir -p "$demo" "$root/.cache/bin"
./scripts/install-deps.sh
./scripts/build-homeserver.sh
./scripts/build-livekit.sh # about 12 min the first time, then nothing
password="mxcall-demo-password" # local demo accounts only

echo "building mxcall…"
go build -tags goolm -o "$root/.cache/bin/mxcall" . # goolm: end-to-end encryption in pure Go

partner_pid="" app_pid=""
cleanup() {
  for p in $app_pid $partner_pid; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  "$root/scripts/rtc.sh" stop "$demo/rtc" >/dev/null 2>&1 || true
  "$root/scripts/homeserver.sh" stop "$demo/hs" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

eval "$("$root/scripts/homeserver.sh" start "$demo/hs")"
# A homeserver that began afresh (its in-memory databases were gone after a
# reboot) knows none of the rooms and devices made before: forget them.
if [ "$MXCALL_HS_DIR/dendrite.yaml" -nt "$demo/dm" ] 2>/dev/null && [ -f "$demo/dm" ]; then
  rm -rf "$demo/dm" "$demo/dm-rtc" "$demo/echo-data" "$demo/me-data"
fi
eval "$(MXCALL_HS_URL="$MXCALL_HS_URL" MXCALL_SERVER_NAME="$MXCALL_SERVER_NAME" "$root/scripts/rtc.sh" start "$demo/rtc")"
for u in me echo; do
  "$root/.cache/bin/create-account" -config "$MXCALL_HS_DIR/dendrite.yaml" -url "$MXCALL_HS_URL" \
    -username "$u" -password "$password" >/dev/null 2>&1 || true # exists after the first run
done
me="@me:$MXCALL_SERVER_NAME" partner="@echo:$MXCALL_SERVER_NAME"

MXCALL_PASSWORD="$password" MXCALL_NO_KEYRING=1 MXCALL_DATA_DIR="$demo/echo-data" "$root/.cache/bin/mxcall" echo \
  --user "$partner" --homeserver "$MXCALL_HS_URL" ${MXCALL_ECHO_ARGS:-} >"$demo/echo.log" 2>&1 &
partner_pid=$!

# Two direct chats between @me and @echo, made once; the partner joins
# them. "Echo" is end-to-end encrypted (as Element makes DMs), "Echo
# (unencrypted)" is not.
if [ ! -f "$demo/dm" ] || [ ! -f "$demo/dm-rtc" ]; then
  token=$(curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/login" \
    -d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"me"},"password":"'"$password"'"}' |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  create_dm() { # create_dm NAME [INITIAL_STATE_JSON]: prints the room ID
    curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/createRoom" -H "Authorization: Bearer $token" \
      -d '{"preset":"trusted_private_chat","is_direct":true,"invite":["'"$partner"'"],"name":"'"$1"'","initial_state":['"${2:-}"']}' |
      sed -n 's/.*"room_id":"\([^"]*\)".*/\1/p'
  }
  if [ ! -f "$demo/dm" ]; then
    create_dm Echo '{"type":"m.room.encryption","state_key":"","content":{"algorithm":"m.megolm.v1.aes-sha2"}}' >"$demo/dm"
  fi
  if [ ! -f "$demo/dm-rtc" ]; then
    create_dm "Echo (unencrypted)" >"$demo/dm-rtc"
  fi
  curl -fsS -X PUT "$MXCALL_HS_URL/_matrix/client/v3/user/$me/account_data/m.direct" -H "Authorization: Bearer $token" \
    -d '{"'"$partner"'":["'"$(cat "$demo/dm")"'","'"$(cat "$demo/dm-rtc")"'"]}' >/dev/null
  curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/logout" -H "Authorization: Bearer $token" >/dev/null
fi

if [ -z "${MXCALL_TEST_MEDIA:-}" ] && ! ls /dev/video* >/dev/null 2>&1; then
  export MXCALL_TEST_MEDIA=1 # no camera here: send the test pattern
fi
echo "opening MX Call as $me; call \"Echo\" to test your setup (partner log: $demo/echo.log)"
MXCALL_USER="$me" MXCALL_PASSWORD="$password" MXCALL_HOMESERVER="$MXCALL_HS_URL" MXCALL_NO_KEYRING=1 MXCALL_DATA_DIR="$demo/me-data" \
  MXCALL_RTC_FOCUS="$MXCALL_RTC_AUTH_URL" "$root/.cache/bin/mxcall" &
app_pid=$!
rc=0
wait "$app_pid" || rc=$? # in the background so that a signal reaches the trap at once
app_pid=""
sleep "${MXCALL_DEMO_LINGER:-0}"
exit $rc
