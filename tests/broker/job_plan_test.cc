// PlanJob / AutoChunkSize: sizing rules and the 2^64-item range.
#include "broker/job_plan.h"

#include <limits>

#include "common/protocol.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

using ::testing::HasSubstr;

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
                       v1::Reduction, const CancelToken&,
                       v1::ChunkOutput*) const override {
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
  absl::StatusOr<JobPlan> plan = PlanJob(submit, registry, 256);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // Sized as the job runs: no fixed size, no chunk count.
  EXPECT_EQ(plan->chunk_size, 0u);
  EXPECT_EQ(plan->chunk_count, 0u);
  EXPECT_TRUE(plan->item_count == (static_cast<unsigned __int128>(1) << 64));
  submit.set_chunk_size(1000);
  plan = PlanJob(submit, registry, 256);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->chunk_size, 1000u);
  // ceil(2^64 / 1000)
  EXPECT_EQ(plan->chunk_count, 18446744073709552u);
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
  submit.mutable_stream()->set_encoding(v1::ITEM_ENCODING_U64LE);
  submit.set_result_window(1);
  absl::StatusOr<JobPlan> plan = PlanJob(submit, registry, 256);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->streamed);
  EXPECT_EQ(plan->max_chunk_items, kMaxListChunkItems);
}

TEST(JobPlanTest, TheWindowIsCappedByTheBroker) {
  TaskRegistry registry;
  registry.Register(std::make_unique<FakeBoolTask>());
  v1::SubmitJob submit;
  submit.set_task("isodd");
  submit.mutable_range()->set_first(1);
  submit.mutable_range()->set_last(10);
  submit.set_result_window(1000);
  absl::StatusOr<JobPlan> plan = PlanJob(submit, registry, 256);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->window, 256u);
}

// Every Assignment repeats the params: they are bounded well below a frame.
TEST(JobPlanTest, OversizedParamsAreRefusedNamingTheLimit) {
  TaskRegistry registry;
  registry.Register(std::make_unique<FakeBoolTask>());
  v1::SubmitJob submit;
  submit.set_task("isodd");
  submit.mutable_range()->set_first(1);
  submit.mutable_range()->set_last(10);
  submit.set_result_window(1);
  (*submit.mutable_params())["k"] = std::string(kMaxParamsBytes - 1, 'v');
  ASSERT_TRUE(PlanJob(submit, registry, 256).ok());
  (*submit.mutable_params())["k2"] = "vv";
  absl::StatusOr<JobPlan> plan = PlanJob(submit, registry, 256);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("task parameters of"));
}

TEST(JobPlanTest, CodeJobsAreCheckedForShape) {
  TaskRegistry registry;
  v1::SubmitJob submit;
  submit.set_result_window(4);
  v1::CodeSpec* code = submit.mutable_code();
  code->set_runtime("python");
  code->set_runtime_version("3.11");
  code->set_function_sha256(std::string(32, 'x'));
  submit.mutable_stream();
  EXPECT_TRUE(PlanJob(submit, registry, 256).ok());
  auto refused = [&](v1::SubmitJob bad, absl::string_view why) {
    absl::StatusOr<JobPlan> plan = PlanJob(bad, registry, 256);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << why;
    EXPECT_THAT(std::string(plan.status().message()), HasSubstr(why));
  };
  v1::SubmitJob both = submit;
  both.set_task("primes");
  refused(both, "either a task or shipped code");
  v1::SubmitJob short_digest = submit;
  short_digest.mutable_code()->set_function_sha256("abc");
  refused(short_digest, "32-byte SHA-256");
  v1::SubmitJob ranged = submit;
  ranged.mutable_range()->set_last(5);
  refused(ranged, "must be streamed");
  v1::SubmitJob counted = submit;
  counted.set_reduction(v1::REDUCTION_COUNT);
  refused(counted, "reduction");
}

}  // namespace
}  // namespace tq
