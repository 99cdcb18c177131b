#include "client/ack_ledger.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tq {
namespace internal {

void AckLedger::Consumed(uint64_t first, uint64_t items, uint64_t count,
                         bool hold) {
  if (items == 0) return;
  if (hold) {
    held_.Merge(first, absl::uint128(first) + items);
    held_count_ += count;
    ++held_results_;
  } else {
    waiting_.Merge(first, absl::uint128(first) + items);
    waiting_count_ += count;
    ++waiting_results_;
  }
}

void AckLedger::ReleaseHeld(std::string mark) {
  if (!mark.empty()) mark_ = std::move(mark);
  for (const ItemCoverage::Run& run : held_.Runs()) {
    waiting_.Merge(run.first, run.end);
  }
  waiting_count_ += held_count_;
  waiting_results_ += held_results_;
  held_ = ItemCoverage();
  held_count_ = 0;
  held_results_ = 0;
}

void AckLedger::TakeWaiting(v1::AckResults* ack) {
  for (const ItemCoverage::Run& run : waiting_.Runs()) {
    v1::Range* range = ack->add_items();
    range->set_first(run.first);
    range->set_last(static_cast<uint64_t>(run.end - 1));
    acked_.Merge(run.first, run.end);
  }
  ack->set_count(waiting_count_);
  ack->set_mark(mark_);
  acked_count_ += waiting_count_;
  waiting_ = ItemCoverage();
  waiting_count_ = 0;
  waiting_results_ = 0;
}

absl::Status AckLedger::Reconcile(
    const google::protobuf::RepeatedPtrField<v1::Range>& acknowledged,
    uint64_t acknowledged_count, absl::uint128 items) {
  ItemCoverage broker;
  for (const v1::Range& range : acknowledged) {
    if (range.first() > range.last() || absl::uint128(range.last()) >= items) {
      return absl::InternalError(absl::StrCat(
          "broker says items ", range.first(), "..", range.last(),
          " were acknowledged, which the job does not hold"));
    }
    broker.Merge(range.first(), absl::uint128(range.last()) + 1);
  }
  const std::vector<ItemCoverage::Run> lost = acked_.Minus(broker);
  for (const ItemCoverage::Run& run : lost) {
    waiting_.Merge(run.first, run.end);
    ++waiting_results_;
  }
  if (acked_count_ > acknowledged_count) {
    waiting_count_ += acked_count_ - acknowledged_count;
  }
  confirmed_ = broker;
  acked_ = std::move(broker);
  acked_count_ = acknowledged_count;
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace tq
