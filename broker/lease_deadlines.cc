#include "broker/lease_deadlines.h"

#include <algorithm>

namespace tq {
namespace {

// std::*_heap build max-heaps; "greater" puts the earliest deadline on top.
bool Later(const Lease& a, const Lease& b) {
  return a.deadline_us > b.deadline_us;
}

}  // namespace

HandOutTicket HandOutTable::Open() {
  uint32_t slot;
  if (free_.empty()) {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = free_.back();
    free_.pop_back();
  }
  Slot& s = slots_[slot];
  ++s.generation;  // odd: out
  s.settled = false;
  return HandOutTicket{slot, s.generation};
}

void HandOutTable::Close(HandOutTicket ticket) {
  if (!IsOut(ticket)) return;
  ++slots_[ticket.slot].generation;  // even: free
  free_.push_back(ticket.slot);
}

void LeaseDeadlines::Add(const Lease& lease) {
  heap_.push_back(lease);
  std::push_heap(heap_.begin(), heap_.end(), Later);
}

std::optional<int64_t> LeaseDeadlines::EarliestUs() const {
  if (heap_.empty()) return std::nullopt;
  return heap_.front().deadline_us;
}

std::vector<Lease> LeaseDeadlines::PopDue(int64_t now_us) {
  std::vector<Lease> due;
  while (!heap_.empty() && heap_.front().deadline_us <= now_us) {
    std::pop_heap(heap_.begin(), heap_.end(), Later);
    due.push_back(heap_.back());
    heap_.pop_back();
  }
  return due;
}

void LeaseDeadlines::Compact(const std::function<bool(const Lease&)>& is_live) {
  heap_.erase(std::remove_if(heap_.begin(), heap_.end(),
                             [&](const Lease& l) { return !is_live(l); }),
              heap_.end());
  std::make_heap(heap_.begin(), heap_.end(), Later);
}

}  // namespace tq
