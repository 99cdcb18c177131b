// A plain fixed-size thread pool (google/leveldb util/env_posix.cc style):
// one mutex-guarded queue, a condition variable, threads that pop and run.
// The worker runs chunks on it; chunks take milliseconds, so one queue is
// enough. Work items must not block waiting on other pool work.
#ifndef TQ_WORKER_THREAD_POOL_H_
#define TQ_WORKER_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tq {

// Thread-safe: Schedule may be called from any thread.
class ThreadPool {
 public:
  // Starts `threads` (>= 1) threads.
  explicit ThreadPool(int threads);
  // Runs everything already scheduled, then joins the threads.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Schedule(std::function<void()> work);
  // Schedules every item under one lock: a batch of tiny chunks costs one
  // lock round and one wake-up pass, not one per chunk.
  void ScheduleAll(std::vector<std::function<void()>> work);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void ThreadMain();

  absl::Mutex mutex_;
  // State below is protected by mutex_.
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mutex_);
  bool shutting_down_ ABSL_GUARDED_BY(mutex_) = false;

  // Constant after construction.
  std::vector<std::thread> threads_;
};

}  // namespace tq

#endif  // TQ_WORKER_THREAD_POOL_H_
