#!/usr/bin/env bash
# The demo: the drill lab (a local copy of the production stack under Docker, reached over SSH)
# comes up, the API container is removed for real, and `vedrun drill` runs the production
# p0-service-down runbook against it, records the drill incident and reports MTTR.
# Records go to ./demo-home, not to your ~/.local/share/vedrun. The lab stays up afterwards:
# break it yourself and run `vedrun p0-service-down -i inventory/lab --yes`; `vedrun lab down`
# removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
export VEDRUN_HOME="$PWD/demo-home"
export PATH="$PWD/.venv/bin:$PATH"
unset VEDRUN_PROJECT

echo "== vedrun lab up   (the first time installs Docker and builds the images: a few minutes)"
vedrun lab up
echo
echo "== vedrun drill p0-service-down --fault removed"
vedrun drill p0-service-down --fault removed
id=$(vedrun incident list --kind drill --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
echo
echo "== vedrun incident show $id"
vedrun incident show "$id"
echo
echo "== vedrun metrics"
vedrun metrics
echo
echo "INCIDENTS.md: $VEDRUN_HOME/INCIDENTS.md   RCA draft: VEDRUN_HOME=$VEDRUN_HOME vedrun incident rca $id"
echo "The lab is still up: try 'docker rm -f vedfinance-api' then 'vedrun p0-service-down -i inventory/lab --yes'."
