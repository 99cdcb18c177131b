// Tests of the `spin` task (tasks/spin.cc): it really burns CPU time (a
// lower bound only: a loaded box makes it slower, never faster), returns
// the items, and validates its one parameter.
#include <time.h>

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tasks/task_test_util.h"

namespace tq {
namespace {

using testing::GetTask;
using ::testing::HasSubstr;
using testing::RunTask;

int64_t ThreadCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}

TaskParams Micros(const std::string& value) {
  TaskParams params;
  params["us"] = value;
  return params;
}

TEST(SpinTask, BurnsTheRequestedCpuTimeAndReturnsItems) {
  const int64_t start = ThreadCpuMicros();
  absl::StatusOr<v1::ChunkOutput> out =
      RunTask("spin", TaskInput::List({7, 0, 7, ~uint64_t{0}}),
              v1::REDUCTION_NONE, Micros("5000"));
  const int64_t burned = ThreadCpuMicros() - start;
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_GE(burned, 0.9 * 4 * 5000);
  ASSERT_EQ(out->output_case(), v1::ChunkOutput::kValues);
  EXPECT_EQ(std::vector<uint64_t>(out->values().values().begin(),
                                  out->values().values().end()),
            (std::vector<uint64_t>{7, 0, 7, ~uint64_t{0}}));
}

TEST(SpinTask, DefaultsToOneHundredMicroseconds) {
  const int64_t start = ThreadCpuMicros();
  absl::StatusOr<v1::ChunkOutput> out =
      RunTask("spin", TaskInput::Range(1, 50));
  const int64_t burned = ThreadCpuMicros() - start;
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_GE(burned, 0.9 * 50 * 100);
  EXPECT_EQ(out->values().values_size(), 50);
  EXPECT_EQ(out->values().values(49), 50u);
}

TEST(SpinTask, ZeroMicrosecondsJustReturnsItems) {
  absl::StatusOr<v1::ChunkOutput> out = RunTask(
      "spin", TaskInput::Range(10, 12), v1::REDUCTION_NONE, Micros("0"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->values().values_size(), 3);
}

TEST(SpinTask, ValidateParamsNamesTheBadParameter) {
  const Task& spin = GetTask("spin");
  EXPECT_TRUE(spin.ValidateParams({}).ok());
  EXPECT_TRUE(spin.ValidateParams(Micros("0")).ok());
  EXPECT_TRUE(spin.ValidateParams(Micros("10000000")).ok());
  for (const char* bad : {"", "-1", "+5", " 5", "5 ", "1e3", "abc", "10000001",
                          "99999999999999999999", "0x10", "1.5"}) {
    absl::Status status = spin.ValidateParams(Micros(bad));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(), HasSubstr("'us'")) << bad;
    // Run checks too: the worker gets params from the network.
    EXPECT_EQ(
        RunTask("spin", TaskInput::Range(1, 1), v1::REDUCTION_NONE, Micros(bad))
            .status()
            .code(),
        absl::StatusCode::kInvalidArgument)
        << bad;
  }
  TaskParams unknown;
  unknown["usec"] = "5";
  absl::Status status = spin.ValidateParams(unknown);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("'usec'"));
}

TEST(SpinTask, RejectsBadInput) {
  EXPECT_EQ(RunTask("spin", TaskInput::Range(2, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunTask("spin", TaskInput::Range(0, 1 << 16), v1::REDUCTION_NONE,
                    Micros("0"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunTask("spin", TaskInput::Range(0, 1), v1::REDUCTION_COUNT)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tq
