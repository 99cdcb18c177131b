// ReorderBuffer: chunk results arrive in completion order; the ordered
// iterator hands them out in chunk order. Holds at most the job's result
// window (the broker sends no more than the credit the client grants).
// Not thread-safe: guarded by its owner's mutex.
#ifndef TQ_CLIENT_REORDER_BUFFER_H_
#define TQ_CLIENT_REORDER_BUFFER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>

#include "client/chunk_result.h"

namespace tq {

class ReorderBuffer {
 public:
  // Adds a result. Returns false (and keeps nothing) for a duplicate or for
  // a chunk already handed out.
  bool Insert(ChunkResult result);
  // The next chunk in order (next_index()), if it has arrived.
  std::optional<ChunkResult> PopNextInOrder();
  // Any buffered chunk, oldest arrival first.
  std::optional<ChunkResult> PopOldest();
  uint64_t next_index() const { return next_index_; }
  size_t size() const { return by_index_.size(); }
  bool empty() const { return by_index_.empty(); }

 private:
  std::map<uint64_t, ChunkResult> by_index_;
  std::deque<uint64_t> arrival_;  // may hold indices already popped in order
  uint64_t next_index_ = 0;       // ordered mode: the next chunk to hand out
};

}  // namespace tq

#endif  // TQ_CLIENT_REORDER_BUFFER_H_
