// ChunkResult: one chunk of a job's results. Gives each item's number n and
// its result (bool, value or list of values), the chunk's count under
// Reduction::kCount, or for code jobs the result bytes as the runtime made
// them (Python: a pickled list). With JobSpec::skip_failed, items that
// failed on every attempt come as a kFailed result naming the cause.
//
// Part of the client library's public API: no protocol types. Immutable;
// copies share their data; safe to read from several threads.
#ifndef TQ_CLIENT_CHUNK_RESULT_H_
#define TQ_CLIENT_CHUNK_RESULT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tq {

namespace internal {
struct ChunkData;
class ChunkDecoder;
}  // namespace internal

class ChunkResult {
 public:
  // kFailed: the items failed on every attempt (JobSpec::skip_failed);
  // error() says why, and they have no results.
  enum class Kind { kBits, kValues, kLists, kCount, kBytes, kFailed };

  // The chunk these items belong to. A chunk the broker split (to isolate a
  // failing item) arrives as several results with the same index; order
  // and identify results by first_item().
  uint64_t chunk_index() const { return chunk_index_; }
  // Index within the job of this result's first item.
  uint64_t first_item() const { return first_item_; }
  // Items in this result.
  uint64_t size() const { return size_; }
  Kind kind() const { return kind_; }
  // Wall time a worker spent on it.
  uint64_t run_micros() const { return run_micros_; }

  // Task jobs: the input number of item i (0 <= i < size()); code jobs:
  // the item's index in the job.
  uint64_t n(uint64_t i) const {
    return numbers_ != nullptr ? numbers_[i] : lo_ + i;
  }
  // Whether n(i) is n(0) + i for every i (range input, and code jobs).
  bool consecutive() const { return numbers_ == nullptr; }
  // kBits: item i's result.
  bool bit(uint64_t i) const {
    return bits_ != nullptr ? (bits_[i / 8] >> (i % 8)) & 1 : WheelBit(i);
  }
  // kBits: the packed bytes, ceil(size()/8) of them, item i at bit i%8 of
  // byte i/8 (LSB first), unused bits zero. Results that arrived in a
  // compact encoding are expanded on the first call (once; thread-safe).
  absl::string_view bits() const;
  // kBits: writes bytes [from, from + n) of bits() to `out`, expanding only
  // those from a compact encoding when `from` is a multiple of 15 (120
  // items; bits() whole otherwise). A bitmap is written in slices this way
  // without a second copy of the chunk in memory.
  void CopyBits(uint64_t from, uint64_t n, char* out) const;
  // kBits: the index of the first true item at or after i, or size() if
  // none. Reads a compact encoding without expanding it.
  uint64_t NextTrue(uint64_t i) const;
  // kValues.
  uint64_t value(uint64_t i) const { return values_[i]; }
  // kLists.
  absl::Span<const uint64_t> list(uint64_t i) const {
    return absl::Span<const uint64_t>(values_ + list_offsets_[i],
                                      list_offsets_[i + 1] - list_offsets_[i]);
  }
  // kCount: true items in the chunk. kBits: computed by popcount.
  uint64_t count() const;

  // kBytes: the result's size, and its bytes (copied out).
  size_t byte_size() const;
  void CopyBytesTo(char* out) const;
  std::string bytes() const;

  // kFailed: why the items failed (signal, error text, run limit).
  const std::string& error() const;
  bool failed() const { return kind_ == Kind::kFailed; }

 private:
  friend class internal::ChunkDecoder;
  ChunkResult() = default;
  bool WheelBit(uint64_t i) const;

  std::shared_ptr<const internal::ChunkData> data_;
  uint64_t chunk_index_ = 0;
  uint64_t first_item_ = 0;
  uint64_t size_ = 0;
  uint64_t run_micros_ = 0;
  Kind kind_ = Kind::kBits;
  // Views into data_, for the per-item accessors above.
  const uint64_t* numbers_ = nullptr;  // list input; else n(i) = lo_ + i
  uint64_t lo_ = 0;
  const uint8_t* bits_ = nullptr;   // kBits as plain bits
  const uint8_t* wheel_ = nullptr;  // kBits as ChunkOutput.prime_wheel
  const uint64_t* values_ = nullptr;
  const uint64_t* list_offsets_ = nullptr;  // size()+1 prefix sums
};

}  // namespace tq

#endif  // TQ_CLIENT_CHUNK_RESULT_H_
