// ReorderBuffer: chunk results arrive in completion order; the ordered
// iterator hands them out in item order. Results name their items
// (ChunkResult::first_item, size): a chunk the broker split arrives as
// several parts, each ordered by its first item, so the buffer never
// assumes a chunk size. Holds at most the job's result window (the broker
// sends no more than the credit the client grants). Duplicates are the
// caller's business (ItemCoverage): the buffer keeps what it is given.
// Not thread-safe: guarded by its owner's mutex.
#ifndef TQ_CLIENT_REORDER_BUFFER_H_
#define TQ_CLIENT_REORDER_BUFFER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>

#include "absl/numeric/int128.h"
#include "client/chunk_result.h"

namespace tq {

class ReorderBuffer {
 public:
  // Adds a result. Returns false (and keeps nothing) if a result starting at
  // the same item is buffered, or its items were already handed out in
  // order.
  bool Insert(ChunkResult result);
  // The result starting at next_item(), if it has arrived.
  std::optional<ChunkResult> PopNextInOrder();
  // Any buffered result, oldest arrival first.
  std::optional<ChunkResult> PopOldest();
  // Ordered mode: the first item not yet handed out.
  uint64_t next_item() const { return next_item_; }
  // Items [first, end) never come (a job attached after another client
  // acknowledged them): ordered mode passes over them.
  void Skip(uint64_t first, absl::uint128 end);
  size_t size() const { return by_first_.size(); }
  bool empty() const { return by_first_.empty(); }

 private:
  std::map<uint64_t, ChunkResult> by_first_;
  std::deque<uint64_t> arrival_;  // may hold items already popped in order
  uint64_t next_item_ = 0;
  // Skip(): first -> end of each run never to come.
  std::map<uint64_t, absl::uint128> skipped_;
};

}  // namespace tq

#endif  // TQ_CLIENT_REORDER_BUFFER_H_
