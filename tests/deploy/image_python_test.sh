#!/usr/bin/env bash
# Opt-in end-to-end test of the container image (deploy/docker/Dockerfile)
# with Python: builds it with podman, starts a tq-broker and a tq-worker from
# it as deploy/k8s/overlays/python runs them (--allow-code=python on both,
# CurveZMQ keys with a code-client allowlist; uid 65532, read-only root fs,
# no capabilities, a tmpfs /tmp) on the host network with the broker on an
# ephemeral loopback port, and runs Python jobs with the image's python3:
#   1. the Kubernetes example deploy/k8s/examples/python-client-job/collatz.py
#      (checks its printed answer);
#   2. image_reach.py: what shipped code can reach inside the worker (checks
#      what the README says: the worker's uid and key, a read-only working
#      directory and tq package, a writable /tmp);
# then drains the worker (SIGTERM: exit 0); then
#   3. the same function on a worker that keeps code away from its key
#      (root with only SETUID, SETGID and KILL, --code-user=nobody): the
#      runner is uid 65534 and cannot read the key; this worker drains too.
#
# Skipped (exit 77) unless TQ_TEST_IMAGE=1: building the image takes minutes
# (about 5 on 2 cores) and CI reaches no image registry. The base image
# `debian:12` is made locally with make_base_image.sh (debootstrap from the
# apt mirror, about 3 minutes) when podman does not have it. Needs root,
# podman, runc and debootstrap. Podman settings: podman.conf beside this
# file unless CONTAINERS_CONF is set.
#   TQ_TEST_IMAGE=1 ctest -R deploy_image_python --output-on-failure
#   TQ_TEST_IMAGE=1 TQ_TEST_IMAGE_REF=localhost/tq:dev bash image_python_test.sh REPO
# (TQ_TEST_IMAGE_REF: use an image built already; nothing is built or removed.)
set -euo pipefail

if [ "${TQ_TEST_IMAGE:-}" != "1" ]; then
  echo "SKIP: set TQ_TEST_IMAGE=1 to build the tq image with podman and run a" \
       "Python job from it (takes minutes; needs podman, no registry)"
  exit 77
fi
repo="$(cd "${1:-$(dirname "$0")/../..}" && pwd)"
here="$repo/tests/deploy"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/podman.conf}"
for tool in podman timeout; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (apt-get install podman runc debootstrap)"; exit 1; }
done

id="tq-imgtest-$$"
work="$(mktemp -d)"
image="${TQ_TEST_IMAGE_REF:-localhost/$id:latest}"
cleanup() {
  # One at a time: podman rm stops at the first name that is gone.
  for c in broker worker client; do podman rm -f -t 0 "$id-$c" >/dev/null 2>&1 || true; done
  if [ -z "${TQ_TEST_IMAGE_REF:-}" ]; then podman rmi -f "$image" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL: $*"; for c in broker worker; do echo "--- $c log:"; podman logs "$id-$c" 2>&1 | tail -20 || true; done; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# 1. The image (and its base, when missing).
if [ -z "${TQ_TEST_IMAGE_REF:-}" ]; then
  if ! podman image exists docker.io/library/debian:12; then
    t0=$(now)
    timeout 900 bash "$here/make_base_image.sh" docker.io/library/debian:12
    echo "base image: $(since "$t0")"
  fi
  t0=$(now)
  # --layers=false: no cached layers (nor a 1 GB build-stage image) stay.
  timeout 2400 podman build --pull=never --layers=false -f "$repo/deploy/docker/Dockerfile" \
    -t "$image" "$repo" >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log"; fail "podman build"; }
  echo "built $image: $(since "$t0")"
fi
echo "image size: $(podman image inspect --format '{{.Size}}' "$image") bytes"

# 2. Keys as the python overlay's Secrets hold them, one directory per pod,
# owned by the image's user (rootful podman: uid 65532 in and out).
run() { podman run --rm --network=host "$@"; }
mkdir -p "$work/gen" "$work/broker/workers" "$work/broker/code-clients" "$work/worker" \
  "$work/root-worker" "$work/client"
chown 65532:65532 "$work/gen"
for name in broker worker code-client; do
  run -v "$work/gen:/keys" "$image" tq-keygen "$name" --out-dir=/keys >/dev/null
done
cp "$work/gen/broker.key" "$work/broker/"
cp "$work/gen/worker.pub" "$work/broker/workers/"
cp "$work/gen/code-client.pub" "$work/broker/code-clients/"
cp "$work/gen/worker.key" "$work/gen/broker.pub" "$work/worker/"
cp "$work/gen/code-client.key" "$work/gen/broker.pub" "$work/client/"
chown -R 65532:65532 "$work/broker" "$work/worker" "$work/client"
find "$work/broker" "$work/worker" "$work/client" -name '*.key' -exec chmod 0400 {} +
cp -p "$work/worker/worker.key" "$work/worker/broker.pub" "$work/root-worker/"
chown -R 0:0 "$work/root-worker"

# 3. Broker and worker, locked down as in Kubernetes.
locked=(--network=host --read-only --tmpfs=/tmp --cap-drop=ALL
        --security-opt=no-new-privileges)
podman run -d --name "$id-broker" "${locked[@]}" -v "$work/broker:/etc/tq/keys:ro" \
  "$image" tq-broker --listen='tcp://127.0.0.1:*' --verbose \
  --curve-key=/etc/tq/keys/broker.key --curve-workers=/etc/tq/keys/workers \
  --allow-code=python --curve-code-clients=/etc/tq/keys/code-clients >/dev/null
port=""
for _ in $(seq 100); do
  port=$(podman logs "$id-broker" 2>/dev/null | sed -n 's|^listening on tcp://127.0.0.1:\([0-9]*\)$|\1|p')
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "the broker printed no port"
broker="tcp://127.0.0.1:$port"
echo "broker on $broker"
start_worker() {  # KEY_DIR [podman run flags...] -- [tq-worker flags...]
  local keys="$1"; shift
  local flags=()
  while [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  podman run -d --name "$id-worker" "${locked[@]}" --cpus=1 "${flags[@]}" \
    -v "$keys:/etc/tq/keys:ro" "$image" tq-worker --broker="$broker" --verbose \
    --allow-code=python --curve-key=/etc/tq/keys/worker.key \
    --curve-server-key=/etc/tq/keys/broker.pub "$@" >/dev/null
  for _ in $(seq 300); do
    podman logs "$id-worker" 2>&1 | grep -q welcomed && break
    sleep 0.1
  done
  podman logs "$id-worker" 2>&1 | grep -q welcomed || fail "the worker was not welcomed"
  podman logs "$id-worker" 2>&1 | grep "runs python"
}
drain_worker() {
  local t0; t0=$(now)
  podman stop -t 30 "$id-worker" >/dev/null
  code=$(podman inspect --format '{{.State.ExitCode}}' "$id-worker")
  [ "$code" = 0 ] || fail "the worker exited $code after SIGTERM"
  echo "worker drained on SIGTERM, exit 0 ($(since "$t0"))"
  podman rm "$id-worker" >/dev/null
}
start_worker "$work/worker" --

# 4. Python clients: the image's python3, the code-client key.
client() {
  timeout 300 podman run --rm --name "$id-client" "${locked[@]}" \
    -v "$work/client:/etc/tq/keys:ro" -e TQ_BROKER="$broker" \
    -e TQ_CURVE_KEY=/etc/tq/keys/code-client.key \
    -e TQ_CURVE_SERVER_KEY=/etc/tq/keys/broker.pub "$@"
}
t0=$(now)
out=$(client -v "$repo/deploy/k8s/examples/python-client-job:/etc/tq/scripts:ro" \
  "$image" python3 /etc/tq/scripts/collatz.py 100000) || fail "collatz.py: exit $?"
echo "collatz.py 100000: $out ($(since "$t0"))"
[ "$out" = "longest Collatz chain below 100000: 77031 (350 steps)" ] || fail "collatz.py printed '$out'"

out=$(client -v "$here/image_reach.py:/etc/tq/scripts/image_reach.py:ro" \
  "$image" python3 /etc/tq/scripts/image_reach.py) || fail "image_reach.py: exit $?"
echo "shipped code can reach: $out"
expected='{"cwd": "/", "cwd_writable": false, "sys_path_0": "/", "tmp_writable": true, "tq_package_writable": false, "uid": 65532, "worker_key": "readable"}'
[ "$out" = "$expected" ] || fail "image_reach.py: expected $expected"

# 5. SIGTERM drains the worker: exit 0.
drain_worker

# 6. A root worker with only the capabilities to switch users and signal
# its runners: shipped code runs as nobody and cannot read the key.
start_worker "$work/root-worker" --user=0:0 --cap-add=SETUID,SETGID,KILL -- --code-user=nobody
out=$(client -v "$here/image_reach.py:/etc/tq/scripts/image_reach.py:ro" \
  "$image" python3 /etc/tq/scripts/image_reach.py) || fail "image_reach.py (--code-user): exit $?"
echo "with --code-user=nobody: $out"
expected='{"cwd": "/", "cwd_writable": false, "sys_path_0": "/", "tmp_writable": true, "tq_package_writable": false, "uid": 65534, "worker_key": "PermissionError"}'
[ "$out" = "$expected" ] || fail "image_reach.py (--code-user): expected $expected"
drain_worker
echo "PASS: Python jobs ran through a broker and workers from $image"
