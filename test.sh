#!/usr/bin/env bash
# Run the whole test suite: unit, integration (simulator on loopback) and browser tests.
# Creates .venv with the dev requirements when missing; installs Debian's Chromium
# for the browser tests, Debian's mosquitto for the MQTT tests and Debian's prometheus for the /metrics
# scrape test when run as root (Playwright's own browser download is never used).
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
if [ ! -x /usr/sbin/mosquitto ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's mosquitto for the MQTT tests ..."
    apt-get update -qq -o DPkg::Lock::Timeout=300 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 mosquitto >/dev/null
    # The package starts its own broker on port 1883: the tests start theirs, so stop and disable it.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      systemctl disable --now mosquitto >/dev/null 2>&1 || true
    else
      (invoke-rc.d mosquitto stop; update-rc.d mosquitto disable) >/dev/null 2>&1 || true
    fi
  else
    echo "NOTE: /usr/sbin/mosquitto is missing; MQTT tests will be skipped (sudo apt-get install mosquitto)"
  fi
fi
if ! command -v prometheus >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's prometheus for the /metrics scrape test ..."
    apt-get update -qq -o DPkg::Lock::Timeout=300 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends prometheus >/dev/null
    # The package starts its own server on :9090: the test starts its own on loopback, so stop and disable it.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    else
      (invoke-rc.d prometheus stop; update-rc.d prometheus disable) >/dev/null 2>&1 || true
    fi
  else
    echo "NOTE: prometheus is missing; the real-Prometheus scrape test will be skipped (sudo apt-get install prometheus)"
  fi
fi
exec .venv/bin/python -m pytest "$@"
