#include "client/reorder_buffer.h"

#include <limits>
#include <utility>

namespace tq {

bool ReorderBuffer::Insert(ChunkResult result) {
  const uint64_t first = result.first_item();
  if (first < next_item_) return false;
  auto [it, inserted] = by_first_.emplace(first, std::move(result));
  if (inserted) arrival_.push_back(first);
  return inserted;
}

void ReorderBuffer::Skip(uint64_t first, absl::uint128 end) {
  if (absl::uint128(first) < end) skipped_[first] = end;
}

std::optional<ChunkResult> ReorderBuffer::PopNextInOrder() {
  // Pass over skipped runs that start at (or before) the next item.
  for (auto run = skipped_.begin();
       run != skipped_.end() && run->first <= next_item_;
       run = skipped_.erase(run)) {
    if (run->second > next_item_) {
      next_item_ = run->second > std::numeric_limits<uint64_t>::max()
                       ? std::numeric_limits<uint64_t>::max()
                       : static_cast<uint64_t>(run->second);
    }
  }
  auto it = by_first_.find(next_item_);
  if (it == by_first_.end()) return std::nullopt;
  ChunkResult result = std::move(it->second);
  by_first_.erase(it);
  next_item_ += result.size();
  // Keep arrival_ small: drop stale entries at its head.
  while (!arrival_.empty() && !by_first_.contains(arrival_.front())) {
    arrival_.pop_front();
  }
  return result;
}

std::optional<ChunkResult> ReorderBuffer::PopOldest() {
  while (!arrival_.empty()) {
    const uint64_t first = arrival_.front();
    arrival_.pop_front();
    auto it = by_first_.find(first);
    if (it == by_first_.end()) continue;
    ChunkResult result = std::move(it->second);
    by_first_.erase(it);
    return result;
  }
  return std::nullopt;
}

}  // namespace tq
