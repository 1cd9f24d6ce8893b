#!/usr/bin/env bash
# One-step, idempotent setup on Raspberry Pi OS or Debian.
#   ./install.sh                    as a user: venv + data dir + config; run ./start.sh afterwards
#   sudo ./install.sh               also: service user, /etc and /var/lib paths, systemd unit enabled and started
#   sudo ./install.sh --reset-password   print a new dashboard password
# Re-running keeps the config, the data and the credentials.
set -euo pipefail
cd "$(dirname "$0")"
install_dir="$PWD"
. ./scripts_common.sh

is_root=0; [ "$(id -u)" -eq 0 ] && is_root=1
has_systemd=0; [ -d /run/systemd/system ] && command -v systemctl >/dev/null && has_systemd=1

if [ "$is_root" -eq 1 ]; then
  config="${CONFIG:-/etc/minerfleet/config.yaml}"
  data_dir="${DATA_DIR:-/var/lib/minerfleet}"
  service_user="${SUDO_USER:-minerfleet}"
  [ "$service_user" = "root" ] && service_user=minerfleet
else
  config="${CONFIG:-$install_dir/config.yaml}"
  data_dir="${DATA_DIR:-$install_dir/data}"
  service_user="$(id -un)"
fi
export CONFIG="$config" DATA_DIR="$data_dir"

if [ "${1:-}" = "--reset-password" ]; then
  ensure_venv requirements.txt
  .venv/bin/python -m services.credentials reset-password
  [ "$is_root" -eq 1 ] && chown "$service_user": "$data_dir/admin_password.hash"
  exit 0
fi

# 1. Python and the venv (every dependency is pure Python or has ARM wheels: no compiler).
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$is_root" -eq 1 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
  else
    echo "python3-venv is missing: sudo apt-get install python3-venv" >&2; exit 1
  fi
fi
ensure_venv requirements.txt

# 2. Service user (root install only), data dir and config (0600: it may hold secrets).
if [ "$is_root" -eq 1 ] && ! id "$service_user" >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin "$service_user"
fi
mkdir -p "$data_dir" "$(dirname "$config")"
if [ ! -f "$config" ]; then
  install -m 600 "$install_dir/config.yaml" "$config"
  [ "$config" != "$install_dir/config.yaml" ] && sed -i "s|^  data_dir: data .*|  data_dir: $data_dir        # set by install.sh|" "$config"
fi
chmod 600 "$config"
.venv/bin/python -m services.config || exit 1

# 3. Credentials: generated once, printed once.
creds="$(.venv/bin/python -m services.credentials ensure)"
if [ "$is_root" -eq 1 ]; then
  chown -R "$service_user": "$data_dir"
  chown "$service_user": "$config"
  # The Settings page writes config.yaml atomically (a temp file beside it, then a rename) and keeps
  # dated copies there (docs/settings.md): the service needs its own folder, never a shared one like /etc.
  if [ "$(dirname "$config")" = /etc/minerfleet ]; then
    chown "$service_user": /etc/minerfleet && chmod 700 /etc/minerfleet
  fi
fi

# 4. systemd unit (root on a systemd machine).
port="$(.venv/bin/python -c 'from services.config import load_config; print(load_config().server.port)')"
if [ "$is_root" -eq 1 ] && [ "$has_systemd" -eq 1 ]; then
  group="$(id -gn "$service_user")"
  sed -e "s|@USER@|$service_user|; s|@GROUP@|$group|; s|@INSTALL_DIR@|$install_dir|g; s|@CONFIG@|$config|; s|@CONFIG_DIR@|$(dirname "$config")|; s|@DATA_DIR@|$data_dir|g" \
    systemd/minerfleet.service > /etc/systemd/system/minerfleet.service
  systemctl daemon-reload
  systemctl enable --now minerfleet.service
  systemctl restart minerfleet.service
  started="the service minerfleet is running (systemctl status minerfleet; journalctl -u minerfleet)"
else
  started="start it with: CONFIG=$config DATA_DIR=$data_dir ./start.sh"
fi

ip_addr="$(hostname -I 2>/dev/null | awk '{print $1}')"
echo
echo "Installed. Config: $config   Data: $data_dir"
echo "Dashboard: http://${ip_addr:-<this-host>}:$port/   ($started)"
if [ -n "$creds" ]; then
  echo "$creds"
else
  echo "Credentials were created by an earlier install and are kept (new password: ./install.sh --reset-password)."
fi
