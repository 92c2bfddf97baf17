#!/usr/bin/env bash
# vedrun/lab-postgres entrypoint.
#
#   docker-entrypoint.sh [postgres] [-c name=value ...]   init if needed, then run PostgreSQL
#   docker-entrypoint.sh psql|pg_dump|bash ...             run that command instead
#
# First start (no $PGDATA/PG_VERSION): initdb (scram-sha-256 for TCP, trust on the
# container-private unix socket), create APP_USER + APP_DB owned by it, run every
# /docker-entrypoint-initdb.d/*.sql (*.sql.gz) as APP_USER on APP_DB on a private socket
# with TCP off, stop, write $PGDATA/vedrun-init.done. Then exec postgres as user postgres
# (setpriv: exec, no extra process, so docker stop's signal reaches the postmaster).
set -euo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S.%3N UTC')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# `docker run IMAGE -c work_mem=64MB` -> extra server options
if [ "${1:-postgres}" != postgres ] && [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
[ "$#" -eq 0 ] && set -- postgres
if [ "$1" != postgres ]; then exec "$@"; fi
shift

: "${PGDATA:=/var/lib/postgresql/data}"
: "${PGPORT:=5432}"
: "${APP_DB:=vedfinance}"
: "${APP_USER:=vedfinance}"
: "${PG_MAX_CONNECTIONS:=50}"
# Preloaded as production may (or may not) preload it; empty preloads nothing.
: "${PG_PRELOAD_LIBRARIES=pg_stat_statements}"
export PGDATA PGPORT
INITDB_DIR=/docker-entrypoint-initdb.d
MARKER="$PGDATA/vedrun-init.done"
SOCKDIR=/var/run/postgresql

[[ "$PGPORT" =~ ^[0-9]+$ ]] && [ "$PGPORT" -ge 1 ] && [ "$PGPORT" -le 65535 ] \
  || die "PGPORT must be a TCP port number, got '$PGPORT'"
[[ "$PG_MAX_CONNECTIONS" =~ ^[0-9]+$ ]] && [ "$PG_MAX_CONNECTIONS" -ge 1 ] \
  || die "PG_MAX_CONNECTIONS must be a positive integer, got '$PG_MAX_CONNECTIONS'"

# run a command as the postgres OS user (setpriv execs: signals go straight to it)
if [ "$(id -u)" -eq 0 ]; then
  as_pg() { HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
else
  as_pg() { "$@"; }        # started with --user postgres: nothing to switch
fi

# --- directories (a fresh bind mount is usually root-owned) ---------------------------
if [ "$(id -u)" -eq 0 ]; then
  mkdir -p "$PGDATA" "$SOCKDIR"
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chmod 0700 "$PGDATA"
  chown postgres:postgres "$SOCKDIR"; chmod 2775 "$SOCKDIR"
  # /backups: only the top folder, and never fail on a read-only mount
  if [ -d /backups ]; then chown postgres:postgres /backups 2>/dev/null || true; fi
fi

# --- first start: initdb + app role/db + seed -------------------------------------------
init_cluster() {
  [ -n "${POSTGRES_PASSWORD:-}" ] || die "first start on an empty $PGDATA needs POSTGRES_PASSWORD (superuser 'postgres')"
  [ -n "${APP_PASSWORD:-}" ] || die "first start on an empty $PGDATA needs APP_PASSWORD (password of APP_USER '$APP_USER')"
  [ "$APP_USER" != postgres ] || die "APP_USER must not be 'postgres'"
  if [ -n "$(ls -A "$PGDATA" 2>/dev/null)" ]; then
    die "$PGDATA has no PG_VERSION but is not empty (lost+found? leftovers?): $(ls -A "$PGDATA" | head -5 | tr '\n' ' ')- mount an empty folder"
  fi

  local t0 f t1
  pid_ok=0
  t0=$(date +%s.%N)
  tmp=$(mktemp -d /tmp/pginit.XXXXXX)
  chown postgres:postgres "$tmp" 2>/dev/null || true
  chmod 0700 "$tmp"
  # pwfile: a real file (a <(pipe) would not be readable after the uid switch)
  (umask 077; printf '%s\n' "$POSTGRES_PASSWORD" >"$tmp/pw")
  chown postgres:postgres "$tmp/pw" 2>/dev/null || true

  log "initdb in $PGDATA (PostgreSQL $(postgres --version | awk '{print $3}'))"
  as_pg initdb -D "$PGDATA" -U postgres --pwfile="$tmp/pw" \
        --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >&2
  rm -f "$tmp/pw"

  # temporary server: TCP off, socket in a private dir -> nobody (healthcheck, app)
  # sees the database before the seed is complete
  log "starting temporary server (socket only, $tmp)"
  as_pg pg_ctl -D "$PGDATA" -w -t 300 -s \
        -o "-c listen_addresses='' -c unix_socket_directories=$tmp -p $PGPORT" start >&2
  pid_ok=1
  # shellcheck disable=SC2317
  stop_tmp() { [ "$pid_ok" = 1 ] && as_pg pg_ctl -D "$PGDATA" -m immediate -w -s stop >&2 || true; }
  trap 'stop_tmp' EXIT

  local PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$PGPORT")
  "${PSQL[@]}" -U postgres -d postgres \
      -v app_user="$APP_USER" -v app_pw="$APP_PASSWORD" -v app_db="$APP_DB" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_pw';
CREATE DATABASE :"app_db" OWNER :"app_user";
SQL
  log "created role \"$APP_USER\" and database \"$APP_DB\" (owner \"$APP_USER\")"
  # The view of the statements' statistics, in the app's database (a superuser's step: the
  # extension is not trusted). Readable once the server runs with the library preloaded.
  if [[ ",${PG_PRELOAD_LIBRARIES// /}," == *,pg_stat_statements,* ]]; then
    "${PSQL[@]}" -U postgres -d "$APP_DB" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
    log "created extension pg_stat_statements in \"$APP_DB\""
  fi

  shopt -s nullglob
  for f in "$INITDB_DIR"/*; do
    t1=$(date +%s.%N)
    case "$f" in
      *.sql)    "${PSQL[@]}" -U "$APP_USER" -d "$APP_DB" -f "$f" \
                  || die "seed file $f failed (psql exit $?); cluster left without vedrun-init.done" ;;
      *.sql.gz) gzip -dc "$f" | "${PSQL[@]}" -U "$APP_USER" -d "$APP_DB" \
                  || die "seed file $f failed; cluster left without vedrun-init.done" ;;
      *)        log "ignoring $f (only *.sql and *.sql.gz are run)"; continue ;;
    esac
    log "ran $f as $APP_USER on $APP_DB in $(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"
  done
  shopt -u nullglob

  as_pg pg_ctl -D "$PGDATA" -m fast -w -s stop >&2
  pid_ok=0
  trap - EXIT
  rm -rf "$tmp"
  date -u '+%Y-%m-%dT%H:%M:%SZ' | as_pg tee "$MARKER" >/dev/null
  log "init complete in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  init_cluster
elif [ ! -e "$MARKER" ]; then
  die "$PGDATA holds a cluster but no $(basename "$MARKER"): an earlier first start failed or was killed during init/seed. The data is incomplete; remove the contents of the data volume and start again."
fi

# Stale postmaster.pid after `docker kill -s KILL`: PostgreSQL removes it itself when
# the PID in it is its own (the postmaster is PID 1 here on every start) or not alive.
# Only log it, so a recovery is visible in `docker logs`.
if [ -e "$PGDATA/postmaster.pid" ]; then
  log "found postmaster.pid from an unclean stop (pid $(head -n1 "$PGDATA/postmaster.pid")); PostgreSQL will check it and run crash recovery"
fi

log "starting PostgreSQL on 127.0.0.1:$PGPORT (socket $SOCKDIR/.s.PGSQL.$PGPORT, max_connections=$PG_MAX_CONNECTIONS, preloading '${PG_PRELOAD_LIBRARIES:-nothing}')"
PG_ARGS=(postgres -D "$PGDATA"
  -c listen_addresses=127.0.0.1 -p "$PGPORT"
  -c unix_socket_directories="$SOCKDIR"
  -c max_connections="$PG_MAX_CONNECTIONS"
  -c logging_collector=off -c log_destination=stderr
  -c log_line_prefix='%m [%p] %q%u@%d ')
if [ -n "$PG_PRELOAD_LIBRARIES" ]; then
  PG_ARGS+=(-c shared_preload_libraries="$PG_PRELOAD_LIBRARIES")
fi
PG_ARGS+=("$@")
if [ "$(id -u)" -eq 0 ]; then
  export HOME=/var/lib/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${PG_ARGS[@]}"
fi
exec "${PG_ARGS[@]}"
