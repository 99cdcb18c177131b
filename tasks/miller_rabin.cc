#include "tasks/miller_rabin.h"

#include <cmath>

namespace tq {

static_assert(kSmallOddPrimes.front().p == 3);
static_assert(kSmallOddPrimes.back().p == 251);
static_assert(kSmallOddPrimes.size() == 53);

bool PassesMillerRabin(uint64_t n) {
  // The first 12 primes as bases decide every n < 3.18 * 10^23 (Sorenson and
  // Webster), so every 64-bit n. Callers guarantee n has no factor below 38,
  // so no base is a multiple of n.
  static constexpr uint64_t kBases[] = {2,  3,  5,  7,  11, 13,
                                        17, 19, 23, 29, 31, 37};
  const Montgomery64 mont(n);
  const uint64_t one = mont.one();
  const uint64_t minus_one = n - one;  // (n - 1) in form is n - R mod n
  const int s = __builtin_ctzll(n - 1);
  const uint64_t d = (n - 1) >> s;
  for (uint64_t base : kBases) {
    uint64_t x = mont.Pow(mont.To(base), d);
    if (x == one || x == minus_one) continue;
    bool witness = true;  // stays true unless some x^(2^r) == -1
    for (int r = 1; r < s; ++r) {
      x = mont.Mul(x, x);
      if (x == minus_one) {
        witness = false;
        break;
      }
    }
    if (witness) return false;
  }
  return true;
}

bool IsPrime(uint64_t n) {
  if (n < 2) return false;
  if ((n & 1) == 0) return n == 2;
  for (const SmallOddPrime& sp : kSmallOddPrimes) {
    if (sp.Divides(n)) return n == sp.p;
  }
  // No prime factor below 257, so anything below 257^2 is prime.
  if (n < 257 * 257) return true;
  return PassesMillerRabin(n);
}

uint64_t Isqrt(uint64_t n) {
  uint64_t r = static_cast<uint64_t>(std::sqrt(static_cast<double>(n)));
  while (r > 0 && (r > UINT64_C(0xFFFFFFFF) || r * r > n)) --r;
  while (r < UINT64_C(0xFFFFFFFF) && (r + 1) * (r + 1) <= n) ++r;
  return r;
}

}  // namespace tq
