// See prometheus_worker_monitor.h.
#include "worker/prometheus_worker_monitor.h"

#include <utility>

namespace tq {

absl::StatusOr<std::shared_ptr<PrometheusWorkerMonitor>>
PrometheusWorkerMonitor::Start(const std::string& listen, int threads) {
  std::shared_ptr<PrometheusWorkerMonitor> monitor(
      new PrometheusWorkerMonitor(threads));
  auto server = MetricsServer::Start(listen, monitor->metrics_.registry(),
                                     &monitor->health_);
  if (!server.ok()) return server.status();
  monitor->server_ = *std::move(server);
  return monitor;
}

}  // namespace tq
