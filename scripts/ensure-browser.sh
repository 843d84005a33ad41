#!/usr/bin/env bash
# Make sure Debian's Chromium and ChromeDriver are installed (the /map page is tested in a
# real headless browser), and that the map's npm dependencies are in web/node_modules.
# Used by `make test` (and so by CI) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "Chromium or ChromeDriver is missing; installing them from Debian's packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
echo "Chromium is ready: $(chromium --version 2>/dev/null || echo unknown)"
