// PlanJob / AutoChunkSize: sizing rules and the 2^64-item range.
#include "broker/job_plan.h"

#include <limits>

#include "gtest/gtest.h"

namespace tq {
namespace {

class FakeBoolTask : public Task {
 public:
  absl::string_view name() const override { return "isodd"; }
  absl::string_view description() const override { return "test"; }
  ResultShape shape() const override { return ResultShape::kBool; }
  ChunkSizing sizing(v1::Reduction) const override { return {10, 1000}; }
  absl::Status ValidateParams(const TaskParams&) const override {
    return absl::OkStatus();
  }
  absl::Status Compute(const TaskInput&, uint64_t, const TaskParams&,
                       v1::Reduction, v1::ChunkOutput*) const override {
    return absl::OkStatus();
  }
};

TEST(JobPlanTest, AutoChunkSizeClampsToTaskSizing) {
  const ChunkSizing sizing{10, 1000};
  EXPECT_EQ(AutoChunkSize(100, 1, sizing, ResultShape::kValue), 25u);
  EXPECT_EQ(AutoChunkSize(5, 1, sizing, ResultShape::kValue), 10u);
  EXPECT_EQ(AutoChunkSize(1'000'000, 0, sizing, ResultShape::kValue), 1000u);
  EXPECT_EQ(AutoChunkSize(1000, 2, sizing, ResultShape::kValue), 125u);
}

TEST(JobPlanTest, AutoChunkSizeRoundsBooleanTasksToWholeBytes) {
  const ChunkSizing sizing{10, 1000};
  EXPECT_EQ(AutoChunkSize(100, 1, sizing, ResultShape::kBool), 32u);
  EXPECT_EQ(AutoChunkSize(1'000'000, 1, sizing, ResultShape::kBool), 1000u);
  EXPECT_EQ(AutoChunkSize(1'000'000, 1, {10, 1001}, ResultShape::kBool), 1000u);
}

TEST(JobPlanTest, PlansWholeUint64RangeWithoutOverflow) {
  TaskRegistry registry;
  registry.Register(std::make_unique<FakeBoolTask>());
  v1::SubmitJob submit;
  submit.set_task("isodd");
  submit.mutable_range()->set_first(0);
  submit.mutable_range()->set_last(std::numeric_limits<uint64_t>::max());
  submit.set_result_window(1);
  submit.set_reduction(v1::REDUCTION_COUNT);
  absl::StatusOr<JobPlan> plan = PlanJob(submit, registry, 8);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->chunk_size, 1000u);
  // ceil(2^64 / 1000)
  EXPECT_EQ(plan->chunk_count, 18446744073709552u);
  EXPECT_TRUE(plan->item_count == (static_cast<unsigned __int128>(1) << 64));
}

TEST(JobPlanTest, ListChunksAreBoundedEvenIfTheTaskAllowsMore) {
  class BigTask : public FakeBoolTask {
   public:
    ChunkSizing sizing(v1::Reduction) const override {
      return {1, uint64_t{1} << 30};
    }
  };
  TaskRegistry registry;
  registry.Register(std::make_unique<BigTask>());
  v1::SubmitJob submit;
  submit.set_task("isodd");
  submit.mutable_items()->add_values(1);
  submit.set_result_window(1);
  submit.set_chunk_size(kMaxListChunkItems + 1);
  EXPECT_EQ(PlanJob(submit, registry, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  submit.set_chunk_size(kMaxListChunkItems);
  EXPECT_TRUE(PlanJob(submit, registry, 1).ok());
}

}  // namespace
}  // namespace tq
