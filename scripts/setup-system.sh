#!/usr/bin/env bash
# Installs the Debian packages vedrun's tests need, only those missing. Idempotent and quiet
# when nothing is missing. Run as root on Debian/Ubuntu; elsewhere it says what to install.
set -euo pipefail

need=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ps >/dev/null || need+=(procps)
command -v make >/dev/null || need+=(make)
# the Node.js API stand-in: npm ci on the host (npm cannot reach its registry in docker build)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "vedrun needs these packages: ${need[*]}. Install them (as root: apt-get install ${need[*]}) and run again." >&2
  exit 1
fi
echo "Installing ${need[*]} from Debian's archive..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
