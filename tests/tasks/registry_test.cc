// Tests of the built-in task registry (tasks/task.h) and of the contract
// every registered task shares: bad chunks are kInvalidArgument, never a
// crash, and unknown parameters are refused.
#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tasks/task_test_util.h"

namespace tq {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

TEST(TaskRegistry, NamesAreSortedAndIncludeTheBuiltins) {
  const std::vector<std::string> names = BuiltinTasks().Names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* name : {"factor", "noop", "primes", "spin"}) {
    EXPECT_THAT(names, Contains(name));
    const Task* task = BuiltinTasks().Find(name);
    ASSERT_NE(task, nullptr) << name;
    EXPECT_EQ(task->name(), name);
    EXPECT_FALSE(task->description().empty());
  }
}

TEST(TaskRegistry, LookupOfUnknownNameListsEveryTask) {
  absl::StatusOr<const Task*> task = BuiltinTasks().Lookup("nosuch");
  ASSERT_EQ(task.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(task.status().message(), HasSubstr("nosuch"));
  for (const std::string& name : BuiltinTasks().Names()) {
    EXPECT_THAT(task.status().message(), HasSubstr(name));
  }
  EXPECT_EQ(BuiltinTasks().Find("nosuch"), nullptr);
}

TEST(TaskRegistry, EveryTaskRejectsBadChunksWithInvalidArgument) {
  for (const std::string& name : BuiltinTasks().Names()) {
    SCOPED_TRACE(name);
    const Task& task = **BuiltinTasks().Lookup(name);
    const uint64_t max = task.sizing(v1::REDUCTION_NONE).max_items;
    EXPECT_LE(1u, task.sizing(v1::REDUCTION_NONE).min_items);
    EXPECT_LE(task.sizing(v1::REDUCTION_NONE).min_items, max);
    const struct {
      const char* what;
      TaskInput input;
    } bad_inputs[] = {
        {"empty list", TaskInput::List({})},
        {"reversed", TaskInput::Range(7, 6)},
        {"one item too many", TaskInput::Range(0, max)},
        {"all of uint64", TaskInput::Range(0, ~uint64_t{0})},
        {"too many at the top",
         TaskInput::Range(~uint64_t{0} - max, ~uint64_t{0})},
    };
    for (const auto& [what, input] : bad_inputs) {
      v1::ChunkOutput output;
      EXPECT_EQ(task.Run(input, {}, v1::REDUCTION_NONE, &output).code(),
                absl::StatusCode::kInvalidArgument)
          << what;
    }
    TaskParams unknown;
    unknown.insert({"no_such_param", "1"});
    absl::Status status = task.ValidateParams(unknown);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("no_such_param"));
  }
}

}  // namespace
}  // namespace tq
