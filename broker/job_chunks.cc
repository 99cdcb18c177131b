#include "broker/job_chunks.h"

#include <cstdlib>
#include <utility>

namespace tq {
namespace {

// The window may hold this many empty slots beyond one per chunk before
// its oldest chunks move aside.
constexpr size_t kSpareSlots = 16;

}  // namespace

ChunkHistory& ChunkHistory::operator=(const ChunkHistory& other) {
  last_attempt = other.last_attempt;
  failures = other.failures;
  unattributed_losses = other.unattributed_losses;
  suspect = other.suspect;
  last_failure = other.last_failure == nullptr
                     ? nullptr
                     : std::make_unique<ChunkFailure>(*other.last_failure);
  return *this;
}

const std::string& ChunkHistory::last_error() const {
  static const std::string* const kNone = new std::string();
  return last_failure == nullptr ? *kNone : last_failure->error;
}

ChunkFailure& ChunkHistory::NewFailure() {
  last_failure = std::make_unique<ChunkFailure>();
  return *last_failure;
}

const Holder* Chunk::FindHolder(const std::string& worker) const {
  for (const Holder& holder : holders) {
    if (holder.worker == worker) return &holder;
  }
  return nullptr;
}

Holder* Chunk::FindHolder(const std::string& worker) {
  for (Holder& holder : holders) {
    if (holder.worker == worker) return &holder;
  }
  return nullptr;
}

Holder* Chunk::FindAttempt(uint32_t attempt) {
  for (Holder& holder : holders) {
    if (holder.attempt == attempt) return &holder;
  }
  return nullptr;
}

Chunk* ChunkTable::Find(uint64_t index) {
  if (index - base_ < span_) {
    std::optional<Chunk>& slot = Slot(index);
    return slot.has_value() ? &*slot : nullptr;
  }
  if (index >= base_ || aside_.empty()) return nullptr;
  auto it = aside_.find(index);
  return it == aside_.end() ? nullptr : &it->second;
}

const Chunk* ChunkTable::Find(uint64_t index) const {
  return const_cast<ChunkTable*>(this)->Find(index);
}

Chunk& ChunkTable::at(uint64_t index) {
  Chunk* chunk = Find(index);
  if (chunk == nullptr) std::abort();  // the caller's invariant is broken
  return *chunk;
}

const Chunk& ChunkTable::at(uint64_t index) const {
  return const_cast<ChunkTable*>(this)->at(index);
}

Chunk& ChunkTable::Add(uint64_t index) {
  if (index < base_ + span_) std::abort();  // indexes only grow
  if (live_ == 0) {
    base_ = index;
    span_ = 0;
  }
  // Dense enough with the new chunk, or the oldest chunks move aside.
  while (live_ > 0 && index - base_ + 1 > 2 * (live_ + 1) + kSpareSlots) {
    std::optional<Chunk>& front = ring_[head_].chunk;
    aside_.emplace(base_, std::move(*front));
    front.reset();
    --live_;
    DropEmptyFront();
  }
  if (live_ == 0) {
    base_ = index;
    span_ = 0;
  }
  const size_t span = static_cast<size_t>(index - base_) + 1;
  Reserve(span);
  span_ = span;  // the slots skipped, if any, are empty
  ++live_;
  return Slot(index).emplace();
}

void ChunkTable::Erase(uint64_t index) {
  if (index - base_ < span_) {
    std::optional<Chunk>& slot = Slot(index);
    if (!slot.has_value()) return;
    slot.reset();
    --live_;
    DropEmptyFront();
    return;
  }
  if (index < base_) aside_.erase(index);
}

void ChunkTable::DropEmptyFront() {
  while (span_ > 0 && !ring_[head_].chunk.has_value()) {
    head_ = (head_ + 1) & (ring_.size() - 1);
    ++base_;
    --span_;
  }
}

void ChunkTable::Reserve(size_t slots) {
  if (slots <= ring_.size()) return;
  size_t size = ring_.empty() ? 8 : ring_.size();
  while (size < slots) size *= 2;
  std::vector<ChunkSlot> ring(size);
  for (size_t i = 0; i < span_; ++i) {
    ring[i].chunk = std::move(ring_[(head_ + i) & (ring_.size() - 1)].chunk);
  }
  ring_ = std::move(ring);
  head_ = 0;
}

}  // namespace tq
