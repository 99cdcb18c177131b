// `factor`: the prime factors of each item, ascending, with multiplicity
// (12 -> [2, 2, 3]); 0 and 1 give empty lists. Exact for every uint64
// (factorize.h). Output: ChunkOutput.lists.
#include "absl/strings/str_cat.h"
#include "tasks/factorize.h"
#include "tasks/item_input.h"
#include "tasks/task.h"

namespace tq {
namespace {

// A hard item (a product of two ~32-bit primes) takes up to ~1 ms, a typical
// one microseconds. 64 items keep a chunk's overhead hidden; 2^14 bound a
// worst-case chunk to seconds and its output (at most 64 factors an item)
// to ~10 MB.
constexpr ChunkSizing kSizing = {64, uint64_t{1} << 14};

class FactorTask : public Task {
 public:
  absl::string_view name() const override { return "factor"; }
  absl::string_view description() const override {
    return "prime factors of n, ascending with multiplicity (12 -> 2 2 3); "
           "0 and 1 give an empty list";
  }
  ResultShape shape() const override { return ResultShape::kValueList; }
  ChunkSizing sizing(v1::Reduction) const override { return kSizing; }
  absl::Status ValidateParams(const TaskParams& params) const override {
    return RequireNoParams(name(), params);
  }

  absl::Status Compute(const TaskInput& input, uint64_t, const TaskParams&,
                       v1::Reduction, const CancelToken& cancel,
                       v1::ChunkOutput* output) const override {
    v1::ValueLists* lists = output->mutable_lists();
    // An item takes up to ~1 ms: poll every item (an atomic load).
    if (!ForEachItemUnlessCancelled(input, cancel, 1, [&](uint64_t n) {
          uint64_t factors[kMaxPrimeFactors];
          const int count = PrimeFactors(n, factors);
          lists->add_lengths(count);
          for (int i = 0; i < count; ++i) lists->add_values(factors[i]);
        })) {
      return CancelledStatus();
    }
    return absl::OkStatus();
  }
};

TQ_REGISTER_TASK(FactorTask);

}  // namespace
}  // namespace tq
