#include "client/item_coverage.h"

#include <algorithm>
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

void ItemCoverage::Merge(uint64_t first, absl::uint128 end) {
  absl::uint128 lo = first;
  absl::uint128 hi = end;
  // The first run that overlaps or touches [lo, hi): the one before `first`
  // if it reaches it, else the first starting within.
  auto it = runs_.upper_bound(first);
  if (it != runs_.begin() && std::prev(it)->second >= lo) {
    // The run before reaches `first` (results acknowledged in order: every
    // time): it keeps its start and grows in place, taking in the runs
    // the new end reaches. No node is freed and allocated again.
    auto keep = std::prev(it);
    hi = std::max(hi, keep->second);
    while (it != runs_.end() && absl::uint128(it->first) <= hi) {
      hi = std::max(hi, it->second);
      covered_ -= it->second - it->first;
      it = runs_.erase(it);
    }
    covered_ += hi - keep->second;
    keep->second = hi;
    return;
  }
  while (it != runs_.end() && absl::uint128(it->first) <= hi) {
    lo = std::min(lo, absl::uint128(it->first));
    hi = std::max(hi, it->second);
    covered_ -= it->second - it->first;
    it = runs_.erase(it);
  }
  runs_.emplace_hint(it, static_cast<uint64_t>(lo), hi);
  covered_ += hi - lo;
}

std::vector<ItemCoverage::Run> ItemCoverage::Runs() const {
  std::vector<Run> runs;
  runs.reserve(runs_.size());
  for (const auto& [first, end] : runs_) runs.push_back(Run{first, end});
  return runs;
}

std::vector<ItemCoverage::Run> ItemCoverage::Minus(
    const ItemCoverage& other) const {
  std::vector<Run> out;
  for (const auto& [first, end] : runs_) {
    absl::uint128 lo = first;
    // other's runs that may overlap [first, end), from the one before.
    auto it = other.runs_.upper_bound(first);
    if (it != other.runs_.begin()) it = std::prev(it);
    for (; it != other.runs_.end() && absl::uint128(it->first) < end && lo < end;
         ++it) {
      if (it->second <= lo) continue;
      if (absl::uint128(it->first) > lo) {
        out.push_back(Run{static_cast<uint64_t>(lo), it->first});
      }
      lo = std::max(lo, it->second);
    }
    if (lo < end) out.push_back(Run{static_cast<uint64_t>(lo), end});
  }
  return out;
}

absl::uint128 ItemCoverage::FirstGap() const {
  if (runs_.empty() || runs_.begin()->first != 0) return 0;
  return runs_.begin()->second;
}

}  // namespace internal
}  // namespace tq
