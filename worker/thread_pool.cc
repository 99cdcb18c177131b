#include "worker/thread_pool.h"

#include <algorithm>
#include <utility>

namespace tq {

ThreadPool::ThreadPool(int threads) {
  threads_.reserve(std::max(1, threads));
  for (int i = 0; i < std::max(1, threads); ++i) {
    threads_.emplace_back([this] { ThreadMain(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mutex_);
    shutting_down_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

void ThreadPool::Schedule(std::function<void()> work) {
  absl::MutexLock lock(&mutex_);
  queue_.push_back(std::move(work));
}

void ThreadPool::ScheduleAll(std::vector<std::function<void()>> work) {
  if (work.empty()) return;
  absl::MutexLock lock(&mutex_);
  for (std::function<void()>& item : work) queue_.push_back(std::move(item));
}

void ThreadPool::ThreadMain() {
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return !queue_.empty() || shutting_down_;
  };
  while (true) {
    std::function<void()> work;
    {
      absl::MutexLock lock(&mutex_);
      mutex_.Await(absl::Condition(&ready));
      // Shutdown still drains the queue: every scheduled item runs.
      if (queue_.empty()) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

}  // namespace tq
