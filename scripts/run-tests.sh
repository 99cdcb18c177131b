#!/usr/bin/env bash
# README command 2: set up, build, and run the whole test suite (ctest; every
# test has its own timeout), then the sanitizer stages (scripts/sanitize.sh:
# ASan+UBSan, fuzzing, TSan, each in a tree of its own).
#
# Arguments go to ctest (e.g. -R Cluster); TQ_SANITIZE_STAGES chooses the
# sanitizer stages ("asan tsan", the default; "asan", "tsan", "none"). A
# failing main suite does not stop the stages: CI reports both.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
status=0
(cd "${TQ_BUILD_DIR:-$repo/build}" &&
  ctest --output-on-failure -j "$(nproc)" --timeout 600 "$@") || status=$?
stages="${TQ_SANITIZE_STAGES:-asan tsan}"
if [ "$stages" != "none" ]; then
  "$repo/scripts/sanitize.sh" $stages || status=1
fi
exit $status
