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
  // version).
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
