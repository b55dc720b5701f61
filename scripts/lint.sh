#!/usr/bin/env bash
# Runs golangci-lint at the pinned version, built from the Go module proxy
# into ./.cache/bin on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v2.15.0
bin=.cache/bin/golangci-lint
if ! { [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -q "${version#v}"; }; then
  mkdir -p .cache/bin
  GOBIN="$PWD/.cache/bin" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
fi
# Parallel runs (several checkouts on one machine) would otherwise fail at once.
exec "$bin" run --allow-parallel-runners --timeout 15m ./...
