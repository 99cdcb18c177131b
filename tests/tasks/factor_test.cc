// Tests of the `factor` task (tasks/factor.cc, factorize.h): every answer is
// checked by multiplying it back and testing each factor, plus known hard
// cases with exact expected factors.
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tasks/factorize.h"
#include "tasks/miller_rabin.h"
#include "tests/tasks/task_test_util.h"

namespace tq {
namespace {

using testing::RunTask;

constexpr uint32_t kSeed = 20240611;  // fixed so failures reproduce
constexpr uint64_t kMax64 = ~uint64_t{0};

std::vector<uint64_t> Factor(uint64_t n) {
  uint64_t factors[kMaxPrimeFactors];
  const int count = PrimeFactors(n, factors);
  return std::vector<uint64_t>(factors, factors + count);
}

// Factors are ascending primes whose product is n (without overflow).
void ExpectValidFactorization(uint64_t n,
                              const std::vector<uint64_t>& factors) {
  if (n < 2) {
    EXPECT_TRUE(factors.empty()) << n;
    return;
  }
  unsigned __int128 product = 1;
  for (size_t i = 0; i < factors.size(); ++i) {
    EXPECT_TRUE(IsPrime(factors[i])) << factors[i] << " in factors of " << n;
    if (i > 0) {
      EXPECT_LE(factors[i - 1], factors[i]) << n;
    }
    product *= factors[i];
    ASSERT_LE(product, static_cast<unsigned __int128>(n)) << n;
  }
  EXPECT_EQ(product, static_cast<unsigned __int128>(n)) << n;
}

TEST(FactorTask, KnownFactorizations) {
  const std::vector<std::pair<uint64_t, std::vector<uint64_t>>> kCases = {
      {0, {}},
      {1, {}},
      {2, {2}},
      {12, {2, 2, 3}},
      {1024, std::vector<uint64_t>(10, 2)},
      {uint64_t{1} << 63, std::vector<uint64_t>(63, 2)},
      {kMax64, {3, 5, 17, 257, 641, 65537, 6700417}},
      {18446744073709551557ull, {18446744073709551557ull}},
      {18446743979220271189ull, {4294967279ull, 4294967291ull}},
      {4294967291ull * 4294967291ull, {4294967291ull, 4294967291ull}},
      {2097143ull * 2097143ull * 2097143ull, {2097143, 2097143, 2097143}},
      {3825123056546413051ull, {149491, 747451, 34233211}},
      {561, {3, 11, 17}},
      {251ull * 251 * 257 * 4294967291ull, {251, 251, 257, 4294967291ull}},
  };
  for (const auto& [n, expected] : kCases) EXPECT_EQ(Factor(n), expected) << n;
}

TEST(FactorTask, RandomNumbersFactorCorrectly) {
  SCOPED_TRACE(::testing::Message() << "seed " << kSeed);
  std::mt19937_64 rng(kSeed);
  for (int i = 0; i < 3000; ++i) {
    const uint64_t n = rng() >> (rng() % 64);
    ExpectValidFactorization(n, Factor(n));
  }
}

TEST(FactorTask, RandomSemiprimesOfLargePrimesSplit) {
  SCOPED_TRACE(::testing::Message() << "seed " << kSeed);
  std::mt19937_64 rng(kSeed);
  auto random_prime = [&rng](int bits) {
    for (;;) {
      const uint64_t p =
          (rng() >> (64 - bits)) | (uint64_t{1} << (bits - 1)) | 1;
      if (IsPrime(p)) return p;
    }
  };
  for (int i = 0; i < 30; ++i) {
    const uint64_t p = random_prime(32), q = random_prime(31);
    EXPECT_EQ(Factor(p * q),
              (std::vector<uint64_t>{std::min(p, q), std::max(p, q)}));
    EXPECT_EQ(Factor(p * p), (std::vector<uint64_t>{p, p}));
  }
}

TEST(FactorTask, RunLaysOutListsPerItem) {
  absl::StatusOr<v1::ChunkOutput> out =
      RunTask("factor", TaskInput::List({12, 1, 7, 0, kMax64}));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->output_case(), v1::ChunkOutput::kLists);
  EXPECT_EQ(std::vector<uint32_t>(out->lists().lengths().begin(),
                                  out->lists().lengths().end()),
            (std::vector<uint32_t>{3, 0, 1, 0, 7}));
  EXPECT_EQ(
      std::vector<uint64_t>(out->lists().values().begin(),
                            out->lists().values().end()),
      (std::vector<uint64_t>{2, 2, 3, 7, 3, 5, 17, 257, 641, 65537, 6700417}));
}

TEST(FactorTask, RangeAtTopOfUint64) {
  const uint64_t first = kMax64 - 200;
  absl::StatusOr<v1::ChunkOutput> out =
      RunTask("factor", TaskInput::Range(first, kMax64));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->lists().lengths_size(), 201);
  int offset = 0;
  for (int i = 0; i < 201; ++i) {
    const int length = static_cast<int>(out->lists().lengths(i));
    std::vector<uint64_t> factors(
        out->lists().values().begin() + offset,
        out->lists().values().begin() + offset + length);
    offset += length;
    ExpectValidFactorization(first + i, factors);
  }
  EXPECT_EQ(offset, out->lists().values_size());
}

TEST(FactorTask, RejectsBadInput) {
  EXPECT_EQ(RunTask("factor", TaskInput::Range(5, 4)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunTask("factor", TaskInput::Range(0, 1 << 14)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunTask("factor", TaskInput::Range(0, 9), v1::REDUCTION_COUNT)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  TaskParams params;
  params["us"] = "1";
  EXPECT_EQ(
      RunTask("factor", TaskInput::Range(0, 9), v1::REDUCTION_NONE, params)
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tq
