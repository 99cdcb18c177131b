// tq-worker as a library: connects to a broker, registers, pulls chunks by
// credit and runs them on a thread pool sized to the usable CPUs. tq-worker's
// main and the client's embedded cluster both run this.
#ifndef TQ_WORKER_WORKER_H_
#define TQ_WORKER_WORKER_H_

#include <memory>

#include "absl/status/status.h"
#include "worker/worker_options.h"
#include "zmq.hpp"

namespace tq {

// tq-worker's exit code when a chunk it cancelled (revoked, or past its run
// limit) did not stop within a second: a kernel that ignores cancellation
// holds a thread that cannot be killed, so the worker handed back its
// queued chunks, reported what it could and exited for its supervisor to
// restart it (EX_TEMPFAIL: "try again"). Run() returns kAborted then.
inline constexpr int kExitWorkerWedged = 75;

// `options` with the automatic values filled in from the machine: threads
// 0 -> UsableCpuCount() (cgroup quota, affinity), empty name ->
// "hostname:pid". Nothing else changes, so neither does whether
// ValidateWorkerOptions accepts them. Worker does this itself; callers that
// need the resolved values first (tq-worker's metrics) call it too.
WorkerOptions ResolveWorkerOptions(WorkerOptions options);

class Worker {
 public:
  // `context` must outlive the worker; nullptr makes the worker own one.
  explicit Worker(WorkerOptions options, zmq::context_t* context = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Pool size actually used (options.threads resolved).
  int threads() const;
  // Checks the options (kInvalidArgument from ValidateWorkerOptions, nothing
  // started), then connects and serves until Stop() has drained it: returns
  // OK after a clean drain, an error if the broker refused it (e.g. protocol
  // version), kAborted if a cancelled chunk would not stop (see
  // kExitWorkerWedged): its thread is left running, so the process should
  // exit soon (tq-worker calls _exit).
  absl::Status Run();
  // Stop taking work, hand back what is queued, finish what runs, say
  // Goodbye, return from Run(). Thread-safe and async-signal-safe.
  void Stop();

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace tq

#endif  // TQ_WORKER_WORKER_H_
