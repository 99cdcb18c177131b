// Helpers tasks share for walking a ChunkInput and checking parameters.
#ifndef TQ_TASKS_ITEM_INPUT_H_
#define TQ_TASKS_ITEM_INPUT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tasks/task.h"

namespace tq {

// Number of items in `input`; kInvalidArgument for an empty or reversed
// range, an empty list, or more than `max_items` items.
absl::StatusOr<uint64_t> ItemCount(const v1::ChunkInput& input,
                                   uint64_t max_items);

// Calls fn(n) for every item in input order. `input` must have passed
// ItemCount (Task::Run checks it before Compute).
template <typename Fn>
void ForEachItem(const v1::ChunkInput& input, Fn&& fn) {
  if (input.has_range()) {
    for (uint64_t n = input.range().first();; ++n) {
      fn(n);
      if (n == input.range().last()) break;  // before ++n: last may be 2^64-1
    }
  } else {
    for (uint64_t n : input.items().values()) fn(n);
  }
}

// kInvalidArgument naming the first parameter if there are any.
absl::Status RequireNoParams(absl::string_view task, const TaskParams& params);

}  // namespace tq

#endif  // TQ_TASKS_ITEM_INPUT_H_
