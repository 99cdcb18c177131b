// The Scheduler's operator's view (StatusRequest -> StatusReply), driven with
// fake time: workers with their load, totals, running jobs with progress and
// state, ages from the injected clock.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "common/protocol.h"
#include "gtest/gtest.h"
#include "tests/broker/scheduler_test_util.h"

namespace tq::testing {
namespace {

v1::Envelope StatusRequest(uint64_t request_id) {
  v1::Envelope env;
  env.mutable_status_request()->set_request_id(request_id);
  return env;
}

// Sends a StatusRequest from `client` and returns the one reply it got.
v1::StatusReply AskStatus(SchedulerHarness& h, const std::string& client,
                          uint64_t request_id = 42) {
  Sent sent = h.Deliver(client, StatusRequest(request_id));
  auto replies = BodiesTo(sent, client, v1::Envelope::kStatusReply);
  EXPECT_EQ(replies.size(), 1u);
  if (replies.empty()) return {};
  EXPECT_EQ(replies[0].status_reply().request_id(), request_id);
  return replies[0].status_reply();
}

TEST(SchedulerStatusTest, EmptyBrokerReportsOnlyTheAskingClient) {
  SchedulerHarness h;
  h.HelloClient("c");
  v1::StatusReply reply = AskStatus(h, "c");
  EXPECT_EQ(reply.workers_size(), 0);
  EXPECT_EQ(reply.jobs_size(), 0);
  EXPECT_EQ(reply.totals().clients(), 1u);
  EXPECT_EQ(reply.totals().workers(), 0u);
  EXPECT_EQ(reply.totals().threads(), 0u);
}

TEST(SchedulerStatusTest, RequestBeforeHelloIsRefused) {
  SchedulerHarness h;
  Sent sent = h.Deliver("stranger", StatusRequest(1));
  EXPECT_TRUE(BodiesTo(sent, "stranger", v1::Envelope::kStatusReply).empty());
  EXPECT_EQ(BodiesTo(sent, "stranger", v1::Envelope::kError).size(), 1u);
}

TEST(SchedulerStatusTest, WorkerMayNotAskForStatus) {
  SchedulerHarness h;
  h.HelloWorker("w", 2, 2);
  Sent sent = h.Deliver("w", StatusRequest(1));
  EXPECT_TRUE(BodiesTo(sent, "w", v1::Envelope::kStatusReply).empty());
  EXPECT_EQ(BodiesTo(sent, "w", v1::Envelope::kError).size(), 1u);
}

TEST(SchedulerStatusTest, WorkersShowThreadsHeldChunksCreditAndSilence) {
  SchedulerHarness h;
  h.HelloWorker("w-b", 2, 4);
  h.HelloWorker("w-a", 1, 1);
  h.HelloClient("c");
  // 10 chunks: w-b takes 4 (its credit), w-a takes 1.
  h.Submit("c", SchedulerHarness::RangeJob(1, 100, 10));
  h.AdvanceMs(2500);
  h.Heartbeat("w-a");
  h.AdvanceMs(500);
  v1::StatusReply reply = AskStatus(h, "c");

  ASSERT_EQ(reply.workers_size(), 2);
  const v1::WorkerStatus& a = reply.workers(0);  // sorted by name
  const v1::WorkerStatus& b = reply.workers(1);
  EXPECT_EQ(a.name(), "w-a");
  EXPECT_EQ(a.threads(), 1u);
  EXPECT_EQ(a.chunks_held(), 1u);
  EXPECT_EQ(a.credit(), 0u);
  EXPECT_EQ(a.silent_ms(), 500u);
  EXPECT_FALSE(a.draining());
  EXPECT_EQ(b.name(), "w-b");
  EXPECT_EQ(b.threads(), 2u);
  EXPECT_EQ(b.chunks_held(), 4u);
  EXPECT_EQ(b.silent_ms(), 3000u);

  const v1::ClusterTotals& t = reply.totals();
  EXPECT_EQ(t.workers(), 2u);
  EXPECT_EQ(t.threads(), 3u);
  // w-b holds 4 chunks on 2 threads: only 2 of them count as busy.
  EXPECT_EQ(t.busy_threads(), 3u);
  EXPECT_EQ(t.chunks_in_flight(), 5u);
  EXPECT_EQ(t.chunks_queued(), 5u);
  EXPECT_EQ(t.clients(), 1u);
  EXPECT_EQ(t.jobs(), 1u);
}

// However many workers and jobs there are, and however long the names their
// Hellos chose, the reply fits one frame: the first of each list by sort
// order are listed, the totals count all.
TEST(SchedulerStatusTest, ReplyFitsOneFrameHoweverManyPeers) {
  SchedulerOptions options = TestOptions();
  options.max_jobs_per_client = 1000;
  SchedulerHarness h(options);
  constexpr int kWorkers = 300;
  constexpr int kJobs = 150;
  for (int i = 0; i < kWorkers; ++i) {
    // Zero-padded so that name order is number order.
    h.HelloWorker(absl::StrFormat("w-%05d-%s", i, std::string(1000, 'n')), 1, 0);
  }
  h.HelloClient(std::string(2000, 'c'));
  for (int i = 0; i < kJobs; ++i) {
    h.Submit(std::string(2000, 'c'), SchedulerHarness::RangeJob(1, 100, 10));
  }
  v1::StatusReply reply = AskStatus(h, std::string(2000, 'c'));
  v1::Envelope env;
  *env.mutable_status_reply() = reply;
  EXPECT_LE(env.ByteSizeLong(), kMaxFrameBytes);
  EXPECT_EQ(reply.totals().workers(), static_cast<uint32_t>(kWorkers));
  EXPECT_EQ(reply.totals().jobs(), static_cast<uint32_t>(kJobs));
  ASSERT_GT(reply.workers_size(), 50);
  ASSERT_LT(reply.workers_size(), kWorkers);
  ASSERT_GT(reply.jobs_size(), 20);
  ASSERT_LT(reply.jobs_size(), kJobs);
  for (int i = 0; i < reply.workers_size(); ++i) {
    EXPECT_TRUE(absl::StartsWith(reply.workers(i).name(),
                                 absl::StrFormat("w-%05d-", i)));
  }
  for (int i = 1; i < reply.jobs_size(); ++i) {
    EXPECT_LT(reply.jobs(i - 1).job_id(), reply.jobs(i).job_id());
  }
}

TEST(SchedulerStatusTest, RunningJobShowsProgressOwnerAndAge) {
  SchedulerHarness h;
  h.HelloWorker("w", 2, 2);
  h.HelloClient("alice");
  Sent sent;
  const uint64_t id =
      h.Submit("alice", SchedulerHarness::RangeJob(1, 25, 10, 100, "spin"), &sent);
  auto handed = AssignmentsTo(sent, "w");
  ASSERT_EQ(handed.size(), 2u);
  h.AdvanceMs(1500);
  // The first chunk (items 1..10) comes back; the third (21..25) goes out.
  sent = h.Report("w", handed[0]);

  h.HelloClient("bob");  // anyone may look, not only the owner
  v1::StatusReply reply = AskStatus(h, "bob");
  ASSERT_EQ(reply.jobs_size(), 1);
  const v1::JobStatus& job = reply.jobs(0);
  EXPECT_EQ(job.job_id(), id);
  EXPECT_EQ(job.task(), "spin");
  EXPECT_EQ(job.client(), "alice");
  EXPECT_EQ(job.items_total(), 25u);
  EXPECT_EQ(job.chunks_total(), 3u);
  EXPECT_EQ(job.chunk_size(), 10u);
  EXPECT_EQ(job.chunks_done(), 1u);
  EXPECT_EQ(job.items_done(), 10u);
  EXPECT_EQ(job.chunks_in_flight(), 2u);
  EXPECT_EQ(job.chunks_queued(), 0u);
  EXPECT_EQ(job.age_ms(), 1500u);
  EXPECT_EQ(job.state(), v1::JobStatus::STATE_RUNNING);
  EXPECT_EQ(reply.totals().clients(), 2u);

  // The short last chunk counts its own 5 items.
  for (const auto& a : AssignmentsTo(sent, "w")) h.Report("w", a);
  h.Report("w", handed[1]);
  // Every chunk reported and delivered (window 100): the job is gone.
  EXPECT_EQ(AskStatus(h, "bob").jobs_size(), 0);
}

TEST(SchedulerStatusTest, JobWithoutWorkersWaitsForWorkers) {
  SchedulerHarness h;
  h.HelloClient("c");
  h.Submit("c", SchedulerHarness::RangeJob(1, 100, 10));
  v1::StatusReply reply = AskStatus(h, "c");
  ASSERT_EQ(reply.jobs_size(), 1);
  EXPECT_EQ(reply.jobs(0).state(), v1::JobStatus::STATE_WAITING_FOR_WORKERS);
  EXPECT_EQ(reply.jobs(0).chunks_queued(), 10u);
  EXPECT_EQ(reply.totals().chunks_queued(), 10u);
  EXPECT_EQ(reply.totals().busy_threads(), 0u);
}

TEST(SchedulerStatusTest, JobOutOfClientCreditWaitsForClient) {
  SchedulerHarness h;
  h.HelloWorker("w", 4, 4);
  h.HelloClient("c");
  Sent sent;
  // Window 1: one chunk at a time, and its result needs the client's credit.
  h.Submit("c", SchedulerHarness::RangeJob(1, 100, 10, /*window=*/1), &sent);
  auto handed = AssignmentsTo(sent, "w");
  ASSERT_EQ(handed.size(), 1u);
  h.Report("w", handed[0]);  // delivered, consuming the only credit
  v1::StatusReply reply = AskStatus(h, "c");
  ASSERT_EQ(reply.jobs_size(), 1);
  EXPECT_EQ(reply.jobs(0).state(), v1::JobStatus::STATE_WAITING_FOR_CLIENT);
  EXPECT_EQ(reply.jobs(0).chunks_done(), 1u);
  EXPECT_EQ(reply.jobs(0).chunks_in_flight(), 0u);
}

TEST(SchedulerStatusTest, FullRangeSaturatesItemsTotal) {
  SchedulerHarness h;
  h.HelloClient("c");
  h.Submit("c", SchedulerHarness::RangeJob(0, ~uint64_t{0}, 0));
  v1::StatusReply reply = AskStatus(h, "c");
  ASSERT_EQ(reply.jobs_size(), 1);
  EXPECT_EQ(reply.jobs(0).items_total(), ~uint64_t{0});
}

TEST(SchedulerStatusTest, DrainingWorkerIsMarked) {
  SchedulerHarness h;
  h.HelloWorker("w", 1, 1);
  h.HelloClient("c");
  v1::Envelope drain;
  drain.mutable_drain();
  h.Deliver("w", drain);
  v1::StatusReply reply = AskStatus(h, "c");
  ASSERT_EQ(reply.workers_size(), 1);
  EXPECT_TRUE(reply.workers(0).draining());
}

}  // namespace
}  // namespace tq::testing
