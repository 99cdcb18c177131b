#include "client/reorder_buffer.h"

#include <utility>

namespace tq {

bool ReorderBuffer::Insert(ChunkResult result) {
  const uint64_t first = result.first_item();
  if (first < next_item_) return false;
  auto [it, inserted] = by_first_.emplace(first, std::move(result));
  if (inserted) arrival_.push_back(first);
  return inserted;
}

std::optional<ChunkResult> ReorderBuffer::PopNextInOrder() {
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
