// InterruptWatcher: tq-client's SIGINT/SIGTERM handling without async-signal
// hazards. The signals are blocked in every thread and one watcher thread
// takes them with sigwait(): while a job runs it cancels the job (the main
// loop then flushes and exits 130); before that, or on a second signal, it
// exits 130 at once.
//
// Thread safety: Watch/Unwatch from any thread.
#ifndef TQ_CLIENT_INTERRUPT_WATCHER_H_
#define TQ_CLIENT_INTERRUPT_WATCHER_H_

#include <atomic>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/job.h"

namespace tq {

class InterruptWatcher {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread (and so in every thread
  // it starts later) and starts the watcher. Call first thing in main.
  static InterruptWatcher& Install();

  // The job to cancel on a signal; nullptr for none.
  void Watch(Job* job);
  bool interrupted() const { return interrupted_.load(); }

 private:
  InterruptWatcher() = default;
  void Run();

  std::atomic<bool> interrupted_{false};
  absl::Mutex mu_;
  Job* job_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace tq

#endif  // TQ_CLIENT_INTERRUPT_WATCHER_H_
