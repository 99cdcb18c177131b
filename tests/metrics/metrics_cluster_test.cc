// Real tq-broker and tq-worker processes with --metrics-listen on loopback
// ephemeral ports, a real tq-client job, then /metrics, /healthz and /readyz
// scraped over HTTP: every contract metric is there, the counters reflect
// the job, and promtool accepts both scrapes.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/local_cluster.h"
#include "tests/integration/subprocess.h"
#include "tests/metrics/http_get.h"

namespace tq::testing {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(10);
// Metrics lag the loop by at most its poll timeout (1 s); wait generously.
constexpr auto kSettleTimeout = std::chrono::seconds(15);

const std::vector<std::string> kBrokerMetrics = {
    "tq_broker_jobs_active",
    "tq_broker_jobs_submitted_total",
    "tq_broker_jobs_finished_total",
    "tq_broker_chunks_queued",
    "tq_broker_chunks_in_flight",
    "tq_broker_chunks_dispatched_total",
    "tq_broker_chunks_requeued_total",
    "tq_broker_chunk_reports_dropped_total",
    "tq_broker_items_completed_total",
    "tq_broker_workers",
    "tq_broker_worker_threads",
    "tq_broker_clients",
    "tq_broker_chunk_run_seconds",
    "tq_broker_job_duration_seconds",
    "tq_broker_received_bytes_total",
    "tq_broker_sent_bytes_total",
    "tq_broker_messages_rejected_total",
    "tq_broker_connections_refused_total",
};
const std::vector<std::string> kWorkerMetrics = {
    "tq_worker_threads",
    "tq_worker_busy_threads",
    "tq_worker_capacity",
    "tq_worker_chunks_total",
    "tq_worker_chunk_run_seconds",
    "tq_worker_connected",
    "tq_worker_sessions_total",
    "tq_worker_received_bytes_total",
    "tq_worker_sent_bytes_total",
};

std::string Scrape(int port) {
  auto response = HttpGet(port, "/metrics");
  EXPECT_TRUE(response.ok()) << response.status();
  if (!response.ok()) return "";
  EXPECT_EQ(response->code, 200);
  return response->body;
}

int Code(int port, const std::string& path) {
  auto response = HttpGet(port, path);
  EXPECT_TRUE(response.ok()) << path << ": " << response.status();
  return response.ok() ? response->code : -1;
}

double Value(const std::string& text, const std::string& series) {
  return SampleValue(text, series).value_or(-1);
}

// Waits until the sample `series` at `port` equals `want`; the last scrape.
std::string WaitForValue(int port, const std::string& series, double want) {
  const auto deadline = Clock::now() + kSettleTimeout;
  std::string text;
  do {
    text = Scrape(port);
    if (SampleValue(text, series) == want) return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll pace
  } while (Clock::now() < deadline);
  ADD_FAILURE() << series << " never became " << want << "; last scrape:\n" << text;
  return text;
}

void ExpectNamesPresent(const std::string& text,
                        const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    EXPECT_NE(text.find(absl::StrCat("# TYPE ", name, " ")), std::string::npos)
        << name << " missing";
  }
}

// `promtool check metrics` on `text`: exits 0 and says nothing.
void ExpectPromtoolClean(const std::string& text) {
  const std::string promtool = TQ_PROMTOOL;
  ASSERT_FALSE(promtool.empty())
      << "promtool not found at configure time: install Debian's 'prometheus' "
         "package (apt-get install -y prometheus) and re-run cmake";
  Subprocess check({promtool, "check", "metrics"}, {}, text);
  auto status = check.Wait(std::chrono::seconds(30));
  ASSERT_TRUE(status.has_value()) << "promtool hung";
  EXPECT_TRUE(status->exited && status->code == 0)
      << check.stdout_text() << check.stderr_text();
  EXPECT_EQ(check.stdout_text() + check.stderr_text(), "");
}

// The port of the child's "metrics on http://HOST:PORT" line.
int MetricsPort(Subprocess& process) {
  auto line = process.WaitForStdoutLine("metrics on http://", kStartTimeout);
  EXPECT_TRUE(line.has_value()) << "no metrics line; stderr: "
                                << process.stderr_text();
  return line ? PortOf(*line) : 0;
}

class MetricsClusterTest : public ::testing::Test {};

TEST_F(MetricsClusterTest, ScrapesReflectARealJobAndPassPromtool) {
  LocalCluster cluster({"--metrics-listen=127.0.0.1:0"});
  const int broker_port = MetricsPort(cluster.broker());
  ASSERT_GT(broker_port, 0);
  std::vector<int> worker_ports;
  for (int i = 0; i < 2; ++i) {
    Subprocess& worker =
        cluster.AddWorker({"--threads=1", "--metrics-listen=127.0.0.1:0"});
    worker_ports.push_back(MetricsPort(worker));
    ASSERT_GT(worker_ports.back(), 0);
  }
  // Both workers welcomed before the job, so both can take chunks.
  WaitForValue(broker_port, "tq_broker_workers", 2);

  auto client = cluster.StartClient(
      {"map", "primes", "1", "1000", "--chunk-size=100", "--format=count"});
  auto exit = client->Wait(kJobTimeout);
  ASSERT_TRUE(exit.has_value());
  ASSERT_TRUE(exit->exited && exit->code == 0) << client->stderr_text();
  EXPECT_EQ(client->stdout_text(), "168\n");

  const std::string broker =
      WaitForValue(broker_port, "tq_broker_items_completed_total", 1000);
  ExpectNamesPresent(broker, kBrokerMetrics);
  EXPECT_EQ(Value(broker, "tq_broker_jobs_submitted_total"), 1);
  EXPECT_EQ(Value(broker, "tq_broker_jobs_finished_total{outcome=\"completed\"}"), 1);
  EXPECT_EQ(Value(broker, "tq_broker_jobs_active"), 0);
  EXPECT_EQ(Value(broker, "tq_broker_chunk_run_seconds_count"), 10);
  EXPECT_EQ(Value(broker, "tq_broker_job_duration_seconds_count"), 1);
  EXPECT_GT(Value(broker, "tq_broker_received_bytes_total"), 0);
  EXPECT_GT(Value(broker, "tq_broker_sent_bytes_total"), 0);
  const double dispatched = Value(broker, "tq_broker_chunks_dispatched_total");
  EXPECT_GE(dispatched, 10);

  double worker_chunks = 0;
  for (int port : worker_ports) {
    const std::string worker = Scrape(port);
    ExpectNamesPresent(worker, kWorkerMetrics);
    EXPECT_EQ(Value(worker, "tq_worker_connected"), 1);
    EXPECT_EQ(Value(worker, "tq_worker_threads"), 1);
    EXPECT_EQ(Value(worker, "tq_worker_sessions_total"), 1);
    EXPECT_EQ(Value(worker, "tq_worker_chunks_total{outcome=\"error\"}"), 0);
    worker_chunks += Value(worker, "tq_worker_chunks_total{outcome=\"ok\"}");
    EXPECT_EQ(Code(port, "/healthz"), 200);
    EXPECT_EQ(Code(port, "/readyz"), 200);
    ExpectPromtoolClean(worker);
  }
  // Every hand-out ran on one of the two workers (none were lost).
  EXPECT_EQ(worker_chunks, dispatched);

  EXPECT_EQ(Code(broker_port, "/healthz"), 200);
  EXPECT_EQ(Code(broker_port, "/readyz"), 200);
  ExpectPromtoolClean(broker);
}

TEST_F(MetricsClusterTest, WorkerWithoutABrokerIsAliveButNotReady) {
  // A bound, never-listening socket: connections to its port are refused,
  // and nobody else can take the port while we hold it.
  const int holder = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int dead_port = ntohs(addr.sin_port);

  Subprocess worker({WorkerBinary(),
                     absl::StrCat("--broker=tcp://127.0.0.1:", dead_port),
                     "--threads=1", "--metrics-listen=127.0.0.1:0"});
  const int port = MetricsPort(worker);
  ASSERT_GT(port, 0);
  EXPECT_EQ(Code(port, "/readyz"), 503);
  // Alive: the loop iterates (at least once a second) while it retries.
  const auto deadline = Clock::now() + kSettleTimeout;
  while (Code(port, "/healthz") != 200 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll pace
  }
  EXPECT_EQ(Code(port, "/healthz"), 200);
  const std::string text = Scrape(port);
  EXPECT_EQ(Value(text, "tq_worker_connected"), 0);
  EXPECT_EQ(Code(port, "/readyz"), 503);
  close(holder);
}

TEST_F(MetricsClusterTest, UnusableMetricsAddressExitsOneWithTheReason) {
  const std::vector<std::vector<std::string>> commands = {
      {BrokerBinary(), "--listen=tcp://127.0.0.1:*", "--metrics-listen=nonsense"},
      {WorkerBinary(), "--broker=tcp://127.0.0.1:1", "--metrics-listen=nonsense"}};
  for (const std::vector<std::string>& argv : commands) {
    Subprocess process(argv);
    auto exit = process.Wait(kStartTimeout);
    ASSERT_TRUE(exit.has_value()) << argv[0];
    EXPECT_TRUE(exit->exited);
    EXPECT_EQ(exit->code, 1) << argv[0];
    EXPECT_NE(process.stderr_text().find("metrics address 'nonsense'"),
              std::string::npos)
        << process.stderr_text();
  }
}

}  // namespace
}  // namespace tq::testing
