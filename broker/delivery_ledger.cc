#include "broker/delivery_ledger.h"

#include "absl/strings/str_cat.h"

namespace tq {

void DeliveryLedger::OnDelivered(uint64_t chunk_index, uint64_t first_item,
                                 uint64_t items) {
  if (overflowed_) return;
  if (delivered_.size() >= max_unacknowledged_) {
    overflowed_ = true;
    delivered_.clear();
    return;
  }
  delivered_[first_item] = Lost{chunk_index, first_item, items};
}

absl::Status DeliveryLedger::Acknowledge(const ItemRuns& items,
                                         uint64_t count) {
  if (!overflowed_) {
    // What may be acknowledged: what was delivered, and what was before.
    ItemRuns allowed = acknowledged_;
    for (const auto& [first, result] : delivered_) allowed.Add(first, result.items);
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
  for (auto it = delivered_.begin(); it != delivered_.end();) {
    if (acknowledged_.Contains(it->second.first_item, it->second.items)) {
      it = delivered_.erase(it);
    } else {
      ++it;
    }
  }
  return absl::OkStatus();
}

void DeliveryLedger::AddHeld(const ItemRuns& have) {
  if (overflowed_) return;
  ItemRuns known = acknowledged_;
  for (const auto& [first, result] : delivered_) known.Add(first, result.items);
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
  for (auto it = delivered_.begin(); it != delivered_.end();) {
    const Lost& result = it->second;
    if (have.Contains(result.first_item, result.items)) {
      ++it;
      continue;
    }
    for (const ItemRuns::Run& run :
         kept.Missing(result.first_item, result.items)) {
      lost.push_back(Lost{result.chunk_index, run.first, run.count});
    }
    it = delivered_.erase(it);
  }
  return lost;
}

}  // namespace tq
