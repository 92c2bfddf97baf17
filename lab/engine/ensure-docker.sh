#!/usr/bin/env bash
# ensure-docker.sh - make sure a usable Docker engine answers `docker info`.
#
#   * An engine already answers (Docker Desktop, a systemd docker.service, a
#     dockerd started by an earlier run): use it, start nothing.
#   * Otherwise install Debian's docker.io if dockerd is missing and start
#     `dockerd --bridge=none --iptables=false` in the background
#     (log: /var/log/vedrun-dockerd.log, pidfile: dockerd's default).
#   * debootstrap is installed whenever it is missing (build-base-image.sh
#     needs it), even if an engine already answers.
#   * Client/daemon API mismatch: a newer client (e.g. /usr/local/bin/docker
#     28.x, API 1.50) negotiates down to the daemon's API (Debian's 20.10,
#     API 1.41) by itself. Only if negotiation is off (DOCKER_API_VERSION set
#     too high) the daemon rejects it; then the script falls back to the
#     daemon's maximum and --print-env prints the export to use.
#
# Quiet on success. Idempotent. Options:
#   --print-env   print `export ...` lines needed by later docker calls
#                 (eval "$(lab/engine/ensure-docker.sh --print-env)")
#   -h|--help
# Env: VEDRUN_DOCKERD_LOG (default /var/log/vedrun-dockerd.log)
#      VEDRUN_DOCKERD_WAIT (seconds, default 60)
set -euo pipefail

LOG=${VEDRUN_DOCKERD_LOG:-/var/log/vedrun-dockerd.log}
WAIT=${VEDRUN_DOCKERD_WAIT:-60}
PRINT_ENV=0

for arg in "$@"; do
  case "$arg" in
    --print-env) PRINT_ENV=1 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "ensure-docker: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

die() { echo "ensure-docker: ERROR: $*" >&2; exit 1; }
log_tail() {  # the last start attempt's part of the log, at most 25 lines
  local from
  from=$(grep -n '^=== ' "$LOG" 2>/dev/null | tail -n 1 | cut -d: -f1)
  sed -n "${from:-1},\$p" "$LOG" 2>/dev/null | tail -n 25 >&2 || true
}
need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root (run with sudo), or start a Docker engine yourself"
}

APT_LOG=$(mktemp /tmp/vedrun-ensure-docker-apt.XXXXXX)
trap 'rm -f "$APT_LOG"' EXIT
APT_UPDATED=0
apt_install() {
  need_root "installing $*"
  command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
  if [ "$APT_UPDATED" -eq 0 ]; then
    apt-get update -q >"$APT_LOG" 2>&1 \
      || { tail -n 20 "$APT_LOG" >&2; die "apt-get update failed"; }
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
      >>"$APT_LOG" 2>&1 \
    || { tail -n 30 "$APT_LOG" >&2; die "apt-get install $* failed"; }
}

# probe: 0 = engine answers; 1 = no engine reachable. Sets DOCKER_API_VERSION
# (and NEED_API_ENV=1) when the daemon refuses the client's API version.
NEED_API_ENV=0
probe() {
  command -v docker >/dev/null || return 1
  local out errf
  errf=$(mktemp /tmp/vedrun-ensure-docker-err.XXXXXX)
  # `docker info --format` may exit 0 with empty stdout when the daemon refuses
  # the API version, so look at stdout and stderr separately
  if out=$(timeout 20 docker info --format '{{.ServerVersion}}' 2>"$errf") && [ -n "$out" ]; then
    rm -f "$errf"; return 0
  fi
  out=$(cat "$errf"); rm -f "$errf"
  # e.g. "client version 1.50 is too new. Maximum supported API version is 1.41"
  if [[ "$out" =~ [Mm]aximum\ supported\ API\ version\ is\ ([0-9]+\.[0-9]+) ]]; then
    export DOCKER_API_VERSION="${BASH_REMATCH[1]}"
    NEED_API_ENV=1
    [ -n "$(timeout 20 docker info --format '{{.ServerVersion}}' 2>/dev/null)" ] && return 0
    die "daemon answers but rejects the client even with DOCKER_API_VERSION=$DOCKER_API_VERSION: $out"
  fi
  return 1
}

# 1. packages
pkgs=()
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || pkgs+=(debootstrap)
ENGINE_UP=0
probe && ENGINE_UP=1
if [ "$ENGINE_UP" -eq 0 ] && { ! command -v dockerd >/dev/null && [ ! -x /usr/sbin/dockerd ] \
                               || ! command -v docker >/dev/null; }; then
  pkgs+=(docker.io)
fi
if [ "${#pkgs[@]}" -gt 0 ]; then
  apt_install "${pkgs[@]}"
  # a package postinst (systemd host) may have started docker.service itself
  [ "$ENGINE_UP" -eq 1 ] || { probe && ENGINE_UP=1; } || true
fi

# 2. daemon
if [ "$ENGINE_UP" -eq 0 ]; then
  need_root "starting dockerd"
  exec 8>/run/vedrun-ensure-docker.lock
  flock 8                       # concurrent runs: only one starts dockerd
  probe && ENGINE_UP=1
fi
if [ "$ENGINE_UP" -eq 0 ]; then
  DOCKERD=$(command -v dockerd || echo /usr/sbin/dockerd)   # Debian: /usr/sbin (not in a user PATH)
  [ -x "$DOCKERD" ] || die "dockerd not found even after installing docker.io"
  PIDFILE=/var/run/docker.pid
  running_pid=""
  if [ -s "$PIDFILE" ]; then
    p=$(cat "$PIDFILE")
    if [ -d "/proc/$p" ] && grep -q dockerd "/proc/$p/comm" 2>/dev/null; then
      running_pid=$p   # starting up (or hung): do not start a second one
    else
      rm -f "$PIDFILE"  # stale
    fi
  fi
  if [ -z "$running_pid" ]; then
    mkdir -p "$(dirname "$LOG")"
    echo "=== $(date -Is) ensure-docker: starting $DOCKERD --bridge=none --iptables=false" >>"$LOG"
    # own session so it survives the calling shell / job control
    setsid nohup "$DOCKERD" --bridge=none --iptables=false </dev/null >>"$LOG" 2>&1 8>&- &
    running_pid=$!
  fi
  deadline=$((SECONDS + WAIT))
  until probe; do
    if ! [ -d "/proc/$running_pid" ]; then
      log_tail
      die "dockerd exited during startup (log: $LOG)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log_tail
      die "dockerd (pid $running_pid) did not answer 'docker info' within ${WAIT}s (log: $LOG)"
    fi
    sleep 0.5
  done
fi

# 3. sanity: the client must really be able to talk to the daemon
if ! err=$(docker version --format '{{.Server.APIVersion}}' 2>&1 >/dev/null); then
  die "'docker version' fails against the running engine: $err"
fi

if [ "$PRINT_ENV" -eq 1 ] && [ "$NEED_API_ENV" -eq 1 ]; then
  echo "export DOCKER_API_VERSION=$DOCKER_API_VERSION"
fi
exit 0
