// See prometheus_broker_monitor.h.
#include "broker/prometheus_broker_monitor.h"

#include <utility>

namespace tq {

absl::StatusOr<std::shared_ptr<PrometheusBrokerMonitor>>
PrometheusBrokerMonitor::Start(const std::string& listen) {
  std::shared_ptr<PrometheusBrokerMonitor> monitor(new PrometheusBrokerMonitor());
  auto server = MetricsServer::Start(listen, monitor->metrics_.registry(),
                                     &monitor->health_);
  if (!server.ok()) return server.status();
  monitor->server_ = *std::move(server);
  return monitor;
}

}  // namespace tq
