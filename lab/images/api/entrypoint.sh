#!/bin/sh
# vedapi-entrypoint: started as root, make $DATA_DIR writable for the vedapi user (uid 10001),
# then drop to that user and exec the command (`python3 -m vedapi` by default) as PID 1.
# A bind-mounted host folder (e.g. root-owned, mode 0700) thus works as it is. Started with
# --user, or on a read-only mount, it changes nothing and the API reports data_dir in /health.
set -e
if [ "$(id -u)" = 0 ]; then
  dir="${DATA_DIR:-/data}"
  mkdir -p "$dir/logs" 2>/dev/null || true
  chown vedapi:vedapi "$dir" "$dir/logs" 2>/dev/null || true
  if [ -e "$dir/logs/api.log" ]; then chown vedapi:vedapi "$dir/logs/api.log" 2>/dev/null || true; fi
  exec setpriv --reuid=vedapi --regid=vedapi --init-groups -- "$@"
fi
exec "$@"
