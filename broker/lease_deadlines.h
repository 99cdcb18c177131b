// Deadlines of handed-out chunks: a min-heap with lazy deletion (as nsqd's
// in-flight priority queue). A finished chunk's entry is not removed; the
// Scheduler checks each popped entry against its in-flight table and ignores
// stale ones. Compact() drops stale entries in bulk so a long lease with a
// high chunk rate does not grow the heap without bound.
//
// HandOutTable says which hand-outs are still out by a ticket each, so that
// such a check (and the Scheduler's of its list of hand-outs) reads one
// dense table instead of the job and chunk of every entry: with tens of
// thousands of chunks out, those were cache misses per entry (issue 9).
#ifndef TQ_BROKER_LEASE_DEADLINES_H_
#define TQ_BROKER_LEASE_DEADLINES_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace tq {

// One hand-out's ticket: a slot of HandOutTable and the generation it had
// when the hand-out was made. A slot is reused after its hand-out ends,
// under the next generation, so a stale ticket never matches again.
struct HandOutTicket {
  uint32_t slot = 0;
  uint32_t generation = 0;
};

struct Lease {
  int64_t deadline_us;
  uint64_t job_id;
  uint64_t chunk_index;
  uint32_t attempt;
  HandOutTicket ticket;
};

// Not thread-safe: owned by the Scheduler. Memory: 8 bytes per slot, and
// slots are at most the hand-outs out at once.
class HandOutTable {
 public:
  // A new hand-out: out, not settled.
  HandOutTicket Open();
  // Its hand-out ended (reported, requeued, revoked, its job ended). Each
  // ticket is closed once.
  void Close(HandOutTicket ticket);
  bool IsOut(HandOutTicket ticket) const {
    return ticket.slot < slots_.size() &&
           slots_[ticket.slot].generation == ticket.generation;
  }
  // The worker started it, or was asked to give it back: no longer a
  // candidate for ReclaimQueued.
  void Settle(HandOutTicket ticket) {
    if (IsOut(ticket)) slots_[ticket.slot].settled = true;
  }
  // Out and not settled.
  bool IsOutUnsettled(HandOutTicket ticket) const {
    return IsOut(ticket) && !slots_[ticket.slot].settled;
  }
  bool IsSettled(HandOutTicket ticket) const {
    return IsOut(ticket) && slots_[ticket.slot].settled;
  }
  // Hand-outs out now.
  size_t open() const { return slots_.size() - free_.size(); }

 private:
  struct Slot {
    // Odd while its hand-out is out.
    uint32_t generation = 0;
    bool settled = false;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

// Not thread-safe: owned by the Scheduler.
class LeaseDeadlines {
 public:
  void Add(const Lease& lease);
  // Earliest deadline held, possibly of a stale entry (waking early is
  // harmless; waking late is not).
  std::optional<int64_t> EarliestUs() const;
  // Removes and returns every entry due at `now_us`, earliest first.
  std::vector<Lease> PopDue(int64_t now_us);
  // Keeps only entries for which `is_live` is true.
  void Compact(const std::function<bool(const Lease&)>& is_live);
  size_t size() const { return heap_.size(); }

 private:
  std::vector<Lease> heap_;  // std::push_heap order: earliest on top
};

}  // namespace tq

#endif  // TQ_BROKER_LEASE_DEADLINES_H_
