#include "broker/delivery_ledger.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tq {

void DeliveryLedger::OnDelivered(uint64_t chunk_index, uint64_t first_item,
                                 uint64_t items) {
  if (overflowed_) return;
  if (delivered_.size() >= max_unacknowledged_) {
    overflowed_ = true;
    std::vector<Lost>().swap(delivered_);  // tracked no more
    return;
  }
  const Lost result{chunk_index, first_item, items};
  if (delivered_.empty() || delivered_.back().first_item < first_item) {
    delivered_.push_back(result);
    return;
  }
  auto it = std::lower_bound(
      delivered_.begin(), delivered_.end(), first_item,
      [](const Lost& a, uint64_t first) { return a.first_item < first; });
  if (it != delivered_.end() && it->first_item == first_item) {
    *it = result;
  } else {
    delivered_.insert(it, result);
  }
}

absl::Status DeliveryLedger::Acknowledge(const ItemRuns& items,
                                         uint64_t count) {
  if (!overflowed_) {
    // What may be acknowledged: what was delivered, and what was before.
    ItemRuns allowed = acknowledged_;
    for (const Lost& result : delivered_) {
      allowed.Add(result.first_item, result.items);
    }
    for (const ItemRuns::Run& run : items.Runs()) {
      if (!allowed.Contains(run.first, run.count)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "acknowledged items ", run.first, "..", run.first + (run.count - 1),
            " include some that were never delivered"));
      }
    }
  }
  acknowledged_.Add(items);
  acknowledged_count_ += count;
  delivered_.erase(
      std::remove_if(delivered_.begin(), delivered_.end(),
                     [this](const Lost& result) {
                       return acknowledged_.Contains(result.first_item,
                                                     result.items);
                     }),
      delivered_.end());
  // Bounded by max_unacknowledged_ anyway; a client that caught up
  // returns what a backlog took.
  if (delivered_.capacity() > 4 * delivered_.size() + 64) {
    delivered_.shrink_to_fit();
  }
  return absl::OkStatus();
}

void DeliveryLedger::AddHeld(const ItemRuns& have) {
  if (overflowed_) return;
  ItemRuns known = acknowledged_;
  for (const Lost& result : delivered_) known.Add(result.first_item, result.items);
  for (const ItemRuns::Run& run : have.Runs()) {
    for (const ItemRuns::Run& part : known.Missing(run.first, run.count)) {
      OnDelivered(0, part.first, part.count);
    }
  }
}

std::vector<DeliveryLedger::Lost> DeliveryLedger::TakeLost(
    const ItemRuns& have) {
  std::vector<Lost> lost;
  // Only what is neither acknowledged nor held is computed again.
  ItemRuns kept = acknowledged_;
  kept.Add(have);
  size_t held = 0;  // those kept, in order, at the front
  for (const Lost& result : delivered_) {
    if (have.Contains(result.first_item, result.items)) {
      delivered_[held++] = result;
      continue;
    }
    for (const ItemRuns::Run& run :
         kept.Missing(result.first_item, result.items)) {
      lost.push_back(Lost{result.chunk_index, run.first, run.count});
    }
  }
  delivered_.resize(held);
  return lost;
}

}  // namespace tq
