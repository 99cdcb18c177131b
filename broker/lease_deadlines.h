// Deadlines of handed-out chunks: a min-heap with lazy deletion (as nsqd's
// in-flight priority queue). A finished chunk's entry is not removed; the
// Scheduler checks each popped entry against its in-flight table and ignores
// stale ones. Compact() drops stale entries in bulk so a long lease with a
// high chunk rate does not grow the heap without bound.
#ifndef TQ_BROKER_LEASE_DEADLINES_H_
#define TQ_BROKER_LEASE_DEADLINES_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace tq {

struct Lease {
  int64_t deadline_us;
  uint64_t job_id;
  uint64_t chunk_index;
  uint32_t attempt;
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
