# Shared by install.sh, start.sh and test.sh: make sure .venv holds the given requirements file.
# Re-installs only when the requirements file changed since the last install.
ensure_venv() {
  local req="$1" marker=".venv/.installed-$(basename "$1")"
  if [ ! -x .venv/bin/python ]; then
    echo "Creating the Python virtual environment in .venv ..."
    python3 -m venv .venv || { echo "python3 -m venv failed: install python3-venv (apt-get install python3-venv)" >&2; exit 1; }
  fi
  if [ ! -f "$marker" ] || [ "$req" -nt "$marker" ] || [ requirements.txt -nt "$marker" ]; then
    echo "Installing $req into .venv ..."
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r "$req"
    touch "$marker"
  fi
}
