#!/usr/bin/env bash
# Every Molecule drill scenario once, one after the other on the one lab, with the time of each in
# .cache/drill-times.txt (make test prints it). Usage: drills.sh [SCENARIO...] (default: all).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
: > .cache/drill-times.txt
rm -rf .cache/drill-logs && mkdir -p .cache/drill-logs

if [ $# -eq 0 ]; then
  set -- $(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort)
fi
failed=()
for scenario in "$@"; do
  t0=$(date +%s)
  echo "== molecule test -s $scenario"
  if molecule test -s "$scenario" 2>&1 | tee ".cache/drill-logs/$scenario.log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    verdict=ok
  else
    verdict=FAILED; failed+=("$scenario")
  fi
  printf '%-45s %4ss  %s\n' "$scenario" "$(( $(date +%s) - t0 ))" "$verdict" | tee -a .cache/drill-times.txt
done
# No secret of the lab in anything the drills wrote or printed: their terminal, Molecule's state
# (its ephemeral folders under ~/.ansible/tmp), the lab's records (the host's side, where the
# secrets belong, is skipped). See docs/security.md.
echo "== secret search over the drills' output and records"
if [ -d .lab/secrets ]; then
  if ! python3 tests/secret_forms.py --secrets-dir .lab/secrets --skip .lab/secrets --skip .lab/vps \
      --skip .lab/ssh $(find .lab/deploys -name '*.env' -printf ' --skip %p' 2>/dev/null) \
      .cache/drill-logs .lab $(ls -d "$HOME"/.ansible/tmp/molecule.* 2>/dev/null); then
    failed+=("secret-search")
  fi
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "Drills that failed: ${failed[*]}" >&2
  exit 1
fi
