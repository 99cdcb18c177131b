// ThreadPool: every item runs, threads really run in parallel, shutdown
// drains the queue.
#include "worker/thread_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

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
  // std::mutex, as ThreadPool itself: TSan sees it (Debian's Abseil, and so
  // absl::Mutex, is not instrumented).
  std::mutex mutex;
  std::condition_variable arrival;
  int arrived = 0;
  int saw_both = 0;
  {
    ThreadPool pool(2);
    for (int i = 0; i < 2; ++i) {
      pool.Schedule([&] {
        std::unique_lock<std::mutex> lock(mutex);
        ++arrived;
        arrival.notify_all();
        if (arrival.wait_for(lock, std::chrono::seconds(20),
                             [&arrived] { return arrived == 2; })) {
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
