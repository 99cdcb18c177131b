#include "tasks/factorize.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tasks/miller_rabin.h"

namespace tq {

uint64_t FindFactorPollardBrent(uint64_t n) {
  const Montgomery64 mont(n);
  // Brent's variant: the walk x -> x^2 + c is run in doubling stretches, and
  // the differences are multiplied together so that one gcd covers kBatch
  // steps. Montgomery form does not change the gcd (R is a unit mod n).
  constexpr uint64_t kBatch = 128;
  for (uint64_t c = 1;; ++c) {
    const uint64_t c_form = mont.To(c);
    auto step = [&](uint64_t v) { return mont.Add(mont.Mul(v, v), c_form); };
    uint64_t y = mont.To(2);
    uint64_t x = y;
    uint64_t saved_y = y;
    uint64_t product = mont.one();
    uint64_t g = 1;
    for (uint64_t stretch = 1; g == 1; stretch <<= 1) {
      x = y;
      for (uint64_t i = 0; i < stretch; ++i) y = step(y);
      for (uint64_t done = 0; done < stretch && g == 1; done += kBatch) {
        saved_y = y;
        const uint64_t steps = std::min(kBatch, stretch - done);
        for (uint64_t i = 0; i < steps; ++i) {
          y = step(y);
          product = mont.Mul(product, mont.Sub(x, y));
        }
        g = std::gcd(product, n);
      }
    }
    if (g == n) {
      // The batch overshot (several factors met at once, or the product hit
      // 0): replay its steps one gcd at a time.
      do {
        saved_y = step(saved_y);
        g = std::gcd(mont.Sub(x, saved_y), n);
      } while (g == 1);
    }
    if (g != n) return g;
    // This c's walk cycles mod n as a whole; another c gives another walk.
  }
}

int PrimeFactors(uint64_t n, uint64_t* factors) {
  if (n < 2) return 0;
  int count = 0;
  const int twos = __builtin_ctzll(n);
  for (int i = 0; i < twos; ++i) factors[count++] = 2;
  n >>= twos;
  for (const SmallOddPrime& sp : kSmallOddPrimes) {
    if (n < uint64_t{sp.p} * sp.p) break;  // what is left is 1 or a prime
    while (sp.Divides(n)) {
      factors[count++] = sp.p;
      n *= sp.inverse;  // exact division: p divides n
    }
  }
  if (n != 1) {
    // Every prime factor of n is now >= 257, so n < 257^2 is prime; larger
    // n are split on an explicit stack (at most 64 / 8 entries deep).
    uint64_t pending[kMaxPrimeFactors];
    int depth = 0;
    pending[depth++] = n;
    while (depth > 0) {
      const uint64_t m = pending[--depth];
      if (m < 257 * 257 || PassesMillerRabin(m)) {
        factors[count++] = m;
        continue;
      }
      const uint64_t root = Isqrt(m);
      // Squares defeat rho's gcd more often than not; split them directly.
      const uint64_t d = root * root == m ? root : FindFactorPollardBrent(m);
      pending[depth++] = d;
      pending[depth++] = m / d;
    }
  }
  std::sort(factors, factors + count);
  return count;
}

}  // namespace tq
