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
# Real components the tests start themselves (Debian's packages), installed as root when missing. Each
# package starts its own daemon (mosquitto on :1883, prometheus on :9090); the tests start their own
# instances on loopback, so the package's service is stopped and disabled.
debian_service() {  # debian_service BINARY PACKAGE "what it is for" [apt-get options...]
  local binary=$1 package=$2 purpose=$3
  shift 3
  [ -x "$binary" ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "NOTE: $binary is missing; $purpose will be skipped (sudo apt-get install $package)"
    return 0
  fi
  echo "Installing Debian's $package for $purpose ..."
  apt-get update -qq -o DPkg::Lock::Timeout=300 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" "$package" >/dev/null
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now "$package" >/dev/null 2>&1 || true
  else
    (invoke-rc.d "$package" stop; update-rc.d "$package" disable) >/dev/null 2>&1 || true
  fi
}
debian_service /usr/sbin/mosquitto mosquitto "the MQTT tests"
debian_service /usr/bin/prometheus prometheus "the real-Prometheus scrape test" --no-install-recommends
exec .venv/bin/python -m pytest "$@"
