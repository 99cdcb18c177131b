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
build="${TQ_BUILD_DIR:-$repo/build}"
main_status=0
(cd "$build" && ctest --output-on-failure -j "$(nproc)" --timeout 600 "$@") ||
  main_status=$?
status=$main_status
stages="${TQ_SANITIZE_STAGES:-asan tsan}"
if [ "$stages" != "none" ]; then
  "$repo/scripts/sanitize.sh" $stages || status=1
fi
# CI shows the end of the log: name the main suite's failures there, and run
# them once more alone (their output follows), which tells a failure that
# needs the load of the whole suite from one that fails every time. The
# status stays a failure either way.
failed="$build/Testing/Temporary/LastTestsFailed.log"
if [ "$main_status" -ne 0 ] && [ -s "$failed" ]; then
  echo "run-tests: the main suite failed these tests:"
  sed 's/^/  /' "$failed"
  echo "run-tests: running them once more, one at a time:"
  (cd "$build" && ctest --rerun-failed --output-on-failure --timeout 600) || true
fi
exit $status
