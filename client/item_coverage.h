// ItemCoverage: which of a job's items have a result. Results name their
// items as runs [first, first + count); a run that overlaps items already
// covered is a duplicate (a re-run or speculative copy the broker let
// through): the client counts it and drops it, so no item is output twice.
// Runs are kept merged, so memory grows with the gaps (at most about the
// result window), not with the job. The same structure keeps which items
// were acknowledged (AckLedger), where overlaps merge instead (Merge).
//
// Not thread-safe: guarded by its owner's mutex.
#ifndef TQ_CLIENT_ITEM_COVERAGE_H_
#define TQ_CLIENT_ITEM_COVERAGE_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/numeric/int128.h"

namespace tq {
namespace internal {

class ItemCoverage {
 public:
  // Items [first, end): end is exclusive, as uint128 so 2^64 fits.
  struct Run {
    uint64_t first = 0;
    absl::uint128 end = 0;
    bool operator==(const Run& o) const {
      return first == o.first && end == o.end;
    }
  };

  // Covers [first, first + count) unless it overlaps what is covered.
  // Returns false (and changes nothing) for an overlap. count >= 1 and
  // first + count <= 2^64 are the caller's to check.
  bool Add(uint64_t first, uint64_t count);
  // Items covered in total (2^64 fits).
  absl::uint128 covered() const { return covered_; }
  // The first item not covered (2^64 if all are).
  absl::uint128 FirstGap() const;
  // Disjoint runs kept (for tests: merging keeps this small).
  size_t runs() const { return runs_.size(); }
  // Covers [first, end) whatever of it is covered already (a union).
  // first < end <= 2^64 is the caller's to check.
  void Merge(uint64_t first, absl::uint128 end);
  // The covered runs, in order, merged.
  std::vector<Run> Runs() const;
  // The runs covered here and not by `other`, in order.
  std::vector<Run> Minus(const ItemCoverage& other) const;

 private:
  // first -> end (exclusive, as uint128 so 2^64 fits); disjoint, merged
  // when they touch.
  std::map<uint64_t, absl::uint128> runs_;
  absl::uint128 covered_ = 0;
};

}  // namespace internal
}  // namespace tq

#endif  // TQ_CLIENT_ITEM_COVERAGE_H_
