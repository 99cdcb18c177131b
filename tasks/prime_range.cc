#include "tasks/prime_range.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <new>

#include "absl/strings/str_cat.h"
#include "primesieve.hpp"
#include "tasks/miller_rabin.h"

namespace tq {
namespace {

// The largest prime below 2^64. primesieve::iterator throws if asked for a
// prime past it, so the sieve loops stop short of it and add it by hand
// (the same as primesieve's own store_primes).
constexpr uint64_t kLargestPrime64 = 18446744073709551557ull;

void SetBit(uint8_t* bits, uint64_t offset) {
  bits[offset >> 3] |= static_cast<uint8_t>(1u << (offset & 7));
}

absl::Status SieveFailure(const char* what, const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory in the prime sieve (", what, ")"));
  }
  return absl::InternalError(
      absl::StrCat("prime sieve failed (", what, "): ", e.what()));
}

// The highest number we let primesieve sieve up to: its own limit (2^64-1
// since version 9, older versions stop about 10 * 2^32 short of it).
uint64_t SieveLimit() {
  static const uint64_t limit = primesieve::get_max_stop();
  return limit;
}

// Sieve part of MarkPrimesBySieve for [first, last], last <= SieveLimit().
void MarkWithIterator(uint64_t origin, uint64_t first, uint64_t last,
                      uint8_t* bits) {
  const uint64_t limit = std::min(last, kLargestPrime64 - 1);
  if (first <= limit) {
    primesieve::iterator it(first, limit);
    // Whole buffers at a time rather than next_prime(): this loop is the
    // bitmap path's hot spot, and the primes in a buffer are ascending.
    for (;;) {
      it.generate_next_primes();
      const uint64_t* primes = it.primes_;
      const size_t size = it.size_;
      size_t i = 0;
      for (; i < size && primes[i] <= limit; ++i) {
        SetBit(bits, primes[i] - origin);
      }
      if (i < size || size == 0) break;
    }
  }
  if (first <= kLargestPrime64 && kLargestPrime64 <= last) {
    SetBit(bits, kLargestPrime64 - origin);
  }
}

// Marks the primes in [from, to] by IsPrime, bit n - origin for n.
void MarkTested(uint64_t origin, uint64_t from, uint64_t to, uint8_t* bits) {
  for (uint64_t n = from;; ++n) {
    if (IsPrime(n)) SetBit(bits, n - origin);
    if (n == to) break;  // before ++n, so to = 2^64-1 cannot wrap
  }
}

}  // namespace

bool RangeSieveIsWorthIt(uint64_t first, uint64_t last) {
  // Measured on the dev box (tests/tasks/primes_kernel_timing.cc): IsPrime
  // costs ~70 ns per item at any size; the sieve costs 1-7 ns per item plus
  // a setup of 0.2-0.5 ns per unit of sqrt(last) (0.25 ms at 2^40, 50 ms at
  // 2^56, 1.5 s near 2^64). The break-even count is sqrt(last) / 140 to
  // sqrt(last) / 280; both costs are close around it, so one ratio will do.
  const uint64_t count_minus_one = last - first;  // no overflow on full range
  return count_minus_one >= Isqrt(last) / 192;
}

void MarkPrimesItemByItem(uint64_t first, uint64_t last, uint8_t* bits) {
  MarkTested(first, first, last, bits);
}

uint64_t CountPrimesItemByItem(uint64_t first, uint64_t last) {
  uint64_t count = 0;
  for (uint64_t n = first;; ++n) {
    count += IsPrime(n);
    if (n == last) break;
  }
  return count;
}

absl::Status MarkPrimesBySieve(uint64_t first, uint64_t last, uint8_t* bits) {
  const uint64_t sieve_last = std::min(last, SieveLimit());
  try {
    if (first <= sieve_last) MarkWithIterator(first, first, sieve_last, bits);
  } catch (const std::exception& e) {
    return SieveFailure("bitmap", e);
  }
  if (sieve_last < last) {
    // Past primesieve's limit (old versions only): item by item.
    MarkTested(first, std::max(first, sieve_last + 1), last, bits);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> CountPrimesBySieve(uint64_t first, uint64_t last) {
  // The worker's pool already runs one chunk per core; primesieve's own
  // threads would only oversubscribe the cores, so it gets one. This is a
  // process-wide setting, made once, before any count below reads it.
  static const bool single_threaded = [] {
    primesieve::set_num_threads(1);
    return true;
  }();
  (void)single_threaded;
  const uint64_t sieve_last = std::min(last, SieveLimit());
  uint64_t count = 0;
  try {
    if (first <= sieve_last)
      count = primesieve::count_primes(first, sieve_last);
  } catch (const std::exception& e) {
    return SieveFailure("count", e);
  }
  if (sieve_last < last) {
    count += CountPrimesItemByItem(std::max(first, sieve_last + 1), last);
  }
  return count;
}

absl::Status MarkPrimesInRange(uint64_t first, uint64_t last, uint8_t* bits) {
  if (!RangeSieveIsWorthIt(first, last)) {
    MarkPrimesItemByItem(first, last, bits);
    return absl::OkStatus();
  }
  return MarkPrimesBySieve(first, last, bits);
}

absl::StatusOr<uint64_t> CountPrimesInRange(uint64_t first, uint64_t last) {
  if (!RangeSieveIsWorthIt(first, last)) {
    return CountPrimesItemByItem(first, last);
  }
  return CountPrimesBySieve(first, last);
}

}  // namespace tq
