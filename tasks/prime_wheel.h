// Primality over a contiguous range [first, last] of uint64 in the mod-30
// wheel encoding: 8 bits per 30 numbers, one per residue coprime to 30. This
// is the fast form of the `primes` task's bitmap: a segmented sieve writes
// the wheel bytes directly (no prime is ever produced as a number), and huge
// numbers fall back to primesieve's iterator or to IsPrime (miller_rabin.h).
// Everything here is thread-safe: no mutable state is shared between calls.
// The sieve keeps its working memory per calling thread from call to call
// (its sieving primes, 16 bytes each: ~3.4 MB near kWheelSieveMaxLast,
// released after any call that grew it past 16 MiB; counting adds one
// kWheelBlockBytes buffer).
#ifndef TQ_TASKS_PRIME_WHEEL_H_
#define TQ_TASKS_PRIME_WHEEL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/wheel_bits.h"  // kWheelResidues, WheelBytes

namespace tq {

// Writes all WheelBytes(first, last) bytes of `wheel` (first <= last,
// any values up to 2^64-1): bit k of byte j is set iff
// n = 30 * (first / 30 + j) + kWheelResidues[k] is prime and lies in
// [first, last]. The caller need not zero `wheel`. Errors only if a sieve
// fails (out of memory: kResourceExhausted; otherwise kInternal).
absl::Status MarkPrimeWheel(uint64_t first, uint64_t last, uint8_t* wheel);

// How MarkPrimeWheel fills a range; exposed so that tests can force each
// path and compare them.
enum class PrimeWheelPath {
  kSegmentedSieve,  // this file's own sieve: last <= kWheelSieveMaxLast
  kIterator,        // primesieve::iterator, one bit per prime it lists
  kItemByItem,      // IsPrime on each number coprime to 30
};
PrimeWheelPath ChoosePrimeWheelPath(uint64_t first, uint64_t last);

// The largest `last` MarkPrimeWheel sieves itself. On 2^24-item chunks
// (bench/prime_wheel_bench.cc) ours is 1.5x faster than primesieve::iterator
// at 1e12, level with it at 1e13 and 1e14, 1.6x slower at 1e15: above here
// its ~sqrt(last) / 15 sieving primes, set up per call and kept per thread
// (16 bytes each), no longer buy anything.
inline constexpr uint64_t kWheelSieveMaxLast = uint64_t{1} << 43;

// The segmented sieve's working sizes, in wheel bytes (30 numbers each),
// counted from the range's first byte: the small sieving primes cross off
// one L1-sized segment at a time, the others one L2-sized block at a time
// (768 KiB: a 2^24-item chunk, 559 KiB, is one block).
// For tests that aim at the boundaries.
inline constexpr uint64_t kWheelSegmentBytes = uint64_t{32} << 10;
inline constexpr uint64_t kWheelBlockBytes = uint64_t{768} << 10;

// The segmented sieve works up to here (its sieving primes are 32-bit, and
// their count and memory grow with sqrt(last)); MarkPrimeWheel uses it only
// up to kWheelSieveMaxLast, benchmarks and tests beyond.
inline constexpr uint64_t kWheelSieveLimit = uint64_t{1} << 52;

// MarkPrimeWheel by one path. MarkPrimeWheelBySieve needs
// last <= kWheelSieveLimit (else kInvalidArgument, nothing written).
absl::Status MarkPrimeWheelBySieve(uint64_t first, uint64_t last,
                                   uint8_t* wheel);
absl::Status MarkPrimeWheelByIterator(uint64_t first, uint64_t last,
                                      uint8_t* wheel);
void MarkPrimeWheelItemByItem(uint64_t first, uint64_t last, uint8_t* wheel);

// The number of primes in [first, last] by the same sieve, its wheel never
// stored: each block is counted (hardware popcount where the CPU has one)
// while it is still in cache. Needs last <= kWheelSieveLimit (else
// kInvalidArgument); otherwise errors only if the sieve fails, as above.
absl::StatusOr<uint64_t> CountPrimesByWheel(uint64_t first, uint64_t last);

}  // namespace tq

#endif  // TQ_TASKS_PRIME_WHEEL_H_
