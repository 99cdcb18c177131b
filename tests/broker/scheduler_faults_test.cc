// Scheduler under faults, with fake time: leases renewed by held-chunk
// heartbeats, run limits, lost workers that never started their chunks,
// stale and forged reports, poison items isolated by splitting (failing the
// job or skipped), speculative copies of stragglers and chunks sized by
// their run time. Sharing between clients: scheduler_fairness_test.cc.
#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/scheduler_test_util.h"

namespace tq::testing {
namespace {

using ::testing::HasSubstr;
using E = v1::Envelope;

class SchedulerFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override { h_.HelloClient("c1"); }
  // Keeps every peer but `except` alive while time passes.
  void Pass(int64_t ms, const std::vector<std::string>& alive) {
    while (ms > 0) {
      const int64_t step = std::min<int64_t>(ms, 500);
      h_.AdvanceMs(step);
      ms -= step;
      for (const std::string& peer : alive) h_.Heartbeat(peer);
    }
  }
  static v1::Welcome WelcomeOf(const Sent& sent, const std::string& peer) {
    auto welcomes = BodiesTo(sent, peer, E::kWelcome);
    EXPECT_EQ(welcomes.size(), 1u);
    return welcomes.empty() ? v1::Welcome() : welcomes[0].welcome();
  }
  static v1::Envelope Credit(uint32_t chunks) {
    v1::Envelope credit;
    credit.mutable_worker_credit()->set_chunks(chunks);
    return credit;
  }
  SchedulerHarness h_;
};

TEST_F(SchedulerFaultsTest, WelcomeAndAssignmentsCarryEpochAndSession) {
  v1::Welcome w1 = WelcomeOf(h_.HelloWorker("w1", 1, 0), "w1");
  v1::Welcome w2 = WelcomeOf(h_.HelloWorker("w2", 1, 0), "w2");
  EXPECT_NE(w1.broker_epoch(), 0u);
  EXPECT_EQ(w1.broker_epoch(), w2.broker_epoch());
  EXPECT_NE(w1.session(), 0u);
  EXPECT_NE(w1.session(), w2.session());
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 10, 5));
  Sent sent = h_.Deliver("w1", Credit(1));
  auto batches = BodiesTo(sent, "w1", E::kAssignments);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].assignments().broker_epoch(), w1.broker_epoch());
  EXPECT_EQ(batches[0].assignments().session(), w1.session());
  EXPECT_EQ(batches[0].assignments().assignments(0).run_limit_ms(),
            static_cast<uint64_t>(SchedulerOptions{}.chunk_timeout_ms));
}

TEST_F(SchedulerFaultsTest, HeldChunksKeepTheirLeaseWhileTheWorkerLives) {
  // TestOptions: lease 10 s. A chunk running for 60 s on a live worker that
  // lists it in its heartbeats is never taken away.
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 2, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 2), "w1");
  ASSERT_EQ(a.size(), 2u);
  for (int i = 0; i < 60; ++i) {
    h_.AdvanceMs(1000);
    h_.HeartbeatHeld("w1", {a[0]}, {a[1]}, 1000 * (i + 1));
    h_.Heartbeat("c1");
    h_.Tick();
  }
  SchedulerStats stats = h_.scheduler().stats();
  EXPECT_EQ(stats.requeued_lease_expired, 0u);
  EXPECT_EQ(stats.chunks_in_flight, 2u);
  EXPECT_EQ(ResultsTo(h_.Report("w1", a[0]), "c1").size(), 1u);
}

TEST_F(SchedulerFaultsTest, NoPeerIsJudgedSilentWhileMessagesWaitToBeRead) {
  h_.HelloWorker("w1", 1, 1);
  h_.AdvanceMs(5000);  // past the timeout, with unread messages waiting
  h_.Tick(/*backlog=*/true);
  EXPECT_TRUE(h_.scheduler().HasPeer("w1"));
  EXPECT_TRUE(h_.scheduler().HasPeer("c1"));
  h_.Tick();  // the socket read empty: now they are silent
  EXPECT_FALSE(h_.scheduler().HasPeer("w1"));
  EXPECT_FALSE(h_.scheduler().HasPeer("c1"));
}

TEST_F(SchedulerFaultsTest, AChunkMissingFromTheHeartbeatsLosesItsLease) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 2, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 2), "w1");
  ASSERT_EQ(a.size(), 2u);
  Sent sent;
  for (int i = 0; i < 11; ++i) {
    h_.AdvanceMs(1000);
    h_.HeartbeatHeld("w1", {a[0]});  // a[1] was lost on the way
    h_.Heartbeat("c1");
    Sent tick = h_.Tick();
    sent.insert(sent.end(), tick.begin(), tick.end());
  }
  EXPECT_EQ(h_.scheduler().stats().requeued_lease_expired, 1u);
  auto revokes = BodiesTo(sent, "w1", E::kRevokeJob);
  ASSERT_EQ(revokes.size(), 1u);
  ASSERT_EQ(revokes[0].revoke_job().chunks_size(), 1);
  EXPECT_EQ(revokes[0].revoke_job().chunks(0).chunk_index(), a[1].chunk_index());
}

TEST_F(SchedulerFaultsTest, ARunLimitTakesTheChunkFromALiveWorker) {
  v1::Envelope submit = SchedulerHarness::RangeJob(1, 1, 1);
  submit.mutable_submit_job()->set_chunk_timeout_ms(5000);
  submit.mutable_submit_job()->set_max_attempts(1);
  h_.Submit("c1", submit);
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].run_limit_ms(), 5000u);
  h_.AdvanceMs(4000);
  EXPECT_TRUE(BodiesTo(h_.HeartbeatHeld("w1", a, {}, 4000), "c1", E::kJobFinished)
                  .empty());
  h_.AdvanceMs(2000);
  Sent sent = h_.HeartbeatHeld("w1", a, {}, 6000);
  auto revokes = BodiesTo(sent, "w1", E::kRevokeJob);
  ASSERT_GE(revokes.size(), 1u);
  auto finished = BodiesTo(sent, "c1", E::kJobFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_THAT(finished[0].job_finished().message(), HasSubstr("run limit of 5 s"));
  EXPECT_EQ(h_.scheduler().stats().requeued_run_limit, 1u);
}

TEST_F(SchedulerFaultsTest, AWorkerLostWithSeveralChunksChargesNoneOfThem) {
  // It ran a[0] beside a[1] and a[2]: whichever crashed it is unknown.
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 3, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 3), "w1");
  ASSERT_EQ(a.size(), 3u);
  h_.HeartbeatHeld("w1", {a[0]}, {a[1], a[2]}, 10);
  h_.HelloWorker("w2", 1, 0);
  Pass(6000, {"c1", "w2"});
  h_.Tick();
  SchedulerStats stats = h_.scheduler().stats();
  EXPECT_EQ(stats.requeued_worker_lost, 0u);
  EXPECT_EQ(stats.requeued_unstarted, 3u);
  EXPECT_EQ(stats.connected_workers, 1u);
}

TEST_F(SchedulerFaultsTest, AWorkerLostRunningItsOnlyChunkChargesIt) {
  v1::Envelope submit = SchedulerHarness::RangeJob(1, 1, 1);
  submit.mutable_submit_job()->set_max_attempts(1);
  h_.Submit("c1", submit);
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  ASSERT_EQ(a.size(), 1u);
  h_.HeartbeatHeld("w1", {a[0]}, {}, 10);
  auto finished = BodiesTo(h_.Unreachable("w1"), "c1", E::kJobFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_THAT(finished[0].job_finished().message(),
              HasSubstr("lost (unreachable) while running it"));
  EXPECT_EQ(h_.scheduler().stats().requeued_worker_lost, 1u);
}

TEST_F(SchedulerFaultsTest, SuspectsRunAloneAndOnlyTheCrashingOneIsCharged) {
  // w1 dies holding chunks 0..3 (none said started); chunk 2 is poison.
  v1::Envelope submit = SchedulerHarness::RangeJob(1, 4, 1);
  submit.mutable_submit_job()->set_max_attempts(2);
  h_.Submit("c1", submit);
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 4), "w1");
  ASSERT_EQ(a.size(), 4u);
  h_.Unreachable("w1");
  // w2 has two threads and credit for 4, yet gets one suspect at a time.
  std::set<uint64_t> done;
  Sent sent = h_.HelloWorker("w2", 2, 4);
  for (int i = 0; i < 3; ++i) {
    auto b = AssignmentsTo(sent, "w2");
    ASSERT_EQ(b.size(), 1u) << i;
    EXPECT_EQ(b[0].attempt(), 2u);
    if (b[0].chunk_index() == 2) {
      // Poison: w2 dies running it alone; charged, with the loss it was
      // suspected of: out of its 2 attempts, it fails the job.
      sent = h_.Unreachable("w2");
      auto finished = BodiesTo(sent, "c1", E::kJobFinished);
      ASSERT_EQ(finished.size(), 1u);
      EXPECT_THAT(finished[0].job_finished().message(),
                  HasSubstr("item 2 of job"));
      EXPECT_THAT(finished[0].job_finished().message(),
                  HasSubstr("while running it alone"));
      break;
    }
    done.insert(b[0].chunk_index());
    sent = h_.Report("w2", b[0], 1);
    EXPECT_EQ(ResultsTo(sent, "c1").size(), b[0].chunk_index() < 2 ? 1u : 0u);
  }
  SchedulerStats stats = h_.scheduler().stats();
  EXPECT_EQ(stats.requeued_unstarted, 4u);
  EXPECT_EQ(stats.requeued_worker_lost, 1u);
  EXPECT_GE(stats.chunks_run_alone, 1u);
  EXPECT_EQ(stats.chunks_split, 0u);
}

TEST_F(SchedulerFaultsTest, AWorkerRunningASuspectAloneIsProbedOften) {
  // A send to a dead worker fails at once: probing the one running a
  // suspect every 100 ms notices its crash sooner than the 1 s heartbeat.
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 2, 1));
  ASSERT_EQ(AssignmentsTo(h_.HelloWorker("w1", 1, 2), "w1").size(), 2u);
  h_.Unreachable("w1");
  ASSERT_EQ(AssignmentsTo(h_.HelloWorker("w2", 1, 2), "w2").size(), 1u);
  h_.HelloWorker("w3", 1, 0);
  EXPECT_LE(h_.scheduler().NextDeadlineUs(), h_.now() + kAloneProbeMs * 1000);
  h_.AdvanceMs(kAloneProbeMs);
  Sent sent = h_.Tick();
  EXPECT_EQ(BodiesTo(sent, "w2", E::kHeartbeat).size(), 1u);
  EXPECT_TRUE(BodiesTo(sent, "w3", E::kHeartbeat).empty());
}

TEST_F(SchedulerFaultsTest, ABusyWorkerIsReservedForASuspectAndTakesNoNewWork) {
  // Job 1 has a suspect (w1 died with two chunks); w2 is busy with job 2.
  h_.HelloClient("c2");
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 2, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 2), "w1");
  ASSERT_EQ(a.size(), 2u);
  h_.Submit("c2", SchedulerHarness::RangeJob(1, 100, 1));
  h_.Unreachable("w1");
  auto b = AssignmentsTo(h_.HelloWorker("w2", 1, 3), "w2");
  // Idle at hello: the first suspect, alone; nothing else.
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].job_id(), a[0].job_id());
  EXPECT_EQ(b[0].attempt(), 2u);
  // Its report frees it for the second suspect only.
  auto c = AssignmentsTo(h_.Report("w2", b[0], 1), "w2");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].job_id(), a[0].job_id());
  // Then it is job 2's again, with all its credit.
  auto d = AssignmentsTo(h_.Report("w2", c[0], 1), "w2");
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(h_.scheduler().stats().chunks_run_alone, 2u);
}

TEST_F(SchedulerFaultsTest, AReservedWorkerDrainsForTheSuspect) {
  h_.HelloClient("c2");
  uint64_t big = h_.Submit("c2", SchedulerHarness::RangeJob(1, 100, 1));
  auto busy = AssignmentsTo(h_.HelloWorker("w2", 1, 3), "w2");
  ASSERT_EQ(busy.size(), 3u);
  uint64_t small = h_.Submit("c1", SchedulerHarness::RangeJob(1, 2, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 2), "w1");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].job_id(), small);
  h_.Unreachable("w1");  // two suspects; w2 holds 3 chunks of `big`
  // w2 reports one by one: no new chunk of `big` while it drains.
  EXPECT_TRUE(AssignmentsTo(h_.Report("w2", busy[0], 1), "w2").empty());
  EXPECT_TRUE(AssignmentsTo(h_.Report("w2", busy[1], 1), "w2").empty());
  auto s = AssignmentsTo(h_.Report("w2", busy[2], 1), "w2");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].job_id(), small);
  EXPECT_NE(s[0].job_id(), big);
}

TEST_F(SchedulerFaultsTest, StaleForeignAndDuplicateReportsAreCountedAndDropped) {
  uint64_t job = h_.Submit("c1", SchedulerHarness::RangeJob(1, 2, 1));
  Sent hello = h_.HelloWorker("w1", 1, 1);
  v1::Welcome w1 = WelcomeOf(hello, "w1");
  auto a = AssignmentsTo(hello, "w1");
  ASSERT_EQ(a.size(), 1u);
  const v1::Assignment held = a[0];
  h_.HelloWorker("w2", 1, 0);
  // A forged report from w2, which holds nothing: dropped.
  EXPECT_TRUE(ResultsTo(h_.Report("w2", held), "c1").empty());
  EXPECT_EQ(h_.scheduler().stats().reports_not_leased, 1u);
  // A forged attempt number from the holder: dropped.
  v1::Assignment wrong_attempt = held;
  wrong_attempt.set_attempt(7);
  EXPECT_TRUE(ResultsTo(h_.Report("w1", wrong_attempt), "c1").empty());
  EXPECT_EQ(h_.scheduler().stats().reports_not_leased, 2u);
  // Another job's chunk: not held either.
  v1::Assignment other_job = held;
  other_job.set_job_id(job + 100);
  h_.Report("w1", other_job);
  EXPECT_EQ(h_.scheduler().stats().reports_stale, 1u);
  // The holder's report from an older session: stale.
  EXPECT_TRUE(ResultsTo(h_.Report("w1", held, 0, 0, w1.session() + 5,
                                  w1.broker_epoch()),
                        "c1")
                  .empty());
  EXPECT_EQ(h_.scheduler().stats().reports_stale_session, 1u);
  // The real one, then its duplicate.
  EXPECT_EQ(ResultsTo(h_.Report("w1", held, 0, 0, w1.session(),
                                w1.broker_epoch()),
                      "c1")
                .size(),
            1u);
  h_.Report("w1", held);
  EXPECT_EQ(h_.scheduler().stats().duplicates_dropped, 1u);
  EXPECT_EQ(h_.scheduler().stats().chunks_completed, 1u);
}

TEST_F(SchedulerFaultsTest, ReportsFromAnEndedSessionAreStaleAndAskForHello) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 1, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  ASSERT_EQ(a.size(), 1u);
  Pass(6000, {"c1"});  // w1 frozen: declared lost
  h_.Tick();
  ASSERT_EQ(h_.scheduler().stats().connected_workers, 0u);
  Sent sent = h_.Report("w1", a[0]);  // it thaws and reports
  EXPECT_TRUE(ResultsTo(sent, "c1").empty());
  EXPECT_EQ(h_.scheduler().stats().reports_stale_session, 1u);
  EXPECT_EQ(h_.scheduler().stats().rejected_no_hello, 0u);
  auto errors = BodiesTo(sent, "w1", E::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].error().message(), HasSubstr("hello"));
}

// The numbers assignment `a` (sent in `sent`) runs: its range, or items
// [offset, offset + count) of its payload of 8-byte numbers.
std::vector<uint64_t> NumbersOf(const Sent& sent, const v1::Assignment& a) {
  std::vector<uint64_t> numbers;
  const v1::ChunkInput& input = a.input();
  if (input.has_range()) {
    for (uint64_t n = input.range().first(); n <= input.range().last(); ++n) {
      numbers.push_back(n);
    }
    return numbers;
  }
  for (const auto& m : sent) {
    if (!m.envelope.has_assignments()) continue;
    for (const auto& sent_a : m.envelope.assignments().assignments()) {
      if (sent_a.chunk_index() != a.chunk_index()) continue;
      const std::string bytes = m.payloads.at(input.payload()).ToString();
      const uint64_t total = bytes.size() / 8;
      const uint64_t count =
          input.count() == 0 ? total - input.offset() : input.count();
      for (uint64_t i = input.offset(); i < input.offset() + count; ++i) {
        uint64_t n = 0;
        memcpy(&n, bytes.data() + 8 * i, 8);
        numbers.push_back(n);
      }
    }
  }
  return numbers;
}

// Runs a job to its end with workers that fail every chunk holding the
// number `poison`; returns the failed attempts and what the client got.
struct PoisonRun {
  int failures = 0;
  std::set<uint64_t> items_ok;
  std::vector<v1::ChunkResult> failed;
  v1::JobFinished finished;
};

PoisonRun RunWithPoison(SchedulerHarness& h, v1::Envelope submit,
                        uint64_t poison, std::vector<Payload> payloads = {}) {
  PoisonRun run;
  h.Submit("c1", std::move(submit), nullptr, std::move(payloads));
  Sent sent = h.HelloWorker("w1", 1, 1);
  for (int step = 0; step < 200; ++step) {
    auto a = AssignmentsTo(sent, "w1");
    for (const auto& r : ResultsTo(sent, "c1")) {
      if (r.has_error()) {
        run.failed.push_back(r);
      } else {
        for (uint64_t i = 0; i < r.item_count(); ++i) run.items_ok.insert(r.first_item() + i);
      }
    }
    auto finished = BodiesTo(sent, "c1", E::kJobFinished);
    if (!finished.empty()) {
      run.finished = finished[0].job_finished();
      return run;
    }
    if (a.empty()) break;
    const std::vector<uint64_t> numbers = NumbersOf(sent, a[0]);
    if (std::find(numbers.begin(), numbers.end(), poison) != numbers.end()) {
      ++run.failures;
      sent = h.ReportError("w1", a[0], "boom");
    } else {
      sent = h.Report("w1", a[0]);
    }
  }
  ADD_FAILURE() << "the job did not end";
  return run;
}

TEST_F(SchedulerFaultsTest, APoisonItemIsIsolatedAndNamed) {
  // 64 items in one chunk, max_attempts 3, item 37 (n=38) always fails.
  PoisonRun run = RunWithPoison(h_, SchedulerHarness::RangeJob(1, 64, 64), 38);
  EXPECT_EQ(run.finished.code(), 3);
  // The client adds the number (n=38) to "item 37 of job ...".
  EXPECT_THAT(run.finished.message(), HasSubstr("item 37 of job"));
  EXPECT_THAT(run.finished.message(), HasSubstr("boom"));
  ASSERT_TRUE(run.finished.has_failed_item());
  EXPECT_EQ(run.finished.failed_item(), 37u);
  // attempts + log2(items) failed attempts at most: 3 + 6.
  EXPECT_LE(run.failures, 3 + 6);
  EXPECT_GE(h_.scheduler().stats().chunks_split, 6u);
}

TEST_F(SchedulerFaultsTest, SkipFailedReportsThePoisonItemAndCompletes) {
  v1::Envelope submit = SchedulerHarness::RangeJob(1, 64, 64);
  submit.mutable_submit_job()->set_skip_failed(true);
  PoisonRun run = RunWithPoison(h_, submit, 38);
  EXPECT_EQ(run.finished.code(), 0);
  ASSERT_EQ(run.failed.size(), 1u);
  EXPECT_EQ(run.failed[0].first_item(), 37u);
  EXPECT_EQ(run.failed[0].item_count(), 1u);
  EXPECT_THAT(run.failed[0].error().message(), HasSubstr("boom"));
  // Every other item arrived exactly once.
  EXPECT_EQ(run.items_ok.size(), 63u);
  EXPECT_EQ(run.items_ok.count(37), 0u);
  EXPECT_EQ(h_.scheduler().stats().items_failed, 1u);
}

TEST_F(SchedulerFaultsTest, AStreamedChunkIsSplitByOffsetToIsolateItsPoisonItem) {
  // Streamed numbers 100..131 in two chunks of 16; number 120 (item 20)
  // always fails. The halves share their chunk's payload, each naming its
  // items by offset and count.
  std::vector<uint64_t> first, second;
  for (uint64_t n = 100; n < 116; ++n) first.push_back(n);
  for (uint64_t n = 116; n < 132; ++n) second.push_back(n);
  auto [submit, payloads] = SchedulerHarness::NumbersJob({first, second});
  submit.mutable_submit_job()->set_skip_failed(true);
  PoisonRun run = RunWithPoison(h_, submit, 120, payloads);
  EXPECT_EQ(run.finished.code(), 0);
  ASSERT_EQ(run.failed.size(), 1u);
  EXPECT_EQ(run.failed[0].first_item(), 20u);
  EXPECT_EQ(run.failed[0].item_count(), 1u);
  EXPECT_EQ(run.items_ok.size(), 31u);
  EXPECT_EQ(run.items_ok.count(20), 0u);
  // attempts + log2(items) failed attempts at most: 3 + 4.
  EXPECT_LE(run.failures, 3 + 4);
}

TEST_F(SchedulerFaultsTest, AStragglerIsReRunOnAnIdleWorkerAndTheFirstResultWins) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 3, 1));
  auto a1 = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  auto a2 = AssignmentsTo(h_.HelloWorker("w2", 1, 1), "w2");
  ASSERT_EQ(a1.size(), 1u);
  ASSERT_EQ(a2.size(), 1u);
  // w2 runs its chunks in 100 ms; w1 freezes on chunk 0.
  h_.AdvanceMs(100);
  a2 = AssignmentsTo(h_.Report("w2", a2[0], 1, 100'000), "w2");
  ASSERT_EQ(a2.size(), 1u);
  h_.AdvanceMs(100);
  h_.Report("w2", a2[0], 1, 100'000);  // w2 idle now; the job waits on w1
  h_.AdvanceMs(500);
  EXPECT_TRUE(AssignmentsTo(h_.Tick(), "w2").empty());  // 0.7 s < 1 s
  h_.AdvanceMs(500);
  h_.Heartbeat("w1");
  auto copy = AssignmentsTo(h_.Tick(), "w2");
  ASSERT_EQ(copy.size(), 1u);
  EXPECT_EQ(copy[0].chunk_index(), a1[0].chunk_index());
  EXPECT_EQ(copy[0].attempt(), 2u);
  EXPECT_EQ(h_.scheduler().stats().chunks_speculated, 1u);
  Sent sent = h_.Report("w2", copy[0], 1, 100'000);
  EXPECT_EQ(ResultsTo(sent, "c1").size(), 1u);
  EXPECT_EQ(BodiesTo(sent, "c1", E::kJobFinished).size(), 1u);
  // The job ended: w1 is told to drop its copy.
  EXPECT_EQ(BodiesTo(sent, "w1", E::kRevokeJob).size(), 1u);
  // w1's late report of the same chunk is not delivered twice.
  EXPECT_TRUE(ResultsTo(h_.Report("w1", a1[0]), "c1").empty());
}

TEST_F(SchedulerFaultsTest, TheLosingCopyIsRevokedChunkByChunk) {
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 4, 1));
  auto a1 = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  auto a2 = AssignmentsTo(h_.HelloWorker("w2", 1, 1), "w2");
  ASSERT_EQ(a1.size(), 1u);
  h_.AdvanceMs(100);
  a2 = AssignmentsTo(h_.Report("w2", a2[0], 1, 100'000), "w2");
  h_.AdvanceMs(100);
  a2 = AssignmentsTo(h_.Report("w2", a2[0], 1, 100'000), "w2");
  h_.AdvanceMs(100);
  h_.Report("w2", a2[0], 1, 100'000);  // chunks 1, 2, 3 done; 0 on w1
  Pass(1000, {"w1"});
  auto copy = AssignmentsTo(h_.Tick(), "w2");
  ASSERT_EQ(copy.size(), 1u);
  // w1 wins after all: w2's copy is revoked, by chunk.
  Sent sent = h_.Report("w1", a1[0]);
  EXPECT_EQ(ResultsTo(sent, "c1").size(), 1u);
  auto revokes = BodiesTo(sent, "w2", E::kRevokeJob);
  ASSERT_GE(revokes.size(), 1u);
  EXPECT_EQ(h_.scheduler().stats().speculative_copies_revoked, 1u);
}

TEST_F(SchedulerFaultsTest, AFrozenWorkersWholePrefetchIsCopiedAtOnce) {
  // w1 takes 4 chunks and freezes; w2 runs the rest and is idle after.
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 8, 1));
  auto a1 = AssignmentsTo(h_.HelloWorker("w1", 1, 4), "w1");
  ASSERT_EQ(a1.size(), 4u);
  auto a2 = AssignmentsTo(h_.HelloWorker("w2", 1, 4), "w2");
  ASSERT_EQ(a2.size(), 4u);
  h_.AdvanceMs(100);
  for (const v1::Assignment& a : a2) h_.Report("w2", a, 1, 25'000);
  Pass(1000, {"w1", "w2"});
  // One round copies all four (within w2's credit), not one per thread:
  // otherwise declaring w1 lost would come first.
  std::set<uint64_t> copied;
  for (const v1::Assignment& a : AssignmentsTo(h_.Tick(), "w2")) {
    copied.insert(a.chunk_index());
  }
  std::set<uint64_t> frozen;
  for (const v1::Assignment& a : a1) frozen.insert(a.chunk_index());
  EXPECT_EQ(copied, frozen);
  EXPECT_EQ(h_.scheduler().stats().chunks_speculated, 4u);
}

TEST_F(SchedulerFaultsTest, WhileChunksAreOutTheLoopWakesToLookForStragglers) {
  EXPECT_EQ(h_.scheduler().NextDeadlineUs() - h_.now() > 100'000, true)
      << "nothing out: no reason to wake for stragglers";
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 8, 1));
  ASSERT_EQ(AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1").size(), 1u);
  h_.AdvanceMs(100);
  h_.Tick();
  // Without this wake-up a straggler waited for the next heartbeat (1 s).
  EXPECT_LE(h_.scheduler().NextDeadlineUs(), h_.now() + 100'000);
}

TEST_F(SchedulerFaultsTest, AHangingChunkRunsOutOfAttemptsThoughACopyRunsElsewhere) {
  v1::Envelope submit = SchedulerHarness::RangeJob(1, 3, 1);
  submit.mutable_submit_job()->set_chunk_timeout_ms(3000);
  submit.mutable_submit_job()->set_max_attempts(1);
  h_.Submit("c1", submit);
  auto a1 = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  auto a2 = AssignmentsTo(h_.HelloWorker("w2", 1, 1), "w2");
  ASSERT_EQ(a1.size(), 1u);
  h_.AdvanceMs(100);
  a2 = AssignmentsTo(h_.Report("w2", a2[0], 1, 100'000), "w2");
  h_.AdvanceMs(100);
  h_.Report("w2", a2[0], 1, 100'000);  // w2 idle; chunk 0 hangs on w1
  Pass(1000, {"w1", "w2"});
  auto copy = AssignmentsTo(h_.Tick(), "w2");
  ASSERT_EQ(copy.size(), 1u);  // the copy hangs too
  h_.AdvanceMs(2000);
  h_.HeartbeatHeld("w2", copy, {}, 2000);
  // w1's run passes its limit: the one attempt is spent, so the job fails
  // now and w2's copy is revoked (it used to be waited for, then copied
  // again when it overran, for ever).
  Sent sent = h_.HeartbeatHeld("w1", a1, {}, 3200);
  auto finished = BodiesTo(sent, "c1", E::kJobFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_THAT(finished[0].job_finished().message(), HasSubstr("run limit of 3 s"));
  EXPECT_FALSE(BodiesTo(sent, "w2", E::kRevokeJob).empty());
}

TEST_F(SchedulerFaultsTest, ChunksFollowTheCostOfAnItem) {
  // No chunk size: sizes learned from reports, aiming at 100 ms.
  auto sizes_for = [&](uint64_t micros_per_item) {
    SchedulerHarness h;
    h.HelloClient("c1");
    h.Submit("c1", SchedulerHarness::RangeJob(1, 1'000'000, 0, 100, "spin"));
    Sent sent = h.HelloWorker("w1", 1, 1);
    std::vector<uint64_t> sizes;
    for (int i = 0; i < 12; ++i) {
      auto a = AssignmentsTo(sent, "w1");
      if (a.empty()) break;
      const uint64_t items =
          a[0].input().range().last() - a[0].input().range().first() + 1;
      sizes.push_back(items);
      sent = h.Report("w1", a[0], 1, items * micros_per_item);
    }
    return sizes;
  };
  // 100 ms items (spin us=100000): one item per chunk, from the start.
  std::vector<uint64_t> slow = sizes_for(100'000);
  ASSERT_FALSE(slow.empty());
  EXPECT_TRUE(std::all_of(slow.begin(), slow.end(),
                          [](uint64_t n) { return n == 1; }));
  // 10 us items: chunks grow (at most 4x a step) towards 10,000 items.
  std::vector<uint64_t> fast = sizes_for(10);
  ASSERT_EQ(fast.size(), 12u);
  for (size_t i = 1; i < fast.size(); ++i) EXPECT_LE(fast[i], 4 * fast[i - 1]);
  EXPECT_EQ(fast.back(), 10'000u);
}

// A fleet of fake one-thread workers with prefetch that run their chunks in
// order; a chunk holding the poison item kills its worker before it can say
// it started (as SIGABRT does), and a supervisor starts a new one at once.
// Counts the deaths; returns what the client got.
struct FleetRun {
  int deaths = 0;
  std::map<uint64_t, uint64_t> ok;  // first item -> items, results delivered
  std::vector<v1::ChunkResult> failed;
  v1::JobFinished finished;
  bool ended = false;
};

FleetRun RunFleetWithPoison(SchedulerHarness& h, v1::Envelope submit,
                            uint64_t poison, int workers, uint32_t credit) {
  FleetRun run;
  h.Submit("c1", std::move(submit));
  std::map<std::string, std::deque<v1::Assignment>> fleet;
  int next_name = 0;
  auto take = [&](const Sent& sent) {
    for (const auto& m : sent) {
      if (m.peer == "c1" && m.envelope.has_job_results()) {
        for (const auto& r : m.envelope.job_results().results()) {
          if (r.has_error()) {
            run.failed.push_back(r);
          } else {
            run.ok[r.first_item()] += r.item_count();
          }
        }
      }
      if (m.peer == "c1" && m.envelope.has_job_finished()) {
        run.finished = m.envelope.job_finished();
        run.ended = true;
      }
      auto w = fleet.find(m.peer);
      if (w == fleet.end()) continue;
      if (m.envelope.has_assignments()) {
        for (const auto& a : m.envelope.assignments().assignments()) {
          w->second.push_back(a);
        }
      }
      if (m.envelope.has_revoke_job()) {
        const v1::RevokeJob& revoke = m.envelope.revoke_job();
        auto& queue = w->second;
        queue.erase(std::remove_if(queue.begin(), queue.end(),
                                   [&](const v1::Assignment& a) {
                                     if (revoke.chunks().empty()) return true;
                                     for (const auto& ref : revoke.chunks()) {
                                       if (ref.chunk_index() == a.chunk_index()) {
                                         return true;
                                       }
                                     }
                                     return false;
                                   }),
                    queue.end());
      }
    }
  };
  auto start = [&] {
    const std::string name = "w" + std::to_string(++next_name);
    fleet[name];
    take(h.HelloWorker(name, 1, credit));
  };
  for (int i = 0; i < workers; ++i) start();
  for (int step = 0; step < 100'000 && !run.ended; ++step) {
    bool ran = false;
    for (auto& [name, queue] : std::map<std::string, std::deque<v1::Assignment>>(fleet)) {
      if (run.ended) break;
      auto& mine = fleet[name];
      if (mine.empty()) continue;
      ran = true;
      const v1::Assignment a = mine.front();
      mine.pop_front();
      const v1::Range& range = a.input().range();
      if (range.first() <= poison + 1 && poison + 1 <= range.last()) {
        ++run.deaths;
        fleet.erase(name);
        take(h.Unreachable(name));
        start();
      } else {
        take(h.Report(name, a, 1));
      }
    }
    if (!ran) break;
  }
  EXPECT_TRUE(run.ended) << "the job did not end";
  return run;
}

TEST_F(SchedulerFaultsTest, APoisonItemThatCrashesWorkersCostsAttemptsPlusLog2Deaths) {
  // 8 chunks of 1000 items, 3 workers holding 4 chunks each; item 4321
  // (n=4322) aborts its worker. max_attempts 3: 3 + log2(1000) = 13.
  FleetRun run = RunFleetWithPoison(
      h_, SchedulerHarness::RangeJob(1, 8000, 1000), 4321, 3, 4);
  EXPECT_LE(run.deaths, 3 + 10);
  RecordProperty("deaths", run.deaths);
  EXPECT_EQ(run.finished.code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(run.finished.message(), HasSubstr("item 4321 of job"));
  EXPECT_THAT(run.finished.message(), HasSubstr("while running it alone"));
  ASSERT_TRUE(run.finished.has_failed_item());
  EXPECT_EQ(run.finished.failed_item(), 4321u);
  // The chunks that were on the dying workers beside the poison one were
  // not charged: whole, never split.
  for (const auto& [first, items] : run.ok) {
    if (first / 1000 != 4) {
      EXPECT_EQ(items, 1000u) << first;
    }
  }
  EXPECT_EQ(h_.scheduler().stats().chunks_split, 10u);
}

TEST_F(SchedulerFaultsTest, SkipFailedOnACrashingItemCompletesWithOnlyThatItemFailed) {
  v1::Envelope submit = SchedulerHarness::RangeJob(1, 8000, 1000);
  submit.mutable_submit_job()->set_skip_failed(true);
  FleetRun run = RunFleetWithPoison(h_, submit, 4321, 3, 4);
  EXPECT_LE(run.deaths, 3 + 10);
  RecordProperty("deaths", run.deaths);
  EXPECT_EQ(run.finished.code(), 0);
  ASSERT_EQ(run.failed.size(), 1u);
  EXPECT_EQ(run.failed[0].first_item(), 4321u);
  EXPECT_EQ(run.failed[0].item_count(), 1u);
  uint64_t items = 0;
  for (const auto& [first, n] : run.ok) {
    items += n;
    EXPECT_FALSE(first <= 4321 && 4321 < first + n);
  }
  EXPECT_EQ(items, 7999u);
  EXPECT_EQ(h_.scheduler().stats().items_failed, 1u);
}

}  // namespace
}  // namespace tq::testing
