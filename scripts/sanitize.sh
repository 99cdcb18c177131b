#!/usr/bin/env bash
# The sanitizer stages of CI (scripts/run-tests.sh runs them after the main
# suite), each in a clang-14 tree of its own beside build/:
#
#   asan  build-asan: ASan+UBSan (-O0); the unit and multi-process tests
#         (the ctests whose executables it builds: no Python package, no
#         benchmarks, no deploy/ checks), then every libFuzzer target of
#         tests/fuzz for TQ_FUZZ_SECONDS (default 25) from its seed corpus.
#   tsan  build-tsan: TSan (-O0); the unit and threading tests.
#
# -O0: clang 14 compiles these trees in 30-40% less time than at -O1 and the
# tests still run in about a minute; fuzzing does fewer executions per
# second (about a third), which the bounded CI run accepts. The prime
# sieve's sources are the exception, at -O1 (tq_optimize_in_sanitizer_trees
# in cmake/Sanitizers.cmake): at -O0 its tests took most of both trees'
# test time.
#
# Usage: scripts/sanitize.sh [asan] [tsan]   (default: $TQ_SANITIZE_STAGES,
# else "asan tsan"). Every stage prints its build and test time, wall and
# CPU. A sanitizer report anywhere, also from a broker, worker or client a
# test started (reports go to files, so none is lost in a child's stderr),
# fails the stage. Installs clang-14 and its runtimes when missing; uses
# ccache when present.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
read -r -a stages <<<"${*:-${TQ_SANITIZE_STAGES:-asan tsan}}"
fuzz_seconds="${TQ_FUZZ_SECONDS:-25}"
jobs="$(nproc)"

packages=(clang-14 libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "sanitize: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# Test executables per stage. Unit tests, then (asan) the multi-process ones
# with the binaries they start; what is not built here is not run here.
unit_targets=(common_test cpu_count_test tasks_test tq_broker_test worker_test
  runners_unit_test tq_client_unit_test tq_client_pool_test curve_keys_test
  tq_metrics_test)
process_targets=(tq-broker tq-worker tq-client tq-keygen bad_flags_test
  cluster_test hostile_peer_test status_test metrics_cluster_test
  security_cluster_test tq_client_cli_test standby_pair_test)
fuzz_targets=(envelope_fuzzer chunk_decoder_fuzzer number_parse_fuzzer
  journal_reader_fuzzer)
# Never run in a sanitizer tree: tests of the Python package, deploy/ and the
# network-namespace harness (tests/hosts), and the placeholders
# gtest_discover_tests leaves for executables not built.
exclude='_NOT_BUILT$|^python_.*_test$|^deploy_|^(multi_host|hosts_harness|broker_faults|standby_pair_hosts)_test$'

# The CPU time (user+sys, seconds) of this shell's waited-for children so
# far: cutime+cstime of /proc/$$/stat (not `times`, which in $(...) would
# read the subshell's own, empty, account).
clock_ticks="$(getconf CLK_TCK)"
cpu_now() {
  awk -v hz="$clock_ticks" '{ sub(/^.*\) /, ""); print ($14+$15)/hz }' "/proc/$$/stat"
}
# Runs "$@", then prints "<what>: wall Ws, cpu Cs" (CPU of the children).
timed() {
  local what="$1"; shift
  local t0 c0 rc=0
  t0=$(date +%s.%N); c0=$(cpu_now)
  "$@" || rc=$?
  awk -v w="$what" -v t0="$t0" -v t1="$(date +%s.%N)" -v c0="$c0" -v c1="$(cpu_now)" \
    'BEGIN { printf "sanitize: %s: wall %.0fs, cpu %.0fs\n", w, t1-t0, c1-c0 }' >&2
  return $rc
}

configure() {  # DIR SANITIZERS [cmake args...]
  local dir="$1" sanitizers="$2"; shift 2
  cmake -S "$repo" -B "$dir" -G Ninja "${launcher[@]}" \
    -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0 -gline-tables-only" \
    -DTQ_SANITIZE="$sanitizers" "$@" >/dev/null
}

# Fails (and prints them) if sanitizer reports were written to LOGS.
check_reports() {  # LOGS
  local logs="$1"
  if compgen -G "$logs/*" >/dev/null; then
    echo "sanitize: sanitizer reports:" >&2
    for f in "$logs"/*; do echo "== $f" >&2; cat "$f" >&2; done
    return 1
  fi
}

run_ctest() {  # DIR LOGS
  local dir="$1" logs="$2"
  rm -rf "$logs"; mkdir -p "$logs"
  local rc=0
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600 -E "$exclude") || rc=$?
  check_reports "$logs" || rc=1
  return $rc
}

fuzz() {  # DIR LOGS
  local dir="$1" logs="$2" rc=0 running=0 target
  local work; work="$(mktemp -d)"
  # A fuzzer is single-threaded: run one per core at a time.
  for target in "${fuzz_targets[@]}"; do
    mkdir -p "$work/$target"
    # New inputs go to the scratch corpus (first directory), never into the
    # committed seeds; a crash leaves its input in $logs, printed below.
    ( "$dir/tests/fuzz/$target" -max_total_time="$fuzz_seconds" \
        -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$logs/$target-" \
        "$work/$target" "$repo/tests/fuzz/corpus/$target" >"$work/$target.log" 2>&1 &&
      : >"$work/$target.ok" ) &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
      wait -n || true
      running=$((running - 1))
    fi
  done
  wait
  for target in "${fuzz_targets[@]}"; do
    if [ ! -e "$work/$target.ok" ]; then
      echo "sanitize: $target found a problem:" >&2
      tail -n 60 "$work/$target.log" >&2
      rc=1
    fi
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$work/$target.log" \
      | sed "s/^/sanitize: $target: /" >&2 || true
  done
  rm -rf "$work"
  return $rc
}

status=0
for stage in "${stages[@]}"; do
  case "$stage" in
    asan)
      dir="$repo/build-asan"; logs="$dir/sanitizer-logs"
      timed "asan configure" configure "$dir" "address,undefined" -DTQ_FUZZ=ON
      timed "asan build" cmake --build "$dir" -j "$jobs" --target \
        "${unit_targets[@]}" "${process_targets[@]}" "${fuzz_targets[@]}" >&2
      # exitcode: a report must not pass for a tested exit status of 1.
      export ASAN_OPTIONS="log_path=$logs/asan:exitcode=86:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1:check_initialization_order=1"
      export UBSAN_OPTIONS="log_path=$logs/ubsan:exitcode=86:print_stacktrace=1:halt_on_error=1"
      timed "asan tests" run_ctest "$dir" "$logs" || status=1
      timed "fuzzing (${#fuzz_targets[@]} x ${fuzz_seconds}s)" fuzz "$dir" "$logs" || status=1
      unset ASAN_OPTIONS UBSAN_OPTIONS
      ;;
    tsan)
      dir="$repo/build-tsan"; logs="$dir/sanitizer-logs"
      timed "tsan configure" configure "$dir" thread
      timed "tsan build" cmake --build "$dir" -j "$jobs" --target "${unit_targets[@]}" >&2
      export TSAN_OPTIONS="log_path=$logs/tsan:exitcode=86:halt_on_error=0:second_deadlock_stack=1:suppressions=$repo/tests/sanitize/tsan.supp"
      timed "tsan tests" run_ctest "$dir" "$logs" || status=1
      unset TSAN_OPTIONS
      ;;
    *) echo "sanitize: unknown stage '$stage' (asan, tsan)" >&2; exit 2 ;;
  esac
done
exit $status
