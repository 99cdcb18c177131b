// WorkerSession, protocol 3 and faults, with fake time: epoch and session
// echoed and checked, held-chunk heartbeats while busy, chunk and job
// revokes that cancel running work and return its credit at once, run
// limits, a wedged chunk that makes the worker leave, failed sends kept and
// retried.
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "common/protocol.h"
#include "gtest/gtest.h"
#include "tests/worker/session_test_util.h"
#include "worker/worker_session.h"

namespace tq {
namespace {

constexpr int64_t kMs = 1000;
constexpr uint64_t kEpoch = 0xE90C;
constexpr uint64_t kSession = 42;

WorkerSessionOptions TestOptions() {
  WorkerSessionOptions options;
  options.threads = 2;
  options.prefetch = 1;
  options.name = "test-worker";
  options.heartbeat_interval_ms = 100;
  options.heartbeat_timeout_ms = 500;
  options.reconnect_min_ms = 10;
  options.reconnect_max_ms = 40;
  return options;
}

v1::Assignment MakeAssignment(uint64_t job, uint64_t chunk,
                              uint64_t run_limit_ms = 0) {
  v1::Assignment assignment;
  assignment.set_job_id(job);
  assignment.set_chunk_index(chunk);
  assignment.set_attempt(1);
  assignment.set_task("noop");
  assignment.mutable_input()->mutable_range()->set_first(chunk * 10);
  assignment.mutable_input()->mutable_range()->set_last(chunk * 10 + 9);
  assignment.set_run_limit_ms(run_limit_ms);
  return assignment;
}

v1::Envelope AssignmentsFor(const std::vector<v1::Assignment>& list,
                            uint64_t epoch = kEpoch,
                            uint64_t session = kSession) {
  v1::Envelope envelope;
  for (const auto& a : list)
    *envelope.mutable_assignments()->add_assignments() = a;
  envelope.mutable_assignments()->set_broker_epoch(epoch);
  envelope.mutable_assignments()->set_session(session);
  return envelope;
}

v1::Envelope Revoke(uint64_t job, std::vector<uint64_t> chunks = {}) {
  v1::Envelope envelope;
  envelope.mutable_revoke_job()->set_job_id(job);
  for (uint64_t chunk : chunks) {
    v1::ChunkRef* ref = envelope.mutable_revoke_job()->add_chunks();
    ref->set_job_id(job);
    ref->set_chunk_index(chunk);
  }
  return envelope;
}

// The pool's answer for a run handed out by TakeChunksToStart.
ChunkDone Finished(const ChunkWork& work, bool cancelled = false) {
  ChunkDone done;
  done.report.set_job_id(work.assignment.job_id());
  done.report.set_chunk_index(work.assignment.chunk_index());
  done.report.set_attempt(work.assignment.attempt());
  if (cancelled) {
    *done.report.mutable_error() = ErrorFromStatus(
        absl::CancelledError("cancelled"), work.assignment.job_id());
  }
  done.run_id = work.run_id;
  return done;
}

uint32_t CreditIn(const std::vector<v1::Envelope>& out) {
  uint32_t credit = 0;
  for (const v1::Envelope& e : out) {
    if (e.has_worker_credit()) credit += e.worker_credit().chunks();
    if (e.has_chunk_reports()) credit += e.chunk_reports().credit();
  }
  return credit;
}

class WorkerSessionFaultsTest : public ::testing::Test {
 protected:
  WorkerSessionFaultsTest() : session_(TestOptions()) {}

  void Welcome() {
    session_.OnConnected(now_);
    session_.TakeOutgoing();
    v1::Envelope envelope;
    envelope.mutable_welcome()->set_protocol_version(kProtocolVersion);
    envelope.mutable_welcome()->set_heartbeat_interval_ms(100);
    envelope.mutable_welcome()->set_heartbeat_timeout_ms(500);
    envelope.mutable_welcome()->set_broker_epoch(kEpoch);
    envelope.mutable_welcome()->set_session(kSession);
    session_.OnMessage(envelope, now_);
    ASSERT_TRUE(session_.welcomed());
    session_.TakeOutgoing();
  }

  // A broker heartbeat, so that only what a test examines decides.
  void BrokerAlive(int64_t t) {
    v1::Envelope heartbeat;
    heartbeat.mutable_heartbeat();
    session_.OnMessage(heartbeat, t);
  }

  int64_t now_ = 1'000'000;
  WorkerSession session_;
};

TEST_F(WorkerSessionFaultsTest, ReportsEchoTheWelcomesEpochAndSession) {
  Welcome();
  EXPECT_EQ(session_.broker_epoch(), kEpoch);
  EXPECT_EQ(session_.session_id(), kSession);
  session_.OnMessage(AssignmentsFor({MakeAssignment(1, 0)}), now_);
  std::vector<ChunkWork> started = session_.TakeChunksToStart();
  ASSERT_EQ(started.size(), 1u);
  session_.OnChunksFinished({Finished(started[0])}, now_);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].has_chunk_reports());
  EXPECT_EQ(out[0].chunk_reports().broker_epoch(), kEpoch);
  EXPECT_EQ(out[0].chunk_reports().session(), kSession);
}

TEST_F(WorkerSessionFaultsTest,
       AssignmentsOfAnotherSessionOrEpochAreDroppedAndCounted) {
  Welcome();
  const int64_t credit = session_.granted_credit();
  session_.OnMessage(
      AssignmentsFor({MakeAssignment(1, 0)}, kEpoch, kSession - 1), now_);
  session_.OnMessage(
      AssignmentsFor({MakeAssignment(1, 1), MakeAssignment(1, 2)}, kEpoch + 1,
                     kSession),
      now_);
  EXPECT_TRUE(session_.TakeChunksToStart().empty());
  EXPECT_EQ(session_.stale_assignments(), 3);
  EXPECT_EQ(session_.granted_credit(), credit);  // no credit spent on them
  EXPECT_EQ(session_.protocol_violations(), 0);
}

TEST_F(WorkerSessionFaultsTest,
       HeldHeartbeatEveryIntervalEvenWhileSendingReports) {
  Welcome();
  // A long chunk on one thread, a stream of quick ones on the other: a
  // ChunkReports goes out every 20 ms, yet the held list must too, every
  // heartbeat interval.
  session_.OnMessage(
      AssignmentsFor({MakeAssignment(9, 0), MakeAssignment(1, 0)}), now_);
  std::vector<ChunkWork> started = session_.TakeChunksToStart();
  ASSERT_EQ(started.size(), 2u);
  const int64_t t0 = now_;
  int64_t last_held = t0;
  int held_heartbeats = 0;
  uint64_t next_chunk = 1;
  ChunkWork quick = started[1];
  for (int64_t t = t0 + 20 * kMs; t <= t0 + 1000 * kMs; t += 20 * kMs) {
    session_.OnChunksFinished({Finished(quick)}, t);
    session_.OnMessage(AssignmentsFor({MakeAssignment(1, next_chunk++)}), t);
    std::vector<ChunkWork> more = session_.TakeChunksToStart();
    ASSERT_EQ(more.size(), 1u);
    quick = more[0];
    if (session_.NextDeadlineUs() <= t) session_.OnTick(t);
    for (const v1::Envelope& e : Envelopes(session_.TakeOutgoing())) {
      if (!e.has_heartbeat()) continue;
      ++held_heartbeats;
      EXPECT_LE(t - last_held, 100 * kMs);
      last_held = t;
      const v1::WorkerHeld& held = e.heartbeat().held();
      EXPECT_EQ(held.session(), kSession);
      ASSERT_EQ(held.running_size(), 2);
      bool saw_long = false;
      for (const v1::ChunkRef& ref : held.running()) {
        if (ref.job_id() == 9) {
          saw_long = true;
          EXPECT_EQ(ref.started_ms(), static_cast<uint64_t>((t - t0) / kMs));
        }
      }
      EXPECT_TRUE(saw_long);
    }
  }
  EXPECT_GE(held_heartbeats, 9);
}

TEST_F(WorkerSessionFaultsTest, HeldListsQueuedChunksApart) {
  Welcome();
  session_.OnMessage(AssignmentsFor({MakeAssignment(1, 0), MakeAssignment(1, 1),
                                     MakeAssignment(1, 2)}),
                     now_);
  ASSERT_EQ(session_.TakeChunksToStart().size(), 2u);
  session_.OnTick(now_ + 100 * kMs);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  const v1::WorkerHeld& held = out[0].heartbeat().held();
  EXPECT_EQ(held.running_size(), 2);
  ASSERT_EQ(held.queued_size(), 1);
  EXPECT_EQ(held.queued(0).chunk_index(), 2u);
  EXPECT_EQ(held.running(0).started_ms(), 100u);
}

TEST_F(WorkerSessionFaultsTest,
       ChunkRevokeCancelsOnlyThatChunkAndReturnsItsCreditAtOnce) {
  Welcome();
  session_.OnMessage(AssignmentsFor({MakeAssignment(7, 0), MakeAssignment(7, 1),
                                     MakeAssignment(7, 2)}),
                     now_);
  std::vector<ChunkWork> started = session_.TakeChunksToStart();
  ASSERT_EQ(started.size(), 2u);  // 7/0, 7/1 run; 7/2 queued
  session_.TakeOutgoing();
  session_.OnMessage(Revoke(7, {1}), now_);
  EXPECT_FALSE(started[0].cancel->cancelled());
  EXPECT_TRUE(started[1].cancel->cancelled());
  EXPECT_TRUE(session_.TakeRevokedJobs().empty());  // not the whole job
  // Its slot is free at once: the queued chunk starts, and the credit the
  // cancelled chunk held comes back.
  std::vector<ChunkWork> next = session_.TakeChunksToStart();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].assignment.chunk_index(), 2u);
  EXPECT_EQ(CreditIn(Envelopes(session_.TakeOutgoing())), 1u);
  // The cancelled run's late report is dropped; the others are reported.
  session_.OnChunksFinished({Finished(started[1], true), Finished(started[0])},
                            now_ + kMs);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].chunk_reports().reports_size(), 1);
  EXPECT_EQ(out[0].chunk_reports().reports(0).chunk_index(), 0u);
  EXPECT_EQ(session_.cancelled_runs(), 1);
  EXPECT_EQ(session_.discarded_reports(), 0);
}

TEST_F(WorkerSessionFaultsTest,
       JobRevokeCancelsItsRunningChunksAndTheirReportsAreDropped) {
  Welcome();
  session_.OnMessage(AssignmentsFor({MakeAssignment(7, 0), MakeAssignment(8, 0),
                                     MakeAssignment(7, 1)}),
                     now_);
  std::vector<ChunkWork> started = session_.TakeChunksToStart();
  ASSERT_EQ(started.size(), 2u);
  session_.TakeOutgoing();
  session_.OnMessage(Revoke(7), now_);
  EXPECT_TRUE(started[0].cancel->cancelled());   // 7/0
  EXPECT_FALSE(started[1].cancel->cancelled());  // 8/0
  EXPECT_EQ(session_.TakeRevokedJobs(), std::vector<uint64_t>{7});
  // 7/0's slot and 7/1's queue place come back at once.
  EXPECT_EQ(CreditIn(Envelopes(session_.TakeOutgoing())), 2u);
  session_.OnChunksFinished({Finished(started[0], true)}, now_ + kMs);
  EXPECT_TRUE(session_.TakeOutgoing().empty());
}

TEST_F(WorkerSessionFaultsTest, ARunRevokedThenReassignedReportsOnlyTheNewRun) {
  Welcome();
  session_.OnMessage(AssignmentsFor({MakeAssignment(7, 0)}), now_);
  std::vector<ChunkWork> first = session_.TakeChunksToStart();
  session_.OnMessage(Revoke(7, {0}), now_);
  v1::Assignment again = MakeAssignment(7, 0);
  again.set_attempt(2);
  session_.OnMessage(AssignmentsFor({again}), now_);
  std::vector<ChunkWork> second = session_.TakeChunksToStart();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0].run_id, first[0].run_id);
  EXPECT_FALSE(second[0].cancel->cancelled());
  session_.TakeOutgoing();
  session_.OnChunksFinished({Finished(first[0], true)}, now_ + kMs);
  EXPECT_TRUE(session_.TakeOutgoing().empty());  // the old run: dropped
  session_.OnChunksFinished({Finished(second[0])}, now_ + 2 * kMs);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].chunk_reports().reports_size(), 1);
  EXPECT_EQ(out[0].chunk_reports().reports(0).attempt(), 2u);
  EXPECT_FALSE(out[0].chunk_reports().reports(0).has_error());
}

TEST_F(WorkerSessionFaultsTest,
       CodeChunksCancelledOneByOneAreNamedForTheirRunners) {
  Welcome();
  v1::Assignment code = MakeAssignment(5, 3);
  code.set_task("");
  code.mutable_code()->set_function_sha256("f");
  v1::Envelope envelope = AssignmentsFor({code});
  v1::CodeBlob* blob = envelope.mutable_assignments()->add_code_blobs();
  blob->set_sha256("f");
  blob->set_payload(0);
  session_.OnMessage(envelope, {Payload::FromString("fn")}, now_);
  ASSERT_EQ(session_.TakeChunksToStart().size(), 1u);
  session_.OnMessage(Revoke(5, {3}), now_);
  std::vector<std::pair<uint64_t, uint64_t>> kill =
      session_.TakeCancelledCodeChunks();
  ASSERT_EQ(kill.size(), 1u);
  EXPECT_EQ(kill[0], std::make_pair(uint64_t{5}, uint64_t{3}));
}

TEST_F(WorkerSessionFaultsTest,
       ChunkPastItsRunLimitIsReportedAsRunLimitAndCancelled) {
  Welcome();
  session_.OnMessage(
      AssignmentsFor({MakeAssignment(3, 0, /*run_limit_ms=*/50)}), now_);
  std::vector<ChunkWork> started = session_.TakeChunksToStart();
  ASSERT_EQ(started.size(), 1u);
  session_.TakeOutgoing();
  EXPECT_EQ(session_.NextDeadlineUs(), now_ + 50 * kMs);
  session_.OnTick(now_ + 49 * kMs);
  EXPECT_FALSE(started[0].cancel->cancelled());
  session_.OnTick(now_ + 50 * kMs);
  EXPECT_TRUE(started[0].cancel->cancelled());
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].chunk_reports().reports_size(), 1);
  const v1::ChunkReport& report = out[0].chunk_reports().reports(0);
  EXPECT_EQ(report.failure(), v1::FAILURE_RUN_LIMIT);
  EXPECT_TRUE(report.has_error());
  EXPECT_EQ(out[0].chunk_reports().credit(), 1u);  // its slot, at once
  EXPECT_EQ(session_.run_limit_failures(), 1);
  // The kernel stops soon after: nothing more is reported for it.
  session_.OnChunksFinished({Finished(started[0], true)}, now_ + 60 * kMs);
  EXPECT_TRUE(session_.TakeOutgoing().empty());
  session_.OnTick(now_ + 2000 * kMs);
  EXPECT_FALSE(session_.wedged());
}

TEST_F(WorkerSessionFaultsTest, ACancelledChunkThatDoesNotStopWedgesTheWorker) {
  Welcome();
  session_.OnMessage(
      AssignmentsFor({MakeAssignment(3, 0, 50), MakeAssignment(4, 0),
                      MakeAssignment(4, 1)}),
      now_);
  std::vector<ChunkWork> started = session_.TakeChunksToStart();
  ASSERT_EQ(started.size(), 2u);  // 3/0 (hangs) and 4/0; 4/1 queued
  session_.TakeOutgoing();
  session_.OnTick(now_ + 50 * kMs);  // run limit: reported, cancelled
  session_.TakeOutgoing();
  // 4/1 started in the freed slot; the hung 3/0 never ends.
  std::vector<ChunkWork> next = session_.TakeChunksToStart();
  ASSERT_EQ(next.size(), 1u);
  const int64_t grace_end = now_ + 50 * kMs + kCancelGraceUs;
  EXPECT_LE(session_.NextDeadlineUs(), grace_end);
  BrokerAlive(grace_end - 1);
  session_.OnTick(grace_end - 1);
  EXPECT_FALSE(session_.wedged());
  session_.TakeOutgoing();
  session_.OnTick(grace_end);
  EXPECT_TRUE(session_.wedged());
  EXPECT_FALSE(session_.done());  // 4/0 and 4/1 still run: wait for them
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(out[0].has_drain());
  // No more work is taken: a late Assignment goes straight back.
  session_.OnChunksFinished({Finished(started[1])}, grace_end + kMs);
  out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].chunk_reports().reports_size(), 1);
  // 4/1 never finishes either: after the grace the worker leaves anyway.
  BrokerAlive(grace_end + kWedgedExitGraceUs - 1);
  session_.OnTick(grace_end + kWedgedExitGraceUs - 1);
  EXPECT_FALSE(session_.done());
  session_.OnTick(grace_end + kWedgedExitGraceUs);
  ASSERT_TRUE(session_.done());
  EXPECT_EQ(session_.status().code(), absl::StatusCode::kAborted);
  out = Envelopes(session_.TakeOutgoing());
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(out.back().has_goodbye());
}

TEST_F(WorkerSessionFaultsTest,
       ARefusedSendIsKeptAndRetriedInOrderAheadOfNewerMessages) {
  Welcome();
  session_.OnMessage(
      AssignmentsFor({MakeAssignment(1, 0), MakeAssignment(1, 1)}), now_);
  std::vector<ChunkWork> started = session_.TakeChunksToStart();
  session_.TakeOutgoing();
  session_.OnChunksFinished({Finished(started[0])}, now_);
  std::vector<WorkerMessage> refused = session_.TakeOutgoing();
  ASSERT_EQ(refused.size(), 1u);
  session_.OnSendFailed(std::move(refused),
                        absl::UnavailableError("send would block"), true, now_);
  EXPECT_EQ(session_.unsent_messages(), 1u);
  // A newer report waits behind it; nothing goes out before the retry.
  session_.OnChunksFinished({Finished(started[1])}, now_ + kMs);
  EXPECT_TRUE(session_.TakeOutgoing().empty());
  EXPECT_EQ(session_.NextDeadlineUs(), now_ + kSendRetryUs);
  session_.OnTick(now_ + kSendRetryUs);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].chunk_reports().reports(0).chunk_index(), 0u);
  EXPECT_EQ(out[1].chunk_reports().reports(0).chunk_index(), 1u);
  EXPECT_EQ(session_.unsent_messages(), 0u);
  EXPECT_EQ(session_.undelivered_reports(), 0);
}

TEST_F(WorkerSessionFaultsTest,
       SendsRefusedForTheHeartbeatTimeoutLoseTheSessionCountingReports) {
  Welcome();
  session_.OnMessage(AssignmentsFor({MakeAssignment(1, 0)}), now_);
  std::vector<ChunkWork> started = session_.TakeChunksToStart();
  session_.TakeOutgoing();
  session_.OnChunksFinished({Finished(started[0])}, now_);
  int64_t t = now_;
  std::vector<WorkerMessage> refused = session_.TakeOutgoing();
  while (!session_.TakeReconnect()) {
    ASSERT_LE(t, now_ + 600 * kMs) << "never gave up";
    if (!refused.empty()) {
      session_.OnSendFailed(std::move(refused), absl::UnavailableError("full"),
                            true, t);
    }
    BrokerAlive(t);  // only the sends decide
    t += kSendRetryUs;
    session_.OnTick(t);
    refused = session_.TakeOutgoing();
  }
  EXPECT_GE(t - now_, 500 * kMs);
  EXPECT_EQ(session_.undelivered_reports(), 1);
  EXPECT_EQ(session_.unsent_messages(), 0u);
}

TEST_F(WorkerSessionFaultsTest, ABrokenSocketLosesTheSessionAtOnce) {
  Welcome();
  v1::Envelope credit;
  credit.mutable_worker_credit()->set_chunks(1);
  std::vector<WorkerMessage> refused;
  refused.push_back(WorkerMessage{credit, {}});
  session_.OnSendFailed(std::move(refused),
                        absl::UnavailableError("send would block mid-message"),
                        false, now_);
  EXPECT_TRUE(session_.TakeReconnect());
  EXPECT_FALSE(session_.welcomed());
}

}  // namespace
}  // namespace tq
