#include "tasks/item_input.h"

namespace tq {

absl::StatusOr<uint64_t> ItemCount(const TaskInput& input, uint64_t max_items) {
  if (input.is_range()) {
    const uint64_t first = input.first(), last = input.last();
    if (first > last) {
      return absl::InvalidArgumentError(
          absl::StrCat("range ", first, "..", last, " is reversed"));
    }
    // Computed as last - first so that 0..2^64-1 does not overflow before
    // the comparison.
    if (last - first >= max_items) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk of ", last - first,
                       "+1 items exceeds the limit of ", max_items));
    }
    return last - first + 1;
  }
  const uint64_t count = input.items().size();
  if (count == 0) return absl::InvalidArgumentError("chunk has no items");
  if (count > max_items) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk of ", count, " items exceeds the limit of ", max_items));
  }
  return count;
}

absl::Status RequireNoParams(absl::string_view task, const TaskParams& params) {
  if (params.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "task '", task, "' takes no parameters, got '", params.begin()->first, "'"));
}

}  // namespace tq
