// RunChunk (worker/chunk_runner.h): an assignment's wire input reaches the
// task as the same numbers whichever form it takes, and problems become the
// report's error.
#include "worker/chunk_runner.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace tq {
namespace {

v1::Assignment PrimesAssignment() {
  v1::Assignment assignment;
  assignment.set_job_id(7);
  assignment.set_chunk_index(3);
  assignment.set_attempt(2);
  assignment.set_task("primes");
  return assignment;
}

TEST(RunChunkTest, RangeAndItemsOfTheSameNumbersGiveTheSameOutput) {
  v1::Assignment range = PrimesAssignment();
  range.mutable_input()->mutable_range()->set_first(90);
  range.mutable_input()->mutable_range()->set_last(110);
  v1::Assignment items = PrimesAssignment();
  for (uint64_t n = 90; n <= 110; ++n) {
    items.mutable_input()->mutable_items()->add_values(n);
  }

  const v1::ChunkReport from_range = RunChunk(BuiltinTasks(), range);
  const v1::ChunkReport from_items = RunChunk(BuiltinTasks(), items);
  ASSERT_EQ(from_range.outcome_case(), v1::ChunkReport::kOutput)
      << from_range.error().message();
  ASSERT_EQ(from_items.outcome_case(), v1::ChunkReport::kOutput)
      << from_items.error().message();
  // 97, 101, 103, 107 and 109: items 7, 11, 13, 17 and 19.
  EXPECT_EQ(from_range.output().bits(), "\x80\x28\x0a");
  EXPECT_EQ(from_items.output().bits(), from_range.output().bits());
  EXPECT_EQ(from_items.job_id(), 7u);
  EXPECT_EQ(from_items.chunk_index(), 3u);
  EXPECT_EQ(from_items.attempt(), 2u);
}

TEST(RunChunkTest, InputOfNeitherFormIsAnInvalidArgumentError) {
  const v1::ChunkReport report = RunChunk(BuiltinTasks(), PrimesAssignment());
  ASSERT_EQ(report.outcome_case(), v1::ChunkReport::kError);
  EXPECT_EQ(report.error().code(),
            static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(report.error().message(), "chunk has no items");
  EXPECT_EQ(report.error().job_id(), 7u);
}

TEST(RunChunkTest, UnknownTaskIsNotFound) {
  v1::Assignment assignment = PrimesAssignment();
  assignment.set_task("nosuch");
  assignment.mutable_input()->mutable_range()->set_first(1);
  assignment.mutable_input()->mutable_range()->set_last(1);
  const v1::ChunkReport report = RunChunk(BuiltinTasks(), assignment);
  ASSERT_EQ(report.outcome_case(), v1::ChunkReport::kError);
  EXPECT_EQ(report.error().code(),
            static_cast<int32_t>(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace tq
