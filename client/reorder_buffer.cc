#include "client/reorder_buffer.h"

#include <utility>

namespace tq {

bool ReorderBuffer::Insert(ChunkResult result) {
  uint64_t index = result.chunk_index();
  if (index < next_index_) return false;
  auto [it, inserted] = by_index_.emplace(index, std::move(result));
  if (inserted) arrival_.push_back(index);
  return inserted;
}

std::optional<ChunkResult> ReorderBuffer::PopNextInOrder() {
  auto it = by_index_.find(next_index_);
  if (it == by_index_.end()) return std::nullopt;
  ChunkResult result = std::move(it->second);
  by_index_.erase(it);
  ++next_index_;
  // Keep arrival_ small: drop stale entries at its head.
  while (!arrival_.empty() && !by_index_.contains(arrival_.front())) {
    arrival_.pop_front();
  }
  return result;
}

std::optional<ChunkResult> ReorderBuffer::PopOldest() {
  while (!arrival_.empty()) {
    uint64_t index = arrival_.front();
    arrival_.pop_front();
    auto it = by_index_.find(index);
    if (it == by_index_.end()) continue;
    ChunkResult result = std::move(it->second);
    by_index_.erase(it);
    return result;
  }
  return std::nullopt;
}

}  // namespace tq
