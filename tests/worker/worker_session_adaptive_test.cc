// WorkerSession's adaptive prefetch driven with fake time and a hand-played
// broker that spends exactly the credit it was granted: fast chunks grow the
// credit up to the cap, slow chunks shrink it by withholding returned credit,
// and a pinned --prefetch never moves.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "worker/worker_session.h"

#include "common/protocol.h"
#include "tests/worker/session_test_util.h"

namespace tq {
namespace {

WorkerSessionOptions AdaptiveOptions(int threads, int prefetch = -1) {
  WorkerSessionOptions options;
  options.threads = threads;
  options.prefetch = prefetch;
  options.name = "adaptive-test";
  options.heartbeat_interval_ms = 100;
  options.heartbeat_timeout_ms = 500;
  return options;
}

// Plays the broker: counts the credit the session grants and hands out
// never more chunks than that.
class CreditSpendingBroker {
 public:
  // Reads everything the session sent; returns the credit it granted.
  int64_t Absorb(WorkerSession& session) {
    int64_t granted = 0;
    for (const v1::Envelope& envelope : Envelopes(session.TakeOutgoing())) {
      if (envelope.has_hello()) granted += envelope.hello().credit();
      if (envelope.has_chunk_reports()) granted += envelope.chunk_reports().credit();
      if (envelope.has_worker_credit()) granted += envelope.worker_credit().chunks();
    }
    credit_ += granted;
    return granted;
  }

  // Spends all its credit on new chunks of job 1.
  void AssignAll(WorkerSession& session, int64_t now_us) {
    if (credit_ == 0) return;
    v1::Envelope envelope;
    for (; credit_ > 0; --credit_) {
      v1::Assignment* assignment = envelope.mutable_assignments()->add_assignments();
      assignment->set_job_id(1);
      assignment->set_chunk_index(next_chunk_++);
      assignment->set_attempt(1);
      assignment->set_task("noop");
    }
    session.OnMessage(envelope, now_us);
  }

  int64_t credit() const { return credit_; }

 private:
  int64_t credit_ = 0;
  uint64_t next_chunk_ = 0;
};

class AdaptiveWorkerSessionTest : public ::testing::Test {
 protected:
  void Connect(WorkerSession& session) {
    session.OnConnected(now_);
    broker_.Absorb(session);
    v1::Envelope welcome;
    welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
    welcome.mutable_welcome()->set_heartbeat_interval_ms(100);
    session.OnMessage(welcome, now_);
    ASSERT_TRUE(session.welcomed());
    broker_.Absorb(session);
  }

  // Finishes every chunk the session starts (each taking run_us of fake
  // time) until it starts no more, checking the credit invariants after
  // every event. Returns the credit granted per ChunkReports, in order.
  std::vector<int64_t> RunStartedChunks(WorkerSession& session, uint64_t run_us) {
    std::vector<int64_t> grants;
    while (true) {
      std::vector<v1::Assignment> started = Assignments(session.TakeChunksToStart());
      if (started.empty()) break;
      std::vector<ChunkDone> reports;
      for (const v1::Assignment& assignment : started) {
        v1::ChunkReport report;
        report.set_job_id(assignment.job_id());
        report.set_chunk_index(assignment.chunk_index());
        report.set_attempt(assignment.attempt());
        report.set_run_micros(run_us);
        reports.push_back(Done(report));
      }
      now_ += static_cast<int64_t>(run_us);
      session.OnChunksFinished(std::move(reports), now_);
      grants.push_back(broker_.Absorb(session));
      CheckInvariants(session);
    }
    return grants;
  }

  // One broker round: spend all credit, then run what it bought.
  std::vector<int64_t> Round(WorkerSession& session, uint64_t run_us) {
    broker_.AssignAll(session, now_);
    EXPECT_EQ(broker_.Absorb(session), 0);  // new work frees no slot
    CheckInvariants(session);
    return RunStartedChunks(session, run_us);
  }

  void CheckInvariants(const WorkerSession& session) {
    EXPECT_EQ(session.protocol_violations(), 0);
    EXPECT_GE(session.granted_credit(), 0);
    // Every credit the session counts has been sent, and no more.
    EXPECT_EQ(session.granted_credit(), broker_.credit());
    int64_t held = broker_.credit() +
                   static_cast<int64_t>(session.queued_chunks() + session.running_chunks());
    // Above capacity only while shrinking, and then nothing is granted.
    if (held > session.capacity()) {
      EXPECT_EQ(broker_.credit(), 0);
    }
  }

  int64_t Held(const WorkerSession& session) const {
    return broker_.credit() +
           static_cast<int64_t>(session.queued_chunks() + session.running_chunks());
  }

  int64_t now_ = 1'000'000;
  CreditSpendingBroker broker_;
};

TEST_F(AdaptiveWorkerSessionTest, StartsAtHalfThePoolBeforeAnyMeasurement) {
  WorkerSession session(AdaptiveOptions(4));
  EXPECT_TRUE(session.adaptive_prefetch());
  session.OnConnected(now_);
  EXPECT_EQ(broker_.Absorb(session), 4 + 2);
  WorkerSession single(AdaptiveOptions(1));
  single.OnConnected(now_);
  EXPECT_EQ(broker_.Absorb(single), 1 + 1);
}

TEST_F(AdaptiveWorkerSessionTest, FastChunksGrowGrantedCreditUpToTheCap) {
  WorkerSession session(AdaptiveOptions(1));
  Connect(session);
  ASSERT_EQ(Held(session), 2);
  // The very first 2 us report already asks for more than its slot back,
  // and the window at most doubles per report.
  std::vector<int64_t> grants = Round(session, 2);
  ASSERT_FALSE(grants.empty());
  EXPECT_GT(grants[0], 1);
  ASSERT_EQ(grants.size(), 2u);  // two chunks, one thread: 2 -> 4 -> 8
  EXPECT_EQ(session.capacity(), 8);
  int64_t previous = Held(session);
  for (int round = 0; round < 10; ++round) {
    Round(session, 2);
    EXPECT_GE(Held(session), previous);
    EXPECT_LE(Held(session), std::max<int64_t>(2 * previous, 1 + kMaxPrefetch));
    previous = Held(session);
  }
  EXPECT_EQ(session.capacity(), 1 + kMaxPrefetch);
  EXPECT_EQ(Held(session), 1 + kMaxPrefetch);
  // The cap holds however fast the chunks are.
  Round(session, 0);
  EXPECT_EQ(session.capacity(), 1 + kMaxPrefetch);
  EXPECT_EQ(Held(session), 1 + kMaxPrefetch);
}

TEST_F(AdaptiveWorkerSessionTest, SlowChunksWithholdCreditUntilBackToThreadsPlusOne) {
  WorkerSession session(AdaptiveOptions(1));
  Connect(session);
  for (int round = 0; round < 10; ++round) Round(session, 2);
  ASSERT_EQ(session.capacity(), 1 + kMaxPrefetch);
  // The broker fills all 257 slots, then the job turns out slow: 30 ms.
  broker_.AssignAll(session, now_);
  ASSERT_EQ(session.queued_chunks() + session.running_chunks(),
            static_cast<size_t>(1 + kMaxPrefetch));
  // Tiny chunks went to the pool in a run; the rest wait in the session.
  EXPECT_EQ(session.running_chunks(), static_cast<size_t>(kMaxPoolDepth));
  std::vector<int64_t> grants = RunStartedChunks(session, 30'000);
  ASSERT_GE(grants.size(), 3u);
  EXPECT_EQ(session.capacity(), 1 + 1);
  EXPECT_EQ(session.pool_depth(), 1);
  // Every finished chunk's credit is withheld until fewer than threads + 1
  // chunks are left; the last two reports bring the broker up to 2.
  for (size_t i = 0; i + 2 < grants.size(); ++i) {
    EXPECT_EQ(grants[i], 0) << "report " << i;
  }
  EXPECT_EQ(grants[grants.size() - 2], 1);
  EXPECT_EQ(grants.back(), 1);
  EXPECT_EQ(Held(session), 2);
  // Steady slow work stays at threads + 1.
  for (int round = 0; round < 5; ++round) Round(session, 30'000);
  EXPECT_EQ(session.capacity(), 2);
  EXPECT_EQ(Held(session), 2);
}

TEST_F(AdaptiveWorkerSessionTest, MediumChunksSettleOnTheQueueTarget) {
  WorkerSession session(AdaptiveOptions(2));
  Connect(session);
  for (int round = 0; round < 40; ++round) Round(session, 500);
  // ceil(2 threads x 3000 us / 500 us) = 12 queued behind 2 running.
  EXPECT_NEAR(session.average_run_us(), 500, 1);
  EXPECT_EQ(session.capacity(), 2 + 12);
  EXPECT_EQ(Held(session), 2 + 12);
}

TEST_F(AdaptiveWorkerSessionTest, PinnedPrefetchDoesNotAdapt) {
  for (int prefetch : {0, 3}) {
    WorkerSession session(AdaptiveOptions(2, prefetch));
    broker_ = CreditSpendingBroker();
    EXPECT_FALSE(session.adaptive_prefetch());
    Connect(session);
    EXPECT_EQ(Held(session), 2 + prefetch);
    for (int round = 0; round < 10; ++round) {
      // Each finished chunk gives back exactly its own slot.
      for (int64_t grant : Round(session, 2)) EXPECT_GE(grant, 1);
    }
    EXPECT_EQ(session.capacity(), 2 + prefetch);
    EXPECT_EQ(Held(session), 2 + prefetch);
    for (int round = 0; round < 3; ++round) Round(session, 50'000);
    EXPECT_EQ(session.capacity(), 2 + prefetch);
    EXPECT_EQ(Held(session), 2 + prefetch);
  }
}

TEST_F(AdaptiveWorkerSessionTest, RevokeWhileShrinkingReturnsOnlyWhatFits) {
  WorkerSession session(AdaptiveOptions(1));
  Connect(session);
  for (int round = 0; round < 10; ++round) Round(session, 2);
  broker_.AssignAll(session, now_);
  ASSERT_GT(session.queued_chunks(), 100u);
  // One slow run shrinks the capacity to 2 with most of the queue left.
  std::vector<v1::Assignment> started = Assignments(session.TakeChunksToStart());
  ASSERT_FALSE(started.empty());
  std::vector<ChunkDone> reports;
  for (const v1::Assignment& assignment : started) {
    v1::ChunkReport report;
    report.set_job_id(1);
    report.set_chunk_index(assignment.chunk_index());
    report.set_attempt(1);
    report.set_run_micros(30'000);
    reports.push_back(Done(report));
  }
  session.OnChunksFinished(std::move(reports), now_);
  EXPECT_EQ(broker_.Absorb(session), 0);
  ASSERT_EQ(session.capacity(), 2);
  // Revoking the job empties the queue: only 2 - running comes back.
  v1::Envelope revoke;
  revoke.mutable_revoke_job()->set_job_id(1);
  session.OnMessage(revoke, now_);
  EXPECT_EQ(session.queued_chunks(), 0u);
  EXPECT_EQ(broker_.Absorb(session), 2 - static_cast<int64_t>(session.running_chunks()));
  EXPECT_EQ(Held(session), 2);
  CheckInvariants(session);
}

}  // namespace
}  // namespace tq
