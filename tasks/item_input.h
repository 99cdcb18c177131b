// Helpers tasks share for walking a TaskInput and checking parameters.
#ifndef TQ_TASKS_ITEM_INPUT_H_
#define TQ_TASKS_ITEM_INPUT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tasks/task.h"

namespace tq {

// Number of items in `input`; kInvalidArgument for an empty or reversed
// range, an empty list, or more than `max_items` items. All of uint64 (2^64
// items) always exceeds `max_items`.
absl::StatusOr<uint64_t> ItemCount(const TaskInput& input, uint64_t max_items);

// Calls fn(n) for every item in input order. `input` must have passed
// ItemCount (Task::Run checks it before Compute).
template <typename Fn>
void ForEachItem(const TaskInput& input, Fn&& fn) {
  if (!input.is_range()) {
    for (uint64_t n : input.items()) fn(n);
    return;
  }
  for (uint64_t n = input.first();; ++n) {
    fn(n);
    if (n == input.last()) break;  // before ++n: last may be 2^64-1
  }
}

// ForEachItem that polls `cancel` before the first item and then every
// `stride` items (pick it so a stride takes well under a millisecond):
// false if it stopped because `cancel` was set.
template <typename Fn>
bool ForEachItemUnlessCancelled(const TaskInput& input,
                                const CancelToken& cancel, uint64_t stride,
                                Fn&& fn) {
  uint64_t until_check = 0;
  bool stopped = false;
  auto visit = [&](uint64_t n) {
    if (stopped) return;
    if (until_check == 0) {
      if (cancel.cancelled()) {
        stopped = true;
        return;
      }
      until_check = stride;
    }
    --until_check;
    fn(n);
  };
  if (!input.is_range()) {
    for (uint64_t n : input.items()) {
      visit(n);
      if (stopped) return false;
    }
    return true;
  }
  for (uint64_t n = input.first();; ++n) {
    visit(n);
    if (stopped) return false;
    if (n == input.last()) break;  // before ++n: last may be 2^64-1
  }
  return true;
}

// kInvalidArgument naming the first parameter if there are any.
absl::Status RequireNoParams(absl::string_view task, const TaskParams& params);

}  // namespace tq

#endif  // TQ_TASKS_ITEM_INPUT_H_
