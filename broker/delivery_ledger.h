// DeliveryLedger: what became of a job's results after they left the
// broker. Delivered and not yet acknowledged (AckResults): lost if the
// client's connection goes before it handled them, so an attaching client
// that does not hold them gets them computed again. Acknowledged: handled
// for good, never sent or computed again (and, with a journal, across
// restarts).
//
// Bounded: a client that does not acknowledge (an older or careless one)
// would make the ledger grow with the job; past `max_unacknowledged`
// results it stops tracking (overflowed()), and the job can no longer be
// resumed exactly: an attach then fails instead of losing or repeating
// results.
//
// Not thread-safe: owned by its BrokerJob.
#ifndef TQ_BROKER_DELIVERY_LEDGER_H_
#define TQ_BROKER_DELIVERY_LEDGER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "common/item_runs.h"

namespace tq {

class DeliveryLedger {
 public:
  // Items of one delivered result still unacknowledged.
  struct Lost {
    uint64_t chunk_index = 0;
    uint64_t first_item = 0;
    uint64_t items = 0;
  };

  explicit DeliveryLedger(size_t max_unacknowledged)
      : max_unacknowledged_(max_unacknowledged) {}

  // A result of `items` items from `first_item` (chunk `chunk_index`) was
  // sent to the client.
  void OnDelivered(uint64_t chunk_index, uint64_t first_item, uint64_t items);
  // The client acknowledged `items` (and, count jobs, `count` true items
  // among them). kInvalidArgument, changing nothing, if an item was never
  // delivered.
  absl::Status Acknowledge(const ItemRuns& items, uint64_t count);
  // A client attaches holding `have`: every delivered result not wholly in
  // `have` leaves the ledger, and its items neither acknowledged nor in
  // `have` are returned, to be computed again. Results in `have` stay
  // (still unacknowledged).
  std::vector<Lost> TakeLost(const ItemRuns& have);
  // An attaching client holds `have`: items of it neither acknowledged nor
  // tracked as delivered (a broker restarted since delivering them) count
  // as delivered from now on, so their acknowledgements are accepted.
  void AddHeld(const ItemRuns& have);
  // What a journal said was acknowledged before a restart.
  void Restore(const ItemRuns& acknowledged, uint64_t count) {
    acknowledged_ = acknowledged;
    acknowledged_count_ = count;
  }

  bool overflowed() const { return overflowed_; }
  size_t unacknowledged() const { return delivered_.size(); }
  const ItemRuns& acknowledged() const { return acknowledged_; }
  uint64_t acknowledged_count() const { return acknowledged_count_; }

 private:
  const size_t max_unacknowledged_;
  // First, beside what each delivery reads (issue 9: a job's cache lines).
  bool overflowed_ = false;
  // Delivered, not wholly acknowledged, sorted by first item (unique). A
  // sorted vector: results are delivered in about the order their items
  // were cut, so one is nearly always appended, touching one cache line
  // where a B-tree's insert walks several nodes (issue 9); one delivered
  // out of order moves the few after it.
  std::vector<Lost> delivered_;
  ItemRuns acknowledged_;
  uint64_t acknowledged_count_ = 0;
};

}  // namespace tq

#endif  // TQ_BROKER_DELIVERY_LEDGER_H_
