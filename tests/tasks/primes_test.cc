// Tests of the `primes` task (tasks/primes.cc, prime_range.h,
// miller_rabin.h) against references: trial division, known values of
// pi(x), primesieve's listing near 2^64, and agreement between the sieve and
// Miller-Rabin paths.
#include <algorithm>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "primesieve.hpp"
#include "tasks/miller_rabin.h"
#include "tasks/prime_range.h"
#include "tests/tasks/task_test_util.h"

namespace tq {
namespace {

using testing::DecodeBits;
using testing::DecodeWheel;
using testing::GetTask;
using ::testing::HasSubstr;
using testing::IsPrimeByTrialDivision;
using testing::RunTask;

constexpr uint64_t kMax64 = ~uint64_t{0};
constexpr uint64_t kTwo32 = uint64_t{1} << 32;
// Fixed so that a failure reproduces; printed with every failure.
constexpr uint32_t kSeed = 20240611;

// The ten largest primes below 2^64, as 2^64 - d (from `primesieve
// 18446744073709550615 18446744073709551615 -p`).
constexpr uint64_t kTopPrimeGaps[] = {59,  83,  95,  179, 189,
                                      257, 279, 323, 353, 363};

std::vector<bool> RangeBits(uint64_t first, uint64_t last) {
  absl::StatusOr<v1::ChunkOutput> out =
      RunTask("primes", TaskInput::Range(first, last));
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? DecodeWheel(*out, first, last) : std::vector<bool>{};
}

std::vector<bool> ListBits(const std::vector<uint64_t>& items) {
  absl::StatusOr<v1::ChunkOutput> out =
      RunTask("primes", TaskInput::List(items));
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? DecodeBits(*out, items.size()) : std::vector<bool>{};
}

uint64_t RangeCount(uint64_t first, uint64_t last) {
  absl::StatusOr<v1::ChunkOutput> out =
      RunTask("primes", TaskInput::Range(first, last), v1::REDUCTION_COUNT);
  EXPECT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->output_case(), v1::ChunkOutput::kCount);
  return out.ok() ? out->count() : ~uint64_t{0};
}

std::vector<uint64_t> Iota(uint64_t first, uint64_t last) {
  std::vector<uint64_t> items;
  for (uint64_t n = first;; ++n) {
    items.push_back(n);
    if (n == last) break;
  }
  return items;
}

TEST(PrimesTask, SmallNumbersMatchTrialDivision) {
  const std::vector<bool> bits = RangeBits(0, 100000);
  ASSERT_EQ(bits.size(), 100001u);
  for (uint64_t n = 0; n <= 100000; ++n) {
    ASSERT_EQ(bits[n], IsPrimeByTrialDivision(n)) << n;
  }
  EXPECT_EQ(ListBits({0, 1, 2, 3, 4}),
            (std::vector<bool>{false, false, true, true, false}));
  EXPECT_EQ(RangeBits(0, 4),
            (std::vector<bool>{false, false, true, true, false}));
  EXPECT_EQ(RangeBits(2, 2), std::vector<bool>{true});
  EXPECT_EQ(RangeBits(1, 1), std::vector<bool>{false});
}

TEST(PrimesTask, WindowAroundTwoToThe32MatchesTrialDivision) {
  const uint64_t first = kTwo32 - 300, last = kTwo32 + 300;
  const std::vector<bool> from_range = RangeBits(first, last);
  const std::vector<bool> from_list = ListBits(Iota(first, last));
  ASSERT_EQ(from_range.size(), last - first + 1);
  for (uint64_t n = first; n <= last; ++n) {
    const bool expected = IsPrimeByTrialDivision(n);
    EXPECT_EQ(from_range[n - first], expected) << n;
    EXPECT_EQ(from_list[n - first], expected) << n;
  }
  EXPECT_TRUE(from_range[4294967291 - first]);  // largest 32-bit prime
  EXPECT_TRUE(from_range[4294967311 - first]);  // smallest above 2^32
}

std::vector<bool> ExpectedTopWindow(uint64_t first) {
  std::vector<bool> expected(kMax64 - first + 1, false);
  for (uint64_t gap : kTopPrimeGaps) {
    // 2^64 - gap, computed without overflow as kMax64 - (gap - 1).
    expected[kMax64 - (gap - 1) - first] = true;
  }
  return expected;
}

TEST(PrimesTask, TopOfUint64IsExactForRangesAndLists) {
  const uint64_t first = kMax64 - 362;  // 2^64 - 363, the tenth prime down
  const std::vector<bool> expected = ExpectedTopWindow(first);
  EXPECT_EQ(RangeBits(first, kMax64), expected);
  EXPECT_EQ(ListBits(Iota(first, kMax64)), expected);
  EXPECT_EQ(RangeCount(first, kMax64), 10u);
  EXPECT_EQ(ListBits({kMax64, 18446744073709551557ull, kMax64 - 1}),
            (std::vector<bool>{false, true, false}));
  EXPECT_EQ(RangeBits(kMax64, kMax64), std::vector<bool>{false});
  EXPECT_EQ(RangeBits(18446744073709551557ull, 18446744073709551557ull),
            std::vector<bool>{true});
}

TEST(PrimesTask, CountsPiOfPowersOfTen) {
  const uint64_t kPi[] = {4,     25,     168,     1229,    9592,
                          78498, 664579, 5761455, 50847534};
  uint64_t power = 10;
  for (uint64_t expected : kPi) {
    EXPECT_EQ(RangeCount(0, power), expected) << "pi(" << power << ")";
    EXPECT_EQ(RangeCount(1, power), expected) << "pi(" << power << ")";
    power *= 10;
  }
}

TEST(PrimesTask, CountAndBitmapAgree) {
  const std::pair<uint64_t, uint64_t> kRanges[] = {
      {0, (1 << 24) - 1},
      {1000000000000, 1000000000000 + (1 << 20)},
      {kTwo32 - 5000, kTwo32 + 5000},
      {kMax64 - (1 << 12), kMax64},
  };
  for (auto [first, last] : kRanges) {
    const std::vector<bool> bits = RangeBits(first, last);
    const uint64_t from_bits = std::count(bits.begin(), bits.end(), true);
    EXPECT_EQ(RangeCount(first, last), from_bits) << first << ".." << last;
    const std::vector<uint64_t> items =
        Iota(first, first + std::min<uint64_t>(last - first, 5000));
    absl::StatusOr<v1::ChunkOutput> listed =
        RunTask("primes", TaskInput::List(items), v1::REDUCTION_COUNT);
    ASSERT_TRUE(listed.ok());
    EXPECT_EQ(listed->count(),
              std::count(bits.begin(), bits.begin() + items.size(), true));
  }
}

TEST(PrimesTask, RandomRangesAndListsAgree) {
  const uint32_t seed = kSeed;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 60; ++round) {
    const int log2 = 1 + static_cast<int>(rng() % 64);
    const uint64_t first = log2 == 64 ? rng() : rng() >> (64 - log2);
    const uint64_t length = 1 + rng() % 3000;
    const uint64_t last = first + std::min(length - 1, kMax64 - first);
    const std::vector<uint64_t> items = Iota(first, last);
    ASSERT_EQ(RangeBits(first, last), ListBits(items)) << first << ".." << last;
  }
  // Shuffled lists with repeats, checked by trial division below 2^36.
  std::vector<uint64_t> items;
  for (int i = 0; i < 400; ++i) items.push_back(rng() >> (28 + rng() % 36));
  items.push_back(items.front());
  const std::vector<bool> bits = ListBits(items);
  ASSERT_EQ(bits.size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(bits[i], IsPrimeByTrialDivision(items[i])) << items[i];
  }
}

TEST(PrimesTask, SieveAndMillerRabinCountAlikeOnLargeRandomRanges) {
  const uint32_t seed = kSeed;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 12; ++round) {
    // Up to 2^46, where the sieve's setup still takes milliseconds.
    const uint64_t first = rng() >> (18 + rng() % 40);
    const uint64_t last = first + 20000 + rng() % 20000;
    absl::StatusOr<uint64_t> counted = CountPrimesBySieve(first, last);
    ASSERT_TRUE(counted.ok());
    EXPECT_EQ(*counted, CountPrimesItemByItem(first, last));
  }
}

TEST(PrimesTask, CountsAlikeEitherSideOfTheWheelCeiling) {
  // Up to kWheelCountMaxLast counts come from our wheel sieve, past it from
  // primesieve; ranges that end on either side of it, or straddle it.
  const uint64_t top = kWheelCountMaxLast;
  const uint64_t ranges[][2] = {{top - 5000000, top},
                                {top - 5000000, top + 1},
                                {top - 2500000, top + 2500000},
                                {top + 1, top + 5000000}};
  for (const auto& r : ranges) {
    absl::StatusOr<uint64_t> counted = CountPrimesInRange(r[0], r[1]);
    ASSERT_TRUE(counted.ok());
    EXPECT_EQ(*counted, primesieve::count_primes(r[0], r[1]))
        << r[0] << ".." << r[1];
  }
}

TEST(PrimesTask, RejectsStrongPseudoprimes) {
  // Composites that pass Miller-Rabin for the first k prime bases, k <= 11,
  // plus Carmichael numbers and a square of a large prime.
  const std::vector<uint64_t> composites = {561,
                                            2047,
                                            1373653,
                                            25326001,
                                            3215031751,
                                            2152302898747,
                                            3474749660383,
                                            341550071728321,
                                            3825123056546413051ull,
                                            4294967291ull * 4294967291ull,
                                            4294967279ull * 4294967291ull};
  for (uint64_t n : composites) EXPECT_FALSE(IsPrime(n)) << n;
  EXPECT_EQ(ListBits(composites), std::vector<bool>(composites.size(), false));
}

TEST(PrimesTask, BitmapLayoutIsLsbFirstWithZeroPadding) {
  // 2..12 -> 2,3,5,7,11 at item indices 0,1,3,5,9: byte 0 = 0b00101011.
  absl::StatusOr<v1::ChunkOutput> out = RunTask(
      "primes", TaskInput::List({2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->bits().size(), 2u);
  EXPECT_EQ(static_cast<uint8_t>(out->bits()[0]), 0b00101011);
  EXPECT_EQ(static_cast<uint8_t>(out->bits()[1]), 0b00000010);
}

TEST(PrimesTask, RangesAnswerAsAPrimeWheel) {
  // 2..12 is one wheel byte (0..29): 7 and 11 are bits 1 and 2; 2, 3 and 5
  // need no bits; 1 and 13 lie outside.
  absl::StatusOr<v1::ChunkOutput> out =
      RunTask("primes", TaskInput::Range(2, 12));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->prime_wheel(), "\x06");
  // 1..13: 13 (bit 3) is in, 1 is not prime.
  out = RunTask("primes", TaskInput::Range(1, 13));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->prime_wheel(), "\x0e");
}

TEST(PrimesTask, RejectsBadInput) {
  EXPECT_EQ(RunTask("primes", TaskInput::Range(10, 9)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunTask("primes", TaskInput::List({})).status().code(),
            absl::StatusCode::kInvalidArgument);
  // One item too many, and all of uint64.
  EXPECT_EQ(RunTask("primes", TaskInput::Range(0, 1 << 24)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunTask("primes", TaskInput::Range(0, kMax64)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunTask("primes", TaskInput::Range(0, kMax64), v1::REDUCTION_COUNT)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      RunTask("primes", TaskInput::Range(0, 9), static_cast<v1::Reduction>(7))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  TaskParams params;
  params["x"] = "1";
  absl::Status status = GetTask("primes").ValidateParams(params);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("'x'"));
  EXPECT_EQ(
      RunTask("primes", TaskInput::Range(0, 9), v1::REDUCTION_NONE, params)
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(PrimesTask, SizingBoundsAreConsistent) {
  for (v1::Reduction r : {v1::REDUCTION_NONE, v1::REDUCTION_COUNT}) {
    const ChunkSizing sizing = GetTask("primes").sizing(r);
    EXPECT_LE(1u, sizing.min_items);
    EXPECT_LE(sizing.min_items, sizing.max_items);
  }
  // A maximal bitmap chunk runs.
  const uint64_t max = GetTask("primes").sizing(v1::REDUCTION_NONE).max_items;
  EXPECT_EQ(RangeBits(1, max).size(), max);
}

TEST(PrimesTask, ConcurrentRunsGiveTheSameAnswers) {
  const std::vector<bool> expected = RangeBits(1000000, 3000000);
  std::vector<std::vector<bool>> got(4);
  std::vector<std::thread> threads;
  for (auto& result : got) {
    threads.emplace_back([&result] { result = RangeBits(1000000, 3000000); });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& result : got) EXPECT_EQ(result, expected);
}

}  // namespace
}  // namespace tq
