// Exact primality for every 64-bit integer (small-prime trial division, then
// deterministic Miller-Rabin), and the Montgomery arithmetic it runs on. The
// `primes` task uses IsPrime for item lists; `factor` uses all of it for
// Pollard-Brent rho. Everything here is pure and thread-safe.
#ifndef TQ_TASKS_MILLER_RABIN_H_
#define TQ_TASKS_MILLER_RABIN_H_

#include <array>
#include <cstdint>

namespace tq {

// Multiplication modulo an odd n > 1 in Montgomery form (R = 2^64), which
// avoids the slow 128-by-64-bit division of (unsigned __int128)a * b % n on
// every step. Values "in form" are a * R mod n, always in [0, n).
class Montgomery64 {
 public:
  // `n` must be odd and > 1.
  explicit Montgomery64(uint64_t n) : n_(n) {
    // Newton's iteration for n^-1 mod 2^64: n * n == 1 mod 8 for odd n, so
    // `inv` starts with 3 good bits and each step doubles them (3 -> 96).
    uint64_t inv = n;
    for (int i = 0; i < 5; ++i) inv *= 2 - n * inv;
    inv_ = inv;
    one_ = (0 - n) % n;  // 2^64 mod n
    r2_ =
        static_cast<uint64_t>(static_cast<unsigned __int128>(one_) * one_ % n);
  }

  uint64_t modulus() const { return n_; }
  // 1 in form.
  uint64_t one() const { return one_; }
  // Any a (not necessarily < n) into form.
  uint64_t To(uint64_t a) const { return Mul(a, r2_); }
  // Out of form, in [0, n).
  uint64_t From(uint64_t a) const { return Reduce(0, a); }

  // a * b * R^-1 mod n. Needs a * b < n * 2^64, true when either is < n.
  uint64_t Mul(uint64_t a, uint64_t b) const {
    unsigned __int128 t = static_cast<unsigned __int128>(a) * b;
    return Reduce(static_cast<uint64_t>(t >> 64), static_cast<uint64_t>(t));
  }
  // a + b mod n for a, b < n; the sum may wrap past 2^64, and then it is
  // certainly >= n, so subtracting n (also wrapping) is still right.
  uint64_t Add(uint64_t a, uint64_t b) const {
    uint64_t s = a + b;
    return (s < a || s >= n_) ? s - n_ : s;
  }
  // a - b mod n for a, b < n.
  uint64_t Sub(uint64_t a, uint64_t b) const {
    return a >= b ? a - b : a + (n_ - b);
  }
  // base^exp, base and result in form.
  uint64_t Pow(uint64_t base, uint64_t exp) const {
    uint64_t result = one_;
    while (exp != 0) {
      if (exp & 1) result = Mul(result, base);
      base = Mul(base, base);
      exp >>= 1;
    }
    return result;
  }

 private:
  // (hi * 2^64 + lo) * R^-1 mod n for hi < n. With m = lo * n^-1, m * n has
  // the same low word as the input, so the difference of the high words is
  // the exact quotient; it lies in (-n, n).
  uint64_t Reduce(uint64_t hi, uint64_t lo) const {
    uint64_t m = lo * inv_;
    uint64_t mn_hi =
        static_cast<uint64_t>((static_cast<unsigned __int128>(m) * n_) >> 64);
    return hi >= mn_hi ? hi - mn_hi : hi - mn_hi + n_;
  }

  uint64_t n_;
  uint64_t inv_;  // n^-1 mod 2^64
  uint64_t one_;  // R mod n
  uint64_t r2_;   // R^2 mod n
};

// Primes below this are trial-divided by IsPrime and by factorization.
inline constexpr uint32_t kTrialDivisionLimit = 256;

// An odd prime with what makes "does p divide n" a multiply and a compare
// instead of a division: p | n exactly when n * p^-1 mod 2^64 <= (2^64-1)/p.
struct SmallOddPrime {
  uint32_t p;
  uint64_t inverse;       // p^-1 mod 2^64
  uint64_t max_quotient;  // (2^64 - 1) / p

  bool Divides(uint64_t n) const { return n * inverse <= max_quotient; }
};

namespace internal {
constexpr int CountOddPrimesBelow(uint32_t limit) {
  int count = 0;
  for (uint32_t n = 3; n < limit; n += 2) {
    bool prime = true;
    for (uint32_t d = 3; d * d <= n; d += 2) prime = prime && n % d != 0;
    count += prime;
  }
  return count;
}
template <int kCount>
constexpr std::array<SmallOddPrime, kCount> MakeSmallOddPrimes() {
  std::array<SmallOddPrime, kCount> table{};
  int i = 0;
  for (uint32_t n = 3; i < kCount; n += 2) {
    bool prime = true;
    for (uint32_t d = 3; d * d <= n; d += 2) prime = prime && n % d != 0;
    if (!prime) continue;
    uint64_t inv = n;
    for (int k = 0; k < 5; ++k) inv *= 2 - n * inv;
    table[i++] = {n, inv, ~uint64_t{0} / n};
  }
  return table;
}
}  // namespace internal

// The odd primes below kTrialDivisionLimit (3, 5, ..., 251), ascending.
inline constexpr auto kSmallOddPrimes =
    internal::MakeSmallOddPrimes<internal::CountOddPrimesBelow(
        kTrialDivisionLimit)>();

// True iff n is prime. Exact for all 0..2^64-1: trial division by the primes
// below kTrialDivisionLimit, then strong probable-prime tests to the bases
// 2, 3, ..., 37 (the first 12 primes), which no composite below
// 3.18 * 10^23 passes.
bool IsPrime(uint64_t n);

// Miller-Rabin alone for odd n > 37 with no factor below 38 (callers that
// already trial-divided, like Pollard's rho loop in factorize.cc).
bool PassesMillerRabin(uint64_t n);

// floor(sqrt(n)) for any n, exact (corrects the double estimate).
uint64_t Isqrt(uint64_t n);

}  // namespace tq

#endif  // TQ_TASKS_MILLER_RABIN_H_
