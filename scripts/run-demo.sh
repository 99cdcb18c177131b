#!/usr/bin/env bash
# README command 1: set up, build, and run the main job on the embedded
# default cluster (no broker given).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
exec "${TQ_BUILD_DIR:-$repo/build}/client/tq-client" map primes 1 100000 "$@"
