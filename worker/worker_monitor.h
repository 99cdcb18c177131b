// What the worker loop reports about itself, for whoever watches it: chunks
// finished, sessions started, bytes moved, and after each iteration its state
// (busy threads, capacity, whether a broker welcomed it). An interface with
// no metrics library behind it, so tq_worker (and the client's embedded
// cluster, which links it) carries neither prometheus-cpp nor an HTTP server;
// tq-worker plugs in the Prometheus one (worker/prometheus_worker_monitor.h).
#ifndef TQ_WORKER_WORKER_MONITOR_H_
#define TQ_WORKER_WORKER_MONITOR_H_

#include <cstdint>

#include "tq/v1/tq.pb.h"

namespace tq {

// The worker loop's state after an iteration.
struct WorkerLoopState {
  // Pool threads running a chunk now.
  int busy_threads = 0;
  // Threads + the current prefetch: chunks the worker will hold.
  int capacity = 0;
  // A broker has welcomed the current session.
  bool connected = false;
};

// Called only from the thread in Worker::Run(), synchronously: keep every
// method cheap.
class WorkerMonitor {
 public:
  virtual ~WorkerMonitor() = default;
  // A session started (the first connect and every reconnect).
  virtual void OnSessionStarted() {}
  // A chunk the pool finished: its outcome and run time.
  virtual void OnChunkFinished(const v1::ChunkReport& report) {}
  // Sizes of the frames the loop received and sent.
  virtual void AddReceivedBytes(uint64_t bytes) {}
  virtual void AddSentBytes(uint64_t bytes) {}
  // The loop completed an iteration at `now_us` (MonotonicNowUs(),
  // common/clock.h) and is now in `state`.
  virtual void OnLoopIteration(int64_t now_us, const WorkerLoopState& state) {}
  // Run() is returning: nothing runs, nothing is connected.
  virtual void OnStopped(int capacity) {}
};

}  // namespace tq

#endif  // TQ_WORKER_WORKER_MONITOR_H_
