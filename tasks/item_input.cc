#include "tasks/item_input.h"

namespace tq {

absl::StatusOr<uint64_t> ItemCount(const v1::ChunkInput& input,
                                   uint64_t max_items) {
  uint64_t count = 0;
  if (input.has_range()) {
    const v1::Range& r = input.range();
    if (r.first() > r.last()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "range ", r.first(), "..", r.last(), " is reversed"));
    }
    // Computed as last - first so that 0..2^64-1 does not overflow before
    // the comparison.
    if (r.last() - r.first() >= max_items) {
      return absl::InvalidArgumentError(absl::StrCat(
          "chunk of ", r.last() - r.first(), "+1 items exceeds the limit of ",
          max_items));
    }
    count = r.last() - r.first() + 1;
  } else if (input.has_items()) {
    count = input.items().values_size();
    if (count > max_items) {
      return absl::InvalidArgumentError(absl::StrCat(
          "chunk of ", count, " items exceeds the limit of ", max_items));
    }
  }
  if (count == 0) return absl::InvalidArgumentError("chunk has no items");
  return count;
}

absl::Status RequireNoParams(absl::string_view task, const TaskParams& params) {
  if (params.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "task '", task, "' takes no parameters, got '", params.begin()->first, "'"));
}

}  // namespace tq
