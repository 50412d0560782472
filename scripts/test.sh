#!/usr/bin/env bash
# Runs every Gatehouse test. It is the README's test command and what CI runs.
# Tests that need PostgreSQL, Redis or Chromium skip with a message when they
# are missing on a developer's machine, and fail when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

# Browser tests drive Debian's Chromium; install it when missing (root only).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "scripts/test.sh: installing chromium for the browser tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ||
    echo "scripts/test.sh: could not install chromium; browser tests will skip (or fail under CI)" >&2
fi

go test -race -count=1 -timeout 15m "$@" ./...
