#include "client/chunk_result.h"

#include <bit>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tq {

uint64_t ChunkItemCount(uint64_t last_index, uint64_t chunk_size,
                        uint64_t chunk_index) {
  if (chunk_size == 0) return 0;
  // start = chunk_index * chunk_size, without overflow.
  if (chunk_index > last_index / chunk_size) return 0;
  uint64_t start = chunk_index * chunk_size;
  uint64_t remaining = last_index - start;  // items after the first
  return (remaining < chunk_size - 1 ? remaining : chunk_size - 1) + 1;
}

absl::StatusOr<ChunkResult> ChunkResult::Decode(
    std::shared_ptr<const JobInput> input, uint64_t chunk_size,
    uint64_t chunk_index, v1::ChunkOutput output) {
  ChunkResult r;
  r.size_ = ChunkItemCount(input->last_index(), chunk_size, chunk_index);
  if (r.size_ == 0) {
    return absl::InternalError(absl::StrCat(
        "broker sent a result for chunk ", chunk_index,
        " which lies beyond the job's input"));
  }
  r.first_item_ = chunk_index * chunk_size;
  r.chunk_index_ = chunk_index;
  r.input_ = std::move(input);
  auto mismatch = [&](absl::string_view what, uint64_t got, uint64_t want) {
    return absl::InternalError(absl::StrCat(
        "broker sent chunk ", chunk_index, " with ", got, " ", what,
        " for ", r.size_, " items (expected ", want, ")"));
  };
  switch (output.output_case()) {
    case v1::ChunkOutput::kBits: {
      r.kind_ = Kind::kBits;
      uint64_t want = (r.size_ + 7) / 8;
      if (output.bits().size() != want) {
        return mismatch("bytes", output.bits().size(), want);
      }
      // Unused high bits must be zero; clear them rather than trust them.
      if (r.size_ % 8 != 0) {
        std::string& bytes = *output.mutable_bits();
        bytes.back() = static_cast<char>(static_cast<uint8_t>(bytes.back()) &
                                         ((1u << (r.size_ % 8)) - 1));
      }
      break;
    }
    case v1::ChunkOutput::kValues:
      r.kind_ = Kind::kValues;
      if (static_cast<uint64_t>(output.values().values_size()) != r.size_) {
        return mismatch("values", output.values().values_size(), r.size_);
      }
      break;
    case v1::ChunkOutput::kLists: {
      r.kind_ = Kind::kLists;
      const v1::ValueLists& lists = output.lists();
      if (static_cast<uint64_t>(lists.lengths_size()) != r.size_) {
        return mismatch("list lengths", lists.lengths_size(), r.size_);
      }
      r.list_offsets_.reserve(r.size_ + 1);
      uint64_t offset = 0;
      r.list_offsets_.push_back(0);
      for (uint32_t length : lists.lengths()) {
        offset += length;
        r.list_offsets_.push_back(offset);
      }
      if (offset != static_cast<uint64_t>(lists.values_size())) {
        return mismatch("list values", lists.values_size(), offset);
      }
      break;
    }
    case v1::ChunkOutput::kCount:
      r.kind_ = Kind::kCount;
      if (output.count() > r.size_) {
        return mismatch("as count", output.count(), r.size_);
      }
      break;
    case v1::ChunkOutput::OUTPUT_NOT_SET:
      return absl::InternalError(
          absl::StrCat("broker sent chunk ", chunk_index, " with no output"));
  }
  r.output_ = std::move(output);
  return r;
}

absl::Span<const uint64_t> ChunkResult::list(uint64_t i) const {
  const auto& values = output_.lists().values();
  return absl::Span<const uint64_t>(values.data() + list_offsets_[i],
                                    list_offsets_[i + 1] - list_offsets_[i]);
}

uint64_t ChunkResult::count() const {
  if (kind_ == Kind::kCount) return output_.count();
  uint64_t total = 0;
  if (kind_ == Kind::kBits) {
    for (char c : output_.bits()) total += std::popcount(static_cast<uint8_t>(c));
  }
  return total;
}

}  // namespace tq
