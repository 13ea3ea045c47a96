#!/usr/bin/env bash
# The deployment, end to end: build both images, run the stack (train, then serve) with MNIST
# from $MNIST_DIR and a short training configuration, wait until the service is healthy, check
# real answers from /predict (a PNG) and V2 infer, train again with `run --rm trainer` and check
# that the same service container answers with version 2. Tears everything down, also on
# failure. Fails, never skips, when Docker or Compose is missing.
#
# Environment: MNIST_DIR (required: a folder with the four MNIST files), BASE_IMAGE (default
# python:3.12-slim), COMPOSE (default: `docker compose` if present, else `docker-compose`).
# Uses its own project name and a free port, so it never touches a user's stack.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "compose-test: FAIL: $*" >&2; exit 1; }
# Timings of each stage, printed as a table at the end.
timings=()
stage_start() { stage_name=$1; stage_t0=$SECONDS; echo "--- $1"; }
stage_end() { timings+=("$(printf '%-34s %4d s' "$stage_name" $((SECONDS - stage_t0)))"); }

command -v docker >/dev/null || fail "docker is not installed"
docker info >/dev/null 2>&1 || fail "no Docker daemon answers (docker info failed)"
if [ -z "${COMPOSE:-}" ]; then
  if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi
fi
$COMPOSE version >/dev/null 2>&1 || fail "Compose ($COMPOSE) is not installed"
[ -n "${MNIST_DIR:-}" ] || fail "MNIST_DIR is not set: point it at a folder with the MNIST files"
MNIST_DIR=$(cd "$MNIST_DIR" && pwd)  # absolute: compose reads a bare name as a volume name
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || fail "$PYTHON not found: run make install"

project=digitnet-ci-$$
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
# Read by docker-compose.yml. Three epochs of one hidden layer of 128: ~96% in seconds.
export MNIST_DIR PORT=$port PUBLISH_ADDRESS=127.0.0.1 MODEL_NAME=mnist \
       TRAIN_ARGS="--epochs 3 --hidden 128" MODEL_POLL_SECONDS=1
export BASE_IMAGE=${BASE_IMAGE:-python:3.12-slim}
# Only this file: a user's docker-compose.override.yml must not change what is tested.
# shellcheck disable=SC2086  # COMPOSE may be two words
compose() { $COMPOSE --file docker-compose.yml --project-name "$project" "$@"; }

cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    echo "compose-test: failed (exit $status); the stack's logs:" >&2
    compose logs --no-color --tail 100 >&2 || true
  fi
  local t0=$SECONDS
  compose down --volumes --remove-orphans >/dev/null 2>&1 || true
  echo "--- tore down the stack in $((SECONDS - t0)) s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "compose-test: project $project, $($COMPOSE version --short 2>/dev/null || $COMPOSE version | head -1),"
echo "  base image $BASE_IMAGE, MNIST from $MNIST_DIR, service on $url"

stage_start "build images"
compose build
docker image ls --filter 'reference=digitnet-*' --format '{{.Repository}}:{{.Tag}} {{.Size}}' | sed 's/^/  image /'
stage_end

stage_start "train v1 and start the service"
compose up --detach
stage_end

stage_start "wait until the service is healthy"
container=$(compose ps -q service)
[ -n "$container" ] || fail "the service container was not created"
health=starting
for _ in $(seq 1 120); do
  health=$(docker inspect --format '{{.State.Health.Status}}' "$container")
  [ "$health" = healthy ] && break
  sleep 1
done
[ "$health" = healthy ] || fail "the service is $health after 120 s"
stage_end
compose logs --no-color trainer | grep -E 'test accuracy|bundle:' || true

stage_start "check answers of version 1"
"$PYTHON" scripts/compose_check.py --url "$url" --version 1
stage_end

started=$(docker inspect --format '{{.State.StartedAt}} restarts={{.RestartCount}}' "$container")
stage_start "train v2 with run --rm trainer"
compose run --rm -T trainer
stage_end

stage_start "check the live service picks up v2"
"$PYTHON" scripts/compose_check.py --url "$url" --version 2 --wait 60
[ "$(docker inspect --format '{{.State.StartedAt}} restarts={{.RestartCount}}' "$container")" = "$started" ] \
  || fail "the service container restarted: version 2 must be picked up live"
echo "same service container, not restarted ($started)"
stage_end

echo
echo "compose-test: PASS in $SECONDS s"
printf '  %s\n' "${timings[@]}"
