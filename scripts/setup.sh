#!/usr/bin/env bash
# Installs what tq needs from Debian 12's packages (only what is missing, so a
# second run is fast), configures and builds tq in Release into build/, and
# as root installs tq-broker, tq-worker and tq-client into /usr/local/bin and
# the Python package into /usr/local/lib/python3.11/dist-packages/tq (so
# /usr/bin/python3 -c "import tq" works from any directory).
# Sourced by run-demo.sh and run-tests.sh; runs as root (or with sudo).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TQ_BUILD_DIR:-$repo/build}"

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config
  # the stack
  libzmq3-dev cppzmq-dev libprotobuf-dev protobuf-compiler libabsl-dev
  prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  # fast prime sieve (primes kernel) and its CLI (reference in benchmarks)
  libprimesieve-dev primesieve
  # benchmarks compare against the Python baseline
  python3
  # the Python package (python/tq): pybind11 and the headers of Debian's
  # Python 3.11 build tq._native; workers' runners and the package need
  # cloudpickle; pytest runs its tests (all for /usr/bin/python3, which is
  # the interpreter `import tq` works with after an install)
  pybind11-dev python3-dev python3-cloudpickle python3-pytest
  # multi-host tests run hosts as network namespaces (tests/hosts); faults
  # are iptables rules in them, added latency an NFQUEUE delayer
  iproute2 iptables libnetfilter-queue-dev
  # deploy/ tests: promtool and a Prometheus server (dashboard test)
  prometheus
)
# deploy/ tests also need node + npm (Kubernetes schemas, Dockerfile lint) and
# kubectl (kustomize). Each only when its command is missing: NodeSource's
# nodejs provides npm itself and conflicts with Debian's npm package, and an
# existing kubectl is newer than Debian's kubernetes-client (1.20).
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
command -v kubectl >/dev/null || packages+=(kubernetes-client)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # Debian's prometheus package starts a system Prometheus on :9090; the tests
  # start their own on ephemeral ports, so forbid service starts (policy-rc.d,
  # as container images do) while installing, unless a policy already exists.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$(trap -p EXIT)" ]; then $sudo rm -f "$policy"; trap - EXIT; fi
fi

# npm packages of the deploy/ tests, only when node_modules is missing or
# older than the lock file's contents (the lock's hash is kept beside them).
deploy_tests="$repo/tests/deploy"
lock_hash="$(sha256sum "$deploy_tests/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$deploy_tests/node_modules/.tq-lock-sha256" 2>/dev/null)" != "$lock_hash" ]; then
  echo "setup: npm ci in tests/deploy" >&2
  (cd "$deploy_tests" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$lock_hash" >"$deploy_tests/node_modules/.tq-lock-sha256"
fi

jobs="$(nproc)"
# Build progress goes to stderr: stdout is the job's output (run-demo.sh).
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$build" -j "$jobs" >&2
if [ "$(id -u)" -eq 0 ]; then
  cmake --install "$build" --prefix /usr/local >/dev/null
fi
