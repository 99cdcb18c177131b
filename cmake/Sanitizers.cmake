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
