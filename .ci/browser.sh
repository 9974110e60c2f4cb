#!/usr/bin/env bash
# Install (if missing) Debian's chromium and chromium-driver for the browser tests, and export the path the
# tests read:
#     source .ci/browser.sh          # or: eval "$(.ci/browser.sh)"
# Progress goes to stderr; stdout carries only the `export RISKENGINE_CHROMIUM=...` line.
# Installing needs root (apt-get). Playwright drives this chromium; it never downloads its own browsers.
set -euo pipefail

_browser_log() { echo "browser.sh: $*" >&2; }

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    _browser_log "installing Debian's chromium and chromium-driver"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y chromium chromium-driver >&2
fi

RISKENGINE_CHROMIUM="$(command -v chromium)"
export RISKENGINE_CHROMIUM
_browser_log "using $("$RISKENGINE_CHROMIUM" --version 2>/dev/null | head -n 1)"
echo "export RISKENGINE_CHROMIUM=$RISKENGINE_CHROMIUM"
