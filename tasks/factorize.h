// Prime factorization of any 64-bit integer, the kernel of the `factor` task:
// trial division by the primes below 256, then Miller-Rabin and
// Pollard-Brent rho on what is left. Pure and thread-safe.
#ifndef TQ_TASKS_FACTORIZE_H_
#define TQ_TASKS_FACTORIZE_H_

#include <cstdint>

namespace tq {

// No 64-bit integer has more prime factors (with multiplicity) than 2^64's 64.
inline constexpr int kMaxPrimeFactors = 64;

// Writes the prime factors of n into factors[0..count), ascending, with
// multiplicity (12 -> 2 2 3), and returns count. 0 and 1 have none (count 0).
// `factors` must hold kMaxPrimeFactors values.
int PrimeFactors(uint64_t n, uint64_t* factors);

// A factor d of the odd composite n with 1 < d < n. n must have no prime
// factor below 256 and must not be a square (PrimeFactors ensures both).
uint64_t FindFactorPollardBrent(uint64_t n);

}  // namespace tq

#endif  // TQ_TASKS_FACTORIZE_H_
