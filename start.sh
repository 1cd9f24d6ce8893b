#!/usr/bin/env bash
# Run the controller in the foreground (gunicorn, one worker, threads).
#   ./start.sh          the real thing, with config.yaml (or $CONFIG)
#   ./start.sh --demo   a simulated mixed fleet on loopback plus the app, with its own data dir
set -euo pipefail
cd "$(dirname "$0")"
. ./scripts_common.sh
ensure_venv requirements.txt
# glibc malloc for a threaded long runner, as systemd/minerfleet.service sets it (serving/memory.py says
# why); a value already in the environment wins.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.tcache_count=0}"

if [ "${1:-}" = "--demo" ]; then
  shift
  demo_dir="${DEMO_DIR:-$PWD/demo-data}"
  mkdir -p "$demo_dir"
  offset=0; [ "$(id -u)" -ne 0 ] && offset=10000   # ports 80/4028 need root; the app dials the same offset
  demo_count="${DEMO_MINERS:-}"    # empty = one miner of each demo entry (every family)
  demo_net="${DEMO_NET:-127.77.0}"   # the demo's /24 on loopback (tests use another one)
  cat > "$demo_dir/config.yaml" <<YAML
# Written by ./start.sh --demo; edits are overwritten.
server:
  data_dir: $demo_dir
network:
  subnet: $demo_net.0/24
  port_offset: $offset
  discover_on_start: true
polling:
  interval_sec: 5
  timeout_sec: 3
nmminer:
  listen: true
# The simulated house (real clock, clear-sky sun at Greensboro, NC), sized for the demo fleet,
# and the solar controller deciding live: every decision and command is an event on the dashboard.
battery:
  source: simulated
  poll_sec: 5
  max_age_sec: 60
  simulated:
    pv_kw: 30
    battery_kwh: 40
    base_load_w: 800
    initial_soc: 75
autocontrol:
  enabled: true
  policy: ${DEMO_POLICY:-ratchet}
  tick_sec: 10
  min_interval_sec: 60
  # The price layer (docs/control.md): miners whose break-even beats the price mine from the grid
  # off-peak; PV mining stops for miners that earn less than the export price.
  price:
    enabled: true
# A time-of-use tariff (offline: no price API), US cents like the demo's Greensboro house.
prices:
  source: fixed
  currency: USD
  unit: ¢/kWh
  export_price: 4
  fixed:
    price: 16
    periods:
      - {name: off-peak, price: 9, hours: "23:00-07:00"}
      - {name: peak, price: 32, hours: "16:00-20:00", days: [mon-fri]}
# Fixed network figures (offline): about 42 USD per PH/s per day, so an S21 (17.5 J/TH) breaks even
# near 10 ¢/kWh and an S19 (34 J/TH) near 5 ¢/kWh.
profitability:
  source: fixed
  currency: USD
  network: {difficulty: 1.5e+14, btc_price: 100000, fees_btc: 0.02}
# An example rule (docs/rules.md): half power while the peak tariff is on.
rules:
  - name: peak-half-power
    when: {price_above: 30}
    then: {action: percent, value: 50}
# Alerts (docs/alerts.md): a stopped miner shows in the error window at the poll that marks it
# offline (the default waits 5 minutes for flapping Wi-Fi miners). Messages go to the Apprise URLs
# in \$ALERT_URLS (space-separated, e.g. ntfy://my-topic), none without it.
alerts:
  offline_after_min: 0
  dashboard_url: http://127.0.0.1:${PORT:-5000}/
# MQTT and Home Assistant discovery (docs/mqtt.md): on when \$MQTT_HOST names a broker (e.g. 127.0.0.1
# with Debian's mosquitto), off without it; \$MQTT_PORT, \$MQTT_USERNAME and \$MQTT_PUBLISH_PASSWORD as needed.
mqtt:
  enabled: $([ -n "${MQTT_HOST:-}" ] && echo true || echo false)
  host: "${MQTT_HOST:-}"
  port: ${MQTT_PORT:-1883}
  username: "${MQTT_USERNAME:-}"
  min_interval_sec: 5
YAML
  export CONFIG="$demo_dir/config.yaml"
  export ADMIN_PASSWORD="${ADMIN_PASSWORD:-demo-password}"
  # Grid dispatch (docs/EMS.md) on in the demo: the EMS's bearer token from $EMS_TOKEN, else one kept in
  # the demo dir (made once, like the API token), handed to the app through the EMS_TOKEN override.
  if [ -z "${EMS_TOKEN:-}" ]; then
    [ -s "$demo_dir/ems_token" ] || (umask 077; .venv/bin/python -c 'import secrets; print("ems-" + secrets.token_urlsafe(24))' > "$demo_dir/ems_token")
    EMS_TOKEN="$(cat "$demo_dir/ems_token")"
  fi
  export EMS_TOKEN
  # The simulator's control server (simulator/README.md): stop/start miners, set faults and conditions.
  sim_control="$demo_net.2:${SIM_CONTROL_PORT:-8750}"
  .venv/bin/python -m simulator --demo ${demo_count:+--count "$demo_count"} --base-ip "$demo_net.10" --port-offset "$offset" --control "$sim_control" &
  sim_pid=$!
  trap 'kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true' EXIT INT TERM
  .venv/bin/python -m services.config >/dev/null
  .venv/bin/python -m services.credentials ensure >/dev/null
  # The secrets go to an owner-only file, never to stdout (a redirected log is often world-readable).
  creds="$demo_dir/credentials.txt"
  (umask 077; rm -f "$creds"; cat > "$creds" <<CREDS
# ./start.sh --demo: the demo's secrets (this file is mode 0600 and rewritten at every demo start)
dashboard: http://127.0.0.1:${PORT:-5000}/
password: $ADMIN_PASSWORD
api_token: $(cat "$demo_dir/api_token")
ems_token: $EMS_TOKEN
CREDS
  )
  echo "Demo: simulated miners of every family on $demo_net.10+ (ports offset by $offset)"
  echo "Dashboard: http://127.0.0.1:${PORT:-5000}/"
  [ -n "${MQTT_HOST:-}" ] && echo "MQTT: publishing to $MQTT_HOST:${MQTT_PORT:-1883} under minerfleet/, Home Assistant discovery under homeassistant/ (docs/mqtt.md)"
  echo "Stop/start a simulated miner: .venv/bin/python -m simulator.ctl --control $sim_control stop $demo_net.10 (then: start $demo_net.10; list; condition IP hot|fan_stopped|board_down|rejecting|pool_down)"
  echo "Password, API token and EMS token: in $creds (mode 0600; the EMS token goes in Authorization: Bearer ... on /api/status, /api/activate, /api/deactivate; docs/EMS.md)"
  .venv/bin/gunicorn -c gunicorn.conf.py "$@" &
  app_pid=$!
  trap 'kill "$app_pid" "$sim_pid" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
  wait "$app_pid"
  exit $?
fi

# A broken config.yaml stops here with one line naming the key, exit code 1.
.venv/bin/python -m services.config >/dev/null
.venv/bin/python -m services.credentials ensure
exec .venv/bin/gunicorn -c gunicorn.conf.py "$@"
