// RunTaskChunk (worker/chunk_runner.h): an assignment's input reaches the
// task as the same numbers whichever form it takes (a range, or 8-byte
// numbers in a payload, within offset/count), the output travels as a
// serialized ChunkOutput payload, and problems become the report's error.
#include "worker/chunk_runner.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tq {
namespace {

ChunkWork PrimesWork() {
  ChunkWork work;
  work.assignment.set_job_id(7);
  work.assignment.set_chunk_index(3);
  work.assignment.set_attempt(2);
  work.assignment.set_task("primes");
  return work;
}

ChunkWork NumbersWork(const std::vector<uint64_t>& numbers) {
  ChunkWork work = PrimesWork();
  std::string bytes(numbers.size() * 8, '\0');
  memcpy(bytes.data(), numbers.data(), bytes.size());
  work.input = Payload::FromString(std::move(bytes));
  work.assignment.mutable_input()->set_payload(0);
  work.assignment.mutable_input()->set_item_count(numbers.size());
  work.assignment.mutable_input()->set_encoding(v1::ITEM_ENCODING_U64LE);
  return work;
}

v1::ChunkOutput Output(const ChunkDone& done) {
  v1::ChunkOutput output;
  EXPECT_FALSE(done.report.has_error()) << done.report.error().message();
  EXPECT_TRUE(output.ParseFromString(done.result.ToString()));
  return output;
}

TEST(RunTaskChunkTest, RangeAndNumbersOfTheSameItemsGiveTheSameOutput) {
  ChunkWork range = PrimesWork();
  range.assignment.mutable_input()->mutable_range()->set_first(90);
  range.assignment.mutable_input()->mutable_range()->set_last(110);
  std::vector<uint64_t> numbers;
  for (uint64_t n = 90; n <= 110; ++n) numbers.push_back(n);

  const ChunkDone from_range = RunTaskChunk(BuiltinTasks(), range);
  const ChunkDone from_numbers = RunTaskChunk(BuiltinTasks(), NumbersWork(numbers));
  // 97, 101, 103, 107 and 109: items 7, 11, 13, 17 and 19.
  EXPECT_EQ(Output(from_range).bits(), "\x80\x28\x0a");
  EXPECT_EQ(Output(from_numbers).bits(), Output(from_range).bits());
  EXPECT_EQ(from_numbers.report.job_id(), 7u);
  EXPECT_EQ(from_numbers.report.chunk_index(), 3u);
  EXPECT_EQ(from_numbers.report.attempt(), 2u);
}

TEST(RunTaskChunkTest, AWheelGoesOnlyToClientsThatAskForIt) {
  ChunkWork work = PrimesWork();
  work.assignment.mutable_input()->mutable_range()->set_first(90);
  work.assignment.mutable_input()->mutable_range()->set_last(110);
  // Without compact_results (an older client): plain bits, as above.
  EXPECT_EQ(Output(RunTaskChunk(BuiltinTasks(), work)).bits(), "\x80\x28\x0a");
  // With it: the wheel of 90..119 and nothing else. 97 = 90 + 7 (bit 1),
  // 101, 103, 107, 109 (bits 2-5).
  work.assignment.set_compact_results(true);
  const v1::ChunkOutput compact = Output(RunTaskChunk(BuiltinTasks(), work));
  ASSERT_EQ(compact.output_case(), v1::ChunkOutput::kPrimeWheel);
  EXPECT_EQ(compact.prime_wheel(), "\x3e");
}

TEST(RunTaskChunkTest, OffsetAndCountPickPartOfThePayload) {
  ChunkWork work = NumbersWork({4, 5, 6, 7, 8});
  work.assignment.mutable_input()->set_offset(1);
  work.assignment.mutable_input()->set_count(3);  // 5, 6, 7
  EXPECT_EQ(Output(RunTaskChunk(BuiltinTasks(), work)).bits(), "\x05");
  work.assignment.mutable_input()->set_count(0);  // 5..8
  EXPECT_EQ(Output(RunTaskChunk(BuiltinTasks(), work)).bits(), "\x05");
  work.assignment.mutable_input()->set_offset(4);
  work.assignment.mutable_input()->set_count(2);  // beyond the payload
  const ChunkDone beyond = RunTaskChunk(BuiltinTasks(), work);
  ASSERT_TRUE(beyond.report.has_error());
  EXPECT_NE(beyond.report.error().message().find("beyond"), std::string::npos);
}

TEST(RunTaskChunkTest, APayloadThatDoesNotHoldItsNumbersIsRefused) {
  ChunkWork work = NumbersWork({1, 2, 3});
  work.assignment.mutable_input()->set_item_count(4);
  const ChunkDone done = RunTaskChunk(BuiltinTasks(), work);
  ASSERT_TRUE(done.report.has_error());
  EXPECT_EQ(done.report.error().code(),
            static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(done.result.empty());
}

TEST(RunTaskChunkTest, InputOfNeitherFormIsAnInvalidArgumentError) {
  const ChunkDone done = RunTaskChunk(BuiltinTasks(), PrimesWork());
  ASSERT_TRUE(done.report.has_error());
  EXPECT_EQ(done.report.error().code(),
            static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(done.report.error().job_id(), 7u);
}

TEST(RunTaskChunkTest, UnknownTaskIsNotFound) {
  ChunkWork work = PrimesWork();
  work.assignment.set_task("nosuch");
  work.assignment.mutable_input()->mutable_range()->set_first(1);
  work.assignment.mutable_input()->mutable_range()->set_last(1);
  const ChunkDone done = RunTaskChunk(BuiltinTasks(), work);
  ASSERT_TRUE(done.report.has_error());
  EXPECT_EQ(done.report.error().code(),
            static_cast<int32_t>(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace tq
