#include "tasks/prime_wheel.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <new>
#include <utility>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tasks/miller_rabin.h"
#include "tasks/prime_range.h"  // SieveFailure
#include "tasks/primesieve_library.h"

namespace tq {
namespace {

// The largest prime below 2^64. primesieve's iterator fails if asked for a
// prime past it, so the iterator stops short of it and it is added by hand
// (as primesieve's own store_primes does).
constexpr uint64_t kLargestPrime64 = 18446744073709551557ull;

// kNextResidue[r] is the bit of the smallest wheel residue >= r (r <= 29,
// and 29 is a residue, so there always is one).
constexpr std::array<uint8_t, 30> kNextResidue = [] {
  std::array<uint8_t, 30> next{};
  for (int r = 0; r < 30; ++r) {
    int k = 0;
    while (kWheelResidues[k] < r) ++k;
    next[r] = static_cast<uint8_t>(k);
  }
  return next;
}();


// ---------------------------------------------------------------------------
// Pre-sieving: the primes 7..163 cross off no bit one by one. Their pattern
// in wheel bytes repeats every p bytes (30p numbers), so a table per group of
// primes, one period of the product long, is ANDed into each segment
// instead (as primesieve's PreSieve does). The groups keep every period
// below 10,000 bytes, about 126 KiB in all (read-only data of the binary).

constexpr int kPreSieveTables = 16;
constexpr uint32_t kPreSieveGroups[kPreSieveTables][3] = {
    {7, 23, 37},  {11, 19, 31}, {13, 17, 29}, {41, 163, 1},
    {43, 157, 1}, {47, 151, 1}, {53, 149, 1}, {59, 139, 1},
    {61, 137, 1}, {67, 131, 1}, {71, 127, 1}, {73, 113, 1},
    {79, 109, 1}, {83, 107, 1}, {89, 103, 1}, {97, 101, 1}};
// The largest pre-sieved prime; the sieving primes start above it.
constexpr uint32_t kLargestPreSieved = 163;
// Wheel bytes 0..kSmallBytes-1 (the numbers below 180) hold the pre-sieved
// primes themselves, which the tables clear: those bytes are written from
// kSmallWheel instead.
constexpr uint64_t kSmallBytes = 6;
constexpr std::array<uint8_t, kSmallBytes> kSmallWheel = [] {
  std::array<uint8_t, kSmallBytes> wheel{};
  for (uint32_t j = 0; j < kSmallBytes; ++j) {
    for (int k = 0; k < 8; ++k) {
      const uint32_t n = 30 * j + kWheelResidues[k];
      bool prime = n > 1;
      for (uint32_t d = 2; d * d <= n; ++d) prime = prime && n % d != 0;
      wheel[j] |= static_cast<uint8_t>(prime << k);
    }
  }
  return wheel;
}();

// One table: the bytes of a period of its group's product, 0xFF but for the
// bits of the group's multiples. Computed by the compiler, like the static
// primes below: building all sixteen at run time took ~7 % of the CPU of a
// small job (`map primes 1 100000`), most of it first touches of fresh
// pages. Each table is a constant expression of its own, so each stays far
// inside clang's step limit (~100k of its 1M steps for the largest).
template <int kTable>
struct PreSieveTable {
  static constexpr const uint32_t* kGroup = kPreSieveGroups[kTable];
  static constexpr uint32_t kPeriod = kGroup[0] * kGroup[1] * kGroup[2];
  // Each prime p clears its multiples in residue class k, which sit at the
  // bytes j = j0, j0 + p, ... with 30 j0 + r_k divisible by p.
  static constexpr std::array<uint8_t, kPeriod> kBytes = [] {
    std::array<uint8_t, kPeriod> table{};
    for (uint8_t& byte : table) byte = 0xFF;
    for (int i = 0; i < 3; ++i) {
      const uint32_t p = kGroup[i];
      if (p == 1) continue;
      for (int k = 0; k < 8; ++k) {
        uint32_t j0 = 0;
        while ((30 * j0 + kWheelResidues[k]) % p != 0) ++j0;
        for (uint32_t j = j0; j < kPeriod; j += p) {
          table[j] &= static_cast<uint8_t>(~(1u << k));
        }
      }
    }
    return table;
  }();
};

struct PreSieveTableView {
  const uint8_t* bytes;
  uint32_t period;
};

template <size_t... kTables>
constexpr std::array<PreSieveTableView, kPreSieveTables> PreSieveTableViews(
    std::index_sequence<kTables...>) {
  return {{{PreSieveTable<kTables>::kBytes.data(),
            PreSieveTable<kTables>::kPeriod}...}};
}

constexpr std::array<PreSieveTableView, kPreSieveTables> kPreSieve =
    PreSieveTableViews(std::make_index_sequence<kPreSieveTables>());

template <bool kFirst>
void AndInto(uint8_t* __restrict out, uint64_t len,
             const uint8_t* __restrict a, const uint8_t* __restrict b,
             const uint8_t* __restrict c, const uint8_t* __restrict d) {
  for (uint64_t i = 0; i < len; ++i) {
    const uint8_t v = a[i] & b[i] & c[i] & d[i];
    out[i] = kFirst ? v : static_cast<uint8_t>(out[i] & v);
  }
}

// Writes out[0, len) for the absolute wheel bytes [byte, byte + len): the
// AND of every table there.
void PreSieveFill(uint64_t byte, uint8_t* out, uint64_t len) {
  // Four tables a pass, in runs where none of them wraps: the run loop is
  // plain byte ANDs, which the compiler vectorises.
  for (int t = 0; t < kPreSieveTables; t += 4) {
    uint64_t pos[4];
    const uint8_t* tables[4];
    for (int i = 0; i < 4; ++i) {
      pos[i] = byte % kPreSieve[t + i].period;
      tables[i] = kPreSieve[t + i].bytes;
    }
    for (uint64_t done = 0; done < len;) {
      uint64_t run = len - done;
      for (int i = 0; i < 4; ++i) {
        run = std::min<uint64_t>(run, kPreSieve[t + i].period - pos[i]);
      }
      if (t == 0) {
        AndInto</*kFirst=*/true>(out + done, run, tables[0] + pos[0],
                                 tables[1] + pos[1], tables[2] + pos[2],
                                 tables[3] + pos[3]);
      } else {
        AndInto</*kFirst=*/false>(out + done, run, tables[0] + pos[0],
                                  tables[1] + pos[1], tables[2] + pos[2],
                                  tables[3] + pos[3]);
      }
      for (int i = 0; i < 4; ++i) {
        pos[i] += run;
        if (pos[i] == kPreSieve[t + i].period) pos[i] = 0;
      }
      done += run;
    }
  }
}

// The primes below 2^16, computed by the compiler (no start-up cost: a
// vector<bool> sieve here took ~0.3 ms of every small job): the sieving
// primes of every range with last < 2^32, and of the sieve that finds the
// sieving primes above.
constexpr uint32_t kStaticPrimesLimit = uint32_t{1} << 16;
constexpr size_t kStaticPrimeCount = 6542;  // pi(2^16)
constexpr std::array<uint32_t, kStaticPrimeCount> kStaticPrimes = [] {
  // Odd numbers only, to stay well inside clang's constexpr step limit
  // (~700k of its 1M steps).
  std::array<bool, kStaticPrimesLimit / 2> composite{};  // [i]: 2i + 1
  for (uint32_t p = 3; p * p < kStaticPrimesLimit; p += 2) {
    if (composite[p / 2]) continue;
    for (uint32_t m = p * p; m < kStaticPrimesLimit; m += 2 * p) {
      composite[m / 2] = true;
    }
  }
  std::array<uint32_t, kStaticPrimeCount> primes{2};
  size_t count = 1;
  for (uint32_t i = 1; i < kStaticPrimesLimit / 2; ++i) {
    // Past the array's end would not be a constant expression.
    if (!composite[i]) primes[count++] = 2 * i + 1;
  }
  return primes;
}();

// ---------------------------------------------------------------------------
// Crossing off. A sieving prime p = 30a + c (c a wheel residue) has its
// multiples coprime to 30 at p * q for q coprime to 30: with q = 30i + r_k,
// p * q = 30 (p i) + p r_k, so in each window of p bytes starting at byte
// p * i the eight multiples sit at the fixed byte offsets
// a r_k + (c r_k) / 30 (ascending in k, all < p) with the bit of residue
// (c r_k) % 30. The loop crosses off all eight per step.

struct SievingPrime {
  // Byte of the current window (30 p i), relative to the segment being
  // sieved; negative while the window began in an earlier segment.
  int64_t window;
  uint32_t a;  // p / 30
  uint32_t k;  // the next multiple to cross is p * (30 i + r_k)
};

template <int kClass>
struct CrossOffTables {
  static constexpr uint32_t kC = kWheelResidues[kClass];
  static constexpr std::array<uint8_t, 8> kOffset = [] {
    std::array<uint8_t, 8> offset{};
    for (int k = 0; k < 8; ++k) offset[k] = kC * kWheelResidues[k] / 30;
    return offset;
  }();
  static constexpr std::array<uint8_t, 8> kMask = [] {
    std::array<uint8_t, 8> mask{};
    for (int k = 0; k < 8; ++k) {
      mask[k] = static_cast<uint8_t>(
          ~(1u << kWheelBitOfResidue[kC * kWheelResidues[k] % 30]));
    }
    return mask;
  }();
};

// Crosses off the multiples of every prime of class kClass (p % 30 =
// kWheelResidues[kClass]) in s[0, size), and moves each on to the next
// segment, which begins at s + size.
template <int kClass>
void CrossOff(uint8_t* s, int64_t size, SievingPrime* primes, size_t count) {
  using T = CrossOffTables<kClass>;
  for (size_t i = 0; i < count; ++i) {
    SievingPrime& sp = primes[i];
    const int64_t a = sp.a;
    const int64_t p = 30 * a + T::kC;
    const int64_t o0 = a * 1 + T::kOffset[0];
    const int64_t o1 = a * 7 + T::kOffset[1];
    const int64_t o2 = a * 11 + T::kOffset[2];
    const int64_t o3 = a * 13 + T::kOffset[3];
    const int64_t o4 = a * 17 + T::kOffset[4];
    const int64_t o5 = a * 19 + T::kOffset[5];
    const int64_t o6 = a * 23 + T::kOffset[6];
    const int64_t o7 = a * 29 + T::kOffset[7];
    int64_t w = sp.window;
    uint32_t k = sp.k;
#define TQ_CROSS(K)       \
  if (w + o##K >= size) { \
    k = K;                \
    goto done;            \
  }                       \
  s[w + o##K] &= T::kMask[K];
    // The rest of the window the last segment left unfinished.
    switch (k) {
      case 0:
        TQ_CROSS(0)
        [[fallthrough]];
      case 1:
        TQ_CROSS(1)
        [[fallthrough]];
      case 2:
        TQ_CROSS(2)
        [[fallthrough]];
      case 3:
        TQ_CROSS(3)
        [[fallthrough]];
      case 4:
        TQ_CROSS(4)
        [[fallthrough]];
      case 5:
        TQ_CROSS(5)
        [[fallthrough]];
      case 6:
        TQ_CROSS(6)
        [[fallthrough]];
      default:
        TQ_CROSS(7)
        w += p;
    }
    // Whole windows: here w >= 0 (the window before ended at w - p + o7).
    for (const int64_t end = size - o7; w < end; w += p) {
      uint8_t* x = s + w;
      x[o0] &= T::kMask[0];
      x[o1] &= T::kMask[1];
      x[o2] &= T::kMask[2];
      x[o3] &= T::kMask[3];
      x[o4] &= T::kMask[4];
      x[o5] &= T::kMask[5];
      x[o6] &= T::kMask[6];
      x[o7] &= T::kMask[7];
    }
    // The window the segment ends in (its last multiple is past the end).
    TQ_CROSS(0)
    TQ_CROSS(1)
    TQ_CROSS(2)
    TQ_CROSS(3)
    TQ_CROSS(4)
    TQ_CROSS(5)
    TQ_CROSS(6)
    k = 7;
#undef TQ_CROSS
  done:
    sp.window = w - size;
    sp.k = k;
  }
}

// The sieving primes of a range, by class, each with its state.
struct SievingPrimes {
  std::vector<SievingPrime> by_class[8];

  void Clear() {
    for (auto& list : by_class) list.clear();
  }
  size_t CapacityBytes() const {
    size_t bytes = 0;
    for (const auto& list : by_class) {
      bytes += list.capacity() * sizeof(SievingPrime);
    }
    return bytes;
  }
  void CrossOffAll(uint8_t* s, uint64_t size) {
    const int64_t n = static_cast<int64_t>(size);
    CrossOff<0>(s, n, by_class[0].data(), by_class[0].size());
    CrossOff<1>(s, n, by_class[1].data(), by_class[1].size());
    CrossOff<2>(s, n, by_class[2].data(), by_class[2].size());
    CrossOff<3>(s, n, by_class[3].data(), by_class[3].size());
    CrossOff<4>(s, n, by_class[4].data(), by_class[4].size());
    CrossOff<5>(s, n, by_class[5].data(), by_class[5].size());
    CrossOff<6>(s, n, by_class[6].data(), by_class[6].size());
    CrossOff<7>(s, n, by_class[7].data(), by_class[7].size());
  }
};

// Primes up to this cross off one L1 segment at a time; larger ones, which
// have few multiples per segment (a window of p bytes holds 8), one block at
// a time, so that their per-prime loop overhead is paid once per block
// (as primesieve's EratMedium does). Counting 1..1e9 on one thread took
// 0.78-0.89x the time with 4096 here than with the segment size (32 KiB),
// 0.76-0.87x at 1e10-1e12; 8192 and 2048 were in between.
constexpr uint32_t kSmallSievingPrimeMax = 4096;

// A thread's working memory for the sieve, kept from call to call: a chunk
// near 1e12 has ~80,000 sieving primes, and fresh buffers for them cost more
// in page faults than the primes cost to set up. Level 0 serves a call's
// own sieve, level 1 the sieve of [0, sqrt(last)] that lists its sieving
// primes (whose own come from kStaticPrimes). Per thread, so nothing is
// shared; buffers grown past kScratchKeepBytes are released after the call.
struct SieveScratch {
  SievingPrimes small;
  SievingPrimes large;
  std::vector<uint8_t> root_wheel;  // the wheel of [0, sqrt(last)]
};
constexpr size_t kScratchKeepBytes = size_t{16} << 20;

SieveScratch& Scratch(int level) {
  thread_local SieveScratch outer, inner;
  return level == 0 ? outer : inner;
}

void ReleaseIfLarge(SieveScratch& scratch) {
  if (scratch.small.CapacityBytes() + scratch.large.CapacityBytes() +
          scratch.root_wheel.capacity() >
      kScratchKeepBytes) {
    scratch = SieveScratch();
  }
}

// The marking sink (see SieveWheelBlocks): the blocks are the caller's
// wheel, in place.
struct WholeWheel {
  uint8_t* wheel;
  uint8_t* Block(uint64_t offset, uint64_t) { return wheel + offset; }
  void Done(const uint8_t*, uint64_t) {}
};

// The segmented sieve for last <= kWheelSieveLimit (level 0), or for the
// sieving primes of such a sieve (level 1, last <= 2^26), one block of at
// most kWheelBlockBytes wheel bytes at a time: `sink.Block(offset, len)`
// gives the memory for the range's bytes [offset, offset + len), which is
// then sieved (the range's edges masked, the pre-sieved primes restored),
// and `sink.Done(data, len)` is called on it. Throws bad_alloc.
template <typename Sink>
void SieveWheelBlocks(uint64_t first, uint64_t last, int level, Sink& sink) {
  SieveScratch& scratch = Scratch(level);
  const uint64_t b0 = first / 30;
  const uint64_t size = WheelBytes(first, last);
  const uint64_t start = 30 * b0;  // the first number of byte 0

  // Every prime p in (kLargestPreSieved, sqrt(last)] with a multiple to cross
  // in the range, in the list of its size and class, at its first multiple
  // p * q: q >= p (smaller q were crossed by their own factors),
  // p * q >= start, q coprime to 30.
  scratch.small.Clear();
  scratch.large.Clear();
  auto add = [&](uint32_t prime) {
    const uint64_t p = prime;
    // start / p by a double division (both are exact below 2^53), which is
    // off by at most one, then corrected: a 64-bit div costs several times
    // more, once per prime per call.
    uint64_t q = static_cast<uint64_t>(static_cast<double>(start) /
                                       static_cast<double>(p));
    while (q * p > start) --q;
    while (q * p + p <= start) ++q;
    if (q * p < start) ++q;  // now q = ceil(start / p)
    q = std::max(q, p);
    const uint32_t k = kNextResidue[q % 30];
    const uint64_t window = p * (q / 30);
    if (window * 30 + p * kWheelResidues[k] > last) return;  // none in range
    SievingPrimes& list =
        prime <= kSmallSievingPrimeMax ? scratch.small : scratch.large;
    list.by_class[kWheelBitOfResidue[prime % 30]].push_back(
        {static_cast<int64_t>(window) - static_cast<int64_t>(b0), prime / 30,
         k});
  };
  const uint64_t root = Isqrt(last);
  if (root < kStaticPrimesLimit) {
    for (uint32_t p : kStaticPrimes) {
      if (p > root) break;
      if (p > kLargestPreSieved) add(p);
    }
  } else {
    // root <= 2^26, so the level-1 sieve's own primes are static ones.
    std::vector<uint8_t>& root_wheel = scratch.root_wheel;
    root_wheel.resize(WheelBytes(0, root));
    WholeWheel whole{root_wheel.data()};
    SieveWheelBlocks(0, root, level + 1, whole);
    for (uint64_t j = 0; j < root_wheel.size(); ++j) {
      for (unsigned bits = root_wheel[j]; bits != 0; bits &= bits - 1) {
        const uint32_t p =
            static_cast<uint32_t>(30 * j + kWheelResidues[__builtin_ctz(bits)]);
        if (p > kLargestPreSieved) add(p);
      }
    }
  }

  // The crossing-off state is relative to the next segment, wherever it
  // lies in memory, so a sink may hand out the same buffer for every block.
  for (uint64_t block = 0; block < size; block += kWheelBlockBytes) {
    const uint64_t len = std::min(size - block, kWheelBlockBytes);
    uint8_t* data = sink.Block(block, len);
    for (uint64_t segment = 0; segment < len; segment += kWheelSegmentBytes) {
      const uint64_t seg_len = std::min(kWheelSegmentBytes, len - segment);
      PreSieveFill(b0 + block + segment, data + segment, seg_len);
      scratch.small.CrossOffAll(data + segment, seg_len);
    }
    scratch.large.CrossOffAll(data, len);
    for (uint64_t j = b0 + block; j < kSmallBytes && j < b0 + block + len;
         ++j) {
      data[j - b0 - block] = kSmallWheel[j];
    }
    if (block == 0) data[0] &= kWheelBitsFrom[first % 30];
    if (block + len == size) data[len - 1] &= kWheelBitsUpTo[last % 30];
    sink.Done(data, len);
  }
  ReleaseIfLarge(scratch);
}

// The counting sink: every block in one buffer of the calling thread (kept,
// like SieveScratch, from call to call), its set bits added up while it is
// still in cache. The hardware popcount instruction, where the CPU has it,
// is chosen at run time: the build targets baseline x86-64, for which
// __builtin_popcountll is a library call several times slower.
[[gnu::always_inline]] inline uint64_t PopcountLoop(const uint8_t* data,
                                                    uint64_t len) {
  uint64_t bits = 0, i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    bits += static_cast<uint64_t>(__builtin_popcountll(word));
  }
  for (; i < len; ++i) bits += static_cast<uint64_t>(__builtin_popcount(data[i]));
  return bits;
}
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("popcnt"))) uint64_t PopcountHardware(
    const uint8_t* data, uint64_t len) {
  return PopcountLoop(data, len);
}
uint64_t Popcount(const uint8_t* data, uint64_t len) {
  // Asked once, on the first count: __builtin_cpu_supports would link
  // libgcc's CPU probe, which runs at every process start (cpuid traps in
  // a VM: ~0.1 ms for its dozen).
  static const bool hardware = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_POPCNT) != 0;
  }();
  return hardware ? PopcountHardware(data, len) : PopcountLoop(data, len);
}
#else
uint64_t Popcount(const uint8_t* data, uint64_t len) {
  return PopcountLoop(data, len);
}
#endif

struct CountingSink {
  uint64_t primes = 0;
  uint8_t* Block(uint64_t, uint64_t) {
    thread_local std::vector<uint8_t> buffer(kWheelBlockBytes);
    return buffer.data();
  }
  void Done(const uint8_t* data, uint64_t len) { primes += Popcount(data, len); }
};

// ORs the bit of every prime in [from, to] found by IsPrime into the wheel
// whose byte 0 is the absolute byte b0.
void MarkTested(uint64_t b0, uint64_t from, uint64_t to, uint8_t* wheel) {
  const uint64_t from_byte = from / 30, to_byte = to / 30;
  for (uint64_t j = from_byte;; ++j) {
    uint8_t bits = 0xff;
    if (j == from_byte) bits &= kWheelBitsFrom[from % 30];
    if (j == to_byte) bits &= kWheelBitsUpTo[to % 30];
    uint8_t primes = 0;
    for (; bits != 0; bits &= bits - 1) {
      const int k = __builtin_ctz(bits);
      // In [from, to], so no overflow.
      primes |= static_cast<uint8_t>(IsPrime(30 * j + kWheelResidues[k]) << k);
    }
    wheel[j - b0] |= primes;
    if (j == to_byte) break;
  }
}


}  // namespace


PrimeWheelPath ChoosePrimeWheelPath(uint64_t first, uint64_t last) {
  // Measured (bench/prime_wheel_bench.cc and by hand, one core): IsPrime on
  // the numbers coprime to 30 costs ~80 ns per number of the range at any
  // size. A sieve's setup grows with sqrt(last): ~0.5 ns per unit for ours,
  // ~0.28 for primesieve's iterator (7.8 ms at 1e15, 1.3 s near 2^64). So
  // sieving pays from about sqrt(last) / 160 and sqrt(last) / 285 numbers.
  // Past kWheelSieveMaxLast primesieve's sieving beats ours on chunks too.
  const uint64_t count_minus_one = last - first;  // no overflow on full range
  const uint64_t root = Isqrt(last);
  if (last <= kWheelSieveMaxLast) {
    return count_minus_one >= root / 128 ? PrimeWheelPath::kSegmentedSieve
                                         : PrimeWheelPath::kItemByItem;
  }
  return count_minus_one >= root / 256 ? PrimeWheelPath::kIterator
                                       : PrimeWheelPath::kItemByItem;
}

absl::Status MarkPrimeWheelBySieve(uint64_t first, uint64_t last,
                                   uint8_t* wheel) {
  if (last > kWheelSieveLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the wheel sieve stops at ", kWheelSieveLimit, ", asked for ", last));
  }
  try {
    WholeWheel whole{wheel};
    SieveWheelBlocks(first, last, /*level=*/0, whole);
  } catch (const std::exception& e) {
    return SieveFailure("sieve", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> CountPrimesByWheel(uint64_t first, uint64_t last) {
  if (last > kWheelSieveLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the wheel sieve stops at ", kWheelSieveLimit, ", asked for ", last));
  }
  // 2, 3 and 5 have no bit in the wheel.
  uint64_t primes = 0;
  for (uint64_t p : {2, 3, 5}) primes += first <= p && p <= last;
  try {
    CountingSink sink;
    SieveWheelBlocks(first, last, /*level=*/0, sink);
    primes += sink.primes;
  } catch (const std::exception& e) {
    return SieveFailure("count", e);
  }
  return primes;
}

absl::Status MarkPrimeWheelByIterator(uint64_t first, uint64_t last,
                                      uint8_t* wheel) {
  TQ_ASSIGN_OR_RETURN(const PrimesieveLibrary* primesieve, LoadPrimesieve());
  const uint64_t b0 = first / 30;
  std::memset(wheel, 0, WheelBytes(first, last));
  const uint64_t sieve_last = std::min(last, primesieve->get_max_stop());
  const uint64_t limit = std::min(sieve_last, kLargestPrime64 - 1);
  if (first <= limit) {
    primesieve_iterator it;
    primesieve->init(&it);
    primesieve->jump_to(&it, first, limit);  // from `first` on, inclusive
    bool failed = false;
    // Whole buffers at a time; the primes in a buffer are ascending.
    for (;;) {
      primesieve->generate_next_primes(&it);
      if (it.is_error) {  // what went wrong is on stderr
        failed = true;
        break;
      }
      size_t i = 0;
      for (; i < it.size && it.primes[i] <= limit; ++i) {
        const uint64_t p = it.primes[i];
        const int bit = kWheelBitOfResidue[p % 30];
        if (bit >= 0) wheel[p / 30 - b0] |= static_cast<uint8_t>(1u << bit);
      }
      if (i < it.size || it.size == 0) break;
    }
    primesieve->free_iterator(&it);
    if (failed) {
      return absl::InternalError(absl::StrCat(
          "prime sieve failed (primesieve iterator over ", first, "..",
          limit, ")"));
    }
  }
  if (sieve_last < last) {
    // Past primesieve's limit (old versions only): item by item.
    MarkTested(b0, std::max(first, sieve_last + 1), last, wheel);
  }
  if (first <= kLargestPrime64 && kLargestPrime64 <= sieve_last) {
    wheel[kLargestPrime64 / 30 - b0] |=
        static_cast<uint8_t>(1u << kWheelBitOfResidue[kLargestPrime64 % 30]);
  }
  return absl::OkStatus();
}

void MarkPrimeWheelItemByItem(uint64_t first, uint64_t last, uint8_t* wheel) {
  std::memset(wheel, 0, WheelBytes(first, last));
  MarkTested(first / 30, first, last, wheel);
}

absl::Status MarkPrimeWheel(uint64_t first, uint64_t last, uint8_t* wheel) {
  switch (ChoosePrimeWheelPath(first, last)) {
    case PrimeWheelPath::kSegmentedSieve:
      return MarkPrimeWheelBySieve(first, last, wheel);
    case PrimeWheelPath::kIterator:
      return MarkPrimeWheelByIterator(first, last, wheel);
    case PrimeWheelPath::kItemByItem:
      break;
  }
  MarkPrimeWheelItemByItem(first, last, wheel);
  return absl::OkStatus();
}

}  // namespace tq
