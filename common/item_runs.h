// ItemRuns: a set of a job's item indexes kept as disjoint, merged runs
// [first, end). Acknowledged items, items a client holds, items to compute
// again: each is a few runs however many items it covers, because results
// name their items as runs and arrive nearly in order.
//
// Not thread-safe.
#ifndef TQ_COMMON_ITEM_RUNS_H_
#define TQ_COMMON_ITEM_RUNS_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/numeric/int128.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "tq/v1/tq.pb.h"

namespace tq {

class ItemRuns {
 public:
  struct Run {
    uint64_t first = 0;
    uint64_t count = 0;
    bool operator==(const Run& other) const {
      return first == other.first && count == other.count;
    }
  };

  // Adds [first, first + count), merging with what it overlaps or touches.
  // count 0 adds nothing; first + count may reach 2^64.
  void Add(uint64_t first, uint64_t count);
  void Add(const ItemRuns& other);
  // Whether every item of [first, first + count) is in the set.
  bool Contains(uint64_t first, uint64_t count) const;
  // Whether some item of [first, first + count) is in the set.
  bool Overlaps(uint64_t first, uint64_t count) const;
  // Items in the set (2^64 fits).
  absl::uint128 size() const { return size_; }
  bool empty() const { return runs_.empty(); }
  size_t runs() const { return runs_.size(); }
  // The runs in order (a run of all 2^64 items cannot be told by its count:
  // use ToRanges).
  std::vector<Run> Runs() const;
  // The items of [first, first + count) not in the set, as runs in order.
  std::vector<Run> Missing(uint64_t first, uint64_t count) const;

  // Wire form: inclusive Ranges of item indexes (AckResults.items,
  // AttachJob.have, JobAccepted.acknowledged). From the wire, a reversed
  // range is kInvalidArgument-worthy: FromRanges returns false and leaves
  // `out` unchanged.
  void ToRanges(google::protobuf::RepeatedPtrField<v1::Range>* out) const;
  static bool FromRanges(const google::protobuf::RepeatedPtrField<v1::Range>& in,
                         ItemRuns* out);

 private:
  // Adds [first, end), end <= 2^64.
  void AddSpan(uint64_t first, absl::uint128 end);

  // first -> end (exclusive; uint128 so that 2^64 fits).
  std::map<uint64_t, absl::uint128> runs_;
  absl::uint128 size_ = 0;
};

}  // namespace tq

#endif  // TQ_COMMON_ITEM_RUNS_H_
