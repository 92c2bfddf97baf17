#!/usr/bin/env bash
# `make test`: run each stage in order, stop at the first that fails, and always end with the time
# each stage took (and the lab taken down, when the drills ran). Usage: test-stages.sh STAGE...
set -uo pipefail
cd "$(dirname "$0")/.."

times=()
status=0
started=$(date +%s)
for stage in "$@"; do
  t0=$(date +%s)
  echo "== make $stage"
  make --no-print-directory "$stage"
  rc=$?
  times+=("$(printf '%-10s %5ss  %s' "$stage" "$(( $(date +%s) - t0 ))" "$([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")")")
  if [ $rc -ne 0 ]; then
    status=$rc
    if [ "$stage" = drills ] || [ "$stage" = pytest ]; then
      make --no-print-directory lab-down >/dev/null 2>&1 || true
    fi
    break
  fi
done

echo
echo "== time per stage"
printf '  %s\n' "${times[@]}"
if [ -s .cache/drill-times.txt ]; then
  echo "== time per drill"
  sed 's/^/  /' .cache/drill-times.txt
fi
printf '  %-10s %5ss\n' total "$(( $(date +%s) - started ))"
exit $status
