#include "worker/runners/forking_thread.h"

#include <pthread.h>
#include <signal.h>

namespace tq {

ForkingThread::ForkingThread() : thread_([this] { ThreadMain(); }) {}

ForkingThread::~ForkingThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void ForkingThread::Run(const std::function<void()>& work) {
  std::lock_guard<std::mutex> one_caller(callers_);
  std::unique_lock<std::mutex> lock(mutex_);
  work_ = &work;
  changed_.notify_all();
  changed_.wait(lock, [this] { return work_ == nullptr; });
}

void ForkingThread::ThreadMain() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return work_ != nullptr || stopping_; });
    if (work_ == nullptr) return;  // stopping, nothing left to run
    (*work_)();
    work_ = nullptr;
    changed_.notify_all();
  }
}

}  // namespace tq
