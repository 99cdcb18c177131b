// A standby broker pair (issue 8 part 4) as real processes on loopback: a
// primary and a backup, each with its journal, workers and tq-client given
// both endpoints. The primary SIGKILLed (at once after a job is accepted,
// or half-way) leaves the job to the backup, which takes over when a client
// or worker asks and completes it exactly; a primary frozen until the
// backup took over is fenced (exit 75) when it wakes; without a fault the
// backup never serves. Multi-host partitions: tests/hosts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/curve.h"
#include "gtest/gtest.h"
#include "tests/integration/local_cluster.h"
#include "tests/integration/reference.h"
#include "tests/integration/subprocess.h"

namespace tq::testing {
namespace {

// A loopback TCP endpoint on a port the kernel picked as free just now
// (ephemeral, never fixed): the pair's brokers must each be told the
// other's address before either starts.
std::string FreeLoopbackEndpoint() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ADD_FAILURE() << "cannot find a free port";
  }
  close(fd);
  return absl::StrCat("tcp://127.0.0.1:", ntohs(address.sin_port));
}

class StandbyPairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "tq_pair_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    for (int i = 0; i < 2; ++i) {
      listen_[i] = FreeLoopbackEndpoint();
      pair_[i] = FreeLoopbackEndpoint();
    }
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  // Broker 0 is the primary, 1 the backup.
  Subprocess& StartBroker(int i) {
    std::vector<std::string> argv = {
        BrokerBinary(),
        "--listen=" + listen_[i],
        absl::StrCat("--journal=", root_, "/journal", i),
        i == 0 ? "--pair=primary" : "--pair=backup",
        "--pair-listen=" + pair_[i],
        "--pair-peer=" + pair_[1 - i],
        "--pair-timeout-ms=600"};
    argv.insert(argv.end(), kFastLiveness.begin(), kFastLiveness.end());
    if (curve_) {
      argv.insert(
          argv.end(),
          {absl::StrCat("--curve-key=", keys_, "/broker", i, ".key"),
           "--curve-clients=" + keys_ + "/clients",
           "--curve-workers=" + keys_ + "/workers",
           absl::StrCat("--pair-peer-key=", keys_, "/broker", 1 - i, ".pub")});
    }
    brokers_[i] = std::make_unique<Subprocess>(argv);
    EXPECT_TRUE(brokers_[i]->WaitForStdoutLine("listening on ",
                                               std::chrono::seconds(10)))
        << brokers_[i]->stderr_text();
    return *brokers_[i];
  }

  // Both brokers, the backup following the primary.
  void StartPair() {
    StartBroker(0);
    StartBroker(1);
    ASSERT_TRUE(brokers_[1]->WaitForStderrText("following the active's journal",
                                               std::chrono::seconds(20)))
        << brokers_[1]->stderr_text();
  }

  // The brokers as a --broker list, `first` first, and with CURVE the
  // keys of a client or worker (`role`: "clients" or "workers").
  std::vector<std::string> Brokers(int first, const std::string& role) const {
    std::vector<std::string> flags = {
        absl::StrCat("--broker=", listen_[first], ",", listen_[1 - first])};
    if (curve_) {
      flags.push_back(
          absl::StrCat("--curve-key=", keys_, "/", role, "/", role, ".key"));
      flags.push_back(absl::StrCat("--curve-server-key=", keys_, "/broker",
                                   first, ".pub,", keys_, "/broker", 1 - first,
                                   ".pub"));
    }
    return flags;
  }

  // CURVE everywhere: a key pair per broker, a client's and a worker's.
  void UseCurve() {
    curve_ = true;
    keys_ = root_ + "/keys";
    for (const std::string dir :
         {keys_, keys_ + "/clients", keys_ + "/workers"}) {
      std::filesystem::create_directory(dir);
    }
    for (const auto& [dir, name] :
         std::vector<std::pair<std::string, std::string>>{
             {keys_, "broker0"},
             {keys_, "broker1"},
             {keys_ + "/clients", "clients"},
             {keys_ + "/workers", "workers"}}) {
      absl::StatusOr<CurveKeyPair> key = NewCurveKeyPair();
      ASSERT_TRUE(key.ok()) << key.status();
      ASSERT_TRUE(WriteCurveKeyFiles(dir, name, *key).ok());
    }
  }

  void AddWorkers(int count) {
    for (int i = 0; i < count; ++i) {
      std::vector<std::string> argv = OneThreadWorker();
      std::vector<std::string> brokers = Brokers(i % 2, "workers");
      argv.insert(argv.begin(), brokers.begin(), brokers.end());
      argv.insert(argv.begin(), WorkerBinary());
      workers_.push_back(std::make_unique<Subprocess>(argv));
    }
  }

  // 3,000 items of 1 ms in chunks of 20: about 1.5 s on two workers.
  std::unique_ptr<Subprocess> StartJob(int first_broker) {
    std::vector<std::string> argv = {ClientBinary()};
    for (std::string& flag : Brokers(first_broker, "clients")) {
      argv.push_back(std::move(flag));
    }
    argv.insert(argv.end(), {"map", "spin", "1", "3000", "--param=us=1000",
                             "--chunk-size=20"});
    return std::make_unique<Subprocess>(argv);
  }

  static void ExpectExact(Subprocess& client) {
    auto status = client.Wait(kJobTimeout);
    ASSERT_TRUE(status.has_value()) << "client did not finish";
    EXPECT_TRUE(status->exited && status->code == 0)
        << "exit " << status->code << "; stderr:\n"
        << client.stderr_text();
    EXPECT_TRUE(SameOutput(client.stdout_text(), SpinReference(1, 3000)));
  }

  std::string root_;
  std::string listen_[2];
  std::string pair_[2];
  bool curve_ = false;
  std::string keys_;
  std::unique_ptr<Subprocess> brokers_[2];
  std::vector<std::unique_ptr<Subprocess>> workers_;
};

TEST_F(StandbyPairTest, WithoutAFaultTheBackupNeverServes) {
  StartPair();
  AddWorkers(2);              // one lists the backup first
  auto client = StartJob(1);  // so does the client: it is sent on
  ExpectExact(*client);
  const std::string backup = brokers_[1]->stderr_text();
  EXPECT_FALSE(absl::StrContains(backup, "-> active")) << backup;
  EXPECT_TRUE(absl::StrContains(brokers_[0]->stderr_text(),
                                "primary -> active (peer is backup"))
      << brokers_[0]->stderr_text();
}

// The job's record reaches the backup before its JobAccepted leaves the
// primary: killed right then, the job is not lost.
TEST_F(StandbyPairTest, AJobAcceptedIsOnTheBackupBeforeTheClientHearsOfIt) {
  StartPair();
  AddWorkers(2);
  auto client = StartJob(0);
  ASSERT_TRUE(client->WaitForStderrText("to read it from another process",
                                        std::chrono::seconds(30)))
      << client->stderr_text();
  brokers_[0]->Signal(SIGKILL);
  ExpectExact(*client);
  EXPECT_TRUE(
      brokers_[1]->WaitForStderrText("resumed 1 jobs", std::chrono::seconds(1)))
      << brokers_[1]->stderr_text();
}

// While the passive follows, the primary answers a submit only once the
// passive acknowledged the job's record: with the passive frozen, the
// JobAccepted waits until the primary gives up on it (the pair timeout)
// and serves alone.
TEST_F(StandbyPairTest, AFrozenPassiveHoldsTheAcceptUntilThePrimaryGoesAlone) {
  StartPair();
  AddWorkers(1);
  brokers_[1]->Signal(SIGSTOP);
  auto client = StartJob(0);
  ASSERT_TRUE(client->WaitForStderrText("to read it from another process",
                                        std::chrono::seconds(30)))
      << client->stderr_text();
  // Written before the accept left: read by now, or within moments.
  EXPECT_TRUE(brokers_[0]->WaitForStderrText("serving alone",
                                             std::chrono::milliseconds(200)))
      << "the accept did not wait for the passive:\n"
      << brokers_[0]->stderr_text();
  brokers_[1]->Signal(SIGCONT);
  ExpectExact(*client);
}

TEST_F(StandbyPairTest, TheBackupTakesOverAPrimaryKilledHalfWay) {
  StartPair();
  AddWorkers(2);
  auto client = StartJob(0);
  ASSERT_TRUE(client->WaitForStdoutBytes(20'000, std::chrono::seconds(30)))
      << client->stderr_text();
  brokers_[0]->Signal(SIGKILL);
  brokers_[0]->Wait(std::chrono::seconds(10));
  ExpectExact(*client);
  const std::string backup = brokers_[1]->stderr_text();
  EXPECT_TRUE(absl::StrContains(backup, "passive -> active (peer silent for"))
      << backup;
  EXPECT_TRUE(absl::StrContains(
      backup, "a client or worker that lost it asked; epoch 2"))
      << backup;
  // The primary started again follows the backup, now active.
  Subprocess& primary = StartBroker(0);
  EXPECT_TRUE(primary.WaitForStderrText(
      "primary -> passive (peer is active, epoch 2)", std::chrono::seconds(20)))
      << primary.stderr_text();
  EXPECT_TRUE(primary.WaitForStderrText("following the active's journal",
                                        std::chrono::seconds(20)))
      << primary.stderr_text();
}

// Frozen (SIGSTOP) until the backup took over, the primary wakes as a
// second active; the lower epoch, its own, fences it: it exits 75.
TEST_F(StandbyPairTest, AFrozenPrimaryIsFencedWhenItWakes) {
  StartPair();
  AddWorkers(2);
  auto client = StartJob(0);
  ASSERT_TRUE(client->WaitForStdoutBytes(20'000, std::chrono::seconds(30)))
      << client->stderr_text();
  brokers_[0]->Signal(SIGSTOP);
  ASSERT_TRUE(brokers_[1]->WaitForStderrText("passive -> active",
                                             std::chrono::seconds(30)))
      << brokers_[1]->stderr_text();
  brokers_[0]->Signal(SIGCONT);
  auto fenced = brokers_[0]->Wait(std::chrono::seconds(20));
  ASSERT_TRUE(fenced.has_value()) << brokers_[0]->stderr_text();
  EXPECT_TRUE(fenced->exited && fenced->code == 75)
      << "exit " << fenced->code << "; stderr:\n"
      << brokers_[0]->stderr_text();
  EXPECT_TRUE(absl::StrContains(brokers_[0]->stderr_text(), "fenced"))
      << brokers_[0]->stderr_text();
  ExpectExact(*client);
  EXPECT_TRUE(absl::StrContains(brokers_[1]->stderr_text(), "epoch 2"));
}

// With CURVE the pair link is CURVE too (each broker knows the other's
// key), and clients and workers hold one server key per broker.
TEST_F(StandbyPairTest, UnderCurveTheBackupTakesOverToo) {
  UseCurve();
  StartPair();
  AddWorkers(2);
  auto client = StartJob(1);
  ASSERT_TRUE(client->WaitForStdoutBytes(20'000, std::chrono::seconds(30)))
      << client->stderr_text();
  brokers_[0]->Signal(SIGKILL);
  ExpectExact(*client);
  EXPECT_TRUE(
      absl::StrContains(brokers_[1]->stderr_text(), "passive -> active"))
      << brokers_[1]->stderr_text();
}

}  // namespace
}  // namespace tq::testing
