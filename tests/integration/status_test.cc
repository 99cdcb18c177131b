// The operator's view end to end: a real tq-broker with two tq-workers runs
// a slow job for a real tq-client, while `tq-client status` and `tq-client
// jobs` (human and --json, once and --watch) are asked what is going on.
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/json_reader.h"
#include "tests/integration/local_cluster.h"

namespace tq::testing {
namespace {

struct ClientRun {
  ExitStatus exit;
  std::string out, err;
};

ClientRun RunClient(LocalCluster& cluster, std::vector<std::string> args) {
  auto client = cluster.StartClient(std::move(args));
  std::optional<ExitStatus> exit = client->Wait(kJobTimeout);
  EXPECT_TRUE(exit.has_value()) << "client did not finish";
  return {exit.value_or(ExitStatus{}), client->stdout_text(),
          client->stderr_text()};
}

// Both JSON forms parse; a failure to parse fails the test (and gives null).
Json ParseReply(const std::string& json) {
  std::optional<Json> reply = ParseJson(json);
  EXPECT_TRUE(reply.has_value()) << json;
  return reply.value_or(Json());
}

uint64_t Uint(const Json& value) {
  std::optional<uint64_t> n = value.AsUint();
  EXPECT_TRUE(n.has_value()) << "not a number: " << value.text;
  return n.value_or(0);
}

class StatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_.AddWorker({"--threads=1"});
    cluster_.AddWorker({"--threads=2"});
    // Far more work than the test lasts (3 threads x 1 ms per item): it is
    // still running whenever we look, and is cancelled by SIGINT at the end.
    job_ = cluster_.StartClient({"map", "spin", "1", "1000000",
                                 "--param=us=1000", "--chunk-size=20"});
  }
  void TearDown() override {
    job_->Signal(SIGINT);
    std::optional<ExitStatus> exit = job_->Wait(kJobTimeout);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->code, 130) << job_->stderr_text();
  }

  // Asks `status --json` until both workers are in and the job has made
  // progress; fails the test at the deadline.
  Json WaitForProgress() {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    std::string last;
    while (Clock::now() < deadline) {
      ClientRun run = RunClient(cluster_, {"status", "--json"});
      EXPECT_EQ(run.exit.code, 0) << run.err;
      Json reply = ParseReply(run.out);
      last = run.out;
      if (reply["workers"].size() == 2 && reply["jobs"].size() == 1 &&
          reply["jobs"][0]["chunks_done"].AsUint().value_or(0) > 0) {
        return reply;
      }
    }
    ADD_FAILURE() << "no progress seen; last reply: " << last;
    return Json();
  }

  LocalCluster cluster_{{"--heartbeat-interval-ms=200"}};
  std::unique_ptr<Subprocess> job_;
};

TEST_F(StatusTest, JsonShowsWorkersTheirThreadsAndTheRunningJob) {
  Json reply = WaitForProgress();
  ASSERT_EQ(reply["workers"].size(), 2u);
  std::vector<uint64_t> threads = {Uint(reply["workers"][0]["threads"]),
                                   Uint(reply["workers"][1]["threads"])};
  std::sort(threads.begin(), threads.end());
  EXPECT_EQ(threads, (std::vector<uint64_t>{1, 2}));
  const Json& totals = reply["totals"];
  EXPECT_EQ(Uint(totals["workers"]), 2u);
  EXPECT_EQ(Uint(totals["threads"]), 3u);
  EXPECT_LE(Uint(totals["busy_threads"]), 3u);
  // The job queues thousands of chunks, so every worker keeps some.
  EXPECT_GE(Uint(totals["chunks_queued"]), 1u);
  // The job's client and the one asking, and perhaps an earlier asker of
  // WaitForProgress: its Goodbye travels on a connection of its own, which
  // the broker may read after the next asker's request.
  EXPECT_GE(Uint(totals["clients"]), 2u);

  ASSERT_EQ(reply["jobs"].size(), 1u);
  const Json& job = reply["jobs"][0];
  EXPECT_EQ(job["task"].text, "spin");
  EXPECT_TRUE(absl::StartsWith(job["client"].text, "tq-client:"))
      << job["client"].text;
  EXPECT_EQ(job["state"].text, "STATE_RUNNING");
  EXPECT_EQ(Uint(job["items_total"]), 1000000u);
  EXPECT_EQ(Uint(job["chunk_size"]), 20u);
  EXPECT_EQ(Uint(job["chunks_total"]), 50000u);
  EXPECT_GT(Uint(job["items_done"]), 0u);
  EXPECT_LT(Uint(job["items_done"]), Uint(job["items_total"]));
  EXPECT_EQ(Uint(job["items_done"]), Uint(job["chunks_done"]) * 20);
  EXPECT_GT(Uint(job["age_ms"]), 0u);

  ClientRun jobs = RunClient(cluster_, {"jobs", "--json"});
  EXPECT_EQ(jobs.exit.code, 0) << jobs.err;
  EXPECT_TRUE(absl::StartsWith(jobs.out, "{\"jobs\":[")) << jobs.out;
  Json listed = ParseReply(jobs.out);
  EXPECT_EQ(listed["workers"].kind, Json::Kind::kNull);
  ASSERT_EQ(listed["jobs"].size(), 1u);
  EXPECT_EQ(Uint(listed["jobs"][0]["job_id"]), Uint(job["job_id"]));
  // Progress only moves forward.
  EXPECT_GE(Uint(listed["jobs"][0]["chunks_done"]), Uint(job["chunks_done"]));
}

TEST_F(StatusTest, HumanOutputNamesTheWorkersAndTheJob) {
  Json reply = WaitForProgress();
  ASSERT_EQ(reply["workers"].size(), 2u);

  ClientRun status = RunClient(cluster_, {"status"});
  EXPECT_EQ(status.exit.code, 0) << status.err;
  EXPECT_TRUE(absl::StrContains(status.out, "2 workers, 3 threads"))
      << status.out;
  for (const Json& worker : reply["workers"].items) {
    EXPECT_TRUE(absl::StrContains(status.out, worker["name"].text))
        << worker["name"].text << " missing from:\n" << status.out;
  }
  EXPECT_TRUE(absl::StrContains(status.out, "spin")) << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, reply["jobs"][0]["client"].text))
      << status.out;

  ClientRun jobs = RunClient(cluster_, {"jobs"});
  EXPECT_EQ(jobs.exit.code, 0) << jobs.err;
  EXPECT_TRUE(absl::StrContains(jobs.out, "running")) << jobs.out;
  EXPECT_TRUE(absl::StrContains(jobs.out, "/50000")) << jobs.out;
  EXPECT_TRUE(absl::StrContains(jobs.out, "%")) << jobs.out;
}

TEST_F(StatusTest, WatchPrintsSnapshotsUntilInterrupted) {
  auto watch = cluster_.StartClient({"status", "--watch=0.1", "--json"});
  std::optional<std::string> first =
      watch->WaitForStdoutLine("{\"totals\":", std::chrono::seconds(30));
  ASSERT_TRUE(first.has_value()) << watch->stderr_text();
  // Snapshots are one JSON line each and all about the same size.
  const size_t line = first->size() + 11;
  ASSERT_TRUE(watch->WaitForStdoutBytes(line + line / 2, std::chrono::seconds(30)))
      << watch->stdout_text();
  watch->Signal(SIGINT);
  std::optional<ExitStatus> exit = watch->Wait(kJobTimeout);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->exited);
  EXPECT_EQ(exit->code, 130);
  const std::string out = watch->stdout_text();
  EXPECT_GE(std::count(out.begin(), out.end(), '\n'), 2) << out;
}

TEST(StatusWithoutBrokerTest, SaysStatusNeedsABroker) {
  for (const char* command : {"status", "jobs"}) {
    Subprocess client({ClientBinary(), command}, {"TQ_BROKER="});
    std::optional<ExitStatus> exit = client.Wait(kJobTimeout);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->code, 1);
    EXPECT_TRUE(absl::StrContains(client.stderr_text(), "needs a broker"))
        << client.stderr_text();
  }
}

}  // namespace
}  // namespace tq::testing
