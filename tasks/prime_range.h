// Counting the primes in a contiguous range [first, last] of uint64, the
// `primes` task's count form (its bitmap form is tasks/prime_wheel.h): a
// segmented sieve where it pays (the wheel sieve of prime_wheel.h up to
// kWheelCountMaxLast, libprimesieve past it), the per-item test
// (miller_rabin.h) where it does not. Thread-safe: no shared
// state (see the note on primesieve's thread count in prime_range.cc).
#ifndef TQ_TASKS_PRIME_RANGE_H_
#define TQ_TASKS_PRIME_RANGE_H_

#include <cstdint>
#include <exception>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tq {

// The largest `last` counted by our wheel sieve (CountPrimesByWheel); past
// it, libprimesieve's count. The wheel pre-sieves the primes 7..163 on
// every call; primesieve 11 pre-sieves those below 100 only on a call over
// at least ~1.29e8 numbers, else just 7..13. CPU time on 2^26-item blocks
// (the task's), one thread, wheel / primesieve, minimum of 7 interleaved:
// 0.78 over 1..1e9, 0.77 at 1e10, 0.86 at 1e12, 0.83-0.90 at 2^40, level
// (0.99-1.00) at 2^43 and 1e13; over all of 1..1e9 in one call (primesieve
// then pre-sieving up to 97), 0.89-0.93.
inline constexpr uint64_t kWheelCountMaxLast = uint64_t{1} << 40;

// The number of primes in [first, last] (first <= last, any values up to
// 2^64-1). Errors only if the sieve fails (out of memory:
// kResourceExhausted; otherwise kInternal).
absl::StatusOr<uint64_t> CountPrimesInRange(uint64_t first, uint64_t last);

// True when sieving [first, last] is expected to beat testing each item. The
// sieve's fixed cost grows with sqrt(last) (it needs every prime up to it),
// so short ranges of huge numbers go item by item. Exposed for tests, which
// force both paths and compare them.
bool RangeSieveIsWorthIt(uint64_t first, uint64_t last);

// The same but always item by item (IsPrime).
uint64_t CountPrimesItemByItem(uint64_t first, uint64_t last);

// The same but always with primesieve's sieve, in range of its maximum stop;
// for tests. kUnavailable if libprimesieve cannot be loaded.
absl::StatusOr<uint64_t> CountPrimesBySieve(uint64_t first, uint64_t last);

// A sieve's exception as a status (shared with prime_wheel.cc):
// kResourceExhausted for bad_alloc, else kInternal, naming `what` the sieve
// was doing.
absl::Status SieveFailure(const char* what, const std::exception& e);

}  // namespace tq

#endif  // TQ_TASKS_PRIME_RANGE_H_
