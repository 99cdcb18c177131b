// The compact boolean encoding's reader: each function against a plain
// reference built item by item. The codec does not care what is true, only
// where each number's bit sits, so the wheels here hold random bits.
#include "common/wheel_bits.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tq {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

bool CoprimeTo30(uint64_t n) { return n % 2 != 0 && n % 3 != 0 && n % 5 != 0; }

// A wheel of [first, last] with random bits for the numbers in range, and
// the plain truth it encodes, item by item.
struct Sample {
  uint64_t first, last;
  std::vector<uint8_t> wheel;
  std::vector<bool> truth;
};

Sample Make(uint64_t first, uint64_t last, std::mt19937_64& rng) {
  Sample s{first, last, std::vector<uint8_t>(WheelBytes(first, last)), {}};
  for (uint64_t n = first;; ++n) {
    bool value = n == 2 || n == 3 || n == 5;
    if (CoprimeTo30(n)) {
      value = rng() % 3 == 0;
      if (value) {
        int k = 0;
        while (kWheelResidues[k] != n % 30) ++k;
        s.wheel[n / 30 - first / 30] |= static_cast<uint8_t>(1u << k);
      }
    }
    s.truth.push_back(value);
    if (n == last) break;
  }
  return s;
}

void ExpectDecodes(const Sample& s) {
  SCOPED_TRACE(testing::Message() << s.first << ".." << s.last);
  const uint8_t* wheel = s.wheel.data();
  ASSERT_TRUE(WheelBitsWithin(wheel, s.first, s.last));
  uint64_t trues = 0;
  for (uint64_t i = 0; i < s.truth.size(); ++i) {
    ASSERT_EQ(WheelTest(wheel, s.first, s.first + i), s.truth[i]) << s.first + i;
    trues += s.truth[i];
  }
  EXPECT_EQ(WheelCount(wheel, s.first, s.last), trues);

  std::vector<uint64_t> want_true, got_true;
  for (uint64_t i = 0; i < s.truth.size(); ++i) {
    if (s.truth[i]) want_true.push_back(s.first + i);
  }
  for (uint64_t n = WheelNextTrue(wheel, s.first, s.last, s.first); n != 0;) {
    got_true.push_back(n);
    n = n == s.last ? 0 : WheelNextTrue(wheel, s.first, s.last, n + 1);
  }
  EXPECT_EQ(got_true, want_true);

  // Plain bits, with a guard byte that must stay untouched.
  const uint64_t bytes = (s.truth.size() + 7) / 8;
  std::string bits(bytes + 1, '\xAB');
  WheelToBits(wheel, s.first, s.last, reinterpret_cast<uint8_t*>(bits.data()));
  EXPECT_EQ(bits.back(), '\xAB');
  for (uint64_t i = 0; i < bytes * 8; ++i) {
    const bool bit = (static_cast<uint8_t>(bits[i / 8]) >> (i % 8)) & 1;
    ASSERT_EQ(bit, i < s.truth.size() && s.truth[i]) << "plain bit " << i;
  }
}

TEST(WheelBitsTest, EveryStartAndEndResidueNearZero) {
  std::mt19937_64 rng(1);
  for (uint64_t first = 0; first < 64; ++first) {
    for (uint64_t last = first; last < first + 300; last += 7) {
      ExpectDecodes(Make(first, last, rng));
    }
  }
}

TEST(WheelBitsTest, RandomRangesAtEveryMagnitude) {
  std::mt19937_64 rng(2);
  for (int round = 0; round < 400; ++round) {
    const int magnitude = static_cast<int>(rng() % 64);
    const uint64_t first = rng() >> magnitude;
    const uint64_t size = 1 + rng() % (round % 4 == 0 ? 5000 : 300);
    const uint64_t last = first > kMax - size ? kMax : first + size - 1;
    ExpectDecodes(Make(first, last, rng));
  }
}

TEST(WheelBitsTest, TopOfUint64) {
  std::mt19937_64 rng(3);
  ExpectDecodes(Make(kMax - 1000, kMax, rng));
  ExpectDecodes(Make(kMax, kMax, rng));
  ExpectDecodes(Make(kMax - 14, kMax - 14, rng));
}

TEST(WheelBitsTest, BitsOutsideTheRangeAreRefused) {
  // [31, 59]: one wheel byte (30..59); 30 + 1 = 31 is in, so its bit is fine.
  std::vector<uint8_t> wheel = {0x01};
  EXPECT_TRUE(WheelBitsWithin(wheel.data(), 31, 59));
  EXPECT_FALSE(WheelBitsWithin(wheel.data(), 32, 59));   // 31 is below
  wheel = {0x80};                                          // 59
  EXPECT_TRUE(WheelBitsWithin(wheel.data(), 31, 59));
  EXPECT_FALSE(WheelBitsWithin(wheel.data(), 31, 58));   // 59 is above
  wheel = {0x00, 0x02};                                    // 67
  EXPECT_TRUE(WheelBitsWithin(wheel.data(), 40, 67));
  EXPECT_FALSE(WheelBitsWithin(wheel.data(), 40, 66));
}

TEST(WheelBitsTest, ExpandsSlicesOfALongerWheel) {
  // Any [first', last'] inside the wheel's range, read from the wheel byte
  // of first': the edge bytes' bits outside it must not leak in (nor be
  // written outside the slice's bytes, which the guard byte checks).
  std::mt19937_64 rng(4);
  for (uint64_t first : {uint64_t{0}, uint64_t{1}, uint64_t{7}, uint64_t{29},
                         uint64_t{1000003}, kMax - 5000}) {
    const Sample s = Make(first, first + 4000, rng);
    for (int round = 0; round < 300; ++round) {
      const uint64_t begin = rng() % s.truth.size();
      const uint64_t end = begin + rng() % (s.truth.size() - begin);
      const uint64_t slice_first = first + begin, slice_last = first + end;
      SCOPED_TRACE(testing::Message() << slice_first << ".." << slice_last);
      const uint64_t bytes = (end - begin) / 8 + 1;
      std::string bits(bytes + 1, '\xAB');
      WheelToBits(s.wheel.data() + (slice_first / 30 - first / 30), slice_first,
                  slice_last, reinterpret_cast<uint8_t*>(bits.data()));
      ASSERT_EQ(bits.back(), '\xAB');
      for (uint64_t i = 0; i < bytes * 8; ++i) {
        const bool bit = (static_cast<uint8_t>(bits[i / 8]) >> (i % 8)) & 1;
        ASSERT_EQ(bit, begin + i <= end && s.truth[begin + i]) << "plain bit " << i;
      }
    }
  }
}

TEST(WheelBitsTest, SmallPrimesNeedNoBits) {
  const std::vector<uint8_t> zero(1, 0);
  EXPECT_EQ(WheelCount(zero.data(), 0, 29), 3u);
  EXPECT_EQ(WheelCount(zero.data(), 3, 4), 1u);
  EXPECT_EQ(WheelNextTrue(zero.data(), 0, 29, 0), 2u);
  EXPECT_EQ(WheelNextTrue(zero.data(), 0, 29, 4), 5u);
  EXPECT_EQ(WheelNextTrue(zero.data(), 0, 29, 6), 0u);
}

}  // namespace
}  // namespace tq
