#include "worker/code_cache.h"

namespace tq {

void CodeCache::Put(const std::string& sha256, Payload blob) {
  if (auto it = index_.find(sha256); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  bytes_ += blob.size();
  lru_.emplace_front(sha256, std::move(blob));
  index_[sha256] = lru_.begin();
  while (bytes_ > max_bytes_ && lru_.size() > 1) {
    const Entry& oldest = lru_.back();
    bytes_ -= oldest.second.size();
    index_.erase(oldest.first);
    lru_.pop_back();
  }
}

std::optional<Payload> CodeCache::Get(const std::string& sha256) {
  auto it = index_.find(sha256);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

}  // namespace tq
