// ThreadPool: every item runs, threads really run in parallel, shutdown
// drains the queue.
#include "worker/thread_pool.h"

#include <atomic>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

TEST(ThreadPoolTest, RunsEveryScheduledItemBeforeDestruction) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(3);
    EXPECT_EQ(pool.size(), 3);
    for (int i = 0; i < 1000; ++i) pool.Schedule([&ran] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 1000);
}

TEST(ThreadPoolTest, RunsItemsInParallelOnSeveralThreads) {
  // Each item arrives, then waits (bounded) until both have arrived: only
  // possible if two threads run at once.
  absl::Mutex mutex;
  int arrived = 0;
  int saw_both = 0;
  {
    ThreadPool pool(2);
    for (int i = 0; i < 2; ++i) {
      pool.Schedule([&] {
        absl::MutexLock lock(&mutex);
        ++arrived;
        auto both = [&arrived] { return arrived == 2; };
        if (mutex.AwaitWithTimeout(absl::Condition(&both), absl::Seconds(20))) {
          ++saw_both;
        }
      });
    }
  }
  EXPECT_EQ(saw_both, 2);
}

TEST(ThreadPoolTest, ShutdownWithIdleThreadsReturns) {
  ThreadPool pool(4);
  // Destructor must not hang with nothing scheduled.
}

}  // namespace
}  // namespace tq
