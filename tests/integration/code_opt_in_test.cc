// Running shipped code is an explicit opt-in on the broker and the worker:
// the real binaries refuse unsafe or broken set-ups at start, clearly, and a
// worker that opts in announces its Python.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/local_cluster.h"

namespace tq::testing {
namespace {

using ::testing::HasSubstr;

constexpr auto kExitTimeout = std::chrono::seconds(30);

TEST(CodeOptInTest, ABrokerBeyondLoopbackRefusesCodeWithoutAKeyOrConsent) {
  Subprocess broker({BrokerBinary(), "--listen=tcp://0.0.0.0:0",
                     "--allow-code=python"});
  auto status = broker.Wait(kExitTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 1);
  EXPECT_THAT(broker.stderr_text(), HasSubstr("--curve-code-clients"));
  EXPECT_THAT(broker.stderr_text(), HasSubstr("--allow-code-insecure"));
}

TEST(CodeOptInTest, InsecureConsentStartsTheBrokerWithAWarning) {
  Subprocess broker({BrokerBinary(), "--listen=tcp://0.0.0.0:0",
                     "--allow-code=python", "--allow-code-insecure"});
  EXPECT_TRUE(broker.WaitForStdoutLine("listening on", kExitTimeout).has_value())
      << broker.stderr_text();
  EXPECT_TRUE(broker.WaitForStderrText("WARNING: --allow-code-insecure",
                                       kExitTimeout));
}

TEST(CodeOptInTest, ALoopbackBrokerAllowsCodeWithoutKeys) {
  LocalCluster cluster({"--allow-code=python"});
  EXPECT_FALSE(cluster.endpoint().empty());
}

TEST(CodeOptInTest, AWorkerRefusesAnUnknownRuntimeOrABrokenInterpreter) {
  LocalCluster cluster;
  Subprocess ruby({WorkerBinary(), "--broker=" + cluster.endpoint(),
                   "--allow-code=ruby"});
  auto status = ruby.Wait(kExitTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 1);
  EXPECT_THAT(ruby.stderr_text(), HasSubstr("unknown runtime 'ruby'"));

  Subprocess missing({WorkerBinary(), "--broker=" + cluster.endpoint(),
                      "--allow-code=python", "--python=/nonexistent/python3"});
  status = missing.Wait(kExitTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(status->code, 0);
  EXPECT_THAT(missing.stderr_text(), HasSubstr("/nonexistent/python3"));
}

TEST(CodeOptInTest, AWorkerThatOptsInAnnouncesItsPython) {
  LocalCluster cluster({"--allow-code=python"});
  cluster.AddWorker(
      {"--threads=1", "--allow-code=python", "--python=/usr/bin/python3"},
      {std::string("PYTHONPATH=") + TQ_PYTHON_SOURCE_DIR});
  // The broker's status lists the worker's runtime once it has said Hello.
  std::string json;
  for (auto deadline = Clock::now() + kExitTimeout;
       json.find("\"runtimes\"") == std::string::npos && Clock::now() < deadline;) {
    auto client = cluster.StartClient({"status", "--json"});
    auto done = client->Wait(kExitTimeout);
    ASSERT_TRUE(done.has_value());
    json = client->stdout_text();
  }
  EXPECT_THAT(json, HasSubstr("\"name\":\"python\""));
  EXPECT_THAT(json, HasSubstr("\"version\":\"3.11\""));
  EXPECT_THAT(json, HasSubstr("cloudpickle"));
}

}  // namespace
}  // namespace tq::testing
