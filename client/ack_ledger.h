// Internal to the client library. AckLedger: one job's acknowledgements.
// An item's result is acknowledged (AckResults) once the user handled it for
// good; the broker then never sends or recomputes it again, also across its
// restarts. Items move one way:
//
//   consumed (NextEvent handed it out)
//     -> held     (manual acks only: until the user calls Acknowledge)
//     -> waiting  (to go out in the next AckResults, batched)
//     -> acknowledged (sent; or, after an attach, what the broker says)
//
// Every set is merged runs of item indexes (ItemCoverage) with, for
// REDUCTION_COUNT, the sum of the counts of the results in it. An ack sent
// just before a connection was lost may never have arrived: after an attach
// Reconcile() takes the broker's acknowledged runs as the truth and puts
// what it lacks back to waiting, so it is sent again.
//
// Not thread-safe: owned by the session's JobState.
#ifndef TQ_CLIENT_ACK_LEDGER_H_
#define TQ_CLIENT_ACK_LEDGER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "client/item_coverage.h"
#include "google/protobuf/repeated_field.h"
#include "tq/v1/tq.pb.h"

namespace tq {
namespace internal {

class AckLedger {
 public:
  // The user was handed a result of items [first, first + items) with
  // `count` (REDUCTION_COUNT's count; else 0). It waits, or with `hold`
  // (manual acks) is held until ReleaseHeld(). Each item once (the session
  // drops duplicates before they are consumed).
  void Consumed(uint64_t first, uint64_t items, uint64_t count, bool hold);
  // Manual acks: everything held may be acknowledged now; `mark` (if not
  // empty) says where the user's output stood with all of it in
  // (AckResults.mark), sent with this and every later acknowledgement.
  void ReleaseHeld(std::string mark = "");

  bool has_waiting() const { return waiting_.covered() > 0; }
  bool has_held() const { return held_.covered() > 0; }
  // Results (not items) waiting: the batching rule counts these.
  uint64_t waiting_results() const { return waiting_results_; }
  // Fills `ack`'s items and count (not job_id) with everything waiting, and
  // counts it as acknowledged.
  void TakeWaiting(v1::AckResults* ack);

  const ItemCoverage& acknowledged() const { return acked_; }
  uint64_t acknowledged_count() const { return acked_count_; }
  // What the broker said it holds acknowledged (the last Reconcile): acks
  // sent since may have been lost with a connection.
  const ItemCoverage& confirmed() const { return confirmed_; }

  // An attach's answer (JobAccepted.acknowledged, .acknowledged_count): the
  // broker's acknowledged items are the truth; what we acknowledged that it
  // lacks waits again (count: what we acked beyond its count). `items`
  // bounds the job's item indexes: a run beyond it is kInternal.
  absl::Status Reconcile(
      const google::protobuf::RepeatedPtrField<v1::Range>& acknowledged,
      uint64_t acknowledged_count, absl::uint128 items);

 private:
  ItemCoverage held_;
  uint64_t held_count_ = 0;
  uint64_t held_results_ = 0;
  ItemCoverage waiting_;
  uint64_t waiting_count_ = 0;
  uint64_t waiting_results_ = 0;
  ItemCoverage acked_;
  uint64_t acked_count_ = 0;
  ItemCoverage confirmed_;
  std::string mark_;
};

}  // namespace internal
}  // namespace tq

#endif  // TQ_CLIENT_ACK_LEDGER_H_
