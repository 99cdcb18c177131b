// A job's outstanding chunks (queued or on workers) by chunk index, and
// what the broker knows of each: its items, its hand-outs, its history.
//
// ChunkTable finds a chunk without hashing. A job cuts chunks with
// increasing indexes (BrokerJob's next index: new cuts, splits, parts
// computed again) and most end soon after, roughly in that order, so the
// outstanding ones sit in a window of indexes, kept as a ring of slots: a
// look-up is an array index, and a hand-out or a report touches the
// chunk's own slot and no table of buckets (issue 9: hash look-ups across
// a thousand jobs' tables were a tenth of a chunk's dispatch cost). A chunk
// left far behind (a straggler, a chunk on a frozen worker) while
// thousands after it end would stretch the window without bound: once the
// window would hold more than twice as many slots as chunks (plus a few),
// its oldest chunks move aside into a hash map, so memory stays linear in
// chunks outstanding.
#ifndef TQ_BROKER_JOB_CHUNKS_H_
#define TQ_BROKER_JOB_CHUNKS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "broker/lease_deadlines.h"

namespace tq {

// A chunk's latest failed attempt.
struct ChunkFailure {
  int32_t code = 0;
  std::string error;
};

// What happened to a chunk's earlier hand-outs.
struct ChunkHistory {
  // Attempt number of the latest hand-out (0: never handed out).
  uint32_t last_attempt = 0;
  // Hand-outs that ended badly (lease expired, worker lost while running
  // it, task failed, run limit); chunks handed back by Drain/Goodbye, and
  // chunks a lost worker held without having started them, do not count.
  uint32_t failures = 0;
  // Times a worker was lost while holding the chunk beside others, or
  // without having said it started it: the loss could be another chunk's
  // doing, so it is not charged, but the chunk becomes a suspect. Charged
  // (added to `failures`) once the chunk loses a worker again, alone.
  uint32_t unattributed_losses = 0;
  // Runs alone from now on (Scheduler::DispatchSuspects): on a worker
  // holding nothing else, which gets nothing else until it is done, so that
  // a crash it causes is charged to it with certainty and hurts no
  // neighbour. Kept by both halves of a split.
  bool suspect = false;
  // The latest failure, for the job's error message; nullptr before any.
  // Out of line: most chunks never fail, and a chunk's slot stays within
  // two cache lines (ChunkSlot).
  std::unique_ptr<ChunkFailure> last_failure;

  ChunkHistory() = default;
  ChunkHistory(const ChunkHistory& other) { *this = other; }
  ChunkHistory& operator=(const ChunkHistory& other);
  ChunkHistory(ChunkHistory&&) = default;
  ChunkHistory& operator=(ChunkHistory&&) = default;
  // The latest failure's status code (0 before any) and message.
  int32_t last_code() const {
    return last_failure == nullptr ? 0 : last_failure->code;
  }
  const std::string& last_error() const;
  // The failure to fill in: the latest, replaced.
  ChunkFailure& NewFailure();
};

// One hand-out of a chunk to a worker. A chunk has one, or two while a
// speculative copy runs.
struct Holder {
  std::string worker;     // routing id
  uint32_t attempt = 0;
  // A suspect's run alone: the worker holds nothing else.
  bool alone = false;
  // The worker was asked to give it back if it has not started it
  // (ReturnQueued), for a client with less work on workers.
  bool return_asked = false;
  int64_t handed_out_us = 0;
  // Requeued unless a report or a Heartbeat listing it comes by then.
  int64_t lease_deadline_us = 0;
  // When the worker said it started running it; -1 while unknown.
  int64_t started_us = -1;
  // The Scheduler's ticket for it (HandOutTable), closed when it ends.
  HandOutTicket ticket;
};

struct Chunk {
  // Items [first_item, first_item + items) of the job's input.
  uint64_t first_item = 0;
  uint64_t items = 0;
  ChunkHistory history;
  // Empty: queued for hand-out. One hand-out is kept inline, in the
  // chunk's slot: a report finds its holder without another cache miss.
  absl::InlinedVector<Holder, 1> holders;

  const Holder* FindHolder(const std::string& worker) const;
  Holder* FindHolder(const std::string& worker);
  // The hand-out of attempt `attempt` (attempts are unique per chunk).
  Holder* FindAttempt(uint32_t attempt);
};

// Not thread-safe: owned by its BrokerJob.
class ChunkTable {
 public:
  // Chunk `index`; nullptr if it is not in the table.
  Chunk* Find(uint64_t index);
  const Chunk* Find(uint64_t index) const;
  // Chunk `index`, which must be in the table.
  Chunk& at(uint64_t index);
  const Chunk& at(uint64_t index) const;
  // Adds an empty chunk `index`, which must be above every index added
  // before. Like a hash map's insert, it may move other chunks: pointers
  // to them are invalid afterwards.
  Chunk& Add(uint64_t index);
  // Removes chunk `index` if present; other chunks stay where they are.
  void Erase(uint64_t index);
  size_t size() const { return live_ + aside_.size(); }
  bool empty() const { return size() == 0; }
  // Slots allocated in the ring (memory), for tests.
  size_t slots() const { return ring_.size(); }
  // Calls `visit(index, chunk)` for every chunk, in no particular order.
  // `visit` must not add or erase chunks.
  template <typename Visit>
  void ForEach(Visit&& visit) const {
    for (size_t i = 0; i < span_; ++i) {
      const std::optional<Chunk>& slot =
          ring_[(head_ + i) & (ring_.size() - 1)].chunk;
      if (slot.has_value()) visit(base_ + i, *slot);
    }
    for (const auto& [index, chunk] : aside_) visit(index, chunk);
  }

 private:
  // A slot of the ring: two cache lines, aligned, so that a hand-out or a
  // report touches two lines of a chunk last seen thousands of rounds ago,
  // not three or four (issue 9).
  struct alignas(64) ChunkSlot {
    std::optional<Chunk> chunk;
  };
  static_assert(sizeof(ChunkSlot) == 128, "a chunk's slot is two cache lines");
  // The slot of `index`, base_ <= index < base_ + span_.
  std::optional<Chunk>& Slot(uint64_t index) {
    return ring_[(head_ + (index - base_)) & (ring_.size() - 1)].chunk;
  }
  const std::optional<Chunk>& Slot(uint64_t index) const {
    return ring_[(head_ + (index - base_)) & (ring_.size() - 1)].chunk;
  }
  // Advances the window past empty slots at its front.
  void DropEmptyFront();
  // Makes room for `slots` slots, keeping the window's order.
  void Reserve(size_t slots);

  // The window: indexes [base_, base_ + span_), index base_ in
  // ring_[head_]; live_ of its slots hold a chunk. ring_'s size is a power
  // of two (or zero).
  std::vector<ChunkSlot> ring_;
  size_t head_ = 0;
  uint64_t base_ = 0;
  size_t span_ = 0;
  size_t live_ = 0;
  // Chunks below base_ that were still outstanding when the window moved
  // past them.
  absl::flat_hash_map<uint64_t, Chunk> aside_;
};

}  // namespace tq

#endif  // TQ_BROKER_JOB_CHUNKS_H_
