// libprimesieve, opened the first time a range needs it rather than linked.
//
// Why: linking libprimesieve runs its static initialisers in every process
// that links it, used or not: a CPU-cache probe of 21 sysfs files and
// libgcc's CPU-feature probe (cpuid, which traps in a VM). That was ~30 %
// of tq-client's start-up CPU, for a library that only ranges past
// kWheelCountMaxLast (counting) or kWheelSieveMaxLast (marking) use; our
// wheel sieve does all the rest. Only libprimesieve's C API is called
// (primesieve.h, primesieve/iterator.h): it reports errors as values, so no
// C++ exception crosses from the library's C++ runtime into ours.
//
// Thread safety: LoadPrimesieve may be called from any thread; the
// functions it returns are libprimesieve's, thread-safe on separate
// iterators.
#ifndef TQ_TASKS_PRIMESIEVE_LIBRARY_H_
#define TQ_TASKS_PRIMESIEVE_LIBRARY_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "primesieve/iterator.h"

namespace tq {

struct PrimesieveLibrary {
  uint64_t (*count_primes)(uint64_t start, uint64_t stop);
  uint64_t (*get_max_stop)();
  void (*init)(primesieve_iterator* it);
  void (*free_iterator)(primesieve_iterator* it);
  void (*jump_to)(primesieve_iterator* it, uint64_t start, uint64_t stop_hint);
  void (*generate_next_primes)(primesieve_iterator* it);
};

// The library, opened once per process (TQ_PRIMESIEVE_SONAME, the soname
// of the libprimesieve-dev this was built with) and set to one thread per
// call: the worker's pool already runs one chunk per core. kUnavailable,
// naming the file and dlerror(), if it cannot be opened or lacks a function.
absl::StatusOr<const PrimesieveLibrary*> LoadPrimesieve();

}  // namespace tq

#endif  // TQ_TASKS_PRIMESIEVE_LIBRARY_H_
