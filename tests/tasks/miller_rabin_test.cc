// Tests of the arithmetic under the prime tasks (tasks/miller_rabin.h):
// Montgomery multiplication against 128-bit arithmetic, the small-prime
// divisibility table against %, and IsPrime against trial division.
#include "tasks/miller_rabin.h"

#include <cstdint>
#include <random>

#include "gtest/gtest.h"
#include "tests/tasks/task_test_util.h"

namespace tq {
namespace {

constexpr uint32_t kSeed = 20240611;  // fixed so failures reproduce

TEST(Montgomery64, MatchesInt128Arithmetic) {
  SCOPED_TRACE(::testing::Message() << "seed " << kSeed);
  std::mt19937_64 rng(kSeed);
  for (int i = 0; i < 20000; ++i) {
    uint64_t n = (rng() >> (rng() % 63)) | 1;
    if (i % 3 == 0) n = ~uint64_t{0} - 2 * (rng() % 1000);  // odd, near 2^64
    if (n < 3) n = 3;
    const Montgomery64 mont(n);
    const uint64_t a = rng() % n, b = rng() % n;
    const uint64_t expected =
        static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b % n);
    ASSERT_EQ(mont.From(mont.Mul(mont.To(a), mont.To(b))), expected)
        << a << " * " << b << " mod " << n;
    ASSERT_EQ(
        mont.From(mont.Add(mont.To(a), mont.To(b))),
        static_cast<uint64_t>((static_cast<unsigned __int128>(a) + b) % n));
    ASSERT_EQ(mont.From(mont.Sub(mont.To(a), mont.To(b))),
              a >= b ? a - b : a + (n - b));
    ASSERT_EQ(mont.From(mont.one()), 1u);
  }
}

TEST(Montgomery64, PowMatchesFermat) {
  // a^(p-1) = 1 mod p for the largest 64-bit prime.
  const uint64_t p = 18446744073709551557ull;
  const Montgomery64 mont(p);
  for (uint64_t a :
       {uint64_t{2}, uint64_t{3}, uint64_t{12345678901234567}, p - 1}) {
    EXPECT_EQ(mont.From(mont.Pow(mont.To(a), p - 1)), 1u) << a;
  }
}

TEST(SmallOddPrime, DividesMatchesModulo) {
  std::mt19937_64 rng(kSeed);
  for (const SmallOddPrime& sp : kSmallOddPrimes) {
    for (int i = 0; i < 500; ++i) {
      const uint64_t n = i < 250 ? rng() : sp.p * (rng() >> 9) + (i % 2);
      ASSERT_EQ(sp.Divides(n), n % sp.p == 0) << n << " / " << sp.p;
    }
    EXPECT_TRUE(sp.Divides(0));
    EXPECT_TRUE(sp.Divides(~uint64_t{0} / sp.p * sp.p));
  }
}

TEST(IsPrime, MatchesTrialDivision) {
  for (uint64_t n = 0; n < 200000; ++n) {
    ASSERT_EQ(IsPrime(n), testing::IsPrimeByTrialDivision(n)) << n;
  }
  std::mt19937_64 rng(kSeed);
  for (int i = 0; i < 3000; ++i) {
    const uint64_t n = rng() >> 30;  // below 2^34
    ASSERT_EQ(IsPrime(n), testing::IsPrimeByTrialDivision(n)) << n;
  }
}

}  // namespace
}  // namespace tq
