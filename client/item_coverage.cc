#include "client/item_coverage.h"

#include <iterator>

namespace tq {
namespace internal {

bool ItemCoverage::Add(uint64_t first, uint64_t count) {
  const absl::uint128 end = absl::uint128(first) + count;
  // The run after: starts at or beyond first.
  auto next = runs_.lower_bound(first);
  if (next != runs_.end() && absl::uint128(next->first) < end) return false;
  // The run before: starts before first.
  auto prev = next == runs_.begin() ? runs_.end() : std::prev(next);
  if (prev != runs_.end() && prev->second > first) return false;
  covered_ += count;
  absl::uint128 new_end = end;
  if (next != runs_.end() && absl::uint128(next->first) == end) {
    new_end = next->second;
    next = runs_.erase(next);
  }
  if (prev != runs_.end() && prev->second == first) {
    prev->second = new_end;
  } else {
    runs_.emplace_hint(next, first, new_end);
  }
  return true;
}

absl::uint128 ItemCoverage::FirstGap() const {
  if (runs_.empty() || runs_.begin()->first != 0) return 0;
  return runs_.begin()->second;
}

}  // namespace internal
}  // namespace tq
