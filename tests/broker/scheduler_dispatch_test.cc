// Scheduler: dispatch by credit and window, leases, lost workers, retries,
// duplicates, cancellation and completion. Fake time, no sockets.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/scheduler_test_util.h"

namespace tq::testing {
namespace {

using ::testing::HasSubstr;
using E = v1::Envelope;

class SchedulerDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override { h_.HelloClient("c1"); }
  SchedulerHarness h_;
};

TEST_F(SchedulerDispatchTest, NeverAssignsMoreThanGrantedCredit) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1));
  EXPECT_EQ(AssignmentsTo(h_.HelloWorker("w1", 2, 3), "w1").size(), 3u);
  h_.AdvanceMs(500);
  EXPECT_TRUE(AssignmentsTo(h_.Tick(), "w1").empty());
  EXPECT_TRUE(AssignmentsTo(h_.Heartbeat("w1"), "w1").empty());
  v1::Envelope credit;
  credit.mutable_worker_credit()->set_chunks(2);
  EXPECT_EQ(AssignmentsTo(h_.Deliver("w1", credit), "w1").size(), 2u);
  EXPECT_EQ(h_.scheduler().stats().chunks_dispatched, 5u);
  EXPECT_EQ(h_.scheduler().stats().chunks_in_flight, 5u);
}

TEST_F(SchedulerDispatchTest, ChunksGoToTheLeastLoadedWorkerWhateverItsCredit) {
  // w1 granted far more credit (adaptive prefetch after fast chunks); that
  // must not let it take the whole job while w2 idles.
  h_.HelloWorker("w1", 1, 256);
  h_.HelloWorker("w2", 1, 8);
  Sent sent;
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 4, 1, /*window=*/4), &sent);
  auto to_w1 = AssignmentsTo(sent, "w1");
  EXPECT_EQ(to_w1.size(), 2u);
  EXPECT_EQ(AssignmentsTo(sent, "w2").size(), 2u);
  // w1 reports a chunk: it now holds fewer than w2, so the next chunk is
  // its, though w2 has credit too.
  h_.Report("w1", to_w1[0]);
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 1, 1), &sent);
  EXPECT_EQ(AssignmentsTo(sent, "w1").size(), 1u);
  EXPECT_TRUE(AssignmentsTo(sent, "w2").empty());
}

TEST_F(SchedulerDispatchTest, AssignmentsToOneWorkerShareOneMessage) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1));
  Sent sent = h_.HelloWorker("w1", 8, 8);
  auto batches = BodiesTo(sent, "w1", E::kAssignments);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].assignments().assignments_size(), 8);
}

TEST_F(SchedulerDispatchTest, ReportCreditBringsMoreWorkAndResultsFlow) {
  uint64_t job = h_.Submit("c1", SchedulerHarness::RangeJob(1, 3, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  ASSERT_EQ(a.size(), 1u);
  Sent sent = h_.Report("w1", a[0]);
  auto results = ResultsTo(sent, "c1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].job_id(), job);
  EXPECT_EQ(results[0].chunk_index(), 0u);
  a = AssignmentsTo(sent, "w1");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].chunk_index(), 1u);
  a = AssignmentsTo(h_.Report("w1", a[0]), "w1");
  sent = h_.Report("w1", a[0]);
  v1::JobFinished finished = OnlyFinished(sent, "c1");
  EXPECT_EQ(finished.job_id(), job);
  EXPECT_EQ(finished.code(), 0);
  SchedulerStats stats = h_.scheduler().stats();
  EXPECT_EQ(stats.jobs_completed, 1u);
  EXPECT_EQ(stats.jobs_active, 0u);
  EXPECT_EQ(stats.items_completed, 3u);
}

TEST_F(SchedulerDispatchTest, ExpiredLeaseRequeuesWithNextAttempt) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 10, 10));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].attempt(), 1u);
  EXPECT_EQ(a[0].lease_ms(), 10'000u);
  for (int ms : {4000, 4000}) {
    h_.AdvanceMs(ms);
    h_.Heartbeat("w1");
    h_.Heartbeat("c1");
  }
  h_.Tick();
  EXPECT_EQ(h_.scheduler().stats().requeued_lease_expired, 0u);
  h_.AdvanceMs(2000);
  h_.Heartbeat("w1");
  h_.Heartbeat("c1");
  EXPECT_LE(h_.scheduler().NextDeadlineUs(), h_.now());
  h_.Tick();
  EXPECT_EQ(h_.scheduler().stats().requeued_lease_expired, 1u);
  EXPECT_EQ(h_.scheduler().stats().chunks_queued, 1u);
  v1::Envelope credit;
  credit.mutable_worker_credit()->set_chunks(1);
  a = AssignmentsTo(h_.Deliver("w1", credit), "w1");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].chunk_index(), 0u);
  EXPECT_EQ(a[0].attempt(), 2u);
}

TEST_F(SchedulerDispatchTest, SilentWorkerLosesItsChunksToAnother) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 2, 1));
  EXPECT_EQ(AssignmentsTo(h_.HelloWorker("w1", 2, 2), "w1").size(), 2u);
  h_.HelloWorker("w2", 2, 2);
  for (int i = 0; i < 5; ++i) {
    h_.AdvanceMs(1000);
    h_.Heartbeat("w2");
    h_.Heartbeat("c1");
  }
  Sent sent = h_.Tick();
  // w1 never said it started them: no failed attempt is charged, but each
  // is a suspect now and runs alone on w2, one after the other.
  auto a = AssignmentsTo(sent, "w2");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].attempt(), 2u);
  auto b = AssignmentsTo(h_.Report("w2", a[0]), "w2");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].attempt(), 2u);
  EXPECT_NE(b[0].chunk_index(), a[0].chunk_index());
  SchedulerStats stats = h_.scheduler().stats();
  EXPECT_EQ(stats.requeued_unstarted, 2u);
  EXPECT_EQ(stats.requeued_worker_lost, 0u);
  EXPECT_EQ(stats.chunks_run_alone, 2u);
  EXPECT_EQ(stats.connected_workers, 1u);
}

TEST_F(SchedulerDispatchTest, FirstReportWinsAndDuplicatesAreDropped) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 1, 1));
  auto first = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  ASSERT_EQ(first.size(), 1u);
  h_.AdvanceMs(4000);
  h_.Heartbeat("w1");
  h_.HelloWorker("w2", 1, 0);
  h_.AdvanceMs(6000);
  h_.Heartbeat("w1");
  h_.Heartbeat("w2");
  h_.Heartbeat("c1");
  h_.Tick();  // lease expired; w2 has no credit yet
  v1::Envelope credit;
  credit.mutable_worker_credit()->set_chunks(1);
  auto second = AssignmentsTo(h_.Deliver("w2", credit), "w2");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].attempt(), 2u);
  // The late first attempt no longer holds the chunk: dropped, counted.
  Sent sent = h_.Report("w1", first[0]);
  EXPECT_TRUE(ResultsTo(sent, "c1").empty());
  EXPECT_EQ(h_.scheduler().stats().reports_not_leased, 1u);
  // The holder's report wins.
  sent = h_.Report("w2", second[0]);
  EXPECT_EQ(ResultsTo(sent, "c1").size(), 1u);
  EXPECT_EQ(OnlyFinished(sent, "c1").code(), 0);
  // A report for the finished job counts as stale.
  h_.Report("w2", second[0]);
  EXPECT_EQ(h_.scheduler().stats().reports_stale, 1u);
  EXPECT_EQ(h_.scheduler().stats().duplicates_dropped, 0u);
}

TEST_F(SchedulerDispatchTest, DuplicateReportOfFinishedChunkIsCounted) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 2, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 2), "w1");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(ResultsTo(h_.Report("w1", a[0], 0), "c1").size(), 1u);
  EXPECT_TRUE(ResultsTo(h_.Report("w1", a[0], 0), "c1").empty());
  EXPECT_EQ(h_.scheduler().stats().duplicates_dropped, 1u);
  EXPECT_EQ(h_.scheduler().stats().chunks_completed, 1u);
}

TEST_F(SchedulerDispatchTest, TwoJobsShareOneWorkerRoundRobin) {
  uint64_t j1 = h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1));
  uint64_t j2 = h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 4, 4), "w1");
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].job_id(), j1);
  EXPECT_EQ(a[1].job_id(), j2);
  EXPECT_EQ(a[2].job_id(), j1);
  EXPECT_EQ(a[3].job_id(), j2);
}

TEST_F(SchedulerDispatchTest, CancelWithdrawsJob) {
  uint64_t job = h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1));
  ASSERT_EQ(AssignmentsTo(h_.HelloWorker("w1", 2, 2), "w1").size(), 2u);
  h_.HelloWorker("w2", 1, 0);
  v1::Envelope cancel;
  cancel.mutable_cancel_job()->set_job_id(job);
  Sent sent = h_.Deliver("c1", cancel);
  auto revokes = BodiesTo(sent, "w1", E::kRevokeJob);
  ASSERT_EQ(revokes.size(), 1u);
  EXPECT_EQ(revokes[0].revoke_job().job_id(), job);
  EXPECT_TRUE(BodiesTo(sent, "w2", E::kRevokeJob).empty());  // held nothing
  v1::JobFinished finished = OnlyFinished(sent, "c1");
  EXPECT_EQ(finished.code(), static_cast<int>(absl::StatusCode::kCancelled));
  v1::Envelope credit;
  credit.mutable_worker_credit()->set_chunks(5);
  EXPECT_TRUE(AssignmentsTo(h_.Deliver("w1", credit), "w1").empty());
  EXPECT_EQ(h_.scheduler().stats().jobs_cancelled, 1u);
  EXPECT_EQ(h_.scheduler().stats().jobs_active, 0u);
}

TEST_F(SchedulerDispatchTest, OnlyTheOwnerMayCancel) {
  uint64_t job = h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1));
  h_.HelloClient("c2");
  v1::Envelope cancel;
  cancel.mutable_cancel_job()->set_job_id(job);
  Sent sent = h_.Deliver("c2", cancel);
  EXPECT_EQ(BodiesTo(sent, "c2", E::kError).size(), 1u);
  EXPECT_EQ(h_.scheduler().stats().jobs_active, 1u);
}

TEST_F(SchedulerDispatchTest, ClientGoodbyeCancelsItsJobs) {
  uint64_t job = h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1));
  ASSERT_EQ(AssignmentsTo(h_.HelloWorker("w1", 2, 2), "w1").size(), 2u);
  v1::Envelope bye;
  bye.mutable_goodbye();
  Sent sent = h_.Deliver("c1", bye);
  auto revokes = BodiesTo(sent, "w1", E::kRevokeJob);
  ASSERT_EQ(revokes.size(), 1u);
  EXPECT_EQ(revokes[0].revoke_job().job_id(), job);
  EXPECT_EQ(h_.scheduler().stats().jobs_cancelled, 1u);
  EXPECT_EQ(h_.scheduler().stats().connected_clients, 0u);
}

// A lost client's jobs wait for an attach (scheduler_attach_test.cc) for
// the grace period, here none: then they are cancelled and withdrawn.
TEST_F(SchedulerDispatchTest, UnreachableClientsJobsAreCancelledAfterTheGrace) {
  SchedulerOptions options = TestOptions();
  options.client_grace_ms = 0;
  SchedulerHarness h(options);
  h.HelloClient("c1");
  h.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1));
  h.HelloWorker("w1", 1, 1);
  Sent lost = h.Unreachable("c1");
  EXPECT_TRUE(BodiesTo(lost, "w1", E::kRevokeJob).empty());
  EXPECT_EQ(h.scheduler().stats().jobs_detached, 1u);
  Sent tick = h.Tick();
  EXPECT_EQ(BodiesTo(tick, "w1", E::kRevokeJob).size(), 1u);
  EXPECT_EQ(h.scheduler().stats().jobs_cancelled, 1u);
}

TEST_F(SchedulerDispatchTest, ResultWindowHoldsBackDispatchUntilCredit) {
  uint64_t job = h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1, 2));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 8, 8), "w1");
  ASSERT_EQ(a.size(), 2u);  // window 2 despite credit 8
  EXPECT_EQ(ResultsTo(h_.Report("w1", a[0], 0), "c1").size(), 1u);
  Sent sent = h_.Report("w1", a[1], 0);
  EXPECT_EQ(ResultsTo(sent, "c1").size(), 1u);
  EXPECT_TRUE(AssignmentsTo(sent, "w1").empty());  // client credit spent
  v1::Envelope credit;
  credit.mutable_client_credit()->set_job_id(job);
  credit.mutable_client_credit()->set_chunks(3);
  EXPECT_EQ(AssignmentsTo(h_.Deliver("c1", credit), "w1").size(), 3u);
}

TEST_F(SchedulerDispatchTest, TaskFailuresUpToMaxAttemptsFailTheJob) {
  uint64_t job = h_.Submit("c1", SchedulerHarness::RangeJob(1, 10, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].chunk_index(), 0u);
  Sent sent = h_.ReportError("w1", a[0], "boom on 3");
  a = AssignmentsTo(sent, "w1");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].chunk_index(), 0u);  // requeued chunks first
  EXPECT_EQ(a[0].attempt(), 2u);
  a = AssignmentsTo(h_.ReportError("w1", a[0], "boom on 3"), "w1");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].attempt(), 3u);
  sent = h_.ReportError("w1", a[0], "boom on 3");
  v1::JobFinished finished = OnlyFinished(sent, "c1");
  EXPECT_EQ(finished.job_id(), job);
  EXPECT_EQ(finished.code(), 3);
  EXPECT_THAT(finished.message(), HasSubstr("item 0 of job"));
  EXPECT_THAT(finished.message(), HasSubstr("failed 3 times"));
  EXPECT_THAT(finished.message(), HasSubstr("boom on 3"));
  ASSERT_TRUE(finished.has_failed_item());
  EXPECT_EQ(finished.failed_item(), 0u);
  EXPECT_EQ(BodiesTo(sent, "w1", E::kRevokeJob).size(), 0u);  // holds nothing
  EXPECT_EQ(h_.scheduler().stats().jobs_failed, 1u);
  EXPECT_EQ(h_.scheduler().stats().requeued_task_failed, 3u);
}

TEST_F(SchedulerDispatchTest, ExpiringLeasesFailTheJobAfterMaxAttempts) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 1, 1));
  h_.HelloWorker("w1", 1, 10);
  Sent sent;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    h_.AdvanceMs(10'000);
    h_.Heartbeat("w1");
    h_.Heartbeat("c1");
    sent = h_.Tick();
  }
  v1::JobFinished finished = OnlyFinished(sent, "c1");
  EXPECT_EQ(finished.code(),
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(finished.message(), HasSubstr("item 0 of job"));
  EXPECT_THAT(finished.message(), HasSubstr("lease"));
  // The failed job's chunk was still on w1: it is told to drop it.
  EXPECT_EQ(BodiesTo(sent, "w1", E::kRevokeJob).size(), 1u);
}

TEST_F(SchedulerDispatchTest, DrainReturnsChunksWithoutPenalty) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 2, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 2), "w1");
  ASSERT_EQ(a.size(), 2u);
  h_.HelloWorker("w2", 1, 0);
  v1::Envelope drain;
  v1::ChunkRef* ref = drain.mutable_drain()->add_returned();
  ref->set_job_id(a[1].job_id());
  ref->set_chunk_index(a[1].chunk_index());
  ref->set_attempt(a[1].attempt());
  EXPECT_TRUE(AssignmentsTo(h_.Deliver("w1", drain), "w1").empty());
  EXPECT_EQ(h_.scheduler().stats().requeued_drained, 1u);
  v1::Envelope credit;
  credit.mutable_worker_credit()->set_chunks(1);
  // A draining worker gets nothing even with credit.
  EXPECT_TRUE(AssignmentsTo(h_.Deliver("w1", credit), "w1").empty());
  auto b = AssignmentsTo(h_.Deliver("w2", credit), "w2");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].chunk_index(), 1u);
  EXPECT_EQ(b[0].attempt(), 2u);
  // Goodbye hands back the rest, still without penalty.
  v1::Envelope bye;
  bye.mutable_goodbye();
  h_.Deliver("w1", bye);
  SchedulerStats stats = h_.scheduler().stats();
  EXPECT_EQ(stats.requeued_drained, 2u);
  EXPECT_EQ(stats.requeued_worker_lost, 0u);
  EXPECT_EQ(stats.connected_workers, 1u);
}

TEST_F(SchedulerDispatchTest, DrainedChunksDoNotCountTowardsMaxAttempts) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 1, 1));
  v1::Envelope bye;
  bye.mutable_goodbye();
  // Five workers in turn take the chunk and leave politely.
  for (int i = 0; i < 5; ++i) {
    std::string w = "w" + std::to_string(i);
    ASSERT_EQ(AssignmentsTo(h_.HelloWorker(w, 1, 1), w).size(), 1u);
    h_.Deliver(w, bye);
  }
  EXPECT_EQ(h_.scheduler().stats().jobs_failed, 0u);
  EXPECT_EQ(h_.scheduler().stats().jobs_active, 1u);
}

TEST_F(SchedulerDispatchTest, PurgingFinishedLeasesKeepsLiveOnes) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 100'000, 1, 1'000'000));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 256), "w1");
  // Enough finished hand-outs to make the lease heap purge stale entries.
  for (int round = 0; round < 40; ++round) {
    ASSERT_EQ(a.size(), 256u);
    v1::Envelope env;
    for (const v1::Assignment& x : a) {
      v1::ChunkReport* r = env.mutable_chunk_reports()->add_reports();
      r->set_job_id(x.job_id());
      r->set_chunk_index(x.chunk_index());
      r->set_attempt(x.attempt());
      r->set_result_payload(0);
    }
    env.mutable_chunk_reports()->set_credit(256);
    Sent sent = h_.Deliver("w1", env, {Payload::FromString("result")});
    ASSERT_EQ(ResultsTo(sent, "c1").size(), 256u);
    a = AssignmentsTo(sent, "w1");
  }
  h_.AdvanceMs(10'000);
  h_.Heartbeat("w1");
  h_.Heartbeat("c1");
  h_.Tick();
  EXPECT_EQ(h_.scheduler().stats().requeued_lease_expired, 256u);
}

}  // namespace
}  // namespace tq::testing
