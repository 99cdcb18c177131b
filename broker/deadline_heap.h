// Times at which the Scheduler's tick has something to look at: a min-heap
// of (due, key) entries that may be stale or early, as LeaseDeadlines but
// for any key. Owners push an entry no later than the thing it stands for
// can be due, and when it pops, check what is really due and push again
// what is not: a tick costs O(log n) per entry due instead of a scan of
// every peer and job, and NextDeadlineUs is the top (early at worst:
// waking early is harmless, waking late is not).
#ifndef TQ_BROKER_DEADLINE_HEAP_H_
#define TQ_BROKER_DEADLINE_HEAP_H_

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace tq {

// Not thread-safe: owned by the Scheduler.
template <typename Key>
class DeadlineHeap {
 public:
  void Push(int64_t due_us, Key key) {
    heap_.emplace_back(due_us, std::move(key));
    std::push_heap(heap_.begin(), heap_.end(), Later);
  }
  // The earliest entry's time; INT64_MAX if none.
  int64_t EarliestUs() const {
    return heap_.empty() ? std::numeric_limits<int64_t>::max()
                         : heap_.front().first;
  }
  // Removes and returns every entry due at `now_us`, earliest first.
  std::vector<std::pair<int64_t, Key>> PopDue(int64_t now_us) {
    std::vector<std::pair<int64_t, Key>> due;
    while (!heap_.empty() && heap_.front().first <= now_us) {
      std::pop_heap(heap_.begin(), heap_.end(), Later);
      due.push_back(std::move(heap_.back()));
      heap_.pop_back();
    }
    return due;
  }
  size_t size() const { return heap_.size(); }
  // Every entry, in no order (for checks).
  const std::vector<std::pair<int64_t, Key>>& entries() const { return heap_; }

 private:
  static bool Later(const std::pair<int64_t, Key>& a,
                    const std::pair<int64_t, Key>& b) {
    return a.first > b.first;
  }
  std::vector<std::pair<int64_t, Key>> heap_;
};

}  // namespace tq

#endif  // TQ_BROKER_DEADLINE_HEAP_H_
