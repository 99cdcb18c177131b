// Cancellation (tasks/task.h CancelToken): every task stops soon after its
// token is set (well within the 1 s the protocol promises; the bounds leave
// room for a loaded machine) and returns kCancelled with an empty output; a
// token set before Run stops it before any work.
#include <algorithm>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tasks/prime_range.h"
#include "tests/tasks/task_test_util.h"

namespace tq {
namespace {

using Clock = std::chrono::steady_clock;

TEST(CancelToken, StartsClearAndStaysSet) {
  CancelToken token;
  EXPECT_FALSE(token.cancelled());
  token.Cancel();
  EXPECT_TRUE(token.cancelled());
  token.Cancel();
  EXPECT_TRUE(token.cancelled());
}

TEST(Cancel, EveryTaskCancelledBeforeItStartsDoesNoWork) {
  CancelToken cancelled;
  cancelled.Cancel();
  // Outlives the loops: a TaskInput only views its list.
  const std::vector<uint64_t> items = {2, 3, 4};
  for (const std::string& name :
       BuiltinTasks().Names(/*with_test_only=*/true)) {
    SCOPED_TRACE(name);
    const Task& task = testing::GetTask(name);
    for (const TaskInput& input :
         {TaskInput::Range(1000,
                           1000 + task.sizing(v1::REDUCTION_NONE).min_items),
          TaskInput::List(items)}) {
      v1::ChunkOutput output;
      absl::Status status =
          task.Run(input, {}, v1::REDUCTION_NONE, &output, &cancelled);
      EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
      EXPECT_EQ(output.ByteSizeLong(), 0u);
    }
  }
}

// Runs `name` on `input` on another thread, cancels it after `after`, and
// returns how long it took to stop after the cancellation.
std::chrono::milliseconds StopLatency(const std::string& name, TaskInput input,
                                      v1::Reduction reduction,
                                      TaskParams params,
                                      std::chrono::milliseconds after) {
  CancelToken token;
  auto run = std::async(std::launch::async, [&] {
    v1::ChunkOutput output;
    return testing::GetTask(name).Run(input, params, reduction, &output,
                                      &token);
  });
  EXPECT_EQ(run.wait_for(after), std::future_status::timeout)
      << name << " finished before it could be cancelled";
  const auto cancelled_at = Clock::now();
  token.Cancel();
  EXPECT_EQ(run.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(
      Clock::now() - cancelled_at);
  EXPECT_EQ(run.get().code(), absl::StatusCode::kCancelled);
  return latency;
}

TEST(Cancel, SpinStopsWithinAnItemOfLongItems) {
  TaskParams params;
  params["us"] = "10000000";  // 10 s per item: only polling inside stops it
  EXPECT_LT(StopLatency("spin", TaskInput::Range(1, 100), v1::REDUCTION_NONE,
                        params, std::chrono::milliseconds(50)),
            std::chrono::milliseconds(500));
}

TEST(Cancel, SpinStopsBetweenShortItems) {
  TaskParams params;
  params["us"] = "1000";
  EXPECT_LT(StopLatency("spin", TaskInput::Range(1, 60000), v1::REDUCTION_NONE,
                        params, std::chrono::milliseconds(50)),
            std::chrono::milliseconds(500));
}

TEST(Cancel, CountingPrimesStopsBetweenBlocks) {
  // 2^32 items near 10^12, counted in 64 blocks of 2^26 (tasks/primes.cc):
  // seconds of sieving. It stops within about a block, however long one
  // takes in this build: ~30 ms optimised, ~1 s in a sanitizer build at
  // -O0 (the sieve is ours, compiled as the tests are).
  const uint64_t first = 1'000'000'000'000;
  const auto start = Clock::now();
  ASSERT_TRUE(CountPrimesInRange(first, first + (uint64_t{1} << 26) - 1).ok());
  const auto block = std::chrono::duration_cast<std::chrono::milliseconds>(
      Clock::now() - start);
  EXPECT_LT(
      StopLatency("primes",
                  TaskInput::Range(first, first + (uint64_t{1} << 32) - 1),
                  v1::REDUCTION_COUNT, {}, std::chrono::milliseconds(30)),
      std::max(std::chrono::milliseconds(500), 3 * block));
}

TEST(Cancel, FactorStopsBetweenItems) {
  // Products of two ~31-bit primes are the slow items (~1 ms each).
  std::vector<uint64_t> hard(16384, uint64_t{2147483647} * 2147483629);
  EXPECT_LT(StopLatency("factor", TaskInput::List(hard), v1::REDUCTION_NONE, {},
                        std::chrono::milliseconds(30)),
            std::chrono::milliseconds(500));
}

}  // namespace
}  // namespace tq
