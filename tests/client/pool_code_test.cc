// Code jobs end to end through the client library's public API: an embedded
// cluster whose worker runs shipped Python functions in real runner
// processes (/usr/bin/python3, tq.runner from the source tree); functions
// and items pickled by a real interpreter.
#include <signal.h>

#include <chrono>
#include <string>
#include <vector>

#include "client/pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/python_test_util.h"

namespace tq {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Pool> EmbeddedPythonPool() {
  ClientOptions options;
  options.embedded_threads = 2;
  options.embedded_python = EmbeddedPython{
      testing::kPython, "3.11", "CPython (test)", TQ_PYTHON_SOURCE_DIR};
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Connect(options);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? *std::move(pool) : nullptr;
}

JobSpec CodeJob(const std::string& definitions, const std::string& function,
                std::vector<InputChunk> chunks) {
  JobSpec spec;
  CodeSpec code;
  code.runtime_version = "3.11";
  code.function = *testing::PickleCode(definitions, function).bytes;
  spec.code = code;
  spec.input = StreamedInput{std::move(chunks), /*complete=*/true};
  return spec;
}

TEST(PoolCodeTest, RunsAShippedFunctionOverRangesAndPickledItems) {
  std::unique_ptr<Pool> pool = EmbeddedPythonPool();
  ASSERT_NE(pool, nullptr);
  EXPECT_THAT(pool->code_runtimes(), ::testing::ElementsAre("python"));
  JobSpec spec = CodeJob("", "lambda x: x * x",
                         {NumberRange{1, 3},
                          EncodedItems{testing::PickleValue("[10, 11]"), 2}});
  absl::StatusOr<std::vector<ChunkResult>> chunks = pool->Map(spec);
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  ASSERT_EQ(chunks->size(), 2u);
  EXPECT_EQ((*chunks)[0].kind(), ChunkResult::Kind::kBytes);
  EXPECT_EQ(testing::Unpickle((*chunks)[0].bytes()), "[1, 4, 9]");
  EXPECT_EQ((*chunks)[1].first_item(), 3u);
  EXPECT_EQ(testing::Unpickle((*chunks)[1].bytes()), "[100, 121]");
}

TEST(PoolCodeTest, AnExceptionFailsTheJobWithItsDetails) {
  std::unique_ptr<Pool> pool = EmbeddedPythonPool();
  ASSERT_NE(pool, nullptr);
  JobSpec spec = CodeJob(
      "def f(x):\n    if x == 7: raise ValueError('seven')\n    return x\n", "f",
      {NumberRange{1, 4}, NumberRange{5, 8}});
  absl::StatusOr<std::unique_ptr<Job>> job = pool->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  absl::Status failed;
  while (failed.ok()) {
    auto chunk = (*job)->Next();
    if (!chunk.ok()) failed = chunk.status();
    else if (!chunk->has_value()) break;
  }
  EXPECT_EQ(failed.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(failed.message(), HasSubstr("ValueError"));
  std::optional<UserCodeError> error = (*job)->user_code_error();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->chunk_index, 1u);
  EXPECT_EQ(error->first_item, 4u);
  EXPECT_EQ(testing::Unpickle(error->details, "(v['type'], v['item_offset'])"),
            "('ValueError', 2)");
}

TEST(PoolCodeTest, CancelKillsTheRunnerOfALongChunk) {
  std::unique_ptr<Pool> pool = EmbeddedPythonPool();
  ASSERT_NE(pool, nullptr);
  testing::ScopedTempDir dir;
  const std::string pid_file = dir.path() + "/pid";
  JobSpec spec = CodeJob(
      "import os, time\n"
      "def f(x):\n"
      "    with open('" + pid_file + "', 'w') as out: out.write(str(os.getpid()))\n"
      "    time.sleep(600)\n",
      "f", {NumberRange{1, 1}});
  absl::StatusOr<std::unique_ptr<Job>> job = pool->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  // Wait (with a deadline) until the function runs and says where.
  int pid = 0;
  for (auto deadline = Clock::now() + std::chrono::seconds(60);
       pid == 0 && Clock::now() < deadline;) {
    FILE* f = fopen(pid_file.c_str(), "r");
    if (f != nullptr) {
      if (fscanf(f, "%d", &pid) != 1) pid = 0;
      fclose(f);
    }
    if (pid == 0) {
      auto event = (*job)->Poll(true, absl::Milliseconds(20));
      ASSERT_TRUE(event.ok()) << event.status();
    }
  }
  ASSERT_GT(pid, 0) << "the function never ran";
  const Clock::time_point cancelled = Clock::now();
  (*job)->Cancel();
  bool gone = false;
  while (!gone && Clock::now() - cancelled < std::chrono::seconds(5)) {
    gone = kill(pid, 0) != 0;
    if (!gone) {
      auto event = (*job)->Poll(true, absl::Milliseconds(10));
      (void)event;
    }
  }
  ASSERT_TRUE(gone) << "runner " << pid << " still alive";
  EXPECT_LT(Clock::now() - cancelled, std::chrono::seconds(1));
}

}  // namespace
}  // namespace tq
