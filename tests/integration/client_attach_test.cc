// tq-client attach (issue 8 part 3), real processes over TCP: a client
// writing --output=FILE is SIGKILLed half-way, and `tq-client attach JOB
// --output=FILE` with the token it printed continues that file exactly
// (no line twice, none missing), also across a broker restart in between;
// the count form prints the whole job's count; a wrong token or job id is a
// clear error.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/local_cluster.h"
#include "tests/integration/reference.h"

namespace tq::testing {
namespace {

// The same as JSON Lines.
std::string SpinJsonReference(uint64_t lo, uint64_t hi) {
  std::string out;
  for (uint64_t n = lo; n <= hi; ++n) {
    out += absl::StrCat("{\"n\":", n, ",\"result\":", n, "}\n");
  }
  return out;
}

// The job id and token in what tq-client printed at submit.
struct Printed {
  std::string job;
  std::string token;
};
Printed JobAndToken(const std::string& stderr_text) {
  std::smatch match;
  static const std::regex kLine("tq-client attach ([0-9]+) --token=([0-9a-f]{32})");
  if (!std::regex_search(stderr_text, match, kLine)) return {};
  return {match[1], match[2]};
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Polls `done` until it holds or `timeout` passes.
template <typename Condition>
bool WaitUntil(Condition done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class ClientAttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "tq_attach_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    output_ = root_ + "/out.tsv";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  // Starts `map spin 1 3000` (1 ms items, about 1.5 s on two workers) into
  // output_ (in `format`), waits until a third of it is in the file,
  // SIGKILLs the client; returns what it printed.
  Printed StartAndKillAClient(LocalCluster& cluster,
                              const std::string& format = "tsv") {
    auto client = cluster.StartClient({"map", "spin", "1", "3000",
                                       "--param=us=1000", "--chunk-size=20",
                                       "--format=" + format,
                                       "--output=" + output_});
    const bool third = WaitUntil(
        [&] { return FileSize(output_) >= SpinReference(1, 1000).size(); },
        std::chrono::seconds(30));
    EXPECT_TRUE(WaitForAcknowledged(cluster, 1));
    client->Signal(SIGKILL);
    client->Wait(kJobTimeout);
    EXPECT_TRUE(third) << client->stderr_text();
    Printed printed = JobAndToken(client->stderr_text());
    EXPECT_FALSE(printed.token.empty()) << client->stderr_text();
    return printed;
  }
  // Waits until the broker says the job's client acknowledged at least
  // `items` items (tq-client jobs --json).
  bool WaitForAcknowledged(LocalCluster& cluster, uint64_t items) {
    static const std::regex kAcked("\"items_acknowledged\":\"([0-9]+)\"");
    return WaitUntil(
        [&] {
          auto jobs = cluster.StartClient({"jobs", "--json"});
          auto status = jobs->Wait(kJobTimeout);
          std::smatch match;
          const std::string out = jobs->stdout_text();
          return status.has_value() && std::regex_search(out, match, kAcked) &&
                 std::stoull(match[1]) >= items;
        },
        std::chrono::seconds(30));
  }
  // Waits until the broker lists no job `job` (tq-client jobs --json).
  bool WaitForJobGone(LocalCluster& cluster, const std::string& job) {
    const std::string listed = "\"job_id\":\"" + job + "\"";
    return WaitUntil(
        [&] {
          auto jobs = cluster.StartClient({"jobs", "--json"});
          auto status = jobs->Wait(kJobTimeout);
          return status.has_value() && status->exited && status->code == 0 &&
                 jobs->stdout_text().find(listed) == std::string::npos;
        },
        std::chrono::seconds(30));
  }
  // Runs `tq-client attach` with `args` to the end.
  struct Outcome {
    int code = -1;
    std::string out;
    std::string err;
  };
  Outcome Attach(LocalCluster& cluster, std::vector<std::string> args) {
    args.insert(args.begin(), "attach");
    auto client = cluster.StartClient(args);
    auto status = client->Wait(kJobTimeout);
    Outcome outcome;
    if (status.has_value() && status->exited) outcome.code = status->code;
    outcome.out = client->stdout_text();
    outcome.err = client->stderr_text();
    return outcome;
  }

  std::string root_;
  std::string output_;
};

TEST_F(ClientAttachTest, AttachContinuesTheFileOfAClientKilledHalfWay) {
  LocalCluster cluster(kFastLiveness);
  ASSERT_FALSE(cluster.endpoint().empty());
  for (int i = 0; i < 2; ++i) cluster.AddWorker(OneThreadWorker());
  // JSON: attach takes the form from the mark of the last acknowledgement.
  const Printed printed = StartAndKillAClient(cluster, "json");
  ASSERT_FALSE(printed.job.empty());
  Outcome attached = Attach(cluster, {printed.job, "--token=" + printed.token,
                                      "--output=" + output_});
  ASSERT_EQ(attached.code, 0) << attached.err;
  EXPECT_EQ(attached.out, "");
  EXPECT_TRUE(absl::StrContains(attached.err, "handled by its earlier client"))
      << attached.err;
  EXPECT_TRUE(SameOutput(ReadFile(output_), SpinJsonReference(1, 3000)));
  // The job is done and acknowledged: nothing is left to attach to. The
  // attach's last acknowledgement may still be on its way to the broker
  // when it exits (another connection's attach can overtake it), so first
  // wait for the broker to drop the job.
  EXPECT_TRUE(WaitForJobGone(cluster, printed.job));
  Outcome again = Attach(cluster, {printed.job, "--token=" + printed.token});
  EXPECT_EQ(again.code, 1) << again.err;
  EXPECT_TRUE(absl::StrContains(again.err, "no job " + printed.job))
      << again.err;
}

TEST_F(ClientAttachTest, AttachAfterTheClientAndTheBrokerBothDied) {
  LocalCluster cluster(
      {"--heartbeat-interval-ms=200", "--heartbeat-timeout-ms=1000",
       "--journal=" + root_ + "/journal"});
  ASSERT_FALSE(cluster.endpoint().empty());
  for (int i = 0; i < 2; ++i) cluster.AddWorker(OneThreadWorker());
  const Printed printed = StartAndKillAClient(cluster);
  ASSERT_FALSE(printed.job.empty());
  cluster.RestartBroker();
  // The form is given: the acknowledgements, and their mark, reach the
  // journal up to 100 ms late, and a broker killed before has none of them
  // (the file then starts afresh, exact all the same).
  Outcome attached = Attach(cluster, {printed.job, "--token=" + printed.token,
                                      "--output=" + output_, "--format=tsv"});
  ASSERT_EQ(attached.code, 0) << attached.err;
  EXPECT_TRUE(SameOutput(ReadFile(output_), SpinReference(1, 3000)));
}

TEST_F(ClientAttachTest, TheCountFormPrintsTheWholeJobsCount) {
  LocalCluster cluster(kFastLiveness);
  ASSERT_FALSE(cluster.endpoint().empty());
  cluster.AddWorker(OneThreadWorker());
  // 3*10^7 numbers near 10^18 in 100 chunks: about 3 s on one thread.
  const std::string lo = "1000000000000000000", hi = "1000000000029999999";
  auto client = cluster.StartClient(
      {"map", "primes", lo, hi, "--format=count", "--chunk-size=300000"});
  ASSERT_TRUE(client->WaitForStderrText("--token=", std::chrono::seconds(30)));
  // A third done and acknowledged, then the client dies.
  ASSERT_TRUE(WaitForAcknowledged(cluster, 10'000'000));
  client->Signal(SIGKILL);
  client->Wait(kJobTimeout);
  const Printed printed = JobAndToken(client->stderr_text());
  ASSERT_FALSE(printed.job.empty()) << client->stderr_text();
  Outcome attached = Attach(cluster, {printed.job, "--token=" + printed.token});
  ASSERT_EQ(attached.code, 0) << attached.err;
  EXPECT_TRUE(absl::StrContains(attached.err, "handled by its earlier client"))
      << attached.err;
  // The reference: the same count by an embedded cluster in one run.
  Subprocess reference({ClientBinary(), "map", "primes", lo, hi, "--format=count"});
  auto status = reference.Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value() && status->code == 0) << reference.stderr_text();
  EXPECT_EQ(attached.out, reference.stdout_text());
}

TEST_F(ClientAttachTest, AWrongTokenOrJobIsAClearError) {
  LocalCluster cluster(kFastLiveness);
  ASSERT_FALSE(cluster.endpoint().empty());
  cluster.AddWorker(OneThreadWorker());
  auto client = cluster.StartClient({"map", "spin", "1", "3000",
                                     "--param=us=1000", "--chunk-size=20"});
  ASSERT_TRUE(client->WaitForStderrText("--token=", std::chrono::seconds(30)));
  const Printed printed = JobAndToken(client->stderr_text());
  ASSERT_FALSE(printed.job.empty());
  Outcome wrong = Attach(cluster, {printed.job,
                                   "--token=" + std::string(32, '0')});
  EXPECT_EQ(wrong.code, 1) << wrong.err;
  EXPECT_TRUE(absl::StrContains(wrong.err, "not yours")) << wrong.err;
  Outcome missing = Attach(cluster, {"999", "--token=" + printed.token});
  EXPECT_EQ(missing.code, 1) << missing.err;
  EXPECT_TRUE(absl::StrContains(missing.err, "no job 999")) << missing.err;
  Outcome bad = Attach(cluster, {printed.job, "--token=xyz"});
  EXPECT_EQ(bad.code, 1) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "32 hex digits")) << bad.err;
  // The refusals left the job to its client.
  auto status = client->Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0) << client->stderr_text();
  EXPECT_TRUE(SameOutput(client->stdout_text(), SpinReference(1, 3000)));
}

}  // namespace
}  // namespace tq::testing
