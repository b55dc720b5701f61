#!/usr/bin/env bash
# Runs every mxcall test: static checks, unit tests, the parser fuzz smoke
# test, the integration tests against the real homeserver and TURN server,
# the MatrixRTC tests against the real LiveKit SFU and token service, the
# GUI smoke test under Xvfb, and the Windows cross-build with its smoke test
# under Wine. Tests that move packets run inside a
# loopback-only network namespace (scripts/netns.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=1 GOTOOLCHAIN=local
# goolm: mautrix's pure-Go Olm, i.e. end-to-end encryption (the app is built with it too).
tags=goolm

step() { printf '\n== %s\n' "$*"; }

step "dependencies (Debian packages, pinned homeserver and LiveKit SFU)"
# Both servers are pure Go (no Debian package needed): build them while
# apt works, which matters on a fresh machine (LiveKit takes minutes).
mkdir -p .cache
./scripts/build-homeserver.sh >.cache/build-homeserver.log 2>&1 &
hs_build=$!
./scripts/build-livekit.sh >.cache/build-livekit.log 2>&1 &
lk_build=$!
./scripts/install-deps.sh
wait "$hs_build" || { cat .cache/build-homeserver.log; exit 1; }
wait "$lk_build" || { cat .cache/build-livekit.log; exit 1; }
cat .cache/build-homeserver.log .cache/build-livekit.log

step "build"
go mod download
go build -tags "$tags" ./...

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '^tools/') 2>/dev/null || true)
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi

step "go vet"
go vet -tags "$tags" ./...
go vet ./... # and without encryption

step "go vet for Windows and macOS (packages without cgo)"
for os in windows darwin; do
  GOOS=$os CGO_ENABLED=0 go vet -tags "$tags" ./callengine/... ./matrixclient ./matrixrtc ./ui/internal/ontop ./ui/internal/winstate \
    ./media/framecrypt ./media/screen ./internal/... ./rtcauth ./cmd/mxcall-rtc-auth
done
step "macOS: the app's build constraints select a complete set of files (cgo on; no macOS C toolchain here)"
errs=$(GOOS=darwin CGO_ENABLED=1 go list -e -deps -tags "$tags" -f '{{with .Error}}{{.}}{{end}}{{range .DepsErrors}}{{.}}{{end}}' ./... | sort -u)
if [ -n "$errs" ]; then echo "$errs"; exit 1; fi

step "golangci-lint"
./scripts/lint.sh

step "unit tests with the race detector (loopback-only network namespace)"
./scripts/netns.sh env GOPROXY=off GOFLAGS=-mod=readonly go test -race -tags "$tags" -count=1 ./...

# Fuzz budgets are execution counts, not durations: with a duration, Go
# 1.26's fuzz coordinator can fail a clean run with "context deadline
# exceeded" when a loaded machine starves its workers at the deadline
# (golang/go#75804, fixed in Go 1.27). Each count is about 10-20 s here.
step "fuzz smoke: callengine.FuzzParseContent, 200000 inputs"
GOPROXY=off go test -run '^$' -fuzz '^FuzzParseContent$' -fuzztime 200000x ./callengine
step "fuzz smoke: rtcauth.FuzzParseRequest, 80000 inputs"
GOPROXY=off go test -run '^$' -fuzz '^FuzzParseRequest$' -fuzztime 80000x ./rtcauth
step "fuzz smoke: matrixrtc.FuzzParse, 100000 inputs"
GOPROXY=off go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 100000x ./matrixrtc

step "fuzz smoke: media/framecrypt.FuzzDecrypt, 500000 inputs"
GOPROXY=off go test -run '^$' -fuzz '^FuzzDecrypt$' -fuzztime 500000x ./media/framecrypt

for extra in scripts/test-media.sh scripts/test-screen.sh scripts/test-integration.sh scripts/test-rtc.sh scripts/test-gui.sh scripts/test-app.sh scripts/test-quit.sh scripts/test-package.sh scripts/test-windows.sh; do
  if [ -x "$extra" ]; then
    step "$extra"
    "./$extra"
  fi
done
step "scripts/test-app.sh, a MatrixRTC call in the encrypted DM (MXCALL_APP_RTC=2)"
MXCALL_APP_RTC=2 ./scripts/test-app.sh
step "all tests passed"
