#!/usr/bin/env bash
# The demo until the drill lab lands: the real engine (ansible-runner, incident store, MTTR
# report) on a stand-in runbook whose "fault" is a marker file on this machine. No VPS, no
# network. Records go to ./demo-home, not to your ~/.local/share/vedrun.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d /tmp/vedrun-demo.XXXXXX)
trap 'rm -rf "$root"' EXIT
export VEDRUN_HOME="$PWD/demo-home"
export VEDRUN_PROJECT="$root/project"
.venv/bin/python - "$root" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "tests")
from conftest import make_project
root = Path(sys.argv[1])
(root / "faults").mkdir()
make_project(root / "project", root / "faults")
PY
echo "== the runbook catalog"
.venv/bin/vedrun --project "$PWD" list
echo
echo "== a fault appears on local-1 (the stand-in runbook's marker file)"
touch "$root/faults/local-1.fault"
echo "== vedrun p0-fake-outage -i inventory -l prod --started-at '1m ago'"
.venv/bin/vedrun p0-fake-outage -i "$VEDRUN_PROJECT/inventory" -l prod --started-at "1m ago" || true
id=$(.venv/bin/vedrun incident list --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
echo
echo "== vedrun incident show $id"
.venv/bin/vedrun incident show "$id"
echo
echo "== vedrun metrics"
.venv/bin/vedrun metrics
echo
echo "INCIDENTS.md: $VEDRUN_HOME/INCIDENTS.md   RCA draft: vedrun incident rca $id"
