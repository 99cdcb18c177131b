#include "client/interrupt_watcher.h"

#include <signal.h>
#include <unistd.h>

#include <thread>

#include "common/cli.h"

namespace tq {
namespace {

sigset_t WatchedSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

InterruptWatcher& InterruptWatcher::Install() {
  static InterruptWatcher* watcher = [] {
    sigset_t set = WatchedSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    auto* w = new InterruptWatcher;
    // Detached: it lives as long as the process, blocked in sigwait.
    std::thread([w] { w->Run(); }).detach();
    return w;
  }();
  return *watcher;
}

void InterruptWatcher::Watch(Job* job) {
  absl::MutexLock lock(&mu_);
  job_ = job;
}

void InterruptWatcher::Run() {
  sigset_t set = WatchedSignals();
  while (true) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    bool second = interrupted_.exchange(true);
    absl::MutexLock lock(&mu_);
    if (job_ == nullptr || second) {
      // Nothing written yet that needs flushing, or the user insists.
      _exit(kExitInterrupted);
    }
    job_->Cancel();
  }
}

}  // namespace tq
