#include "tasks/prime_range.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <new>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "primesieve.h"
#include "tasks/miller_rabin.h"
#include "tasks/prime_wheel.h"
#include "tasks/primesieve_library.h"

namespace tq {
absl::Status SieveFailure(const char* what, const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory in the prime sieve (", what, ")"));
  }
  return absl::InternalError(
      absl::StrCat("prime sieve failed (", what, "): ", e.what()));
}

bool RangeSieveIsWorthIt(uint64_t first, uint64_t last) {
  // Measured on the dev box (a timing program since replaced by
  // bench/prime_wheel_bench.cc): IsPrime
  // costs ~70 ns per item at any size; the sieve costs 1-7 ns per item plus
  // a setup of 0.2-0.5 ns per unit of sqrt(last) (0.25 ms at 2^40, 50 ms at
  // 2^56, 1.5 s near 2^64). The break-even count is sqrt(last) / 140 to
  // sqrt(last) / 280; both costs are close around it, so one ratio will do.
  const uint64_t count_minus_one = last - first;  // no overflow on full range
  return count_minus_one >= Isqrt(last) / 192;
}

uint64_t CountPrimesItemByItem(uint64_t first, uint64_t last) {
  uint64_t count = 0;
  for (uint64_t n = first;; ++n) {
    count += IsPrime(n);
    if (n == last) break;
  }
  return count;
}

absl::StatusOr<uint64_t> CountPrimesBySieve(uint64_t first, uint64_t last) {
  TQ_ASSIGN_OR_RETURN(const PrimesieveLibrary* primesieve, LoadPrimesieve());
  const uint64_t sieve_last = std::min(last, primesieve->get_max_stop());
  uint64_t count = 0;
  if (first <= sieve_last) {
    count = primesieve->count_primes(first, sieve_last);
    // Its C API reports a failure (out of memory included) as this value
    // and writes what went wrong to stderr.
    if (count == PRIMESIEVE_ERROR) {
      return absl::InternalError(absl::StrCat(
          "prime sieve failed (primesieve count over ", first, "..",
          sieve_last, ")"));
    }
  }
  if (sieve_last < last) {
    count += CountPrimesItemByItem(std::max(first, sieve_last + 1), last);
  }
  return count;
}

absl::StatusOr<uint64_t> CountPrimesInRange(uint64_t first, uint64_t last) {
  if (last <= kWheelCountMaxLast) {
    // Our wheel sieve, by the same cost rule as for marking.
    if (ChoosePrimeWheelPath(first, last) == PrimeWheelPath::kSegmentedSieve) {
      return CountPrimesByWheel(first, last);
    }
    return CountPrimesItemByItem(first, last);
  }
  if (!RangeSieveIsWorthIt(first, last)) {
    return CountPrimesItemByItem(first, last);
  }
  return CountPrimesBySieve(first, last);
}

}  // namespace tq
