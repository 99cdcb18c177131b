# Sanitizer and fuzzing builds (scripts/sanitize.sh configures them in trees
# of their own: build-asan, build-tsan). Both need clang (Debian 12: clang-14
# and libclang-rt-14-dev for the runtimes and libFuzzer).
#
# TQ_SANITIZE: "" (default, a normal build), "address,undefined" or "thread".
#   Every target, tests included, is compiled and linked with it. UBSan does
#   not recover: the first finding fails the test. The dependencies (Debian's
#   libzmq, Abseil, protobuf) are not instrumented; see
#   tests/sanitize/tsan.supp for what that costs under TSan.
# TQ_FUZZ: build the libFuzzer targets of tests/fuzz. Our code is compiled
#   with coverage for the fuzzer (-fsanitize=fuzzer-no-link), the targets
#   link libFuzzer's main. Needs TQ_SANITIZE=address,undefined (the fuzzers
#   find memory errors, not only crashes).
set(TQ_SANITIZE "" CACHE STRING
    "Build with sanitizers: \"\", \"address,undefined\" or \"thread\"")
set_property(CACHE TQ_SANITIZE PROPERTY STRINGS "" "address,undefined" "thread")
option(TQ_FUZZ "Build the libFuzzer targets (tests/fuzz); clang only" OFF)

# tq_optimize_in_sanitizer_trees(SOURCE...): in a sanitizer tree (-O0,
# scripts/sanitize.sh), the calling directory's SOURCEs are built at -O1,
# without the -O0 precompiled header (clang refuses one made under another
# optimisation level); nothing in a normal build. For the prime sieve's
# loops: at -O0 their tests (ranges up to 1e10) took about 300 s of the
# ASan tree's test CPU and 180 s of the TSan tree's, most of CI's sanitizer
# time. -O1 keeps every check of both sanitizers.
function(tq_optimize_in_sanitizer_trees)
  if(NOT TQ_SANITIZE STREQUAL "")
    set_source_files_properties(${ARGN} PROPERTIES
      COMPILE_OPTIONS -O1 SKIP_PRECOMPILE_HEADERS ON)
  endif()
endfunction()

if(TQ_SANITIZE STREQUAL "")
  if(TQ_FUZZ)
    message(FATAL_ERROR "TQ_FUZZ needs TQ_SANITIZE=address,undefined")
  endif()
  return()
endif()
if(NOT TQ_SANITIZE MATCHES "^(address,undefined|address|undefined|thread)$")
  message(FATAL_ERROR "TQ_SANITIZE=${TQ_SANITIZE}: use address,undefined or thread")
endif()
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "TQ_SANITIZE and TQ_FUZZ need clang "
                      "(-DCMAKE_CXX_COMPILER=clang++-14)")
endif()

set(tq_sanitize_flags -fsanitize=${TQ_SANITIZE} -fno-omit-frame-pointer)
if(TQ_SANITIZE MATCHES "undefined")
  # A finding is a failure, not a line in a log nobody reads.
  list(APPEND tq_sanitize_flags -fno-sanitize-recover=all)
endif()
add_compile_options(${tq_sanitize_flags})
add_link_options(${tq_sanitize_flags})
if(TQ_FUZZ)
  if(NOT TQ_SANITIZE MATCHES "address")
    message(FATAL_ERROR "TQ_FUZZ needs TQ_SANITIZE=address,undefined")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
