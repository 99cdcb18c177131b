// CurveZMQ end to end: real tq-broker, tq-worker and tq-client processes over
// TCP loopback with keys made by tq-keygen. The happy path runs a job; every
// wrong set-up (unknown key, wrong role, plaintext peer, wrong server key)
// must end in a clear error within seconds, never a hang.
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/local_cluster.h"

namespace tq::testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

// Every refusal must be reported well within this.
constexpr auto kRefusalDeadline = std::chrono::seconds(15);

class SecureClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/tq-security-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    keys_ = pattern;
    MakeKey("broker", keys_);
    MakeKey("alice", keys_ + "/clients");
    MakeKey("w1", keys_ + "/workers");
    MakeKey("eve", keys_ + "/strangers");
  }
  void TearDown() override { std::filesystem::remove_all(keys_); }

  void MakeKey(const std::string& name, const std::string& dir) {
    Subprocess keygen({TQ_KEYGEN_BIN, name, "--out-dir=" + dir});
    auto status = keygen.Wait(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value());
    ASSERT_EQ(status->code, 0) << keygen.stderr_text();
  }

  std::vector<std::string> SecureBrokerFlags() const {
    return {"--curve-key=" + keys_ + "/broker.key",
            "--curve-clients=" + keys_ + "/clients",
            "--curve-workers=" + keys_ + "/workers", "--verbose"};
  }
  std::vector<std::string> KeyFlags(const std::string& key,
                                    const std::string& server_pub) const {
    return {"--curve-key=" + keys_ + "/" + key,
            "--curve-server-key=" + keys_ + "/" + server_pub};
  }
  // A client run of a small job with the given flags; the connect timeout is
  // long on purpose: a refusal must not wait for it.
  std::unique_ptr<Subprocess> RunClient(LocalCluster& cluster,
                                        std::vector<std::string> flags) {
    flags.push_back("--connect-timeout=30");
    for (const char* arg : {"map", "primes", "1", "1000", "--format=count"}) {
      flags.push_back(arg);
    }
    return cluster.StartClient(flags);
  }

  std::string keys_;
};

TEST_F(SecureClusterTest, JobCompletesWithTheRightKeys) {
  LocalCluster cluster(SecureBrokerFlags());
  std::vector<std::string> worker_flags = KeyFlags("workers/w1.key", "broker.pub");
  worker_flags.push_back("--threads=1");
  cluster.AddWorker(worker_flags);
  // The client takes its keys from the environment.
  Subprocess client({ClientBinary(), "--broker=" + cluster.endpoint(), "map",
                     "primes", "1", "1000", "--format=count"},
                    {"TQ_CURVE_KEY=" + keys_ + "/clients/alice.key",
                     "TQ_CURVE_SERVER_KEY=" + keys_ + "/broker.pub"});
  auto status = client.Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0) << client.stderr_text();
  EXPECT_EQ(client.stdout_text(), "168\n");
}

TEST_F(SecureClusterTest, UnknownClientKeyIsRefusedAtOnce) {
  LocalCluster cluster(SecureBrokerFlags());
  auto client = RunClient(cluster, KeyFlags("strangers/eve.key", "broker.pub"));
  auto status = client->Wait(kRefusalDeadline);
  ASSERT_TRUE(status.has_value()) << "client hung";
  EXPECT_EQ(status->code, 3);
  EXPECT_THAT(client->stderr_text(), HasSubstr("refused our CURVE key"));
  EXPECT_TRUE(cluster.broker().WaitForStderrText("is not allowed", kRefusalDeadline));
}

TEST_F(SecureClusterTest, WorkerKeyCannotActAsClient) {
  LocalCluster cluster(SecureBrokerFlags());
  auto client = RunClient(cluster, KeyFlags("workers/w1.key", "broker.pub"));
  auto status = client->Wait(kRefusalDeadline);
  ASSERT_TRUE(status.has_value()) << "client hung";
  EXPECT_NE(status->code, 0);
  EXPECT_THAT(client->stderr_text(),
              HasSubstr("CURVE key 'worker:w1' may connect as a worker only, "
                        "not as a client"));
}

TEST_F(SecureClusterTest, ClientKeyCannotRegisterAsWorker) {
  LocalCluster cluster(SecureBrokerFlags());
  std::vector<std::string> flags = KeyFlags("clients/alice.key", "broker.pub");
  flags.push_back("--threads=1");
  Subprocess& worker = cluster.AddWorker(flags);
  auto status = worker.Wait(kRefusalDeadline);
  ASSERT_TRUE(status.has_value()) << "worker was not refused";
  EXPECT_NE(status->code, 0);
  EXPECT_THAT(worker.stderr_text(),
              HasSubstr("may connect as a client only, not as a worker"));
  // It was never registered: the broker logged the refusal, not a worker.
  EXPECT_TRUE(cluster.broker().WaitForStderrText("refused a message",
                                                 kRefusalDeadline));
  EXPECT_THAT(cluster.broker().stderr_text(),
              ::testing::Not(HasSubstr("threads, credit")));
}

TEST_F(SecureClusterTest, PlaintextClientIsToldTheBrokerRequiresKeys) {
  LocalCluster cluster(SecureBrokerFlags());
  auto client = RunClient(cluster, {});
  auto status = client->Wait(kRefusalDeadline);
  ASSERT_TRUE(status.has_value()) << "client hung";
  EXPECT_EQ(status->code, 3);
  EXPECT_THAT(client->stderr_text(),
              AnyOf(HasSubstr("the broker requires CURVE keys"),
                    HasSubstr("the broker may require CURVE keys")));
}

TEST_F(SecureClusterTest, PlaintextWorkerLogsWhyAndKeepsRetrying) {
  LocalCluster cluster(SecureBrokerFlags());
  Subprocess& worker = cluster.AddWorker({"--threads=1"});
  EXPECT_TRUE(worker.WaitForStderrText("require", kRefusalDeadline))
      << worker.stderr_text();
  EXPECT_THAT(worker.stderr_text(), HasSubstr("CURVE keys"));
  EXPECT_TRUE(worker.WaitForStderrText("retrying", kRefusalDeadline));
}

TEST_F(SecureClusterTest, WrongServerKeyIsAClearErrorWithinSeconds) {
  LocalCluster cluster(SecureBrokerFlags());
  auto client = RunClient(cluster, KeyFlags("clients/alice.key", "strangers/eve.pub"));
  auto status = client->Wait(kRefusalDeadline);
  ASSERT_TRUE(status.has_value()) << "client hung";
  EXPECT_EQ(status->code, 3);
  EXPECT_THAT(client->stderr_text(), HasSubstr("--curve-server-key"));
}

TEST_F(SecureClusterTest, SecureClientIsToldThePlaintextBrokerDoesNotUseCurve) {
  LocalCluster cluster;
  auto client = RunClient(cluster, KeyFlags("clients/alice.key", "broker.pub"));
  auto status = client->Wait(kRefusalDeadline);
  ASSERT_TRUE(status.has_value()) << "client hung";
  EXPECT_EQ(status->code, 3);
  // Which side sees the mechanism mismatch first is a race; if the broker
  // does, it just closes the connection.
  EXPECT_THAT(client->stderr_text(),
              AnyOf(HasSubstr("we use CURVE and the broker does not"),
                    HasSubstr("does the broker use CURVE?")));
}

TEST_F(SecureClusterTest, BrokerRefusesToStartWithAMissingAllowlist) {
  Subprocess broker({BrokerBinary(), "--listen=tcp://127.0.0.1:*",
                     "--curve-key=" + keys_ + "/broker.key",
                     "--curve-clients=" + keys_ + "/no-such-dir"});
  auto status = broker.Wait(kRefusalDeadline);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 1);
  EXPECT_THAT(broker.stderr_text(), HasSubstr("no-such-dir"));
}

}  // namespace
}  // namespace tq::testing
