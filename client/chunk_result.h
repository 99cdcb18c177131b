// ChunkResult: one chunk of a job's results, decoded from the wire
// ChunkOutput. Gives each item's number n and its result (bool, value or
// list of values), or the chunk's count under Reduction::kCount.
#ifndef TQ_CLIENT_CHUNK_RESULT_H_
#define TQ_CLIENT_CHUNK_RESULT_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// A job's input as the client holds it, shared by all its chunk results so
// that each can say which number an item is. Immutable after construction.
struct JobInput {
  bool is_range = true;
  uint64_t lo = 0;                // range only
  uint64_t hi = 0;                // range only
  std::vector<uint64_t> items;    // list only
  // Index of the last item (the count minus one: 0..2^64-1 has 2^64 items).
  uint64_t last_index() const { return is_range ? hi - lo : items.size() - 1; }
};

// Immutable once built; safe to read from several threads.
class ChunkResult {
 public:
  enum class Kind { kBits, kValues, kLists, kCount };

  // Validates `output` against the chunk's shape (network input is
  // untrusted): kInternal naming the mismatch if the broker sent a chunk
  // with the wrong number of items or an inconsistent list encoding.
  static absl::StatusOr<ChunkResult> Decode(
      std::shared_ptr<const JobInput> input, uint64_t chunk_size,
      uint64_t chunk_index, v1::ChunkOutput output);

  uint64_t chunk_index() const { return chunk_index_; }
  // Index within the job of this chunk's first item.
  uint64_t first_item() const { return first_item_; }
  // Items in this chunk.
  uint64_t size() const { return size_; }
  Kind kind() const { return kind_; }

  // The input number of item i (0 <= i < size()).
  uint64_t n(uint64_t i) const {
    return input_->is_range ? input_->lo + first_item_ + i
                            : input_->items[first_item_ + i];
  }
  // kBits: item i's result, bit i%8 of byte i/8, LSB first.
  bool bit(uint64_t i) const {
    return (static_cast<uint8_t>(output_.bits()[i / 8]) >> (i % 8)) & 1;
  }
  // kBits: the packed bytes, ceil(size()/8) of them, unused bits zero.
  const std::string& bits() const { return output_.bits(); }
  // kValues.
  uint64_t value(uint64_t i) const { return output_.values().values(i); }
  // kLists.
  absl::Span<const uint64_t> list(uint64_t i) const;
  // kCount: true items in the chunk. kBits: computed by popcount.
  uint64_t count() const;

  const v1::ChunkOutput& output() const { return output_; }

 private:
  ChunkResult() = default;

  std::shared_ptr<const JobInput> input_;
  uint64_t chunk_index_ = 0;
  uint64_t first_item_ = 0;
  uint64_t size_ = 0;
  Kind kind_ = Kind::kBits;
  v1::ChunkOutput output_;
  std::vector<uint64_t> list_offsets_;  // kLists: size()+1 prefix sums
};

// Items in chunk `chunk_index` of a job whose last item index is
// `last_index`; 0 if the chunk lies beyond the input.
uint64_t ChunkItemCount(uint64_t last_index, uint64_t chunk_size,
                        uint64_t chunk_index);

}  // namespace tq

#endif  // TQ_CLIENT_CHUNK_RESULT_H_
