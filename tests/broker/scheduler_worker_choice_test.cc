// Which worker gets a chunk, with fake time: a slow host (far longer
// turnaround than the fastest, or stalls such as a lossy link's) comes last
// and is probed; a quiet worker (silent, or owing reports far past the
// median) gets nothing new.
#include <vector>

#include "gtest/gtest.h"
#include "tests/broker/scheduler_test_util.h"

namespace tq::testing {
namespace {

class SchedulerWorkerChoiceTest : public ::testing::Test {
 protected:
  void SetUp() override { h_.HelloClient("c1"); }
  // c1 reads a result of `job`: room for one more chunk.
  Sent Grant(uint64_t job) {
    v1::Envelope credit;
    credit.mutable_client_credit()->set_job_id(job);
    credit.mutable_client_credit()->set_chunks(1);
    return h_.Deliver("c1", credit);
  }
  SchedulerHarness h_;
};

TEST_F(SchedulerWorkerChoiceTest, ASlowHostGetsChunksLastAndAProbeASecond) {
  // A window of 3 the client keeps open one result at a time: the job is
  // bound by it, as an ordered job is behind a slow chunk.
  const uint64_t job =
      h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1, /*window=*/3));
  auto grant = [&] { return Grant(job); };
  auto a1 = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  auto a2 = AssignmentsTo(h_.HelloWorker("w2", 1, 3), "w2");
  ASSERT_EQ(a1.size(), 1u);
  ASSERT_EQ(a2.size(), 2u);
  h_.AdvanceMs(1);
  h_.Report("w2", a2[0], 1, 500);
  ASSERT_EQ(AssignmentsTo(grant(), "w2").size(), 1u);
  // w1's chunk comes back 50 ms after hand-out, for 0.5 ms of work: slow.
  h_.AdvanceMs(49);
  h_.Report("w1", a1[0], 1, 500);
  Sent sent = grant();
  EXPECT_TRUE(AssignmentsTo(sent, "w1").empty())
      << "w2 can take the chunk: the slow host waits";
  EXPECT_EQ(AssignmentsTo(sent, "w2").size(), 1u);
  // A second after its last chunk, holding nothing, it gets a probe.
  h_.AdvanceMs(1000);
  h_.Heartbeat("w1");
  sent = h_.Report("w2", a2[1], 1, 500);  // room for one chunk: the probe
  Sent granted = grant();
  EXPECT_EQ(AssignmentsTo(sent, "w1").size() +
                AssignmentsTo(granted, "w1").size(),
            1u);
}

TEST_F(SchedulerWorkerChoiceTest, AQuietWorkerGetsNoNewChunks) {
  // A window of 1: w1 (credit 2) runs one chunk and keeps a credit.
  const uint64_t job =
      h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1, /*window=*/1));
  auto a1 = AssignmentsTo(h_.HelloWorker("w1", 1, 2), "w1");
  ASSERT_EQ(a1.size(), 1u);
  h_.Report("w1", a1[0], 0);
  // w1 falls silent (frozen, say); the client makes room 1.6 s later: the
  // chunk waits rather than go to w1, though w1 has credit.
  h_.AdvanceMs(1600);
  EXPECT_TRUE(AssignmentsTo(Grant(job), "w1").empty());
  EXPECT_TRUE(AssignmentsTo(h_.Tick(), "w1").empty());
  // Heard again: it gets the chunk.
  Sent heard = h_.Heartbeat("w1");
  EXPECT_EQ(AssignmentsTo(heard, "w1").size() +
                AssignmentsTo(h_.Tick(), "w1").size(),
            1u);
}

TEST_F(SchedulerWorkerChoiceTest, AWorkerOwingReportsFarPastTheMedianGetsNoNewChunks) {
  // 1 ms chunks; w1 (credit 4) runs one, then reports nothing more.
  const uint64_t job =
      h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1, /*window=*/2));
  auto a1 = AssignmentsTo(h_.HelloWorker("w1", 1, 4), "w1");
  ASSERT_EQ(a1.size(), 2u);
  h_.AdvanceMs(1);
  h_.Report("w1", a1[0], 0, 1000);  // median 1 ms; w1 owes chunk a1[1]...
  auto grant = [&] { return Grant(job); };
  EXPECT_EQ(AssignmentsTo(grant(), "w1").size(), 1u);  // ...and this one
  // 300 ms without a report (>= 250 ms and 3 x the median), though heard
  // from within the heartbeat interval: no new chunk, though it has credit.
  h_.AdvanceMs(300);
  EXPECT_TRUE(AssignmentsTo(grant(), "w1").empty());
  // A held heartbeat says what it runs: alive, it gets the chunk.
  Sent heard = h_.HeartbeatHeld("w1", {a1[1]}, {}, 300);
  EXPECT_EQ(AssignmentsTo(heard, "w1").size() +
                AssignmentsTo(h_.Tick(), "w1").size(),
            1u);
}

TEST_F(SchedulerWorkerChoiceTest, ALossyHostStaysLastThoughMostOfItsReportsArePrompt) {
  // A window of 3 the client opens one result at a time; w1 (credit 1) and
  // w2 (credit 2) run one thread each.
  const uint64_t job =
      h_.Submit("c1", SchedulerHarness::RangeJob(1, 1'000'000, 1, /*window=*/3));
  auto grant = [&] { return Grant(job); };
  std::vector<v1::Assignment> w1 = AssignmentsTo(h_.HelloWorker("w1", 1, 1), "w1");
  std::vector<v1::Assignment> w2 = AssignmentsTo(h_.HelloWorker("w2", 1, 2), "w2");
  ASSERT_EQ(w1.size(), 1u);
  ASSERT_EQ(w2.size(), 2u);
  // w1's chunk comes back 200 ms after its hand-out (a lost packet, sent
  // again): a stall. w2 is full, so w1 still gets the next chunk...
  h_.AdvanceMs(200);
  h_.Report("w1", w1[0], 1, 500);
  w1 = AssignmentsTo(grant(), "w1");
  ASSERT_EQ(w1.size(), 1u);
  // ...and twenty more, each reported within a millisecond: an average
  // would forget the stall; it is remembered.
  for (int i = 0; i < 20; ++i) {
    h_.AdvanceMs(1);
    h_.Report("w1", w1[0], 1, 500);
    w1 = AssignmentsTo(grant(), "w1");
    ASSERT_EQ(w1.size(), 1u);
  }
  // Both have room now; w1 holds nothing, w2 one chunk: w2 gets the next.
  // (w2 ran its chunks all along: no turnaround beyond their run time.)
  constexpr uint64_t kRanAllAlong = 60'000'000;
  h_.AdvanceMs(1);
  h_.Report("w2", w2[0], 1, kRanAllAlong);
  h_.Report("w1", w1[0], 1, 500);
  Sent sent = grant();
  EXPECT_TRUE(AssignmentsTo(sent, "w1").empty());
  ASSERT_EQ(AssignmentsTo(sent, "w2").size(), 1u);
  // The stall fades (half-life 1.5 s): 10 s later, with no new one, w1 is
  // an equal again: holding nothing, it gets the next chunk though w2 has
  // room too.
  for (int i = 0; i < 20; ++i) {
    h_.AdvanceMs(500);
    h_.Heartbeat("w1");
    h_.Heartbeat("w2");
  }
  Sent reported = h_.Report("w2", w2[1], 1, kRanAllAlong);
  EXPECT_EQ(AssignmentsTo(reported, "w1").size(), 1u);
  EXPECT_TRUE(AssignmentsTo(reported, "w2").empty());
}

}  // namespace
}  // namespace tq::testing
