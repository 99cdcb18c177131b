// A real broker and real workers over TCP on loopback, driven by the real
// tq-client binary: results byte-identical to an independent reference, a
// worker SIGKILLed mid-job, two clients at once, graceful stops.
#include <signal.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/local_cluster.h"
#include "tests/integration/reference.h"

namespace tq::testing {
namespace {

// Runs a client to completion and returns its stdout; fails the test on a
// non-zero exit or a timeout.
std::string RunClient(LocalCluster& cluster, std::vector<std::string> args,
                      std::string stdin_data = "") {
  auto client = cluster.StartClient(args, std::move(stdin_data));
  auto status = client->Wait(kJobTimeout);
  EXPECT_TRUE(status.has_value()) << "client did not finish";
  if (status) {
    EXPECT_TRUE(status->exited && status->code == 0)
        << "exit " << status->code << "; stderr:\n" << client->stderr_text();
  }
  return client->stdout_text();
}

class ClusterTest : public ::testing::Test {
 protected:
  // Short liveness settings so a killed worker is noticed within ~1 s, and
  // a vanished client's jobs wait 1 s (not 10 minutes) for it to attach.
  LocalCluster cluster_{{"--heartbeat-interval-ms=200", "--heartbeat-timeout-ms=1000",
                         "--client-grace-ms=1000", "--verbose"}};

  void StartWorkers(int n) {
    for (int i = 0; i < n; ++i) {
      cluster_.AddWorker({"--threads=1", "--heartbeat-interval-ms=200",
                          "--heartbeat-timeout-ms=1000"});
    }
  }
};

TEST_F(ClusterTest, PrimesInEveryFormatMatchReferenceByteForByte) {
  StartWorkers(3);
  // An odd chunk size: chunks end mid-byte, so bitmap concatenation and
  // ordering across chunks from different workers are both exercised.
  const PrimesReference ref = ReferencePrimes(1, 60000);
  const std::vector<std::string> job = {"map", "primes", "1", "60000",
                                        "--chunk-size=777"};
  auto with = [&](std::string format) {
    auto args = job;
    args.push_back("--format=" + format);
    return RunClient(cluster_, args);
  };
  EXPECT_TRUE(SameOutput(with("tsv"), ref.tsv));
  EXPECT_TRUE(SameOutput(with("json"), ref.json));
  EXPECT_TRUE(SameOutput(with("true"), ref.true_only));
  EXPECT_EQ(with("count"), ref.count);
  EXPECT_TRUE(SameOutput(with("bitmap"), ref.bitmap));
  EXPECT_EQ(RunClient(cluster_, {"map", "primes", "1", "60000", "--unordered",
                                 "--format=count"}),
            ref.count);
}

TEST_F(ClusterTest, ListInputFromStdinKeepsInputOrder) {
  StartWorkers(2);
  std::string input, expected;
  for (uint64_t n : {97ull, 1ull, 18446744073709551557ull, 4ull, 97ull, 0ull}) {
    input += std::to_string(n) + "\n";
    bool prime = n == 97 || n == 18446744073709551557ull;
    expected += std::to_string(n) + "\t" + (prime ? "true" : "false") + "\n";
  }
  EXPECT_EQ(RunClient(cluster_, {"map", "primes", "--input=-", "--chunk-size=2"},
                      input),
            expected);
}

TEST_F(ClusterTest, FactorMatchesReference) {
  StartWorkers(3);
  std::string expected;
  for (uint64_t n = 1; n <= 3000; ++n) {
    expected += std::to_string(n) + "\t";
    auto factors = FactorByTrialDivision(n);
    for (size_t i = 0; i < factors.size(); ++i) {
      expected += (i ? " " : "") + std::to_string(factors[i]);
    }
    expected += "\n";
  }
  EXPECT_TRUE(SameOutput(
      RunClient(cluster_, {"map", "factor", "1", "3000", "--chunk-size=64"}), expected));
}

TEST_F(ClusterTest, JobCompletesExactlyWhenAWorkerIsKilledMidJob) {
  StartWorkers(3);
  // ~1.5 s of CPU per worker: long enough that every worker holds chunks
  // when one is killed.
  auto client = cluster_.StartClient(
      {"map", "spin", "1", "1500", "--param=us=3000", "--chunk-size=10"});
  // Ordered output has started: the job is under way on all workers.
  ASSERT_TRUE(client->WaitForStdoutBytes(1, std::chrono::seconds(30)))
      << client->stderr_text();
  cluster_.worker(0).Signal(SIGKILL);
  auto status = client->Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0) << client->stderr_text();
  EXPECT_TRUE(SameOutput(client->stdout_text(), SpinReference(1, 1500)));
  // The broker saw the loss (and so requeued what that worker held).
  EXPECT_TRUE(absl::StrContains(cluster_.broker().stderr_text(),
                                absl::StrCat(":", cluster_.worker(0).pid(), " gone: ")))
      << cluster_.broker().stderr_text();
}

TEST_F(ClusterTest, TwoClientsRunAtTheSameTime) {
  StartWorkers(3);
  auto a = cluster_.StartClient(
      {"map", "spin", "1", "400", "--param=us=2000", "--chunk-size=8"});
  auto b = cluster_.StartClient({"map", "primes", "1", "20000"});
  auto sa = a->Wait(kJobTimeout), sb = b->Wait(kJobTimeout);
  ASSERT_TRUE(sa && sb);
  EXPECT_EQ(sa->code, 0) << a->stderr_text();
  EXPECT_EQ(sb->code, 0) << b->stderr_text();
  EXPECT_TRUE(SameOutput(a->stdout_text(), SpinReference(1, 400)));
  EXPECT_TRUE(SameOutput(b->stdout_text(), ReferencePrimes(1, 20000).tsv));
}

TEST_F(ClusterTest, SigtermedWorkerDrainsExitsZeroAndJobCompletes) {
  StartWorkers(2);
  auto client = cluster_.StartClient(
      {"map", "spin", "1", "600", "--param=us=2000", "--chunk-size=10"});
  ASSERT_TRUE(client->WaitForStdoutBytes(1, std::chrono::seconds(30)));
  cluster_.worker(0).Signal(SIGTERM);
  auto worker_status = cluster_.worker(0).Wait(std::chrono::seconds(20));
  ASSERT_TRUE(worker_status.has_value()) << "worker did not exit after SIGTERM";
  EXPECT_TRUE(worker_status->exited && worker_status->code == 0);
  auto status = client->Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0) << client->stderr_text();
  EXPECT_TRUE(SameOutput(client->stdout_text(), SpinReference(1, 600)));
}

TEST_F(ClusterTest, VanishedClientsJobIsCancelledAfterTheGracePeriod) {
  StartWorkers(2);
  auto client = cluster_.StartClient(
      {"map", "spin", "1", "100000", "--param=us=1000", "--chunk-size=10"});
  ASSERT_TRUE(client->WaitForStdoutBytes(1, std::chrono::seconds(30)));
  client->Signal(SIGKILL);
  // Noticed by the lost connection or, at worst, the 1 s heartbeat timeout;
  // then no client attaches within the 1 s grace.
  EXPECT_TRUE(cluster_.broker().WaitForStderrText("job 1 detached",
                                                  std::chrono::seconds(20)))
      << cluster_.broker().stderr_text();
  EXPECT_TRUE(cluster_.broker().WaitForStderrText("job 1 ended: CANCELLED",
                                                  std::chrono::seconds(20)))
      << cluster_.broker().stderr_text();
  // The workers are free again: a new job runs to completion.
  EXPECT_EQ(RunClient(cluster_, {"map", "primes", "1", "1000", "--format=count"}),
            "168\n");
}

TEST_F(ClusterTest, WorkersFindARestartedBroker) {
  StartWorkers(2);
  EXPECT_EQ(RunClient(cluster_, {"map", "primes", "1", "1000", "--format=count"}),
            "168\n");
  cluster_.RestartBroker();
  // Only the old workers exist; the job completes once they re-register.
  EXPECT_EQ(RunClient(cluster_, {"map", "primes", "1", "100000", "--format=count"}),
            "9592\n");
}

TEST_F(ClusterTest, BrokerExitsZeroOnSigterm) {
  StartWorkers(1);
  EXPECT_EQ(RunClient(cluster_, {"map", "primes", "1", "100", "--format=count"}),
            "25\n");
  cluster_.broker().Signal(SIGTERM);
  auto status = cluster_.broker().Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0);
}

TEST_F(ClusterTest, UnknownTaskIsAnErrorListingTheTasks) {
  StartWorkers(1);
  auto client = cluster_.StartClient({"map", "nosuchtask", "1", "10"});
  auto status = client->Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(status->code, 0);
  EXPECT_EQ(client->stdout_text(), "");
  for (const char* task : {"nosuchtask", "primes", "factor", "spin", "noop"}) {
    EXPECT_NE(client->stderr_text().find(task), std::string::npos) << task;
  }
}

}  // namespace
}  // namespace tq::testing
