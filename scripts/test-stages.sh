#!/usr/bin/env bash
# `make test`: run each stage in order, stop at the first that fails, and always end with the time
# each stage took (and the lab taken down, when the drills ran). Usage: test-stages.sh STAGE...
# where a STAGE may be parts joined by + that run at once (below).
set -uo pipefail
cd "$(dirname "$0")/.."

times=()
status=0
started=$(date +%s)

# A stage "a+b+c" runs its parts at once: all but the last in the background (their output kept in
# .cache/stage-<part>.log and printed when the group ends), the last in the foreground. The parts
# must not share a resource: the checks that need no lab (lint, the Docker-free tests, the API
# image's own containers on ports of their own) run beside the drills, which leave the machine's
# second core mostly idle.
run_stage() {
  local stage=$1 rc=0 part pids=() parts=() t0
  IFS=+ read -r -a parts <<< "$stage"
  mkdir -p .cache
  for part in "${parts[@]:0:${#parts[@]}-1}"; do
    ( t0=$(date +%s); make --no-print-directory "$part" > ".cache/stage-$part.log" 2>&1; r=$?
      echo "$r $(( $(date +%s) - t0 ))" > ".cache/stage-$part.rc"; exit $r ) &
    pids+=($!)
  done
  part=${parts[-1]}
  t0=$(date +%s)
  echo "== make $part${pids:+ (with ${parts[*]:0:${#parts[@]}-1} alongside)}"
  make --no-print-directory "$part"
  rc=$?
  record "$part" "$(( $(date +%s) - t0 ))" $rc
  for part in "${parts[@]:0:${#parts[@]}-1}"; do
    wait "${pids[0]}"; pids=("${pids[@]:1}")
    echo "== make $part (ran alongside; its output)"
    cat ".cache/stage-$part.log"
    read -r r secs < ".cache/stage-$part.rc"
    record "$part" "$secs" "$r"
    [ "$r" -ne 0 ] && [ $rc -eq 0 ] && rc=$r
  done
  return $rc
}

record() {
  times+=("$(printf '%-12s %5ss  %s' "$1" "$2" "$([ "$3" -eq 0 ] && echo ok || echo "FAILED (exit $3)")")")
}

for stage in "$@"; do
  run_stage "$stage"
  rc=$?
  if [ $rc -ne 0 ]; then
    status=$rc
    case "+$stage+" in
      *+drills+*|*+pytest+*|*+pytest-lab+*) make --no-print-directory lab-down >/dev/null 2>&1 || true ;;
    esac
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
printf '  %-12s %5ss\n' total "$(( $(date +%s) - started ))"
exit $status
