// Jobs outlive their broker (issue 8): a broker with --journal is SIGKILLed
// half-way through a job and restarted on the same port and journal; the
// real tq-client reconnects, attaches and completes the job, its output
// byte-identical to a reference, no line twice, none missing.
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/local_cluster.h"
#include "tests/integration/reference.h"

namespace tq::testing {
namespace {

class BrokerRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "tq_restart_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
  std::string root_;
};

TEST_F(BrokerRestartTest, AJobSurvivesItsBrokerKilledHalfWay) {
  std::vector<std::string> flags = kFastLiveness;
  flags.insert(flags.end(), {"--journal=" + root_ + "/journal", "--verbose"});
  LocalCluster cluster(flags);
  ASSERT_FALSE(cluster.endpoint().empty());
  for (int i = 0; i < 2; ++i) cluster.AddWorker(OneThreadWorker());
  // 3,000 items of 1 ms on 2 workers: about 1.5 s of work, in 150 chunks.
  auto client = cluster.StartClient({"map", "spin", "1", "3000",
                                     "--param=us=1000", "--chunk-size=20"});
  // Half-way: some output is out, most is not.
  ASSERT_TRUE(client->WaitForStdoutBytes(20'000, std::chrono::seconds(30)))
      << client->stderr_text();
  cluster.RestartBroker();
  auto status = client->Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value()) << "client did not finish";
  EXPECT_TRUE(status->exited && status->code == 0)
      << "exit " << status->code << "; stderr:\n" << client->stderr_text();
  EXPECT_TRUE(SameOutput(client->stdout_text(), SpinReference(1, 3000)));
  EXPECT_TRUE(absl::StrContains(cluster.broker().stderr_text(), "resumed 1 jobs"))
      << cluster.broker().stderr_text();
}

// Streamed input is journaled too: a job over a file of numbers, the client
// still sending it, survives its broker killed half-way.
TEST_F(BrokerRestartTest, AListJobSurvivesItsBrokerKilledHalfWay) {
  std::vector<std::string> flags = kFastLiveness;
  flags.insert(flags.end(), {"--journal=" + root_ + "/journal"});
  LocalCluster cluster(flags);
  ASSERT_FALSE(cluster.endpoint().empty());
  for (int i = 0; i < 2; ++i) cluster.AddWorker(OneThreadWorker());
  const std::string input = root_ + "/numbers.txt";
  {
    std::ofstream numbers(input);
    for (int n = 1; n <= 3000; ++n) numbers << n << "\n";
  }
  auto client = cluster.StartClient({"map", "spin", "--input=" + input,
                                     "--param=us=1000", "--chunk-size=20"});
  ASSERT_TRUE(client->WaitForStdoutBytes(20'000, std::chrono::seconds(30)))
      << client->stderr_text();
  cluster.RestartBroker();
  auto status = client->Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value()) << "client did not finish";
  EXPECT_TRUE(status->exited && status->code == 0)
      << "exit " << status->code << "; stderr:\n" << client->stderr_text();
  EXPECT_TRUE(SameOutput(client->stdout_text(), SpinReference(1, 3000)));
  EXPECT_TRUE(absl::StrContains(cluster.broker().stderr_text(), "resumed 1 jobs"))
      << cluster.broker().stderr_text();
}

// Without a journal nothing is kept: the client says the job was lost
// (exit 3), and output is never passed off as complete.
TEST_F(BrokerRestartTest, WithoutAJournalTheJobIsLostAndSaysSo) {
  LocalCluster cluster(kFastLiveness);
  ASSERT_FALSE(cluster.endpoint().empty());
  cluster.AddWorker(OneThreadWorker());
  auto client = cluster.StartClient({"map", "spin", "1", "3000",
                                     "--param=us=1000", "--chunk-size=20"});
  ASSERT_TRUE(client->WaitForStdoutBytes(1, std::chrono::seconds(30)));
  cluster.RestartBroker();
  auto status = client->Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value()) << "client did not finish";
  EXPECT_EQ(status->code, 3) << client->stderr_text();
  EXPECT_TRUE(absl::StrContains(client->stderr_text(), "output is incomplete"))
      << client->stderr_text();
}

// A broker that does not come back: the client says it is reconnecting,
// keeps trying for --resume-timeout, then exits 3 saying how long it waited.
TEST_F(BrokerRestartTest, TheClientGivesUpOnALostBrokerAfterItsResumeTimeout) {
  LocalCluster cluster(kFastLiveness);
  ASSERT_FALSE(cluster.endpoint().empty());
  cluster.AddWorker(OneThreadWorker());
  auto client = cluster.StartClient({"map", "spin", "1", "3000",
                                     "--param=us=1000", "--chunk-size=20",
                                     "--resume-timeout=2.5"});
  ASSERT_TRUE(client->WaitForStdoutBytes(1, std::chrono::seconds(30)));
  cluster.broker().Signal(SIGKILL);
  auto status = client->Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value()) << "client did not finish";
  EXPECT_EQ(status->code, 3) << client->stderr_text();
  EXPECT_TRUE(absl::StrContains(client->stderr_text(), "within 2.5s"))
      << client->stderr_text();
  // It said what it was waiting for while it waited.
  EXPECT_TRUE(absl::StrContains(client->stderr_text(),
                                "tq-client: lost the broker ("))
      << client->stderr_text();
  EXPECT_TRUE(absl::StrContains(client->stderr_text(), "output is incomplete"))
      << client->stderr_text();
}

}  // namespace
}  // namespace tq::testing
