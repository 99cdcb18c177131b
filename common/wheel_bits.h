// Reading and converting the compact boolean encoding of ChunkOutput
// .prime_wheel (proto/tq/v1/tq.proto): primality over a range [first, last]
// in 8 bits per 30 numbers. Byte j holds the numbers 30 * (first / 30 + j) +
// kWheelResidues[k] at bit k; numbers outside the range have zero bits; a
// number sharing a factor with 30 is true only if it is 2, 3 or 5.
//
// The worker's runner turns a wheel into plain bits for clients that did
// not ask for it; the client reads it in place (a bit, the count, the next
// true item) and expands it only for output that needs one bit per item.
// Pure functions on caller-owned bytes; thread-safe.
#ifndef TQ_COMMON_WHEEL_BITS_H_
#define TQ_COMMON_WHEEL_BITS_H_

#include <array>
#include <cstdint>

namespace tq {

inline constexpr uint8_t kWheelResidues[8] = {1, 7, 11, 13, 17, 19, 23, 29};

// kWheelBitOfResidue[r]: the wheel bit of residue r mod 30, or -1 when r
// shares a factor with 30.
inline constexpr std::array<int8_t, 30> kWheelBitOfResidue = [] {
  std::array<int8_t, 30> bit{};
  for (int8_t& b : bit) b = -1;
  for (int k = 0; k < 8; ++k) bit[kWheelResidues[k]] = static_cast<int8_t>(k);
  return bit;
}();

// The bits of a wheel byte at or above residue r, and at or below it: what
// the edge bytes of a range starting at r (first % 30) or ending at r
// (last % 30) may hold.
inline constexpr std::array<uint8_t, 30> kWheelBitsFrom = [] {
  std::array<uint8_t, 30> mask{};
  for (int r = 0; r < 30; ++r) {
    for (int k = 0; k < 8; ++k) {
      if (kWheelResidues[k] >= r) mask[r] |= static_cast<uint8_t>(1u << k);
    }
  }
  return mask;
}();
inline constexpr std::array<uint8_t, 30> kWheelBitsUpTo = [] {
  std::array<uint8_t, 30> mask{};
  for (int r = 0; r < 30; ++r) {
    for (int k = 0; k < 8; ++k) {
      if (kWheelResidues[k] <= r) mask[r] |= static_cast<uint8_t>(1u << k);
    }
  }
  return mask;
}();

// Bytes of the wheel of [first, last] (first <= last).
inline uint64_t WheelBytes(uint64_t first, uint64_t last) {
  return last / 30 - first / 30 + 1;
}

// True if no bit of `wheel` stands for a number outside [first, last]: the
// check a decoder makes before trusting a wheel from the network.
bool WheelBitsWithin(const uint8_t* wheel, uint64_t first, uint64_t last);

// The result for n, first <= n <= last.
bool WheelTest(const uint8_t* wheel, uint64_t first, uint64_t n);

// True items in [first, last]. Assumes WheelBitsWithin.
uint64_t WheelCount(const uint8_t* wheel, uint64_t first, uint64_t last);

// The smallest true n with from <= n <= last, or 0 if there is none (0 is
// never true). first <= from. Assumes WheelBitsWithin.
uint64_t WheelNextTrue(const uint8_t* wheel, uint64_t first, uint64_t last,
                       uint64_t from);

// Writes the plain packed bits of [first, last] to `bits`: item i (the
// number first + i) at bit i % 8 of byte i / 8, ceil((last - first + 1) / 8)
// bytes, unused high bits zero. Bits of the wheel's edge bytes outside
// [first, last] are ignored, so a slice of a longer wheel may be expanded.
void WheelToBits(const uint8_t* wheel, uint64_t first, uint64_t last,
                 uint8_t* bits);

}  // namespace tq

#endif  // TQ_COMMON_WHEEL_BITS_H_
