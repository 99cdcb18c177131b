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
  absl::Status Run(const v1::ChunkInput& input, const TaskParams& params,
                   v1::Reduction reduction,
                   v1::ChunkOutput* output) const override {
    output->Clear();
    if (absl::Status s = ValidateParams(params); !s.ok()) return s;
    if (reduction != v1::REDUCTION_NONE) {
      return absl::InvalidArgumentError("task 'noop' supports no reduction");
    }
    auto* values = output->mutable_values()->mutable_values();
    return ForEachItem(input, 1 << 16, [&](uint64_t n) { values->Add(n); });
  }
};

TQ_REGISTER_TASK(NoopTask);

}  // namespace
}  // namespace tq
