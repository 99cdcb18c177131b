// The worker's Prometheus metrics (names in the issue 3 contract, listed in
// README "Metrics"). tq-worker's PrometheusWorkerMonitor owns one and passes
// on what the worker loop tells it: finished chunks, sessions started, bytes
// moved, and after each iteration the session's state. The Registry is what the HTTP server
// (common/metrics_server.h) serves.
#ifndef TQ_WORKER_WORKER_METRICS_H_
#define TQ_WORKER_WORKER_METRICS_H_

#include <cstdint>
#include <memory>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// Not thread-safe: one thread (the worker loop) calls every method. The
// registry may be collected from any thread (prometheus-cpp locks it).
class WorkerMetrics {
 public:
  // `threads`: the pool's size (fixed for the worker's life).
  explicit WorkerMetrics(int threads);
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const {
    return registry_;
  }

  // The state now: threads running a chunk, threads + current prefetch, and
  // whether a broker has welcomed the current session.
  void SetState(int busy_threads, int capacity, bool connected);
  // A session started (the first connect and every reconnect).
  void OnSessionStarted() { sessions_.Increment(); }
  // A chunk the pool finished: its outcome and run time.
  void OnChunkFinished(const v1::ChunkReport& report);
  // Sizes of the frames the loop received and sent.
  void AddReceivedBytes(uint64_t bytes) { received_bytes_.Increment(bytes); }
  void AddSentBytes(uint64_t bytes) { sent_bytes_.Increment(bytes); }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  // Cached at construction: Family::Add locks and hashes labels.
  prometheus::Gauge& threads_;
  prometheus::Gauge& busy_threads_;
  prometheus::Gauge& capacity_;
  prometheus::Gauge& connected_;
  prometheus::Counter& chunks_ok_;
  prometheus::Counter& chunks_error_;
  prometheus::Histogram& chunk_run_seconds_;
  prometheus::Counter& sessions_;
  prometheus::Counter& received_bytes_;
  prometheus::Counter& sent_bytes_;
};

}  // namespace tq

#endif  // TQ_WORKER_WORKER_METRICS_H_
