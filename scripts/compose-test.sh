#!/usr/bin/env bash
# The deployment, end to end: build the three images, run the stack (train, then three replicas
# of the service behind the proxy) with MNIST from $MNIST_DIR and a short training configuration,
# wait until every replica is healthy, check real answers from /predict (a PNG) and V2 infer
# through the proxy, then the topology (scripts/topology_check.py): request ids and errors of
# the proxy, its limits, 200 slow clients, the spread over the replicas, kill -9 of a replica
# under load, and version 2 trained with `run --rm trainer` under load and served live by every
# replica. Tears everything down, also on failure. Fails, never skips, when Docker or Compose is
# missing.
#
# Environment: MNIST_DIR (required: a folder with the four MNIST files), BASE_IMAGE (default
# python:3.12-slim), PROXY_BASE_IMAGE (default nginx:1.30), COMPOSE (default: `docker compose`
# if present, else `docker-compose`). Uses its own project name and a free port, so it never
# touches a user's stack. Sends traffic only to 127.0.0.1; every load is bounded.
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
replicas=3
poll_seconds=1
# Read by docker-compose.yml. Three epochs of one hidden layer of 128: ~96% in seconds.
export MNIST_DIR PORT=$port PUBLISH_ADDRESS=127.0.0.1 MODEL_NAME=mnist \
       TRAIN_ARGS="--epochs 3 --hidden 128" MODEL_POLL_SECONDS=$poll_seconds
# Behind Docker's userland proxy every client on this host has one address (the network's
# gateway), so the per-client limits would throttle the load checks: they are set out of the
# way here, and checked on a second proxy with low limits (topology_check.py limits).
export PROXY_RATE=1000000 PROXY_BURST=1000000 PROXY_CONNECTIONS=60000  # nginx: < 65536
export BASE_IMAGE=${BASE_IMAGE:-python:3.12-slim} PROXY_BASE_IMAGE=${PROXY_BASE_IMAGE:-nginx:1.30}
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
echo "  base images $BASE_IMAGE and $PROXY_BASE_IMAGE, MNIST from $MNIST_DIR, proxy on $url"
topology() { PYTHONPATH=. "$PYTHON" scripts/topology_check.py "$1" --url "$url" --project "$project" "${@:2}"; }

stage_start "build images"
compose build
docker image ls --filter 'reference=digitnet-*' --format '{{.Repository}}:{{.Tag}} {{.Size}}' | sed 's/^/  image /'
stage_end

stage_start "train v1, start $replicas replicas and the proxy"
compose up --detach --scale service=$replicas
stage_end

stage_start "wait until every replica is healthy and the proxy answers"
mapfile -t containers < <(compose ps -q service)
[ "${#containers[@]}" -eq "$replicas" ] || fail "${#containers[@]} service containers, not $replicas"
for container in "${containers[@]}"; do
  health=starting
  for _ in $(seq 1 120); do
    health=$(docker inspect --format '{{.State.Health.Status}}' "$container")
    [ "$health" = healthy ] && break
    sleep 1
  done
  [ "$health" = healthy ] || fail "replica $container is $health after 120 s"
done
ready() { "$PYTHON" -c "import urllib.request; urllib.request.urlopen('$url/v2/health/ready', timeout=2)" 2>/dev/null; }
for _ in $(seq 1 30); do ready && break; sleep 1; done
ready || fail "the proxy does not answer $url/v2/health/ready after 30 s"
stage_end
compose logs --no-color trainer | grep -E 'test accuracy|bundle:' || true

stage_start "check answers of version 1"
"$PYTHON" scripts/compose_check.py --url "$url" --version 1 --wait 30
stage_end

stage_start "proxy: request ids, errors, body limit"
topology proxy
stage_end

stage_start "proxy: limits on a second proxy"
topology limits
stage_end

stage_start "200 slow clients beside a normal one"
topology slow-clients --seconds 10
stage_end

stage_start "load spread over the replicas"
topology spread --seconds 8
stage_end

stage_start "kill -9 of a replica under load"
topology kill --seconds 5
stage_end

stage_start "train v2 under load, served by every replica"
# shellcheck disable=SC2086  # COMPOSE may be two words
topology new-version --version 2 --poll-seconds "$poll_seconds" \
  --train-command "$COMPOSE --file docker-compose.yml --project-name $project run --rm -T trainer"
"$PYTHON" scripts/compose_check.py --url "$url" --version 2
stage_end

echo
echo "compose-test: PASS in $SECONDS s"
printf '  %s\n' "${timings[@]}"
