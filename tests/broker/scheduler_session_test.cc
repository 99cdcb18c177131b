// Scheduler: peers (hello, version, roles, malformed input, heartbeats) and
// job submission (validation, chunk sizing, lazy chunking). Fake time.
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/scheduler_test_util.h"

namespace tq::testing {
namespace {

using ::testing::HasSubstr;
using E = v1::Envelope;

class SchedulerTest : public ::testing::Test {
 protected:
  // The single Error sent to `peer` in `sent`.
  static v1::Error OnlyError(const Sent& sent, const std::string& peer) {
    auto errors = BodiesTo(sent, peer, E::kError);
    EXPECT_EQ(errors.size(), 1u);
    return errors.empty() ? v1::Error() : errors[0].error();
  }
  SchedulerHarness h_;
};

TEST_F(SchedulerTest, WelcomesHelloWithSettingsTasksAndThreads) {
  h_.HelloWorker("w1", 6, 8);
  Sent sent = h_.HelloClient("c1");
  auto welcomes = BodiesTo(sent, "c1", E::kWelcome);
  ASSERT_EQ(welcomes.size(), 1u);
  const v1::Welcome& w = welcomes[0].welcome();
  EXPECT_EQ(w.protocol_version(), kProtocolVersion);
  EXPECT_EQ(w.max_result_window(), 256u);
  EXPECT_EQ(w.heartbeat_interval_ms(), 1000u);
  EXPECT_EQ(w.heartbeat_timeout_ms(), 5000u);
  EXPECT_THAT(w.tasks(), ::testing::Contains("noop"));
  EXPECT_EQ(w.worker_threads(), 6u);
  EXPECT_EQ(h_.scheduler().stats().connected_workers, 1u);
  EXPECT_EQ(h_.scheduler().stats().connected_clients, 1u);
}

TEST_F(SchedulerTest, RefusesOtherProtocolVersionAndForgetsPeer) {
  v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(1);
  hello.mutable_hello()->set_role(v1::ROLE_CLIENT);
  v1::Error error = OnlyError(h_.Deliver("c1", hello), "c1");
  EXPECT_EQ(error.code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(error.message(),
            absl::StrCat("protocol version 1 not supported; this broker speaks ",
                         kProtocolVersion));
  EXPECT_EQ(h_.scheduler().stats().rejected_bad_version, 1u);
  EXPECT_EQ(h_.scheduler().stats().connected_clients, 0u);
  // Forgotten: its next message is from a stranger.
  error = OnlyError(h_.Heartbeat("c1"), "c1");
  EXPECT_EQ(error.message(), "send hello first");
}

TEST_F(SchedulerTest, RequiresHelloFirst) {
  v1::Error error =
      OnlyError(h_.Deliver("x", SchedulerHarness::RangeJob(1, 10, 0)), "x");
  EXPECT_EQ(error.code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(error.message(), "send hello first");
  EXPECT_EQ(h_.scheduler().stats().rejected_no_hello, 1u);
  EXPECT_EQ(h_.scheduler().stats().jobs_submitted, 0u);
}

TEST_F(SchedulerTest, RejectsClientMessageFromWorkerAndViceVersa) {
  h_.HelloWorker("w1", 1, 1);
  h_.HelloClient("c1");
  OnlyError(h_.Deliver("w1", SchedulerHarness::RangeJob(1, 10, 0)), "w1");
  v1::Envelope credit;
  credit.mutable_worker_credit()->set_chunks(5);
  OnlyError(h_.Deliver("c1", credit), "c1");
  EXPECT_EQ(h_.scheduler().stats().rejected_wrong_role, 2u);
  EXPECT_EQ(h_.scheduler().stats().jobs_submitted, 0u);
}

TEST_F(SchedulerTest, MalformedMessageIsAnsweredCountedAndSurvived) {
  h_.HelloClient("c1");
  Outbox out;
  h_.scheduler().OnMalformed("c1", absl::InvalidArgumentError("malformed"),
                             h_.now(), &out);
  v1::Error error = OnlyError(out.Take(), "c1");
  EXPECT_EQ(error.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(h_.scheduler().stats().rejected_malformed, 1u);
  // Still a client in good standing.
  EXPECT_NE(h_.Submit("c1", SchedulerHarness::RangeJob(1, 10, 0)), 0u);
}

TEST_F(SchedulerTest, UnknownTaskErrorListsTasks) {
  h_.HelloClient("c1");
  v1::Error error = OnlyError(
      h_.Deliver("c1", SchedulerHarness::RangeJob(1, 10, 0, 10, "nope")), "c1");
  EXPECT_EQ(error.code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_THAT(error.message(), HasSubstr("unknown task 'nope'"));
  EXPECT_THAT(error.message(), HasSubstr("noop"));
  EXPECT_EQ(error.request_id(), 7u);
  EXPECT_EQ(h_.scheduler().stats().jobs_rejected, 1u);
}

TEST_F(SchedulerTest, RefusesBadSubmitsWithInvalidArgument) {
  h_.HelloClient("c1");
  std::vector<std::pair<std::string, v1::Envelope>> bad;
  bad.emplace_back("reversed", SchedulerHarness::RangeJob(10, 1, 0));
  {
    v1::Envelope e = SchedulerHarness::RangeJob(1, 10, 0);
    e.mutable_submit_job()->clear_range();  // no input at all
    bad.emplace_back("no input", e);
  }
  bad.emplace_back("exceeds", SchedulerHarness::RangeJob(1, 10, 1 << 20));
  {
    v1::Envelope e = SchedulerHarness::RangeJob(1, 10, 0);
    e.mutable_submit_job()->set_reduction(v1::REDUCTION_COUNT);
    bad.emplace_back("boolean", e);
  }
  bad.emplace_back("result_window", SchedulerHarness::RangeJob(1, 10, 0, 0));
  {
    v1::Envelope e = SchedulerHarness::RangeJob(1, 10, 0);
    (*e.mutable_submit_job()->mutable_params())["us"] = "5";
    bad.emplace_back("parameters", e);
  }
  for (const auto& [words, submit] : bad) {
    SCOPED_TRACE(words);
    v1::Error error = OnlyError(h_.Deliver("c1", submit), "c1");
    EXPECT_EQ(error.code(),
              static_cast<int>(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(error.message(), HasSubstr(words));
    EXPECT_EQ(error.request_id(), 7u);
  }
  EXPECT_EQ(h_.scheduler().stats().jobs_submitted, 0u);
  EXPECT_EQ(h_.scheduler().stats().jobs_rejected, bad.size());
}

TEST_F(SchedulerTest, CutsWholeUint64RangeLazily) {
  h_.HelloClient("c1");
  h_.HelloWorker("w1", 1, 2);
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  Sent sent;
  uint64_t job = h_.Submit("c1", SchedulerHarness::RangeJob(0, max, 1 << 16),
                           &sent);
  auto accepted = BodiesTo(sent, "c1", E::kJobAccepted);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].job_accepted().chunk_size(), 1u << 16);
  EXPECT_EQ(accepted[0].job_accepted().chunk_count(), uint64_t{1} << 48);
  auto assignments = AssignmentsTo(sent, "w1");
  ASSERT_EQ(assignments.size(), 2u);
  EXPECT_EQ(assignments[0].job_id(), job);
  EXPECT_EQ(assignments[0].input().range().first(), 0u);
  EXPECT_EQ(assignments[0].input().range().last(), 65535u);
  EXPECT_EQ(assignments[1].input().range().first(), 65536u);
  SchedulerStats stats = h_.scheduler().stats();
  EXPECT_EQ(stats.chunks_in_flight, 2u);
  EXPECT_EQ(stats.chunks_queued, (uint64_t{1} << 48) - 2);
}

TEST_F(SchedulerTest, LastChunkEndsAtUint64Max) {
  h_.HelloClient("c1");
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  // 10 items in chunks of 4: the last chunk is [max-1, max], no overflow.
  Sent sent;
  h_.Submit("c1", SchedulerHarness::RangeJob(max - 9, max, 4), &sent);
  EXPECT_EQ(BodiesTo(sent, "c1", E::kJobAccepted)[0].job_accepted().chunk_count(),
            3u);
  sent = h_.HelloWorker("w1", 1, 3);
  auto a = AssignmentsTo(sent, "w1");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[2].input().range().first(), max - 1);
  EXPECT_EQ(a[2].input().range().last(), max);
}

TEST_F(SchedulerTest, RefusesChunkCountBeyondUint64) {
  h_.HelloClient("c1");
  v1::Error error = OnlyError(
      h_.Deliver("c1", SchedulerHarness::RangeJob(
                           0, std::numeric_limits<uint64_t>::max(), 1)),
      "c1");
  EXPECT_EQ(error.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
}

TEST_F(SchedulerTest, JobAcceptedStatesAFixedChunkingOnly) {
  h_.HelloClient("c1");
  Sent sent;
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 1600, 100), &sent);
  auto accepted = BodiesTo(sent, "c1", E::kJobAccepted)[0].job_accepted();
  EXPECT_EQ(accepted.chunk_size(), 100u);
  EXPECT_EQ(accepted.chunk_count(), 16u);
  // Automatic: sized as the job runs, so neither is known.
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 1600, 0), &sent);
  accepted = BodiesTo(sent, "c1", E::kJobAccepted)[0].job_accepted();
  EXPECT_EQ(accepted.chunk_size(), 0u);
  EXPECT_EQ(accepted.chunk_count(), 0u);
}

TEST_F(SchedulerTest, StreamedChunksTravelAsTheirOwnPayloads) {
  h_.HelloClient("c1");
  auto [e, payloads] =
      SchedulerHarness::NumbersJob({{10, 20}, {30, 40}, {50}});
  h_.Submit("c1", e, nullptr, payloads);
  Sent sent = h_.HelloWorker("w1", 1, 5);
  auto a = AssignmentsTo(sent, "w1");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(sent.size(), 2u);  // Welcome, then one merged Assignments
  const OutgoingMessage& m = sent[1];
  EXPECT_EQ(a[0].input().encoding(), v1::ITEM_ENCODING_U64LE);
  EXPECT_EQ(a[0].input().item_count(), 2u);
  EXPECT_EQ(m.payloads.at(a[0].input().payload()).ToString(),
            payloads[0].ToString());
  EXPECT_EQ(m.payloads.at(a[2].input().payload()).ToString(),
            payloads[2].ToString());
}

TEST_F(SchedulerTest, HeartbeatsQuietPeersAndDropsSilentOnes) {
  h_.HelloClient("c1");
  h_.HelloWorker("w1", 1, 0);
  h_.AdvanceMs(999);
  EXPECT_TRUE(BodiesTo(h_.Tick(), "c1", E::kHeartbeat).empty());
  h_.AdvanceMs(1);
  EXPECT_LE(h_.scheduler().NextDeadlineUs(), h_.now());
  Sent sent = h_.Tick();
  EXPECT_EQ(BodiesTo(sent, "c1", E::kHeartbeat).size(), 1u);
  EXPECT_EQ(BodiesTo(sent, "w1", E::kHeartbeat).size(), 1u);
  // The client keeps talking, the worker does not.
  for (int i = 0; i < 5; ++i) {
    h_.AdvanceMs(1000);
    h_.Heartbeat("c1");
    h_.Tick();
  }
  EXPECT_EQ(h_.scheduler().stats().connected_clients, 1u);
  EXPECT_EQ(h_.scheduler().stats().connected_workers, 0u);
}

}  // namespace
}  // namespace tq::testing
