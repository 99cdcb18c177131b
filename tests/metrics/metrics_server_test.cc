// MetricsServer over real loopback HTTP: the registry's text at /metrics,
// liveness and readiness from a LoopHealth, and address errors.
#include "common/metrics_server.h"

#include <memory>

#include "common/clock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "tests/metrics/http_get.h"

namespace tq {
namespace {

using ::tq::testing::HttpGet;
using ::tq::testing::SampleValue;

class MetricsServerTest : public ::testing::Test {
 protected:
  void StartServer() {
    auto server = MetricsServer::Start("127.0.0.1:0", registry_, &health_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
  }
  int Code(const std::string& path) {
    auto response = HttpGet(server_->port(), path);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->code : -1;
  }

  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  LoopHealth health_;
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, ServesTheRegistryAsPrometheusText) {
  auto& counter = prometheus::BuildCounter()
                      .Name("test_things_total")
                      .Help("things")
                      .Register(*registry_)
                      .Add({{"kind", "a"}});
  StartServer();
  counter.Increment(3);
  auto response = HttpGet(server_->port(), "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->code, 200);
  EXPECT_EQ(SampleValue(response->body, "test_things_total{kind=\"a\"}"), 3.0);
  EXPECT_NE(response->body.find("# TYPE test_things_total counter"),
            std::string::npos);
}

TEST_F(MetricsServerTest, HealthzIsUnavailableBeforeTheFirstIteration) {
  StartServer();
  EXPECT_EQ(Code("/healthz"), 503);
}

TEST_F(MetricsServerTest, HealthzIsOkWhileTheLoopIterates) {
  StartServer();
  health_.MarkIteration(MonotonicNowUs());
  EXPECT_EQ(Code("/healthz"), 200);
}

TEST_F(MetricsServerTest, HealthzIsUnavailableWhenTheLoopStalled) {
  StartServer();
  health_.MarkIteration(MonotonicNowUs() - kAliveWindowUs - 1'000'000);
  EXPECT_EQ(Code("/healthz"), 503);
}

TEST_F(MetricsServerTest, ReadyzFollowsReadiness) {
  StartServer();
  EXPECT_EQ(Code("/readyz"), 503);
  health_.SetReady(true);
  EXPECT_EQ(Code("/readyz"), 200);
  health_.SetReady(false);
  EXPECT_EQ(Code("/readyz"), 503);
}

TEST_F(MetricsServerTest, UnknownPathIsNotFound) {
  StartServer();
  EXPECT_EQ(Code("/nothing-here"), 404);
}

TEST_F(MetricsServerTest, MalformedAddressIsInvalidArgument) {
  for (const char* address : {"", "9464", ":9464", "127.0.0.1:", "127.0.0.1:x",
                              "127.0.0.1:70000"}) {
    auto server = MetricsServer::Start(address, registry_, &health_);
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument)
        << address;
  }
}

TEST_F(MetricsServerTest, PortInUseIsUnavailableAndNamesTheAddress) {
  StartServer();
  const std::string taken = "127.0.0.1:" + std::to_string(server_->port());
  auto second = MetricsServer::Start(taken, registry_, &health_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(taken), absl::string_view::npos);
}

}  // namespace
}  // namespace tq
