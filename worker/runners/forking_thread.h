// The one thread every runner process is forked from.
//
// Why a thread of its own: PR_SET_PDEATHSIG, which kills a runner when the
// worker dies, fires when the *thread* that forked the runner exits, not its
// process. Forking from the caller's thread would kill a runner as soon as
// some short-lived thread that once called PythonRunners::Run ended. This
// thread lives as long as the PythonRunners, which kill their runners anyway.
// It also blocks every signal, so a child never runs one of the worker's
// signal handlers between fork and exec.
#ifndef TQ_WORKER_RUNNERS_FORKING_THREAD_H_
#define TQ_WORKER_RUNNERS_FORKING_THREAD_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace tq {

// Thread-safe: Run may be called from any thread; calls run one at a time.
class ForkingThread {
 public:
  ForkingThread();
  ~ForkingThread();  // joins the thread; no Run may be in progress
  ForkingThread(const ForkingThread&) = delete;
  ForkingThread& operator=(const ForkingThread&) = delete;

  // Runs `work` on the thread and returns when it has run. `work` should be
  // short (a fork), since every other caller waits for it.
  void Run(const std::function<void()>& work);

 private:
  void ThreadMain();

  std::mutex callers_;  // one Run at a time: the slot below holds one job
  std::mutex mutex_;
  std::condition_variable changed_;
  // State below is protected by mutex_.
  const std::function<void()>* work_ = nullptr;  // set: to run; null: done
  bool stopping_ = false;

  std::thread thread_;  // last: starts once the state above exists
};

}  // namespace tq

#endif  // TQ_WORKER_RUNNERS_FORKING_THREAD_H_
