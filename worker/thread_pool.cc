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
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void ThreadPool::Schedule(std::function<void()> work) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(work));
  }
  work_ready_.notify_one();
}

void ThreadPool::ScheduleAll(std::vector<std::function<void()>> work) {
  if (work.empty()) return;
  {
    std::lock_guard lock(mutex_);
    for (std::function<void()>& item : work) queue_.push_back(std::move(item));
  }
  work_ready_.notify_all();
}

void ThreadPool::ThreadMain() {
  while (true) {
    std::function<void()> work;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [this] { return !queue_.empty() || shutting_down_; });
      // Shutdown still drains the queue: every scheduled item runs.
      if (queue_.empty()) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

}  // namespace tq
