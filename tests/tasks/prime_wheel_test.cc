// Tests of the mod-30 wheel kernel (tasks/prime_wheel.h): every path, every
// bit of every byte compared with references that share none of its code
// (IsPrime per number, primesieve::generate_primes for long ranges, trial
// division for the smallest numbers), from 0 up to 2^64-1.
#include "tasks/prime_wheel.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "primesieve.hpp"
#include "tasks/miller_rabin.h"
#include "tasks/prime_range.h"
#include "tests/tasks/task_test_util.h"

namespace tq {
namespace {

constexpr uint64_t kMax64 = ~uint64_t{0};
constexpr uint64_t kLargestPrime64 = 18446744073709551557ull;
// Fixed so that a failure reproduces.
constexpr uint32_t kSeed = 20261203;
// The contract's residues, spelled out here rather than read from the header,
// so a wrong kWheelResidues fails the comparisons.
constexpr uint64_t kResidues[8] = {1, 7, 11, 13, 17, 19, 23, 29};

// The wheel of [first, last] from a primality predicate on single numbers.
template <typename IsPrimeFn>
std::vector<uint8_t> WheelFrom(uint64_t first, uint64_t last,
                               IsPrimeFn is_prime) {
  const uint64_t b0 = first / 30;
  std::vector<uint8_t> wheel(last / 30 - b0 + 1);
  for (uint64_t j = 0; j < wheel.size(); ++j) {
    for (int k = 0; k < 8; ++k) {
      // Compared as offsets from 30 * b0 so that nothing wraps near 2^64.
      const uint64_t offset = 30 * j + kResidues[k];
      const uint64_t origin = 30 * b0;
      if (offset < first - origin || offset > last - origin) continue;
      if (is_prime(origin + offset)) wheel[j] |= uint8_t{1} << k;
    }
  }
  return wheel;
}

std::vector<uint8_t> WheelByIsPrime(uint64_t first, uint64_t last) {
  return WheelFrom(first, last, [](uint64_t n) { return IsPrime(n); });
}

// The wheel from primesieve's list of the primes in [first, last].
std::vector<uint8_t> WheelByPrimesieve(uint64_t first, uint64_t last) {
  std::vector<uint64_t> primes;
  primesieve::generate_primes(first, last, &primes);
  const uint64_t b0 = first / 30;
  std::vector<uint8_t> wheel(last / 30 - b0 + 1);
  for (uint64_t p : primes) {
    const uint64_t* r = std::find(kResidues, kResidues + 8, p % 30);
    if (r == kResidues + 8) continue;  // 2, 3, 5
    wheel[p / 30 - b0] |= uint8_t{1} << (r - kResidues);
  }
  return wheel;
}

// A failure message naming the first wrong number, "" when equal.
std::string FirstDifference(uint64_t first, const std::vector<uint8_t>& want,
                            const uint8_t* got) {
  for (uint64_t j = 0; j < want.size(); ++j) {
    if (want[j] == got[j]) continue;
    for (int k = 0; k < 8; ++k) {
      if (((want[j] ^ got[j]) >> k & 1) == 0) continue;
      return absl::StrCat("byte ", j, " bit ", k, ": n = 30 * ", first / 30 + j,
                          " + ", kResidues[k], " should be ",
                          (want[j] >> k & 1) ? "prime" : "not marked");
    }
  }
  return "";
}

enum class Path { kAuto, kSieve, kIterator, kItemByItem };
const char* Name(Path path) {
  switch (path) {
    case Path::kAuto:
      return "MarkPrimeWheel";
    case Path::kSieve:
      return "MarkPrimeWheelBySieve";
    case Path::kIterator:
      return "MarkPrimeWheelByIterator";
    case Path::kItemByItem:
      return "MarkPrimeWheelItemByItem";
  }
  return "?";
}

// Runs one path on a buffer full of junk with a guard after it and compares
// every byte with `want`.
void ExpectPath(Path path, uint64_t first, uint64_t last,
                const std::vector<uint8_t>& want) {
  SCOPED_TRACE(absl::StrCat(Name(path), "(", first, ", ", last, ")"));
  const uint64_t size = WheelBytes(first, last);
  ASSERT_EQ(size, want.size());
  constexpr size_t kGuard = 16;
  std::vector<uint8_t> wheel(size + kGuard, 0xa5);
  absl::Status status;
  switch (path) {
    case Path::kAuto:
      status = MarkPrimeWheel(first, last, wheel.data());
      break;
    case Path::kSieve:
      status = MarkPrimeWheelBySieve(first, last, wheel.data());
      break;
    case Path::kIterator:
      status = MarkPrimeWheelByIterator(first, last, wheel.data());
      break;
    case Path::kItemByItem:
      MarkPrimeWheelItemByItem(first, last, wheel.data());
      break;
  }
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(FirstDifference(first, want, wheel.data()), "");
  for (size_t i = size; i < wheel.size(); ++i) {
    ASSERT_EQ(wheel[i], 0xa5) << "wrote past the end";
  }
}

// Every path that takes [first, last] in reasonable time: each sieve's setup
// grows with sqrt(last) (primesieve's takes about a second near 2^64).
void ExpectAllPaths(uint64_t first, uint64_t last,
                    const std::vector<uint8_t>& want) {
  ExpectPath(Path::kAuto, first, last, want);
  if (last <= (uint64_t{1} << 46)) ExpectPath(Path::kSieve, first, last, want);
  if (last <= (uint64_t{1} << 46)) {
    ExpectPath(Path::kIterator, first, last, want);
  }
  if (last - first < (1 << 20)) {
    ExpectPath(Path::kItemByItem, first, last, want);
  }
}

TEST(PrimeWheelTest, ResiduesAndSizeAreTheContract) {
  for (int k = 0; k < 8; ++k) EXPECT_EQ(kWheelResidues[k], kResidues[k]);
  EXPECT_EQ(WheelBytes(0, 0), 1u);
  EXPECT_EQ(WheelBytes(29, 30), 2u);
  EXPECT_EQ(WheelBytes(30, 59), 1u);
  EXPECT_EQ(WheelBytes(0, kMax64), kMax64 / 30 + 1);
  EXPECT_EQ(WheelBytes(kMax64, kMax64), 1u);
}

TEST(PrimeWheelTest, SmallNumbersMatchTrialDivision) {
  // Every range in [0, 400]: each start and end residue, the pre-sieved
  // primes 7..163 themselves, 1 (not prime), bytes 0..13.
  for (uint64_t first = 0; first <= 400; ++first) {
    for (uint64_t last = first; last <= 400; last += 1 + (last - first) / 8) {
      const std::vector<uint8_t> want =
          WheelFrom(first, last, testing::IsPrimeByTrialDivision);
      ExpectAllPaths(first, last, want);
      if (HasFailure()) return;
    }
  }
}

TEST(PrimeWheelTest, EveryStartAndEndResidueAtEachMagnitude) {
  const uint64_t bases[] = {1000,
                            27889 - 60,  // 167^2, the first sieved square
                            1000000,
                            1000000000,
                            uint64_t{1} << 32,
                            1000000000000,
                            kWheelSieveMaxLast - 90,
                            1000000000000000,
                            uint64_t{1} << 52,
                            uint64_t{1} << 63,
                            kMax64 - 200};
  for (uint64_t base : bases) {
    for (uint64_t start = 0; start < 30; ++start) {
      for (uint64_t len : {0, 1, 5, 29, 30, 31, 59, 61, 100}) {
        const uint64_t first = base + start, last = first + len;
        ExpectAllPaths(first, last, WheelByIsPrime(first, last));
        if (HasFailure()) return;
      }
    }
  }
}

TEST(PrimeWheelTest, RandomRangesAtEveryMagnitude) {
  std::mt19937_64 rng(kSeed);
  for (int bits = 1; bits <= 64; ++bits) {
    for (int i = 0; i < 6; ++i) {
      const uint64_t top = bits == 64 ? kMax64 : (uint64_t{1} << bits) - 1;
      const uint64_t a = rng() & top;
      const uint64_t size = rng() & ((uint64_t{1} << (rng() % 15)) - 1);
      const uint64_t first = a - std::min(a, size / 2);
      const uint64_t last = first + std::min(size, kMax64 - first);
      SCOPED_TRACE(absl::StrCat("seed ", kSeed, " bits ", bits, " #", i));
      ExpectAllPaths(first, last, WheelByIsPrime(first, last));
      if (HasFailure()) return;
    }
  }
}

TEST(PrimeWheelTest, TopOf64Bits) {
  // Ranges ending at 2^64-1 and around the largest 64-bit prime, which
  // primesieve's iterator cannot reach.
  for (uint64_t size : {0, 1, 5, 58, 59, 60, 61, 200, 5000}) {
    const uint64_t first = kMax64 - size;
    ExpectAllPaths(first, kMax64, WheelByIsPrime(first, kMax64));
    ExpectAllPaths(first - 40, first, WheelByIsPrime(first - 40, first));
  }
  const uint64_t p = kLargestPrime64;
  ExpectAllPaths(p, p, WheelByIsPrime(p, p));
  // Once by primesieve's iterator, which stops short of p and adds it.
  ExpectPath(Path::kIterator, kMax64 - 5000, kMax64,
             WheelByIsPrime(kMax64 - 5000, kMax64));
  std::vector<uint8_t> wheel(WheelBytes(p - 100, p));
  ASSERT_TRUE(MarkPrimeWheel(p - 100, p, wheel.data()).ok());
  EXPECT_EQ(wheel.back(), uint8_t{1} << 4) << "18446744073709551557 = 30k+17";
}

TEST(PrimeWheelTest, SieveSegmentAndBlockBoundaries) {
  // Ranges a few bytes either side of whole segments and blocks, at several
  // start residues, against primesieve's list.
  const uint64_t seg = kWheelSegmentBytes * 30, block = kWheelBlockBytes * 30;
  const uint64_t bases[] = {0, 7, 999999937, 1000000000000 + 11};
  for (uint64_t base : bases) {
    for (uint64_t len :
         {seg - 31, seg - 1, seg, seg + 29, 2 * seg + 1, block - 1, block,
          block + 30, 2 * block + 3 * seg + 17}) {
      ExpectPath(Path::kSieve, base, base + len,
                 WheelByPrimesieve(base, base + len));
      if (HasFailure()) return;
    }
  }
}

TEST(PrimeWheelTest, SieveMatchesPrimesieveAtHighMagnitudes) {
  // The forced sieve well past where MarkPrimeWheel uses it, with many
  // sieving primes larger than a block.
  const uint64_t bases[] = {kWheelSieveMaxLast - 100000,
                            (uint64_t{1} << 46) - 3 * kWheelBlockBytes * 30};
  for (uint64_t first : bases) {
    const uint64_t last = first + 3 * kWheelBlockBytes * 30 - 1;
    ExpectPath(Path::kSieve, first, last, WheelByPrimesieve(first, last));
  }
}

TEST(PrimeWheelTest, ChunkNearOneBillionMatchesPrimesieve) {
  const uint64_t first = 1000000000 - (uint64_t{1} << 23);
  const uint64_t last = first + (uint64_t{1} << 24) - 1;
  const std::vector<uint8_t> want = WheelByPrimesieve(first, last);
  ExpectPath(Path::kAuto, first, last, want);
  ExpectPath(Path::kIterator, first, last, want);
  uint64_t marked = 0;
  for (uint8_t byte : want) marked += __builtin_popcount(byte);
  EXPECT_EQ(marked, primesieve::count_primes(first, last));
}

TEST(PrimeWheelTest, ChoosesThePathByCost) {
  constexpr uint64_t kChunk = uint64_t{1} << 24;
  EXPECT_EQ(ChoosePrimeWheelPath(1, kChunk), PrimeWheelPath::kSegmentedSieve);
  EXPECT_EQ(ChoosePrimeWheelPath(1000000000000, 1000000000000 + kChunk),
            PrimeWheelPath::kSegmentedSieve);
  EXPECT_EQ(ChoosePrimeWheelPath(1000000000000, 1000000000010),
            PrimeWheelPath::kItemByItem);
  EXPECT_EQ(
      ChoosePrimeWheelPath(kWheelSieveMaxLast + 1, kWheelSieveMaxLast + kChunk),
      PrimeWheelPath::kIterator);
  EXPECT_EQ(ChoosePrimeWheelPath(kMax64 - 1000, kMax64),
            PrimeWheelPath::kItemByItem);
}

// CountPrimesByWheel against primesieve (or IsPrime per item for short
// ranges, which shares no code with either sieve).
void ExpectCount(uint64_t first, uint64_t last) {
  SCOPED_TRACE(absl::StrCat("CountPrimesByWheel(", first, ", ", last, ")"));
  const uint64_t want = last - first < 4096
                            ? CountPrimesItemByItem(first, last)
                            : primesieve::count_primes(first, last);
  const absl::StatusOr<uint64_t> got = CountPrimesByWheel(first, last);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, want);
}

TEST(PrimeWheelTest, CountsTheSmallestNumbers) {
  // 2, 3 and 5 have no bit; 7..163 are restored after the pre-sieve.
  for (uint64_t first = 0; first <= 200; ++first) {
    for (uint64_t last : {first, first + 1, first + 2, first + 4, first + 6,
                          first + 30, first + 200}) {
      ExpectCount(first, last);
      if (HasFailure()) return;
    }
  }
}

TEST(PrimeWheelTest, CountsRandomRangesAtEveryMagnitude) {
  std::mt19937_64 rng(kSeed);
  for (int bits = 1; bits <= 52; ++bits) {
    for (int i = 0; i < 6; ++i) {
      const uint64_t top = kWheelSieveLimit >> (52 - bits);
      const uint64_t a = rng() % top;
      const uint64_t size = rng() & ((uint64_t{1} << (rng() % 22)) - 1);
      const uint64_t first = a - std::min(a, size / 2);
      const uint64_t last = std::min(first + size, kWheelSieveLimit);
      SCOPED_TRACE(absl::StrCat("seed ", kSeed, " bits ", bits, " #", i));
      ExpectCount(first, last);
      if (HasFailure()) return;
    }
  }
}

TEST(PrimeWheelTest, CountsAcrossSegmentsAndBlocks) {
  const uint64_t seg = kWheelSegmentBytes * 30, block = kWheelBlockBytes * 30;
  for (uint64_t base : {uint64_t{0}, uint64_t{7}, uint64_t{999999937},
                        uint64_t{1000000000000 + 11}, kWheelSieveLimit - 3 * block}) {
    for (uint64_t len : {seg - 31, seg, seg + 29, block - 1, block, block + 30,
                         3 * block + 3 * seg + 17}) {
      ExpectCount(base, std::min(base + len, kWheelSieveLimit));
      if (HasFailure()) return;
    }
  }
}

TEST(PrimeWheelTest, CountsPiOfPowersOfTen) {
  const uint64_t pi[] = {4, 25, 168, 1229, 9592, 78498, 664579, 5761455,
                         50847534};
  uint64_t n = 10;
  for (uint64_t want : pi) {
    absl::StatusOr<uint64_t> got = CountPrimesByWheel(0, n);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, want) << "pi(" << n << ")";
    n *= 10;
  }
}

TEST(PrimeWheelTest, CountRefusesPastTheSieveLimit) {
  EXPECT_EQ(CountPrimesByWheel(kWheelSieveLimit, kWheelSieveLimit + 1)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PrimeWheelTest, ConcurrentCountsAgree) {
  const uint64_t first = 123456789, last = first + 50000000;
  const uint64_t want = primesieve::count_primes(first, last);
  std::vector<uint64_t> got(4);
  std::vector<std::thread> threads;
  for (uint64_t& count : got) {
    threads.emplace_back([&count, first, last] {
      absl::StatusOr<uint64_t> n = CountPrimesByWheel(first, last);
      count = n.ok() ? *n : 0;
    });
  }
  for (std::thread& t : threads) t.join();
  for (uint64_t count : got) EXPECT_EQ(count, want);
}

TEST(PrimeWheelTest, SieveRefusesPastItsLimit) {
  uint8_t wheel[2] = {0xa5, 0xa5};
  const absl::Status status =
      MarkPrimeWheelBySieve(kWheelSieveLimit, kWheelSieveLimit + 1, wheel);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wheel[0], 0xa5);
}

TEST(PrimeWheelTest, ConcurrentCallsAgree) {
  // Pool threads call it at once; the first calls also build the shared
  // read-only tables.
  const uint64_t first = 123456789, last = first + 3000000;
  const std::vector<uint8_t> want = WheelByPrimesieve(first, last);
  std::vector<std::vector<uint8_t>> got(4);
  std::vector<std::thread> threads;
  for (auto& wheel : got) {
    threads.emplace_back([&wheel, first, last] {
      wheel.assign(WheelBytes(first, last), 0);
      if (!MarkPrimeWheel(first, last, wheel.data()).ok()) wheel.clear();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& wheel : got) {
    ASSERT_EQ(wheel.size(), want.size());
    EXPECT_EQ(FirstDifference(first, want, wheel.data()), "");
  }
}

}  // namespace
}  // namespace tq
