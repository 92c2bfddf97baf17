#!/usr/bin/env bash
# build-base-image.sh - build the drill-lab base image without pulling anything:
#   debootstrap --variant=minbase --include=ca-certificates,python3 bookworm ROOTFS MIRROR
#   tar -C ROOTFS -c . | docker import - vedrun/base:bookworm
#
# Skips at once when the image exists with label org.vedrun.base.version equal
# to VEDRUN_BASE_VERSION, so a second run is instant. Bump VEDRUN_BASE_VERSION
# (or set VEDRUN_BASE_FORCE=1) to rebuild on purpose.
#
# Env:
#   VEDRUN_BASE_IMAGE    image name           (default vedrun/base:bookworm)
#   VEDRUN_BASE_VERSION  content version      (default 1)
#   VEDRUN_BASE_SUITE    Debian suite         (default bookworm)
#   VEDRUN_DEBIAN_MIRROR mirror URL           (default: first Debian archive in
#                        /etc/apt/sources.list{,.d/*.list,.d/*.sources})
#   VEDRUN_CACHE_DIR     cache dir            (default /var/cache/vedrun)
#   VEDRUN_BASE_FORCE=1  rebuild even if the image is current
# Needs root (debootstrap) on a Linux host with apt; runs ensure-docker.sh first.
set -euo pipefail

IMAGE=${VEDRUN_BASE_IMAGE:-vedrun/base:bookworm}
VERSION=${VEDRUN_BASE_VERSION:-1}
SUITE=${VEDRUN_BASE_SUITE:-bookworm}
CACHE=${VEDRUN_CACHE_DIR:-/var/cache/vedrun}
INCLUDE=ca-certificates,python3
LABEL_KEY=org.vedrun.base.version
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "build-base-image: ERROR: $*" >&2; exit 1; }
case "${1:-}" in
  -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  "") ;;
  *) echo "build-base-image: unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

# engine (+ debootstrap) present; pick up DOCKER_API_VERSION if one is needed
env_out=$("$HERE/ensure-docker.sh" --print-env) || die "ensure-docker.sh failed"
eval "$env_out"

current_version() {
  docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$IMAGE" 2>/dev/null || true
}
is_current() { [ "${VEDRUN_BASE_FORCE:-0}" != 1 ] && [ "$(current_version)" = "$VERSION" ]; }

is_current && exit 0

[ "$(id -u)" -eq 0 ] || die "debootstrap needs root (run with sudo)"
DEBOOTSTRAP=$(command -v debootstrap || echo /usr/sbin/debootstrap)
[ -x "$DEBOOTSTRAP" ] || die "debootstrap not found (ensure-docker.sh should have installed it)"

# Debian archive mirror from apt's sources (one-line and deb822 formats).
# Prefer an entry whose suite is exactly $SUITE; skip -security, cdrom:, mirror+.
find_mirror() {
  local files=()
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  local f
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ "${#files[@]}" -gt 0 ] || return 0
  awk -v suite="$SUITE" '
    function consider(uri, suites,   n, i, s) {
      if (uri !~ /^https?:\/\//) return
      n = split(suites, s, /[ \t]+/)
      for (i = 1; i <= n; i++) if (s[i] == suite && !exact) { exact = uri }
      if (!any && uri !~ /security/ && suites ~ suite) any = uri
    }
    function flush() {
      if (isdeb && enabled) { n = split(uris, u, /[ \t]+/); for (j = 1; j <= n; j++) if (u[j] != "") consider(u[j], suites) }
      isdeb = 0; enabled = 1; uris = ""; suites = ""
    }
    FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
    /^[ \t]*#/ { next }
    deb822 {
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      line = $0; key = tolower(line); sub(/:.*/, "", key); sub(/^[^:]*:[ \t]*/, "", line)
      if (key == "types" && line ~ /(^|[ \t])deb([ \t]|$)/) isdeb = 1
      else if (key == "uris") uris = line
      else if (key == "suites") suites = line
      else if (key == "enabled" && tolower(line) ~ /^no/) enabled = 0
      next
    }
    $1 == "deb" {
      i = 2
      if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      consider($i, $(i + 1))
    }
    END { flush(); if (exact) print exact; else if (any) print any }
  ' "${files[@]}"
}
MIRROR=${VEDRUN_DEBIAN_MIRROR:-$(find_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
MIRROR=${MIRROR%/}

mkdir -p "$CACHE/debs"
exec 9>"$CACHE/build-base.lock"
flock 9                          # serialize concurrent builds
is_current && exit 0             # someone else built it while we waited

ROOTFS=$(mktemp -d "$CACHE/rootfs.XXXXXX")
LOGF="$CACHE/build-base.log"
DBS_PID=
cleanup() {
  if [ -n "$DBS_PID" ]; then     # interrupted: stop debootstrap's whole process group
    kill -TERM -- "-$DBS_PID" 2>/dev/null || true
    local _
    for _ in $(seq 50); do pgrep -g "$DBS_PID" >/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$DBS_PID" 2>/dev/null || true
    wait "$DBS_PID" 2>/dev/null || true
  fi
  # debootstrap mounts proc/sys inside the target; never rm -rf through a mount
  local m
  awk -v d="$ROOTFS" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r \
    | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM   # so the EXIT cleanup runs on Ctrl-C / kill too

: >"$LOGF"
echo "build-base-image: building $IMAGE (version $VERSION) from $MIRROR $SUITE; log: $LOGF" >&2
setsid "$DEBOOTSTRAP" --variant=minbase --include="$INCLUDE" --cache-dir="$CACHE/debs" \
    "$SUITE" "$ROOTFS" "$MIRROR" >>"$LOGF" 2>&1 &
DBS_PID=$!     # own process group (setsid) + wait: the INT/TERM trap can stop all of it
wait "$DBS_PID" || { DBS_PID=; tail -n 25 "$LOGF" >&2; die "debootstrap failed (log: $LOGF)"; }
DBS_PID=

# slim + make it container friendly
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb \
       "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/log/bootstrap.log
# like the official images: services must not start inside `apt-get install`
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"
chroot "$ROOTFS" python3 -c 'import ssl' >>"$LOGF" 2>&1 \
  || die "python3 missing/broken in rootfs (log: $LOGF)"

OLD_ID=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
tar --numeric-owner -C "$ROOTFS" -c . \
  | docker import \
      --change "LABEL $LABEL_KEY=$VERSION" \
      --change "LABEL org.vedrun.base.suite=$SUITE" \
      --change "LABEL org.vedrun.base.mirror=$MIRROR" \
      --change "ENV LANG=C.UTF-8" \
      --change 'CMD ["/bin/bash"]' \
      - "$IMAGE" >>"$LOGF" 2>&1 \
  || { tail -n 10 "$LOGF" >&2; die "docker import failed (log: $LOGF)"; }

[ "$(current_version)" = "$VERSION" ] || die "imported $IMAGE but label $LABEL_KEY != $VERSION"
# a rebuild leaves the previous image untagged (<none>); drop it unless still in use
if [ -n "$OLD_ID" ] && [ "$(docker image inspect --format '{{len .RepoTags}}' "$OLD_ID" 2>/dev/null)" = 0 ]; then
  docker rmi "$OLD_ID" >/dev/null 2>&1 || true
fi
echo "build-base-image: built $IMAGE ($(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
