#!/usr/bin/env bash
# Installs what tq needs from Debian 12's packages (only what is missing, so a
# second run is fast), configures and builds tq in Release into build/, and
# as root installs tq-broker, tq-worker and tq-client into /usr/local/bin.
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
  # multi-host tests run hosts as network namespaces
  iproute2
)

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
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs="$(nproc)"
# Build progress goes to stderr: stdout is the job's output (run-demo.sh).
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$build" -j "$jobs" >&2
if [ "$(id -u)" -eq 0 ]; then
  cmake --install "$build" --prefix /usr/local >/dev/null
fi
