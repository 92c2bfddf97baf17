#!/usr/bin/env bash
# Every Molecule drill scenario once, one after the other on the one lab, with the time of each in
# .cache/drill-times.txt (make test prints it). Usage: drills.sh [SCENARIO...] (default: all).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
: > .cache/drill-times.txt

if [ $# -eq 0 ]; then
  set -- $(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort)
fi
failed=()
for scenario in "$@"; do
  t0=$(date +%s)
  echo "== molecule test -s $scenario"
  if molecule test -s "$scenario"; then verdict=ok; else verdict=FAILED; failed+=("$scenario"); fi
  printf '%-45s %4ss  %s\n' "$scenario" "$(( $(date +%s) - t0 ))" "$verdict" | tee -a .cache/drill-times.txt
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "Drills that failed: ${failed[*]}" >&2
  exit 1
fi
