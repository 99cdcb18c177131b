// WorkerSession driven with fake time: credit, heartbeats, reconnect back-off,
// revoke, re-assignment of running chunks, queue order (run_first) and
// giving back queued chunks, stop/drain, fatal errors.
#include "worker/worker_session.h"

#include "common/protocol.h"
#include "tests/worker/session_test_util.h"

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

constexpr int64_t kMs = 1000;

WorkerOptions TestOptions() {
  WorkerOptions options;
  options.broker = "inproc://unused";
  options.threads = 2;
  options.prefetch = 1;
  options.name = "test-worker";
  options.heartbeat_interval_ms = 100;
  options.heartbeat_timeout_ms = 500;
  options.reconnect_min_ms = 10;
  options.reconnect_max_ms = 40;
  return options;
}

v1::Envelope WelcomeMessage() {
  v1::Envelope envelope;
  envelope.mutable_welcome()->set_protocol_version(kProtocolVersion);
  envelope.mutable_welcome()->set_heartbeat_interval_ms(100);
  envelope.mutable_welcome()->set_heartbeat_timeout_ms(500);
  return envelope;
}

v1::Assignment MakeAssignment(uint64_t job, uint64_t chunk, uint32_t attempt = 1) {
  v1::Assignment assignment;
  assignment.set_job_id(job);
  assignment.set_chunk_index(chunk);
  assignment.set_attempt(attempt);
  assignment.set_task("noop");
  assignment.mutable_input()->mutable_range()->set_first(chunk * 10);
  assignment.mutable_input()->mutable_range()->set_last(chunk * 10 + 9);
  return assignment;
}

v1::Envelope AssignmentsMessage(const std::vector<v1::Assignment>& list) {
  v1::Envelope envelope;
  for (const auto& a : list) *envelope.mutable_assignments()->add_assignments() = a;
  return envelope;
}

ChunkDone Report(uint64_t job, uint64_t chunk, uint32_t attempt = 1) {
  v1::ChunkReport report;
  report.set_job_id(job);
  report.set_chunk_index(chunk);
  report.set_attempt(attempt);
  return Done(std::move(report));
}

class WorkerSessionTest : public ::testing::Test {
 protected:
  WorkerSessionTest() : session_(TestOptions()) {}

  // Connect + Welcome at time now_; discards the Hello.
  void Welcome() {
    session_.OnConnected(now_);
    session_.TakeOutgoing();
    session_.OnMessage(WelcomeMessage(), now_);
    ASSERT_TRUE(session_.welcomed());
    session_.TakeOutgoing();
  }

  int64_t now_ = 1'000'000;
  WorkerSession session_;
};

TEST_F(WorkerSessionTest, HelloOnConnectGrantsThreadsPlusPrefetch) {
  session_.OnConnected(now_);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].has_hello());
  EXPECT_EQ(out[0].hello().protocol_version(), kProtocolVersion);
  EXPECT_EQ(out[0].hello().role(), v1::ROLE_WORKER);
  EXPECT_EQ(out[0].hello().name(), "test-worker");
  EXPECT_EQ(out[0].hello().threads(), 2u);
  EXPECT_EQ(out[0].hello().credit(), 3u);
}

TEST_F(WorkerSessionTest, StartsAtMostOneChunkPerThreadAndQueuesPrefetch) {
  Welcome();
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0), MakeAssignment(7, 1),
                                         MakeAssignment(7, 2)}),
                     now_);
  std::vector<v1::Assignment> started = Assignments(session_.TakeChunksToStart());
  ASSERT_EQ(started.size(), 2u);
  EXPECT_EQ(started[0].chunk_index(), 0u);
  EXPECT_EQ(started[1].chunk_index(), 1u);
  EXPECT_EQ(session_.queued_chunks(), 1u);
  EXPECT_EQ(session_.granted_credit(), 0);
  EXPECT_EQ(session_.protocol_violations(), 0);
}

TEST_F(WorkerSessionTest, AssignmentBeyondCreditIsDroppedAndCounted) {
  Welcome();
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0), MakeAssignment(7, 1),
                                         MakeAssignment(7, 2), MakeAssignment(7, 3)}),
                     now_);
  EXPECT_EQ(session_.TakeChunksToStart().size(), 2u);
  EXPECT_EQ(session_.queued_chunks(), 1u);
  EXPECT_EQ(session_.protocol_violations(), 1);
}

TEST_F(WorkerSessionTest, FinishedChunksReturnCreditInOneReportsMessage) {
  Welcome();
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0), MakeAssignment(7, 1),
                                         MakeAssignment(7, 2)}),
                     now_);
  session_.TakeChunksToStart();
  session_.OnChunksFinished({Report(7, 0), Report(7, 1)}, now_);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].has_chunk_reports());
  EXPECT_EQ(out[0].chunk_reports().reports_size(), 2);
  EXPECT_EQ(out[0].chunk_reports().credit(), 2u);
  // The queued chunk moves onto the freed thread.
  std::vector<v1::Assignment> started = Assignments(session_.TakeChunksToStart());
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].chunk_index(), 2u);
  EXPECT_EQ(session_.granted_credit(), 2);
}

TEST_F(WorkerSessionTest, HeartbeatAfterIntervalOfSilence) {
  Welcome();
  session_.OnTick(now_ + 99 * kMs);
  EXPECT_TRUE(session_.TakeOutgoing().empty());
  EXPECT_EQ(session_.NextDeadlineUs(), now_ + 100 * kMs);
  session_.OnTick(now_ + 100 * kMs);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].has_heartbeat());
}

TEST_F(WorkerSessionTest, BrokerSilenceReconnectsWithDoublingBackoffResetByWelcome) {
  Welcome();
  v1::Envelope heartbeat;
  heartbeat.mutable_heartbeat();
  session_.OnMessage(heartbeat, now_);
  session_.OnTick(now_ + 499 * kMs);
  EXPECT_FALSE(session_.TakeReconnect());
  now_ += 500 * kMs;
  session_.OnTick(now_);
  ASSERT_TRUE(session_.TakeReconnect());
  EXPECT_FALSE(session_.welcomed());
  session_.TakeOutgoing();  // heartbeats sent before the loss

  // No Welcome: re-Hello after 10, 20, 40, 40 ms (capped).
  for (int64_t wait_ms : {10, 20, 40, 40}) {
    session_.OnConnected(now_);
    std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].has_hello());
    EXPECT_EQ(session_.NextDeadlineUs(), now_ + wait_ms * kMs);
    session_.OnTick(now_ + wait_ms * kMs - 1);
    EXPECT_FALSE(session_.TakeReconnect()) << wait_ms;
    now_ += wait_ms * kMs;
    session_.OnTick(now_);
    EXPECT_TRUE(session_.TakeReconnect()) << wait_ms;
  }
  // A Welcome resets the back-off to the minimum.
  session_.OnConnected(now_);
  session_.OnMessage(WelcomeMessage(), now_);
  EXPECT_TRUE(session_.welcomed());
  EXPECT_EQ(session_.reconnect_backoff_ms(), 10);
}

// A standby pair's broker that does not serve refuses the Hello: not final
// (a refused protocol version is), the next session goes to the next
// broker once the Welcome's wait is over.
TEST_F(WorkerSessionTest, AStandbysRefusalIsNotFinal) {
  session_.OnConnected(now_);
  std::vector<v1::Envelope> hello = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(hello.size(), 1u);
  EXPECT_FALSE(hello[0].hello().failed_over()) << "the first";
  v1::Envelope refusal;
  refusal.mutable_error()->set_code(
      static_cast<int>(absl::StatusCode::kUnavailable));
  refusal.mutable_error()->set_message("this broker is the standby of a pair");
  refusal.mutable_error()->set_retryable(true);
  refusal.mutable_error()->set_standby(true);
  session_.OnMessage(refusal, now_);
  EXPECT_FALSE(session_.done());
  EXPECT_FALSE(session_.TakeReconnect());
  now_ += 10 * kMs;  // the back-off's first wait for a Welcome
  session_.OnTick(now_);
  EXPECT_TRUE(session_.TakeReconnect());
  session_.OnConnected(now_);
  hello = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(hello.size(), 1u);
  // A standby sent us on: the next broker may not take over for us.
  EXPECT_FALSE(hello[0].hello().failed_over());
  // The next does not answer either: the one after may.
  now_ += 20 * kMs;
  session_.OnTick(now_);
  ASSERT_TRUE(session_.TakeReconnect());
  session_.OnConnected(now_);
  hello = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(hello.size(), 1u);
  EXPECT_TRUE(hello[0].hello().failed_over());
  session_.OnMessage(WelcomeMessage(), now_);
  EXPECT_TRUE(session_.welcomed());
}

TEST_F(WorkerSessionTest, SilenceTimeoutCoversTwoBrokerHeartbeatIntervals) {
  session_.OnConnected(now_);
  v1::Envelope welcome = WelcomeMessage();
  welcome.mutable_welcome()->set_heartbeat_interval_ms(1000);  // ours: 500 ms
  session_.OnMessage(welcome, now_);
  session_.OnTick(now_ + 1999 * kMs);
  EXPECT_FALSE(session_.TakeReconnect());
  session_.OnTick(now_ + 2000 * kMs);
  EXPECT_TRUE(session_.TakeReconnect());
}

TEST_F(WorkerSessionTest, LostSessionDropsQueuedAndWithholdsCreditOfOrphans) {
  Welcome();
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0), MakeAssignment(7, 1),
                                         MakeAssignment(7, 2)}),
                     now_);
  session_.TakeChunksToStart();
  now_ += 500 * kMs;
  session_.OnTick(now_);
  ASSERT_TRUE(session_.TakeReconnect());
  EXPECT_EQ(session_.queued_chunks(), 0u);
  session_.TakeOutgoing();
  // Two chunks still run: the new Hello grants only the one free slot.
  session_.OnConnected(now_);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].hello().credit(), 1u);
  session_.OnMessage(WelcomeMessage(), now_);
  session_.TakeOutgoing();
  // An orphan's report is discarded; its slot comes back as credit.
  session_.OnChunksFinished({Report(7, 0)}, now_);
  out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].has_worker_credit());
  EXPECT_EQ(out[0].worker_credit().chunks(), 1u);
  EXPECT_EQ(session_.discarded_reports(), 1);
}

TEST_F(WorkerSessionTest, RunningChunkReassignedIsNotStartedTwice) {
  Welcome();
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0)}), now_);
  ASSERT_EQ(session_.TakeChunksToStart().size(), 1u);
  now_ += 500 * kMs;
  session_.OnTick(now_);
  ASSERT_TRUE(session_.TakeReconnect());
  Welcome();
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0, 2)}), now_);
  EXPECT_TRUE(session_.TakeChunksToStart().empty());
  // Its credit comes straight back: the chunk takes no new slot.
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].has_worker_credit());
  EXPECT_EQ(out[0].worker_credit().chunks(), 1u);
  // When it finishes, it is reported under the new attempt.
  session_.OnChunksFinished({Report(7, 0, 1)}, now_);
  out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].chunk_reports().reports_size(), 1);
  EXPECT_EQ(out[0].chunk_reports().reports(0).attempt(), 2u);
  EXPECT_EQ(out[0].chunk_reports().credit(), 1u);
  EXPECT_EQ(session_.granted_credit(), 3);
}

TEST_F(WorkerSessionTest, RevokeDropsQueuedAndCancelsRunningChunksReturningTheirCredit) {
  Welcome();
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0), MakeAssignment(8, 0),
                                         MakeAssignment(7, 1)}),
                     now_);
  session_.TakeChunksToStart();  // 7/0 and 8/0 run; 7/1 queued
  v1::Envelope revoke;
  revoke.mutable_revoke_job()->set_job_id(7);
  session_.OnMessage(revoke, now_);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].has_worker_credit());
  // 7/1's queue place and 7/0's thread: the running chunk is cancelled
  // (its kernel stops within 1 s) and its credit comes back at once.
  EXPECT_EQ(out[0].worker_credit().chunks(), 2u);
  EXPECT_EQ(session_.queued_chunks(), 0u);
  // The cancelled chunk's late report is dropped.
  session_.OnChunksFinished({Report(7, 0)}, now_);
  EXPECT_TRUE(session_.TakeOutgoing().empty());
  EXPECT_EQ(session_.cancelled_runs(), 1);
}

TEST_F(WorkerSessionTest, StopDrainsQueuedThenSaysGoodbyeAfterRunningFinish) {
  Welcome();
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0), MakeAssignment(7, 1),
                                         MakeAssignment(7, 2)}),
                     now_);
  session_.TakeChunksToStart();
  session_.OnStopRequested(now_);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].has_drain());
  ASSERT_EQ(out[0].drain().returned_size(), 1);
  EXPECT_EQ(out[0].drain().returned(0).chunk_index(), 2u);
  EXPECT_FALSE(session_.done());

  session_.OnChunksFinished({Report(7, 0)}, now_);
  out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].chunk_reports().credit(), 0u);  // no new work while stopping
  EXPECT_TRUE(session_.TakeChunksToStart().empty());
  EXPECT_FALSE(session_.done());

  session_.OnChunksFinished({Report(7, 1)}, now_);
  out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].has_chunk_reports());
  EXPECT_TRUE(out[1].has_goodbye());
  EXPECT_TRUE(session_.done());
  EXPECT_TRUE(session_.status().ok());
}

TEST_F(WorkerSessionTest, StopWithUnreachableBrokerGivesUpAfterTimeout) {
  Welcome();
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0)}), now_);
  session_.TakeChunksToStart();
  session_.OnStopRequested(now_);
  EXPECT_FALSE(session_.done());
  session_.OnTick(now_ + 500 * kMs);
  EXPECT_TRUE(session_.done());
  EXPECT_FALSE(session_.TakeReconnect());
  EXPECT_TRUE(session_.status().ok());
}

TEST_F(WorkerSessionTest, ProtocolMismatchErrorIsFatal) {
  session_.OnConnected(now_);
  v1::Envelope error;
  error.mutable_error()->set_code(
      static_cast<int32_t>(absl::StatusCode::kFailedPrecondition));
  error.mutable_error()->set_message("broker speaks version 1 only");
  session_.OnMessage(error, now_);
  EXPECT_TRUE(session_.done());
  EXPECT_EQ(session_.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(session_.TakeReconnect());
}

TEST_F(WorkerSessionTest, AssignmentBeforeWelcomeIsAViolation) {
  session_.OnConnected(now_);
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0)}), now_);
  EXPECT_TRUE(session_.TakeChunksToStart().empty());
  EXPECT_EQ(session_.protocol_violations(), 1);
}

TEST_F(WorkerSessionTest, RunFirstChunksGoAheadOfQueuedOnesInTheirOwnOrder) {
  WorkerOptions options = TestOptions();
  options.prefetch = 3;  // capacity 5: two run, three queue
  WorkerSession session(options);
  session.OnConnected(now_);
  session.OnMessage(WelcomeMessage(), now_);
  session.TakeOutgoing();
  session.OnMessage(AssignmentsMessage({MakeAssignment(7, 0), MakeAssignment(7, 1),
                                        MakeAssignment(7, 2)}),
                    now_);
  EXPECT_EQ(session.TakeChunksToStart().size(), 2u);  // 7/0 and 7/1
  v1::Assignment first = MakeAssignment(8, 0);
  first.set_run_first(true);
  v1::Assignment second = MakeAssignment(8, 1);
  second.set_run_first(true);
  session.OnMessage(AssignmentsMessage({first, second}), now_);
  std::vector<ChunkDone> done = {Report(7, 0), Report(7, 1)};
  for (ChunkDone& d : done) d.report.set_run_micros(100'000);  // one per thread
  session.OnChunksFinished(std::move(done), now_);
  std::vector<v1::Assignment> started = Assignments(session.TakeChunksToStart());
  ASSERT_EQ(started.size(), 2u);
  EXPECT_EQ(started[0].job_id(), 8u);
  EXPECT_EQ(started[0].chunk_index(), 0u);
  EXPECT_EQ(started[1].job_id(), 8u);
  EXPECT_EQ(started[1].chunk_index(), 1u);
  EXPECT_EQ(session.queued_chunks(), 1u);  // 7/2, last
}

TEST_F(WorkerSessionTest, ReturnQueuedGivesBackOnlyWhatHasNotStarted) {
  Welcome();
  session_.OnMessage(AssignmentsMessage({MakeAssignment(7, 0), MakeAssignment(7, 1),
                                         MakeAssignment(7, 2)}),
                     now_);
  session_.TakeChunksToStart();  // 7/0 and 7/1 run; 7/2 queued
  v1::Envelope request;
  for (uint64_t chunk : {2, 0, 9}) {  // queued, running, not held
    v1::ChunkRef* ref = request.mutable_return_queued()->add_chunks();
    ref->set_job_id(7);
    ref->set_chunk_index(chunk);
    ref->set_attempt(1);
  }
  session_.OnMessage(request, now_);
  std::vector<v1::Envelope> out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].has_chunk_reports());
  EXPECT_EQ(out[0].chunk_reports().reports_size(), 0);
  ASSERT_EQ(out[0].chunk_reports().returned_size(), 1);
  EXPECT_EQ(out[0].chunk_reports().returned(0).chunk_index(), 2u);
  EXPECT_EQ(out[0].chunk_reports().credit(), 1u);  // its slot, with it
  EXPECT_EQ(session_.queued_chunks(), 0u);
  // The running chunk asked for runs on and is reported as usual.
  session_.OnChunksFinished({Report(7, 0)}, now_);
  out = Envelopes(session_.TakeOutgoing());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].chunk_reports().reports_size(), 1);
  EXPECT_EQ(out[0].chunk_reports().returned_size(), 0);
  EXPECT_EQ(session_.protocol_violations(), 0);
}

}  // namespace
}  // namespace tq
