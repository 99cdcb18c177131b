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

#include <condition_variable>
#include <mutex>

namespace tq {

// std::mutex, not absl::Mutex, here and in the worker's and client's other
// hot-path queues: absl::Mutex's first contended wait calibrates the CPU
// clock by sleeping 1 ms, then 2 ms, on machines without
// /sys/.../tsc_freq_khz (most VMs): 3 ms added to every short-lived
// tq-client run.
//
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

  std::mutex mutex_;
  std::condition_variable work_ready_;
  // State below is protected by mutex_.
  std::deque<std::function<void()>> queue_;
  bool shutting_down_ = false;

  // Constant after construction.
  std::vector<std::thread> threads_;
};

}  // namespace tq

#endif  // TQ_WORKER_THREAD_POOL_H_
