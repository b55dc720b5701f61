#!/usr/bin/env bash
# Installs the Debian packages that mxcall's build, demo and tests need.
# Idempotent: it does nothing when every package is already installed.
set -euo pipefail
pkgs=(
  gcc pkg-config libgl1-mesa-dev xorg-dev libvpx-dev libopus-dev libopusfile-dev libspeexdsp-dev libasound2-dev
  xvfb xauth imagemagick dbus dbus-x11 dbus-user-session gnome-keyring libsecret-tools
  coturn iproute2 util-linux procps curl xdotool openbox x11-utils make xz-utils
  pipewire pipewire-bin pipewire-pulse wireplumber pulseaudio-utils libasound2-plugins
  redis-server
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
# coturn's package starts a system service on Debian; mxcall runs its own.
$sudo systemctl disable --now coturn >/dev/null 2>&1 || true
# Same for redis-server (scripts/rtc.sh runs its own for LiveKit's multi-node mode).
$sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
