// tq-worker's WorkerMonitor: Prometheus metrics (worker/worker_metrics.h)
// and loop health, served over HTTP as /metrics, /healthz and /readyz
// (common/metrics_server.h). In its own library, tq_worker_metrics, which
// only tq-worker links: the worker library itself stays free of
// prometheus-cpp and civetweb.
#ifndef TQ_WORKER_PROMETHEUS_WORKER_MONITOR_H_
#define TQ_WORKER_PROMETHEUS_WORKER_MONITOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/metrics_server.h"
#include "worker/worker_metrics.h"
#include "worker/worker_monitor.h"

namespace tq {

// The WorkerMonitor methods follow its contract (the Run() thread only); the
// HTTP server's threads read the registry and the health, which are
// thread-safe. port() is constant after Start.
class PrometheusWorkerMonitor final : public WorkerMonitor {
 public:
  // Starts serving on `listen` = "HOST:PORT" ("127.0.0.1:0": a free port)
  // for a worker of `threads` pool threads (resolved: see
  // ResolveWorkerOptions). kInvalidArgument for a malformed address,
  // kUnavailable if it cannot be bound (see MetricsServer::Start). /readyz
  // says 503 until a broker welcomes the worker.
  static absl::StatusOr<std::shared_ptr<PrometheusWorkerMonitor>> Start(
      const std::string& listen, int threads);
  PrometheusWorkerMonitor(const PrometheusWorkerMonitor&) = delete;
  PrometheusWorkerMonitor& operator=(const PrometheusWorkerMonitor&) = delete;

  // The port actually bound (port 0 resolved).
  int port() const { return server_->port(); }

  void OnSessionStarted() override { metrics_.OnSessionStarted(); }
  void OnChunkFinished(const v1::ChunkReport& report) override {
    metrics_.OnChunkFinished(report);
  }
  void AddReceivedBytes(uint64_t bytes) override {
    metrics_.AddReceivedBytes(bytes);
  }
  void AddSentBytes(uint64_t bytes) override { metrics_.AddSentBytes(bytes); }
  void OnLoopIteration(int64_t now_us, const WorkerLoopState& state) override {
    health_.MarkIteration(now_us);
    health_.SetReady(state.connected);
    metrics_.SetState(state.busy_threads, state.capacity, state.connected);
  }
  void OnStopped(int capacity) override {
    health_.SetReady(false);
    metrics_.SetState(0, capacity, false);
  }

 private:
  explicit PrometheusWorkerMonitor(int threads) : metrics_(threads) {}

  WorkerMetrics metrics_;
  LoopHealth health_;
  // Last: stops serving before the metrics and health it reads go.
  std::unique_ptr<MetricsServer> server_;
};

}  // namespace tq

#endif  // TQ_WORKER_PROMETHEUS_WORKER_MONITOR_H_
