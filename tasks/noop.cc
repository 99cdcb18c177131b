// `noop`: returns each item unchanged, doing no work. For measuring the
// cluster's per-chunk overhead (bench P2) and scheduling tests.
#include "tasks/item_input.h"
#include "tasks/task.h"

namespace tq {
namespace {

class NoopTask : public Task {
 public:
  absl::string_view name() const override { return "noop"; }
  absl::string_view description() const override {
    return "returns each item unchanged (measures overhead)";
  }
  ResultShape shape() const override { return ResultShape::kValue; }
  ChunkSizing sizing(v1::Reduction) const override { return {1, 1 << 16}; }
  absl::Status ValidateParams(const TaskParams& params) const override {
    return RequireNoParams(name(), params);
  }
  absl::Status Compute(const TaskInput& input, uint64_t, const TaskParams&,
                       v1::Reduction, const CancelToken& cancel,
                       v1::ChunkOutput* output) const override {
    auto* values = output->mutable_values()->mutable_values();
    // A chunk is at most 2^16 items of nanoseconds each: one poll at the
    // start is enough.
    if (!ForEachItemUnlessCancelled(input, cancel, uint64_t{1} << 16,
                                    [&](uint64_t n) { values->Add(n); })) {
      return CancelledStatus();
    }
    return absl::OkStatus();
  }
};

TQ_REGISTER_TASK(NoopTask);

}  // namespace
}  // namespace tq
