#!/usr/bin/env bash
# Run the whole test suite: unit, integration (simulator on loopback) and browser tests.
# Creates .venv with the dev requirements when missing; installs Debian's Chromium
# for the browser tests when run as root (Playwright's own browser download is never used).
set -euo pipefail
cd "$(dirname "$0")"
. ./scripts_common.sh
ensure_venv requirements-dev.txt

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "NOTE: /usr/bin/chromium is missing; browser tests will be skipped (sudo apt-get install chromium)"
  fi
fi
exec .venv/bin/python -m pytest "$@"
