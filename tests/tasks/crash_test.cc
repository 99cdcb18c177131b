// The test-only task `crash`: an identity task, except on the items it is
// told to abort, fail or hang on. (mode=hang never returns, so it is tested
// through a worker process: tests/integration.)
#include <csignal>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tasks/task_test_util.h"

namespace tq {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TaskParams Params(std::string items, std::string mode) {
  TaskParams params;
  if (!items.empty()) params["items"] = items;
  if (!mode.empty()) params["mode"] = mode;
  return params;
}

TEST(CrashTask, IsTestOnlyAndNotOfferedByDefault) {
  const Task* crash = BuiltinTasks().Find("crash");
  ASSERT_NE(crash, nullptr);
  EXPECT_TRUE(crash->test_only());
  EXPECT_THAT(BuiltinTasks().Names(), Not(Contains("crash")));
  EXPECT_THAT(BuiltinTasks().Names(true), Contains("crash"));
  EXPECT_FALSE(BuiltinTasks().Find("noop")->test_only());
}

TEST(CrashTask, ReturnsTheItemsWhenNoneIsPoisoned) {
  absl::StatusOr<v1::ChunkOutput> output =
      testing::RunTask("crash", TaskInput::Range(5, 8), v1::REDUCTION_NONE,
                       Params("777", "abort"));
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_THAT(output->values().values(), ElementsAre(5, 6, 7, 8));
}

TEST(CrashTask, ThrowFailsTheChunkNamingTheItem) {
  for (const std::string& mode : {std::string("throw"), std::string("")}) {
    absl::StatusOr<v1::ChunkOutput> output = testing::RunTask(
        "crash", TaskInput::List(std::vector<uint64_t>{1, 1234, 3}),
        v1::REDUCTION_NONE, Params("777,1234", mode));
    ASSERT_EQ(output.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(output.status().message(), HasSubstr("item 1234"));
  }
}

TEST(CrashTaskDeathTest, AbortKillsTheProcessBySigabrt) {
  EXPECT_EXIT(
      (void)testing::RunTask("crash", TaskInput::Range(770, 780),
                             v1::REDUCTION_NONE, Params("777", "abort")),
      ::testing::KilledBySignal(SIGABRT), "aborts on item 777");
}

TEST(CrashTask, BadParametersAreRefusedByName) {
  const Task& crash = testing::GetTask("crash");
  for (const auto& [params, what] :
       std::vector<std::pair<TaskParams, std::string>>{
           {Params("12,x", "throw"), "items"},
           {Params("-1", "throw"), "items"},
           {Params("99999999999999999999999", "throw"), "items"},
           {Params("1", "explode"), "mode"},
           {Params("1", "Abort"), "mode"},
       }) {
    absl::Status status = crash.ValidateParams(params);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_THAT(status.message(), HasSubstr(what));
  }
  TaskParams unknown;
  unknown["speed"] = "1";
  EXPECT_THAT(crash.ValidateParams(unknown).message(), HasSubstr("speed"));
  EXPECT_TRUE(crash.ValidateParams({}).ok());
}

}  // namespace
}  // namespace tq
