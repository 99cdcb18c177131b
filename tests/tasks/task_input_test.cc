// TaskInput (tasks/task.h) and the helpers that walk it (tasks/item_input.h):
// a list is a view of the caller's numbers, tasks give the same answers for
// a range and for the same numbers listed, and all of uint64 is 2^64 items.
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tasks/item_input.h"
#include "tests/tasks/task_test_util.h"

namespace tq {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::RunTask;

constexpr uint64_t kMax64 = ~uint64_t{0};

std::vector<uint64_t> Iota(uint64_t first, uint64_t last) {
  std::vector<uint64_t> items;
  for (uint64_t n = first;; ++n) {
    items.push_back(n);
    if (n == last) break;  // last may be 2^64-1
  }
  return items;
}

TEST(TaskInput, ListViewsTheCallersItemsWithoutCopying) {
  const std::vector<uint64_t> items = {5, 3, 5};
  const TaskInput input = TaskInput::List(items);
  EXPECT_FALSE(input.is_range());
  EXPECT_EQ(input.items().data(), items.data());
  EXPECT_EQ(input.items().size(), 3u);
}

TEST(TaskInput, RangeHoldsItsBoundsAndNoList) {
  const TaskInput input = TaskInput::Range(7, kMax64);
  EXPECT_TRUE(input.is_range());
  EXPECT_EQ(input.first(), 7u);
  EXPECT_EQ(input.last(), kMax64);
  EXPECT_TRUE(input.items().empty());
}

// What the worker will do once lists arrive as raw frames: the task reads
// numbers owned by someone else. Every task must give the same output as for
// the range holding the same numbers (for primes: Miller-Rabin vs the sieve).
TEST(TaskInput, EveryTaskGivesTheSameOutputForAListFromAVectorAsForTheRange) {
  const struct {
    uint64_t first, last;
  } ranges[] = {{1000, 1999}, {kMax64 - 40, kMax64}};
  for (const std::string& name : BuiltinTasks().Names()) {
    const Task& task = testing::GetTask(name);
    TaskParams params;
    if (name == "spin") params["us"] = "0";
    std::vector<v1::Reduction> reductions = {v1::REDUCTION_NONE};
    if (task.shape() == ResultShape::kBool) {
      reductions.push_back(v1::REDUCTION_COUNT);
    }
    for (const auto& [first, last] : ranges) {
      const std::vector<uint64_t> items = Iota(first, last);
      for (v1::Reduction reduction : reductions) {
        SCOPED_TRACE(name + " " + std::to_string(first) + ".." +
                     std::to_string(last) + " reduction " +
                     std::to_string(reduction));
        absl::StatusOr<v1::ChunkOutput> from_range =
            RunTask(name, TaskInput::Range(first, last), reduction, params);
        absl::StatusOr<v1::ChunkOutput> from_list =
            RunTask(name, TaskInput::List(items), reduction, params);
        ASSERT_TRUE(from_range.ok()) << from_range.status();
        ASSERT_TRUE(from_list.ok()) << from_list.status();
        EXPECT_NE(from_list->output_case(), v1::ChunkOutput::OUTPUT_NOT_SET);
        if (from_range->output_case() == v1::ChunkOutput::kPrimeWheel) {
          // A range may answer compactly, which a list cannot.
          const std::vector<bool> bits =
              testing::DecodeBits(*from_list, items.size());
          EXPECT_FALSE(bits.empty());
          EXPECT_EQ(testing::DecodeWheel(*from_range, first, last), bits);
        } else {
          EXPECT_EQ(from_list->SerializeAsString(),
                    from_range->SerializeAsString());
        }
      }
    }
  }
}

TEST(ItemCount, AllOfUint64IsTwoTo64ItemsSoAlwaysOverTheLimit) {
  // No uint64 limit admits 2^64 items; the message says 2^64-1 "+1".
  absl::StatusOr<uint64_t> count =
      ItemCount(TaskInput::Range(0, kMax64), kMax64);
  EXPECT_EQ(count.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(count.status().message(),
              HasSubstr("chunk of 18446744073709551615+1 items exceeds"));
  // One item fewer fits the largest limit, from either end.
  EXPECT_EQ(ItemCount(TaskInput::Range(0, kMax64 - 1), kMax64).value(), kMax64);
  EXPECT_EQ(ItemCount(TaskInput::Range(1, kMax64), kMax64).value(), kMax64);
}

TEST(ItemCount, CountsRangesAndListsUpToTheLimit) {
  const std::vector<uint64_t> items = {9, 9, 0};
  EXPECT_EQ(ItemCount(TaskInput::List(items), 3).value(), 3u);
  EXPECT_EQ(ItemCount(TaskInput::Range(kMax64, kMax64), 1).value(), 1u);
  EXPECT_EQ(ItemCount(TaskInput::Range(10, 12), 3).value(), 3u);
}

TEST(ItemCount, RejectsEmptyReversedAndOversizedInputs) {
  const std::vector<uint64_t> items = {1, 2, 3, 4};
  const TaskInput bad[] = {
      TaskInput::List({}),
      TaskInput::Range(8, 7),
      TaskInput::Range(10, 13),
      TaskInput::List(items),
  };
  for (const TaskInput& input : bad) {
    EXPECT_EQ(ItemCount(input, 3).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(ForEachItem, StopsAtTheTopOfUint64WithoutWrapping) {
  std::vector<uint64_t> seen;
  ForEachItem(TaskInput::Range(kMax64 - 2, kMax64),
              [&](uint64_t n) { seen.push_back(n); });
  EXPECT_THAT(seen, ElementsAre(kMax64 - 2, kMax64 - 1, kMax64));
}

TEST(ForEachItem, VisitsAListInOrderWithRepeats) {
  const std::vector<uint64_t> items = {4, kMax64, 0, 4};
  std::vector<uint64_t> seen;
  ForEachItem(TaskInput::List(items), [&](uint64_t n) { seen.push_back(n); });
  EXPECT_EQ(seen, items);
}

}  // namespace
}  // namespace tq
