// tq-broker's BrokerMonitor: Prometheus metrics (broker/broker_metrics.h)
// and loop health, served over HTTP as /metrics, /healthz and /readyz
// (common/metrics_server.h). In its own library, tq_broker_metrics, which
// only tq-broker links: the broker library itself stays free of
// prometheus-cpp and civetweb.
#ifndef TQ_BROKER_PROMETHEUS_BROKER_MONITOR_H_
#define TQ_BROKER_PROMETHEUS_BROKER_MONITOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "broker/broker_metrics.h"
#include "broker/broker_monitor.h"
#include "common/metrics_server.h"

namespace tq {

// The BrokerMonitor methods follow its contract (the loop thread only); the
// HTTP server's threads read the registry and the health, which are
// thread-safe. port() is constant after Start.
class PrometheusBrokerMonitor final : public BrokerMonitor {
 public:
  // Starts serving on `listen` = "HOST:PORT" ("127.0.0.1:0": a free port).
  // kInvalidArgument for a malformed address, kUnavailable if it cannot be
  // bound (see MetricsServer::Start). /readyz says 503 until OnReady().
  static absl::StatusOr<std::shared_ptr<PrometheusBrokerMonitor>> Start(
      const std::string& listen);
  PrometheusBrokerMonitor(const PrometheusBrokerMonitor&) = delete;
  PrometheusBrokerMonitor& operator=(const PrometheusBrokerMonitor&) = delete;

  // The port actually bound (port 0 resolved).
  int port() const { return server_->port(); }

  void AddReceivedBytes(uint64_t bytes) override {
    metrics_.AddReceivedBytes(bytes);
  }
  void AddSentBytes(uint64_t bytes) override { metrics_.AddSentBytes(bytes); }
  void Update(const SchedulerStats& stats) override { metrics_.Update(stats); }
  void UpdateConnections(const ConnectionRefusals& refusals) override {
    metrics_.UpdateConnections(refusals);
  }
  void OnLoopIteration(int64_t now_us) override {
    health_.MarkIteration(now_us);
  }
  void OnReady() override { health_.SetReady(true); }
  void OnPairState(v1::PairStateName state, uint64_t epoch,
                   bool followed) override {
    metrics_.SetPairState(state, epoch, followed);
  }
  void OnJobSubmitted(uint64_t job_id, int64_t now_us) override {
    metrics_.OnJobSubmitted(job_id, now_us);
  }
  void OnJobEnded(uint64_t job_id, int64_t now_us) override {
    metrics_.OnJobEnded(job_id, now_us);
  }
  void OnChunkCompleted(uint64_t run_micros) override {
    metrics_.OnChunkCompleted(run_micros);
  }

 private:
  PrometheusBrokerMonitor() = default;

  BrokerMetrics metrics_;
  LoopHealth health_;
  // Last: stops serving before the metrics and health it reads go.
  std::unique_ptr<MetricsServer> server_;
};

}  // namespace tq

#endif  // TQ_BROKER_PROMETHEUS_BROKER_MONITOR_H_
