#!/bin/sh
# vedapi-entrypoint: started as root, make $DATA_DIR (and its logs/ and diagnostics/ folders)
# writable for the vedapi user (uid 10001), then drop to that user and exec the command as PID 1.
# A bind-mounted host folder (e.g. root-owned, mode 0700) thus works as it is. Started with
# --user, or on a read-only mount, it changes nothing and the API reports data_dir in /health.
#
# When the command is `node` (the default CMD), it gets production's diagnostics flags:
#   --heapsnapshot-signal=SIGUSR2         SIGUSR2 writes a V8 heap snapshot
#   --report-on-signal --report-signal=SIGUSR1
#                                         SIGUSR1 writes a Node diagnostic report (JSON)
#   --diagnostic-dir, --report-directory  both go to $DATA_DIR/diagnostics
#   --heapsnapshot-near-heap-limit=1      one heap snapshot when the V8 heap nears its limit
#   --max-old-space-size=$NODE_HEAP_MB    that limit (default 192 MiB)
set -e
dir="${DATA_DIR:-/data}"
heap_mb="${NODE_HEAP_MB:-192}"

# The same one-line message and exit code as the API's own configuration checks.
case "$heap_mb" in
  '' | *[!0-9]*)
    echo "vedapi: configuration error: NODE_HEAP_MB must be an integer, got '$heap_mb'" >&2
    exit 78 ;;
esac
if [ "$heap_mb" -lt 32 ] || [ "$heap_mb" -gt 65536 ]; then
  echo "vedapi: configuration error: NODE_HEAP_MB must be between 32 and 65536, got $heap_mb" >&2
  exit 78
fi

mkdir -p "$dir/logs" "$dir/diagnostics" 2>/dev/null || true
if [ "$(id -u)" = 0 ]; then
  chown vedapi:vedapi "$dir" "$dir/logs" "$dir/diagnostics" 2>/dev/null || true
  if [ -e "$dir/logs/api.log" ]; then chown vedapi:vedapi "$dir/logs/api.log" 2>/dev/null || true; fi
fi

if [ "$1" = node ]; then
  # Node 18 writes SIGUSR2 heap snapshots to its working directory, whatever --diagnostic-dir
  # says, and a snapshot it cannot write there kills the process (EACCES on /opt/vedapi):
  # so node runs in the diagnostics folder, where everything else goes too.
  cd "$dir/diagnostics" 2>/dev/null \
    || echo "vedapi-entrypoint: cannot enter $dir/diagnostics; SIGUSR2 heap snapshots go to $(pwd)" >&2
  shift
  set -- node \
    --heapsnapshot-signal=SIGUSR2 \
    --report-on-signal --report-signal=SIGUSR1 \
    --diagnostic-dir="$dir/diagnostics" --report-directory="$dir/diagnostics" \
    --heapsnapshot-near-heap-limit=1 \
    --max-old-space-size="$heap_mb" \
    "$@"
fi

if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=vedapi --regid=vedapi --init-groups -- "$@"
fi
exec "$@"
