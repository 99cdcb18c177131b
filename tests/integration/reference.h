// Independent reference results for the multi-process tests: plain trial
// division, sharing no code with tasks/, so a kernel bug cannot hide.
#ifndef TQ_TESTS_INTEGRATION_REFERENCE_H_
#define TQ_TESTS_INTEGRATION_REFERENCE_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tq::testing {

// n<TAB>n per item: what `map spin` prints.
inline std::string SpinReference(uint64_t lo, uint64_t hi) {
  std::string out;
  for (uint64_t n = lo; n <= hi; ++n) {
    out += std::to_string(n) + "\t" + std::to_string(n) + "\n";
  }
  return out;
}

inline bool IsPrimeByTrialDivision(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

inline std::vector<uint64_t> FactorByTrialDivision(uint64_t n) {
  std::vector<uint64_t> factors;
  if (n < 2) return factors;
  for (uint64_t d = 2; d * d <= n; ++d) {
    while (n % d == 0) {
      factors.push_back(d);
      n /= d;
    }
  }
  if (n > 1) factors.push_back(n);
  return factors;
}

// The outputs tq-client must produce for primes over lo..hi.
struct PrimesReference {
  std::string tsv, json, true_only, count, bitmap;
};

inline PrimesReference ReferencePrimes(uint64_t lo, uint64_t hi) {
  PrimesReference ref;
  uint64_t count = 0, index = 0;
  for (uint64_t n = lo; n <= hi; ++n, ++index) {
    bool prime = IsPrimeByTrialDivision(n);
    const char* word = prime ? "true" : "false";
    ref.tsv += std::to_string(n) + "\t" + word + "\n";
    ref.json += "{\"n\":" + std::to_string(n) + ",\"result\":" + word + "}\n";
    if (index % 8 == 0) ref.bitmap.push_back(0);
    if (prime) {
      ++count;
      ref.true_only += std::to_string(n) + "\n";
      ref.bitmap.back() = static_cast<char>(ref.bitmap.back() | (1 << (index % 8)));
    }
  }
  ref.count = std::to_string(count) + "\n";
  return ref;
}

// Compares a program's output with the expected text. Unlike EXPECT_EQ on
// strings, which builds an O(lines^2) diff that can exhaust memory on large
// outputs, it reports the sizes and the first line that differs.
inline ::testing::AssertionResult SameOutput(const std::string& actual,
                                             const std::string& expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  size_t at = std::mismatch(actual.begin(),
                            actual.begin() + std::min(actual.size(), expected.size()),
                            expected.begin()).first - actual.begin();
  size_t line_start = actual.rfind('\n', at == 0 ? 0 : at - 1);
  line_start = line_start == std::string::npos || at == 0 ? 0 : line_start + 1;
  auto line_at = [line_start](const std::string& text) {
    return text.substr(line_start, text.find('\n', line_start) - line_start);
  };
  return ::testing::AssertionFailure()
         << "output differs at byte " << at << " (of " << actual.size()
         << " bytes; expected " << expected.size() << "): got line '"
         << line_at(actual) << "', expected '" << line_at(expected) << "'";
}

}  // namespace tq::testing

#endif  // TQ_TESTS_INTEGRATION_REFERENCE_H_
