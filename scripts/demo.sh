#!/usr/bin/env bash
# The README's run command: the app on an embedded default. Starts a local Dendrite and
# coturn (scripts/homeserver.sh) in .cache/demo, creates two accounts (you,
# "@me", and the call partner "@echo"), runs `mxcall echo` as the partner,
# makes a direct chat between you, and opens the app logged in as @me.
# Call "echo" from the room list: it answers and sends your media back.
# Closing the app stops everything this script started.
#
# Environment: MXCALL_DEMO_DIR (default .cache/demo), MXCALL_HS_PORT (8018),
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
mkdir -p "$demo" "$root/.cache/bin"
./scripts/install-deps.sh
./scripts/build-homeserver.sh
password="mxcall-demo-password" # local demo accounts only

echo "building mxcall…"
go build -tags goolm -o "$root/.cache/bin/mxcall" . # goolm: end-to-end encryption in pure Go

partner_pid="" app_pid=""
cleanup() {
  for p in $app_pid $partner_pid; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  "$root/scripts/homeserver.sh" stop "$demo/hs" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

eval "$("$root/scripts/homeserver.sh" start "$demo/hs")"
for u in me echo; do
  "$root/.cache/bin/create-account" -config "$MXCALL_HS_DIR/dendrite.yaml" -url "$MXCALL_HS_URL" \
    -username "$u" -password "$password" >/dev/null 2>&1 || true # exists after the first run
done
me="@me:$MXCALL_SERVER_NAME" partner="@echo:$MXCALL_SERVER_NAME"

MXCALL_PASSWORD="$password" MXCALL_NO_KEYRING=1 MXCALL_DATA_DIR="$demo/echo-data" "$root/.cache/bin/mxcall" echo \
  --user "$partner" --homeserver "$MXCALL_HS_URL" ${MXCALL_ECHO_ARGS:-} >"$demo/echo.log" 2>&1 &
partner_pid=$!

# One direct chat between @me and @echo, made once and end-to-end encrypted
# (as Element makes DMs); the partner joins it.
if [ ! -f "$demo/dm" ]; then
  token=$(curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/login" \
    -d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"me"},"password":"'"$password"'"}' |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  room=$(curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/createRoom" -H "Authorization: Bearer $token" \
    -d '{"preset":"trusted_private_chat","is_direct":true,"invite":["'"$partner"'"],"name":"Echo","initial_state":[{"type":"m.room.encryption","state_key":"","content":{"algorithm":"m.megolm.v1.aes-sha2"}}]}' |
    sed -n 's/.*"room_id":"\([^"]*\)".*/\1/p')
  curl -fsS -X PUT "$MXCALL_HS_URL/_matrix/client/v3/user/$me/account_data/m.direct" -H "Authorization: Bearer $token" \
    -d '{"'"$partner"'":["'"$room"'"]}' >/dev/null
  curl -fsS -X POST "$MXCALL_HS_URL/_matrix/client/v3/logout" -H "Authorization: Bearer $token" >/dev/null
  echo "$room" >"$demo/dm"
fi

if [ -z "${MXCALL_TEST_MEDIA:-}" ] && ! ls /dev/video* >/dev/null 2>&1; then
  export MXCALL_TEST_MEDIA=1 # no camera here: send the test pattern
fi
echo "opening MX Call as $me; call \"Echo\" to test your setup (partner log: $demo/echo.log)"
MXCALL_USER="$me" MXCALL_PASSWORD="$password" MXCALL_HOMESERVER="$MXCALL_HS_URL" MXCALL_NO_KEYRING=1 MXCALL_DATA_DIR="$demo/me-data" \
  "$root/.cache/bin/mxcall" &
app_pid=$!
rc=0
wait "$app_pid" || rc=$? # in the background so that a signal reaches the trap at once
app_pid=""
sleep "${MXCALL_DEMO_LINGER:-0}"
exit $rc
