#!/usr/bin/env bash
# README command 2: set up, build, and run the whole test suite (ctest; every
# test has its own timeout).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
cd "${TQ_BUILD_DIR:-$repo/build}"
exec ctest --output-on-failure -j "$(nproc)" --timeout 600 "$@"
