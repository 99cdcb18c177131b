#include "common/wheel_bits.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace tq {
namespace {

// A wheel byte as 30 plain bits: bit kWheelResidues[k] for each bit k.
constexpr std::array<uint32_t, 256> kExpand = [] {
  std::array<uint32_t, 256> plain{};
  for (int byte = 0; byte < 256; ++byte) {
    for (int k = 0; k < 8; ++k) {
      if (byte & (1 << k)) plain[byte] |= uint32_t{1} << kWheelResidues[k];
    }
  }
  return plain;
}();

constexpr uint64_t kSmallPrimes[] = {2, 3, 5};

uint64_t SmallPrimesWithin(uint64_t first, uint64_t last) {
  uint64_t count = 0;
  for (uint64_t p : kSmallPrimes) count += first <= p && p <= last;
  return count;
}

void SetBit(uint8_t* bits, uint64_t i) {
  bits[i >> 3] |= static_cast<uint8_t>(1u << (i & 7));
}

// Sets the plain bit of every true number of wheel byte j (bit 30j + r - f0
// for residue r; numbers below first have zero bits).
// Sets the plain bits of wheel byte j's bits `b` (j counted from first / 30).
void ExpandByte(uint8_t b, uint64_t j, uint64_t f0, uint8_t* bits) {
  for (; b != 0; b &= b - 1) {
    SetBit(bits, 30 * j + kWheelResidues[std::countr_zero(b)] - f0);
  }
}

}  // namespace

bool WheelBitsWithin(const uint8_t* wheel, uint64_t first, uint64_t last) {
  const uint64_t end = WheelBytes(first, last) - 1;
  uint8_t first_mask = kWheelBitsFrom[first % 30];
  const uint8_t last_mask = kWheelBitsUpTo[last % 30];
  if (end == 0) return (wheel[0] & ~(first_mask & last_mask)) == 0;
  return (wheel[0] & ~first_mask) == 0 && (wheel[end] & ~last_mask) == 0;
}

bool WheelTest(const uint8_t* wheel, uint64_t first, uint64_t n) {
  const int bit = kWheelBitOfResidue[n % 30];
  if (bit < 0) return n == 2 || n == 3 || n == 5;
  return (wheel[n / 30 - first / 30] >> bit) & 1;
}

uint64_t WheelCount(const uint8_t* wheel, uint64_t first, uint64_t last) {
  const uint64_t size = WheelBytes(first, last);
  uint64_t count = SmallPrimesWithin(first, last);
  uint64_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, wheel + i, 8);
    count += std::popcount(word);
  }
  for (; i < size; ++i) count += std::popcount(wheel[i]);
  return count;
}

uint64_t WheelNextTrue(const uint8_t* wheel, uint64_t first, uint64_t last,
                       uint64_t from) {
  if (from > last) return 0;
  if (from <= 5) {
    // 1 (a wheel bit) comes before 2, 3 and 5 (true without bits).
    if (from <= 1 && first <= 1 && (wheel[0] & 1)) return 1;
    for (uint64_t p : kSmallPrimes) {
      if (p >= from && p >= first && p <= last) return p;
    }
  }
  const uint64_t base = first / 30;
  const uint64_t size = WheelBytes(first, last);
  uint64_t j = from / 30 - base;
  for (uint8_t b = wheel[j] & kWheelBitsFrom[from % 30];;) {
    if (b != 0) return 30 * (base + j) + kWheelResidues[std::countr_zero(b)];
    if (++j == size) return 0;
    b = wheel[j];
  }
}

void WheelToBits(const uint8_t* wheel, uint64_t first, uint64_t last,
                 uint8_t* bits) {
  const uint64_t out_size = (last - first) / 8 + 1;
  // Bytes wholly inside [first, last]: the 15-byte stores stay within them.
  const uint64_t full_bytes = (last - first) % 8 == 7 ? out_size : out_size - 1;
  const uint64_t size = WheelBytes(first, last);
  const uint64_t f0 = first % 30;
  // The edge bytes' bits outside [first, last] are ignored (a slice of a
  // longer wheel has them); the stores in blocks never reach them.
  const auto edge_byte = [&](uint64_t j) {
    uint8_t b = wheel[j];
    if (j == 0) b &= kWheelBitsFrom[f0];
    if (j == size - 1) b &= kWheelBitsUpTo[last % 30];
    return b;
  };
  // Number 30 * (first / 30 + j) + r is plain bit 30j + r - f0. Four wheel
  // bytes are 120 numbers, 15 plain bytes: block b (j = 4b) starts at bit
  // 120b - f0, at the same offset within its byte for every b. The first
  // block (when f0 > 0 it begins below bit 0) and the tail go bit by bit;
  // the blocks between are stored 15 bytes at a time, carrying the few bits
  // that spill into the next block's first byte.
  const uint64_t head = f0 == 0 ? 0 : std::min<uint64_t>(4, size);
  uint64_t j = head;
  uint64_t byte = (30 * j - f0) >> 3;  // j >= 4 or f0 == 0: no wrap
  const unsigned offset = (30 * j - f0) & 7;
  std::memset(bits, 0, std::min(out_size, byte + 1));
  for (uint64_t h = 0; h < head; ++h) ExpandByte(edge_byte(h), h, f0, bits);
  if (byte < out_size) {
    // Each block's 120 bits as two words (bits 0-63, 64-119), shifted up
    // by `offset` and joined with the carry from the block before.
    uint64_t carry = bits[byte];
    const unsigned spill = 64 - offset;  // offset 0: no bits cross words
    for (; j + 4 <= size && byte + 16 <= full_bytes; j += 4, byte += 15) {
      const uint64_t e2 = kExpand[wheel[j + 2]];
      const uint64_t lo = uint64_t{kExpand[wheel[j]]} |
                          uint64_t{kExpand[wheel[j + 1]]} << 30 | e2 << 60;
      const uint64_t hi = e2 >> 4 | uint64_t{kExpand[wheel[j + 3]]} << 26;
      const uint64_t words[2] = {
          lo << offset | carry,
          hi << offset | (offset == 0 ? 0 : lo >> spill)};
      std::memcpy(bits + byte, words, 16);
      carry = words[1] >> 56;
    }
    std::memset(bits + byte + 1, 0, out_size - byte - 1);
  }
  for (; j < size; ++j) ExpandByte(edge_byte(j), j, f0, bits);
  for (uint64_t p : kSmallPrimes) {
    if (first <= p && p <= last) SetBit(bits, p - first);
  }
}

}  // namespace tq
