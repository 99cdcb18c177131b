#include "common/chunk_sizer.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tq {
namespace {

// Estimates are ratios of exponentially decayed sums: the time per item is
// the chunks' rates weighted by their run time, the bytes per item bytes
// over items. Halving the history per chunk follows a drifting cost within
// a few chunks.
constexpr double kDecay = 0.5;
// 2^64: doubles at or above it do not convert to uint64_t.
constexpr double kTwoTo64 = 18446744073709551616.0;

double Ratio(double numerator, double denominator) {
  return denominator > 0 ? numerator / denominator : 0;
}

}  // namespace

ChunkSizer::ChunkSizer(ChunkSizerOptions options) : options_(options) {}

void ChunkSizer::ObserveInput(uint64_t items, uint64_t bytes) {
  if (items == 0) return;
  input_bytes_ = kDecay * input_bytes_ + static_cast<double>(bytes);
  input_items_ = kDecay * input_items_ + static_cast<double>(items);
}

void ChunkSizer::ObserveResult(uint64_t items, uint64_t run_micros,
                               uint64_t result_bytes) {
  if (items == 0) return;
  largest_measured_ = std::max(largest_measured_, items);
  const double micros = static_cast<double>(run_micros);
  weighted_rates_ =
      kDecay * weighted_rates_ + micros * (micros / static_cast<double>(items));
  run_micros_ = kDecay * run_micros_ + micros;
  result_bytes_ = kDecay * result_bytes_ + static_cast<double>(result_bytes);
  result_items_ = kDecay * result_items_ + static_cast<double>(items);
}

double ChunkSizer::micros_per_item() const {
  return Ratio(weighted_rates_, run_micros_);
}

double ChunkSizer::bytes_per_item() const {
  return std::max(Ratio(input_bytes_, input_items_),
                  Ratio(result_bytes_, result_items_));
}

uint64_t ChunkSizer::Next(uint64_t remaining, uint32_t parallelism) const {
  // Sizes are worked out in double: target / rate may be huge (a rate of
  // 0 µs per item) and must clamp, not overflow.
  const double max_items =
      static_cast<double>(std::max<uint64_t>(1, options_.max_items));
  double size = static_cast<double>(options_.initial_items);
  if (measured()) {
    const double rate = micros_per_item();
    const double ideal =
        rate > 0 ? static_cast<double>(options_.target_micros) / rate
                 : max_items;
    const double cap =
        static_cast<double>(largest_measured_) *
        static_cast<double>(std::max<uint64_t>(1, options_.growth));
    size = std::min(ideal, cap);
  }
  size = std::min(size, max_items);
  if (const double bytes = bytes_per_item(); bytes > 0) {
    size = std::min(size, static_cast<double>(options_.max_bytes) / bytes);
  }
  if (remaining != kUnknownRemaining) {
    // An even share of what is left per worker: the last chunks shrink.
    const double workers = std::max<uint32_t>(1, parallelism);
    size = std::min(size, std::ceil(static_cast<double>(remaining) / workers));
  }
  uint64_t items = size >= kTwoTo64 ? std::numeric_limits<uint64_t>::max()
                   : size >= 1      ? static_cast<uint64_t>(size)
                                    : 1;
  if (remaining != kUnknownRemaining && remaining > 0) {
    items = std::min(items, remaining);
  }
  return items;
}

}  // namespace tq
