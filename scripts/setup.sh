#!/usr/bin/env bash
# Installs everything edgedeploy and its tests need on a fresh Debian machine:
# the compilers and emulator from Debian, the Python package with all extras.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

debs=(gcc g++ make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)
missing=()
for pkg in "${debs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! $PYTHON -c "import edgedeploy, tensorflow, tf_keras, tflite_micro, ai_edge_litert, pytest" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .setup-stamp ] \
   || [ "$($PYTHON -c 'import edgedeploy,os;print(os.path.realpath(os.path.dirname(edgedeploy.__file__)))' 2>/dev/null)" != "$(realpath edgedeploy)" ]; then
  echo "setup: installing edgedeploy with all extras (pip)"
  $PYTHON -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e ".[all]"
fi
touch .setup-stamp
echo "setup: ready"
