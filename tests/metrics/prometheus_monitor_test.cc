// PrometheusBrokerMonitor and PrometheusWorkerMonitor over real loopback
// HTTP: what the loops tell them shows up as readiness, liveness and
// metrics, and a taken address is an error from Start.
#include <memory>
#include <string>

#include "broker/prometheus_broker_monitor.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "tests/metrics/http_get.h"
#include "worker/prometheus_worker_monitor.h"

namespace tq {
namespace {

using ::tq::testing::HttpGet;
using ::tq::testing::SampleValue;

int Code(int port, const std::string& path) {
  auto response = HttpGet(port, path);
  EXPECT_TRUE(response.ok()) << response.status();
  return response.ok() ? response->code : -1;
}

double Value(int port, const std::string& series) {
  auto response = HttpGet(port, "/metrics");
  EXPECT_TRUE(response.ok()) << response.status();
  if (!response.ok()) return -1;
  std::optional<double> value = SampleValue(response->body, series);
  EXPECT_TRUE(value.has_value()) << series << " missing from\n" << response->body;
  return value.value_or(-1);
}

TEST(PrometheusBrokerMonitorTest, ReadyAfterOnReadyAliveAfterAnIteration) {
  auto monitor = PrometheusBrokerMonitor::Start("127.0.0.1:0");
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  const int port = (*monitor)->port();
  ASSERT_GT(port, 0);
  EXPECT_EQ(Code(port, "/readyz"), 503);
  EXPECT_EQ(Code(port, "/healthz"), 503);
  (*monitor)->OnReady();
  (*monitor)->OnLoopIteration(MonotonicNowUs());
  EXPECT_EQ(Code(port, "/readyz"), 200);
  EXPECT_EQ(Code(port, "/healthz"), 200);
}

TEST(PrometheusBrokerMonitorTest, ServesWhatTheLoopReports) {
  auto monitor = PrometheusBrokerMonitor::Start("127.0.0.1:0");
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  BrokerMonitor& loop_view = **monitor;
  loop_view.AddReceivedBytes(10);
  loop_view.AddSentBytes(7);
  SchedulerStats stats;
  stats.jobs_submitted = 3;
  loop_view.Update(stats);
  const int port = (*monitor)->port();
  EXPECT_EQ(Value(port, "tq_broker_received_bytes_total"), 10);
  EXPECT_EQ(Value(port, "tq_broker_sent_bytes_total"), 7);
  EXPECT_EQ(Value(port, "tq_broker_jobs_submitted_total"), 3);
}

TEST(PrometheusBrokerMonitorTest, TakenAddressIsUnavailable) {
  auto first = PrometheusBrokerMonitor::Start("127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = PrometheusBrokerMonitor::Start(taken);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST(PrometheusWorkerMonitorTest, ReadyOnlyWhileConnected) {
  auto monitor = PrometheusWorkerMonitor::Start("127.0.0.1:0", 2);
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  WorkerMonitor& loop_view = **monitor;
  const int port = (*monitor)->port();
  EXPECT_EQ(Code(port, "/readyz"), 503);
  loop_view.OnLoopIteration(MonotonicNowUs(), {.busy_threads = 0,
                                            .capacity = 3,
                                            .connected = false});
  EXPECT_EQ(Code(port, "/healthz"), 200);
  EXPECT_EQ(Code(port, "/readyz"), 503);
  loop_view.OnLoopIteration(MonotonicNowUs(), {.busy_threads = 1,
                                            .capacity = 3,
                                            .connected = true});
  EXPECT_EQ(Code(port, "/readyz"), 200);
  EXPECT_EQ(Value(port, "tq_worker_threads"), 2);
  EXPECT_EQ(Value(port, "tq_worker_busy_threads"), 1);
  EXPECT_EQ(Value(port, "tq_worker_connected"), 1);
  loop_view.OnStopped(3);
  EXPECT_EQ(Code(port, "/readyz"), 503);
  EXPECT_EQ(Value(port, "tq_worker_busy_threads"), 0);
  EXPECT_EQ(Value(port, "tq_worker_connected"), 0);
}

}  // namespace
}  // namespace tq
