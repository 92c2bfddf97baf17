#!/usr/bin/env bash
# Build vedrun/lab-api:test and test it black-box (test/api.test.js) against its own
# PostgreSQL, Redis and Stripe stand-in containers.
#
#   lab/images/api/test/run.sh            (as root or a docker group member; about 85 s)
#
# Every container it starts is named apinode-test-*, uses --network host and ports that do not
# collide with the lab (API 13001-13005, PostgreSQL 15432, Redis 16379, Stripe 12199). It never
# touches the lab's vedfinance-* / vedrun-lab-* containers. It is idempotent: leftovers of an
# earlier run are removed first, and everything it started is removed on exit, even on failure.
# Exit status: 0 when every check passed.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
APP_DIR="$(dirname "$HERE")"
REPO_DIR="$(cd "$APP_DIR/../../.." && pwd)"
SCHEMA="$REPO_DIR/lab/images/api/schema.sql"

IMAGE=vedrun/lab-api:test
PREFIX=apinode-test-
API_PORT=13001
PG_PORT=15432
REDIS_PORT=16379
STRIPE_PORT=12199
EXTRA_PORTS="13002 13003 13004 13005"

WORK="$(mktemp -d /tmp/apinode-test.XXXXXX)"

say() { printf '\n== %s\n' "$*"; }

remove_test_containers() {
  local names
  names="$(docker ps -a --format '{{.Names}}' | grep "^${PREFIX}" || true)"
  if [ -n "$names" ]; then
    # A paused container is unpaused first so that it can be killed and removed.
    for name in $names; do docker unpause "$name" >/dev/null 2>&1 || true; done
    # shellcheck disable=SC2086 # one argument per container name
    docker rm -f -v $names >/dev/null 2>&1 || true
  fi
}

cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] && docker inspect "${PREFIX}api" >/dev/null 2>&1; then
    say "last lines of the API's log (${PREFIX}api, $(docker inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "${PREFIX}api"))"
    docker logs --tail 60 "${PREFIX}api" 2>&1 || true
  fi
  remove_test_containers
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

image_tag() { docker images "$1" --format '{{.Tag}}' | head -1; }

wait_until() { # wait_until SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "FAIL: $what not ready after ${limit}s" >&2
      return 1
    fi
    sleep 0.5
  done
}

now_ms() { date +%s%3N; }

say "cleaning leftovers of an earlier run"
remove_test_containers
for port in $API_PORT $PG_PORT $REDIS_PORT $STRIPE_PORT $EXTRA_PORTS; do
  if ss -ltnH "sport = :$port" | grep -q .; then
    echo "FAIL: port $port is already in use on this host; free it or change the port in $0" >&2
    exit 1
  fi
done

say "building $IMAGE"
if [ ! -d "$APP_DIR/node_modules" ]; then
  (cd "$APP_DIR" && npm ci --omit=dev --no-audit --no-fund)
fi
OLD_IMAGE_ID="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
t0=$(now_ms)
docker build --network host --force-rm -t "$IMAGE" "$APP_DIR" >"$WORK/build.log" 2>&1 || {
  tail -30 "$WORK/build.log" >&2
  exit 1
}
BUILD_MS=$(($(now_ms) - t0))
# The image this build replaced is left untagged: remove it (only if nothing else uses it).
if [ -n "$OLD_IMAGE_ID" ] && [ "$OLD_IMAGE_ID" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ] \
  && [ "$(docker image inspect -f '{{len .RepoTags}}' "$OLD_IMAGE_ID" 2>/dev/null)" = 0 ]; then
  docker rmi "$OLD_IMAGE_ID" >/dev/null 2>&1 || true
fi
IMAGE_MB=$(($(docker image inspect -f '{{.Size}}' "$IMAGE") / 1000000))
echo "built in ${BUILD_MS} ms (cached layers count), ${IMAGE_MB} MB"

PG_IMAGE="vedrun/lab-postgres:$(image_tag vedrun/lab-postgres)"
REDIS_IMAGE="vedrun/lab-redis:$(image_tag vedrun/lab-redis)"
STRIPE_IMAGE="vedrun/lab-stripe:$(image_tag vedrun/lab-stripe)"
for img in "$PG_IMAGE" "$REDIS_IMAGE" "$STRIPE_IMAGE"; do
  case "$img" in *:) echo "FAIL: image ${img%:} is missing; build it from lab/images first" >&2; exit 1 ;; esac
done

# Throwaway secrets for this run only.
rand() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
PG_SUPER_PASSWORD="pg-$(rand)"
APP_PASSWORD="app-$(rand)"
JWT_SECRET="jwt-$(rand)"
STRIPE_SECRET_KEY="sk_test_$(rand)"
STRIPE_WEBHOOK_SECRET="whsec_$(rand)"
DATABASE_URL="postgresql://vedfinance:${APP_PASSWORD}@127.0.0.1:${PG_PORT}/vedfinance"
REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/0"
STRIPE_API_BASE="http://127.0.0.1:${STRIPE_PORT}"
CORS_ORIGINS="https://app.vedfinance.test,http://127.0.0.1:3000/"

say "starting PostgreSQL ($PG_IMAGE), Redis ($REDIS_IMAGE), Stripe stand-in ($STRIPE_IMAGE)"
docker run -d --name "${PREFIX}postgres" --network host \
  -e PGPORT=$PG_PORT -e POSTGRES_PASSWORD="$PG_SUPER_PASSWORD" -e APP_PASSWORD="$APP_PASSWORD" \
  --tmpfs /var/lib/postgresql/data --tmpfs /backups \
  -v "$SCHEMA:/docker-entrypoint-initdb.d/10-schema.sql:ro" \
  "$PG_IMAGE" >/dev/null
docker run -d --name "${PREFIX}redis" --network host -e REDIS_PORT=$REDIS_PORT "$REDIS_IMAGE" >/dev/null
docker run -d --name "${PREFIX}stripe" --network host \
  -e STRIPE_PORT=$STRIPE_PORT -e STRIPE_SECRET_KEY="$STRIPE_SECRET_KEY" \
  -e STRIPE_WEBHOOK_SECRET="$STRIPE_WEBHOOK_SECRET" \
  -e STRIPE_WEBHOOK_URL="http://127.0.0.1:${API_PORT}/webhooks/stripe" \
  -e STRIPE_WEBHOOK_RETRY_INTERVAL=0.5 \
  "$STRIPE_IMAGE" >/dev/null
# TCP only opens once the seed (500,000 courses) is loaded: the init server listens on a socket.
wait_until 180 "PostgreSQL" docker exec "${PREFIX}postgres" pg_isready -h 127.0.0.1 -p $PG_PORT -U postgres
wait_until 30 "Redis" sh -c "docker exec ${PREFIX}redis redis-cli ping | grep -qx PONG"
wait_until 30 "Stripe stand-in" curl -fsS "http://127.0.0.1:${STRIPE_PORT}/_standin/health"

say "starting the API ($IMAGE) on 127.0.0.1:$API_PORT with --memory 256m"
mkdir -m 0700 "$WORK/data" # root-owned, as a fresh bind mount: the entrypoint must fix it
t0=$(now_ms)
docker run -d --name "${PREFIX}api" --network host --memory 256m --memory-swap 256m \
  -v "$WORK/data:/data" \
  -e API_PORT=$API_PORT -e API_VERSION=test-run \
  -e DATABASE_URL="$DATABASE_URL" -e DB_POOL_MAX=3 -e DB_POOL_TIMEOUT=2 \
  -e REDIS_URL="$REDIS_URL" -e JWT_SECRET="$JWT_SECRET" \
  -e STRIPE_SECRET_KEY="$STRIPE_SECRET_KEY" -e STRIPE_WEBHOOK_SECRET="$STRIPE_WEBHOOK_SECRET" \
  -e STRIPE_API_BASE="$STRIPE_API_BASE" -e CORS_ORIGINS="$CORS_ORIGINS" \
  "$IMAGE" >/dev/null
# Polled every 20 ms: the time is from `docker run` to the first 200.
deadline=$((SECONDS + 30))
until curl -fsS -o /dev/null "http://127.0.0.1:${API_PORT}/health" 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then echo "FAIL: the API did not answer /health 200 within 30 s" >&2; exit 1; fi
  sleep 0.02
done
HEALTH_MS=$(($(now_ms) - t0))
sleep 3
IDLE_MEM="$(docker stats --no-stream --format '{{.MemUsage}}' "${PREFIX}api")"
echo "/health answered 200 ${HEALTH_MS} ms after docker run; idle memory ${IDLE_MEM}"

say "running test/api.test.js"
set +e
IMAGE="$IMAGE" PREFIX="$PREFIX" WORK="$WORK" \
  API_URL="http://127.0.0.1:${API_PORT}" API_PORT=$API_PORT STRIPE_URL="$STRIPE_API_BASE" \
  DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" JWT_SECRET="$JWT_SECRET" \
  STRIPE_SECRET_KEY="$STRIPE_SECRET_KEY" STRIPE_WEBHOOK_SECRET="$STRIPE_WEBHOOK_SECRET" \
  STRIPE_API_BASE="$STRIPE_API_BASE" CORS_ORIGINS="$CORS_ORIGINS" \
  PG_SUPER_PASSWORD="$PG_SUPER_PASSWORD" APP_PASSWORD="$APP_PASSWORD" \
  node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$WORK/results.tap" \
    "$HERE/api.test.js"
TEST_RC=$?
set -e

say "summary"
echo "build: ${BUILD_MS} ms   image: ${IMAGE_MB} MB   /health after docker run: ${HEALTH_MS} ms   idle memory: ${IDLE_MEM}"
PASSED=$(grep -cE '^ok [0-9]+ ' "$WORK/results.tap" || true)
FAILED=$(grep -cE '^not ok [0-9]+ ' "$WORK/results.tap" || true)
sed -nE 's/^ok [0-9]+ - (.*)/PASS  \1/p; s/^not ok [0-9]+ - (.*)/FAIL  \1/p' "$WORK/results.tap"
echo "${PASSED} passed, ${FAILED} failed"
if [ "$TEST_RC" -ne 0 ] || [ "$FAILED" -ne 0 ] || [ "$PASSED" -eq 0 ]; then
  echo "RESULT: FAIL"
  exit 1
fi
echo "RESULT: PASS"
