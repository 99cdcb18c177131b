// Jobs that outlive their client's connection, driven with fake time: a lost
// client's jobs wait for an attach; the attaching client gets every result
// it neither acknowledged nor holds, exactly once; retried submits, tokens,
// acknowledgements and the grace period.
#include <set>
#include <string>
#include <vector>

#include "common/item_runs.h"
#include "gtest/gtest.h"
#include "tests/broker/scheduler_test_util.h"

namespace tq::testing {
namespace {

v1::Envelope Attach(uint64_t job_id, const std::string& token,
                    const ItemRuns& have = ItemRuns(), uint32_t window = 100,
                    uint64_t request_id = 9) {
  v1::Envelope env;
  v1::AttachJob* attach = env.mutable_attach_job();
  attach->set_request_id(request_id);
  attach->set_job_id(job_id);
  attach->set_job_token(token);
  have.ToRanges(attach->mutable_have());
  attach->set_result_window(window);
  return env;
}

v1::Envelope Ack(uint64_t job_id, const ItemRuns& items, uint64_t count = 0) {
  v1::Envelope env;
  env.mutable_ack_results()->set_job_id(job_id);
  items.ToRanges(env.mutable_ack_results()->mutable_items());
  env.mutable_ack_results()->set_count(count);
  return env;
}

class SchedulerAttachTest : public ::testing::Test {
 protected:
  SchedulerAttachTest() : h_(Options()) {}
  static SchedulerOptions Options() {
    SchedulerOptions options = TestOptions();
    options.client_grace_ms = 60'000;
    return options;
  }

  // Submits 1..100 in chunks of 10 from "c"; returns the JobAccepted.
  v1::JobAccepted SubmitRange(uint32_t window = 100) {
    Sent sent;
    h_.Submit("c", SchedulerHarness::RangeJob(1, 100, 10, window), &sent);
    auto accepted = BodiesTo(sent, "c", v1::Envelope::kJobAccepted);
    EXPECT_EQ(accepted.size(), 1u);
    return accepted.empty() ? v1::JobAccepted() : accepted[0].job_accepted();
  }
  // Reports every assignment in `sent` for worker `w`; returns what went
  // out.
  Sent ReportAll(const Sent& sent, const std::string& w) {
    Sent all;
    for (const v1::Assignment& a : AssignmentsTo(sent, w)) {
      Sent more = h_.Report(w, a);
      all.insert(all.end(), more.begin(), more.end());
    }
    return all;
  }
  // The client `c` falls silent past the heartbeat timeout while the
  // worker keeps talking.
  Sent LoseClient(const std::string& worker) {
    Sent all;
    for (int i = 0; i < 6; ++i) {
      h_.AdvanceMs(1000);
      h_.Heartbeat(worker);
      Sent tick = h_.Tick();
      all.insert(all.end(), tick.begin(), tick.end());
    }
    return all;
  }

  SchedulerHarness h_;
};

TEST_F(SchedulerAttachTest, JobAcceptedCarriesAToken) {
  h_.HelloClient("c");
  v1::JobAccepted accepted = SubmitRange();
  EXPECT_EQ(accepted.job_token().size(), 16u);
  h_.HelloClient("c2");
  Sent sent;
  h_.Submit("c2", SchedulerHarness::RangeJob(1, 10, 10), &sent);
  EXPECT_NE(BodiesTo(sent, "c2", v1::Envelope::kJobAccepted)[0]
                .job_accepted()
                .job_token(),
            accepted.job_token());
}

// The heart of it: results delivered to the lost connection and not
// acknowledged are computed again unless the attaching client holds them;
// every item reaches the client side exactly once.
TEST_F(SchedulerAttachTest, ALostClientsJobResumesExactlyOnAttach) {
  h_.HelloWorker("w", 1, 4);
  h_.HelloClient("c");
  Sent sent;
  h_.Submit("c", SchedulerHarness::RangeJob(1, 100, 10), &sent);
  std::vector<v1::Assignment> pending = AssignmentsTo(sent, "w");
  ASSERT_EQ(pending.size(), 4u);
  const uint64_t job = pending[0].job_id();
  const std::string token = [&] {
    for (const auto& m : sent) {
      if (m.envelope.has_job_accepted()) return m.envelope.job_accepted().job_token();
    }
    return std::string();
  }();
  // Reports one pending assignment; new ones join `pending`.
  auto run_one = [&]() {
    v1::Assignment a = pending.front();
    pending.erase(pending.begin());
    Sent out = h_.Report("w", a);
    for (const v1::Assignment& more : AssignmentsTo(out, "w")) pending.push_back(more);
    return out;
  };
  // Chunks 0..3 run and reach c; c acknowledges items 0..19.
  std::vector<v1::ChunkResult> to_c;
  for (int i = 0; i < 4; ++i) {
    for (const auto& r : ResultsTo(run_one(), "c")) to_c.push_back(r);
  }
  ASSERT_EQ(to_c.size(), 4u);
  ItemRuns acked;
  acked.Add(0, 20);
  EXPECT_TRUE(BodiesTo(h_.Deliver("c", Ack(job, acked)), "c", v1::Envelope::kError).empty());

  // c falls silent: its job is not cancelled, it waits.
  Sent lost = LoseClient("w");
  EXPECT_TRUE(BodiesTo(lost, "c", v1::Envelope::kJobFinished).empty());
  EXPECT_EQ(h_.scheduler().stats().jobs_detached, 1u);
  EXPECT_EQ(h_.scheduler().stats().jobs_cancelled, 0u);
  // Work goes on meanwhile; its results wait.
  for (int i = 0; i < 2; ++i) {
    Sent out = run_one();
    for (const auto& m : out) EXPECT_FALSE(m.envelope.has_job_results()) << m.peer;
  }

  // c2 attaches holding chunk 2's result (items 20..29) but not chunk 3's.
  h_.HelloClient("c2");
  ItemRuns have;
  have.Add(20, 10);
  Sent attached = h_.Deliver("c2", Attach(job, token, have));
  auto answers = BodiesTo(attached, "c2", v1::Envelope::kJobAccepted);
  ASSERT_EQ(answers.size(), 1u);
  const v1::JobAccepted& answer = answers[0].job_accepted();
  EXPECT_EQ(answer.job_id(), job);
  EXPECT_EQ(answer.request_id(), 9u);
  ASSERT_EQ(answer.acknowledged_size(), 1);
  EXPECT_EQ(answer.acknowledged(0).first(), 0u);
  EXPECT_EQ(answer.acknowledged(0).last(), 19u);
  std::vector<v1::ChunkResult> to_c2 = ResultsTo(attached, "c2");
  EXPECT_EQ(to_c2.size(), 2u);  // the two that waited
  for (const v1::Assignment& more : AssignmentsTo(attached, "w")) pending.push_back(more);

  // The rest runs to the end, chunk 3's items again among it.
  bool finished = false;
  while (!pending.empty()) {
    Sent out = run_one();
    for (const auto& r : ResultsTo(out, "c2")) to_c2.push_back(r);
    for (const auto& f : BodiesTo(out, "c2", v1::Envelope::kJobFinished)) {
      EXPECT_EQ(f.job_finished().code(), 0) << f.job_finished().message();
      finished = true;
    }
  }
  EXPECT_TRUE(finished);
  // Exactly once on the client side: acknowledged + held + received now.
  ItemRuns covered = acked;
  covered.Add(have);
  for (const v1::ChunkResult& r : to_c2) {
    EXPECT_FALSE(covered.Overlaps(r.first_item(), r.item_count()))
        << "items " << r.first_item() << "+" << r.item_count() << " twice";
    covered.Add(r.first_item(), r.item_count());
  }
  EXPECT_EQ(covered.Runs(), (std::vector<ItemRuns::Run>{{0, 100}}));
  EXPECT_EQ(h_.scheduler().stats().jobs_attached, 1u);
}

TEST_F(SchedulerAttachTest, GoodbyeStillCancelsAtOnce) {
  h_.HelloWorker("w", 1, 1);
  h_.HelloClient("c");
  SubmitRange();
  v1::Envelope bye;
  bye.mutable_goodbye();
  h_.Deliver("c", bye);
  EXPECT_EQ(h_.scheduler().stats().jobs_cancelled, 1u);
  EXPECT_EQ(h_.scheduler().stats().jobs_detached, 0u);
}

TEST_F(SchedulerAttachTest, ADetachedJobIsCancelledAfterTheGracePeriod) {
  h_.HelloWorker("w", 1, 1);
  h_.HelloClient("c");
  SubmitRange();
  LoseClient("w");
  EXPECT_EQ(h_.scheduler().stats().jobs_detached, 1u);
  EXPECT_LE(h_.scheduler().NextDeadlineUs(), h_.now() + 60'000'000);
  h_.AdvanceMs(60'000);
  h_.Heartbeat("w");
  h_.Tick();
  EXPECT_EQ(h_.scheduler().stats().jobs_cancelled, 1u);
  EXPECT_EQ(h_.scheduler().stats().jobs_active, 0u);
}

TEST_F(SchedulerAttachTest, AttachingTakesTheTokenAndAJobThatExists) {
  h_.HelloClient("c");
  v1::JobAccepted accepted = SubmitRange();
  h_.HelloClient("stranger");
  Sent wrong = h_.Deliver("stranger", Attach(accepted.job_id(), "guess"));
  auto errors = BodiesTo(wrong, "stranger", v1::Envelope::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error().code(),
            static_cast<int32_t>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(errors[0].error().request_id(), 9u);
  Sent missing = h_.Deliver("stranger", Attach(999, accepted.job_token()));
  errors = BodiesTo(missing, "stranger", v1::Envelope::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error().code(),
            static_cast<int32_t>(absl::StatusCode::kNotFound));
  EXPECT_EQ(h_.scheduler().stats().attaches_refused, 2u);
}

// Under CURVE the submitting key may attach without the token.
TEST_F(SchedulerAttachTest, TheSubmittingKeyMayAttachWithoutTheToken) {
  h_.HelloClient("c", "client:alice");
  v1::Envelope submit = SchedulerHarness::RangeJob(1, 100, 10);
  Sent sent = h_.Deliver("c", submit, {}, "client:alice");
  const uint64_t job =
      BodiesTo(sent, "c", v1::Envelope::kJobAccepted)[0].job_accepted().job_id();
  h_.HelloClient("c2", "client:alice");
  Sent attached = h_.Deliver("c2", Attach(job, ""), {}, "client:alice");
  EXPECT_EQ(BodiesTo(attached, "c2", v1::Envelope::kJobAccepted).size(), 1u);
  h_.HelloClient("c3", "client:bob");
  Sent refused = h_.Deliver("c3", Attach(job, ""), {}, "client:bob");
  EXPECT_EQ(BodiesTo(refused, "c3", v1::Envelope::kError).size(), 1u);
}

// A live client attached before loses the job to the one attaching now.
TEST_F(SchedulerAttachTest, AttachingElsewhereEndsTheJobForTheEarlierClient) {
  h_.HelloClient("c");
  v1::JobAccepted accepted = SubmitRange();
  h_.HelloClient("c2");
  Sent sent = h_.Deliver("c2", Attach(accepted.job_id(), accepted.job_token()));
  auto finished = BodiesTo(sent, "c", v1::Envelope::kJobFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].job_finished().code(),
            static_cast<int32_t>(absl::StatusCode::kAborted));
  EXPECT_EQ(BodiesTo(sent, "c2", v1::Envelope::kJobAccepted).size(), 1u);
  // c no longer owns it: its cancel is refused, c2's is not.
  v1::Envelope cancel;
  cancel.mutable_cancel_job()->set_job_id(accepted.job_id());
  EXPECT_EQ(BodiesTo(h_.Deliver("c", cancel), "c", v1::Envelope::kError).size(), 1u);
  h_.Deliver("c2", cancel);
  EXPECT_EQ(h_.scheduler().stats().jobs_cancelled, 1u);
}

TEST_F(SchedulerAttachTest, ARetriedSubmitWithItsKeyGetsTheSameJob) {
  h_.HelloClient("c");
  v1::Envelope submit = SchedulerHarness::RangeJob(1, 100, 10);
  submit.mutable_submit_job()->set_idempotency_key(std::string(16, 'k'));
  Sent first = h_.Deliver("c", submit);
  const v1::JobAccepted accepted =
      BodiesTo(first, "c", v1::Envelope::kJobAccepted)[0].job_accepted();
  h_.AdvanceMs(6000);  // c falls silent
  h_.Tick();
  ASSERT_EQ(h_.scheduler().stats().jobs_detached, 1u);
  h_.HelloClient("c-again");
  submit.mutable_submit_job()->set_request_id(8);
  Sent again = h_.Deliver("c-again", submit);
  auto answers = BodiesTo(again, "c-again", v1::Envelope::kJobAccepted);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].job_accepted().job_id(), accepted.job_id());
  EXPECT_EQ(answers[0].job_accepted().request_id(), 8u);
  EXPECT_EQ(answers[0].job_accepted().job_token(), accepted.job_token());
  EXPECT_EQ(h_.scheduler().stats().jobs_submitted, 1u);
  EXPECT_EQ(h_.scheduler().stats().submits_deduplicated, 1u);
}

TEST_F(SchedulerAttachTest, AcknowledgingItemsNeverDeliveredIsRefused) {
  h_.HelloClient("c");
  v1::JobAccepted accepted = SubmitRange();
  ItemRuns items;
  items.Add(0, 10);
  Sent sent = h_.Deliver("c", Ack(accepted.job_id(), items));
  auto errors = BodiesTo(sent, "c", v1::Envelope::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error().code(),
            static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(h_.scheduler().stats().acks_refused, 1u);
}

// Streamed input: a chunk delivered and lost is run again under its own
// index, from the input the broker kept until it was acknowledged.
TEST_F(SchedulerAttachTest, AStreamedChunkLostWithTheConnectionRunsAgain) {
  h_.HelloWorker("w", 1, 1);
  h_.HelloClient("c");
  auto [submit, payloads] = SchedulerHarness::NumbersJob({{2, 3}, {4, 5}});
  Sent sent;
  h_.Submit("c", submit, &sent, payloads);
  const v1::JobAccepted accepted =
      BodiesTo(sent, "c", v1::Envelope::kJobAccepted)[0].job_accepted();
  std::vector<v1::Assignment> a = AssignmentsTo(sent, "w");
  ASSERT_EQ(a.size(), 1u);
  Sent out = h_.Report("w", a[0]);  // chunk 0 reaches c, unacknowledged
  ASSERT_EQ(ResultsTo(out, "c").size(), 1u);
  std::vector<v1::Assignment> next = AssignmentsTo(out, "w");
  LoseClient("w");
  h_.HelloClient("c2");
  Sent attached = h_.Deliver("c2", Attach(accepted.job_id(), accepted.job_token()));
  auto answer = BodiesTo(attached, "c2", v1::Envelope::kJobAccepted);
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0].job_accepted().chunks_received(), 2u);
  EXPECT_TRUE(answer[0].job_accepted().input_complete());
  // Chunk 1 finishes; chunk 0's items run again as a chunk of their own
  // (a new index), from the same numbers.
  ASSERT_EQ(next.size(), 1u);
  Sent rest = h_.Report("w", next[0]);
  std::vector<v1::Assignment> again = AssignmentsTo(rest, "w");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].chunk_index(), 2u);
  EXPECT_EQ(again[0].input().item_count(), 2u);
  EXPECT_EQ(again[0].input().offset(), 0u);
  EXPECT_EQ(again[0].input().count(), 2u);
  Sent end = h_.Report("w", again[0]);
  EXPECT_EQ(BodiesTo(end, "c2", v1::Envelope::kJobFinished).size(), 1u);
}

// A streamed chunk split to isolate a failing item takes new indexes; the
// client attaching again still hears how many chunks it appended.
TEST_F(SchedulerAttachTest, SplitsDoNotCountAsChunksReceived) {
  h_.HelloWorker("w", 1, 1);
  h_.HelloClient("c");
  auto [submit, payloads] = SchedulerHarness::NumbersJob({{2, 3, 4, 5}, {6, 7}});
  Sent sent;
  h_.Submit("c", submit, &sent, payloads);
  const v1::JobAccepted accepted =
      BodiesTo(sent, "c", v1::Envelope::kJobAccepted)[0].job_accepted();
  std::vector<v1::Assignment> a = AssignmentsTo(sent, "w");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].chunk_index(), 0u);
  // Chunk 0 fails on every attempt (3): it is halved.
  for (int attempt = 0; attempt < 3; ++attempt) {
    a = AssignmentsTo(h_.ReportError("w", a[0], "boom"), "w");
    ASSERT_EQ(a.size(), 1u);
  }
  EXPECT_EQ(h_.scheduler().stats().chunks_split, 1u);
  EXPECT_EQ(a[0].input().count(), 2u);  // a half, by offset and count
  LoseClient("w");
  h_.HelloClient("c2");
  Sent attached = h_.Deliver("c2", Attach(accepted.job_id(), accepted.job_token()));
  auto answer = BodiesTo(attached, "c2", v1::Envelope::kJobAccepted);
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0].job_accepted().chunks_received(), 2u);
}

// Every result delivered: the client is told at once, but the job is kept
// (without results) until they are acknowledged, so a client that dies
// before handling the last ones can be replaced by one that attaches; once
// they are acknowledged the job is gone.
TEST_F(SchedulerAttachTest, AFinishedJobIsKeptUntilItsResultsAreAcknowledged) {
  h_.HelloWorker("w", 1, 10);
  h_.HelloClient("c");
  Sent sent;
  h_.Submit("c", SchedulerHarness::RangeJob(1, 100, 10), &sent);
  const v1::JobAccepted accepted =
      BodiesTo(sent, "c", v1::Envelope::kJobAccepted)[0].job_accepted();
  Sent done = ReportAll(sent, "w");
  EXPECT_EQ(ResultsTo(done, "c").size(), 10u);
  EXPECT_EQ(OnlyFinished(done, "c").code(), 0);
  EXPECT_EQ(h_.scheduler().stats().jobs_completed, 1u);
  EXPECT_EQ(h_.scheduler().stats().jobs_active, 0u);

  // c dies before acknowledging anything: c2 gets every result again.
  LoseClient("w");
  h_.HelloClient("c2");
  Sent attached =
      h_.Deliver("c2", Attach(accepted.job_id(), accepted.job_token()));
  ASSERT_EQ(BodiesTo(attached, "c2", v1::Envelope::kJobAccepted).size(), 1u);
  Sent again = ReportAll(attached, "w");
  ItemRuns received;
  for (const v1::ChunkResult& r : ResultsTo(again, "c2")) {
    received.Add(r.first_item(), r.item_count());
  }
  EXPECT_EQ(received.Runs(), (std::vector<ItemRuns::Run>{{0, 100}}));
  EXPECT_EQ(OnlyFinished(again, "c2").code(), 0);

  // Acknowledged: forgotten, counted once.
  h_.Deliver("c2", Ack(accepted.job_id(), received));
  h_.HelloClient("c3");
  Sent late = h_.Deliver("c3", Attach(accepted.job_id(), accepted.job_token()));
  auto errors = BodiesTo(late, "c3", v1::Envelope::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error().code(),
            static_cast<int32_t>(absl::StatusCode::kNotFound));
  EXPECT_EQ(h_.scheduler().stats().jobs_completed, 1u);
}

// A client that did not submit the job learns from the attach's answer
// what it is, and where the output of its acknowledged results stands
// (the latest mark: an ack without one keeps it).
TEST_F(SchedulerAttachTest, TheAttachAnswerDescribesTheJobAndItsLatestMark) {
  h_.HelloWorker("w", 1, 1);
  h_.HelloClient("c");
  v1::Envelope submit = SchedulerHarness::RangeJob(5, 104, 10, 100, "spin");
  (*submit.mutable_submit_job()->mutable_params())["us"] = "1";
  submit.mutable_submit_job()->set_idempotency_key(std::string(16, 'k'));
  Sent sent;
  h_.Submit("c", submit, &sent);
  const v1::JobAccepted accepted =
      BodiesTo(sent, "c", v1::Envelope::kJobAccepted)[0].job_accepted();
  Sent first = ReportAll(sent, "w");
  ReportAll(first, "w");
  ItemRuns items;
  items.Add(0, 10);
  v1::Envelope ack = Ack(accepted.job_id(), items);
  ack.mutable_ack_results()->set_mark("output bytes=42");
  h_.Deliver("c", ack);
  items = ItemRuns();
  items.Add(10, 10);
  h_.Deliver("c", Ack(accepted.job_id(), items));  // no mark: 42 stands

  h_.HelloClient("c2");
  Sent attached =
      h_.Deliver("c2", Attach(accepted.job_id(), accepted.job_token()));
  auto answers = BodiesTo(attached, "c2", v1::Envelope::kJobAccepted);
  ASSERT_EQ(answers.size(), 1u);
  const v1::JobAccepted& answer = answers[0].job_accepted();
  EXPECT_EQ(answer.job().task(), "spin");
  EXPECT_EQ(answer.job().params().at("us"), "1");
  EXPECT_EQ(answer.job().range().first(), 5u);
  EXPECT_EQ(answer.job().range().last(), 104u);
  EXPECT_TRUE(answer.job().idempotency_key().empty());
  EXPECT_EQ(answer.job().request_id(), 0u);
  EXPECT_EQ(answer.mark(), "output bytes=42");
  ASSERT_EQ(answer.acknowledged_size(), 1);
  EXPECT_EQ(answer.acknowledged(0).last(), 19u);
}

// Another process attaching (adopt) cannot finish a job over a list of
// numbers: refused before the job is taken from its client.
TEST_F(SchedulerAttachTest, AnAdoptingAttachLeavesAListJobToItsClient) {
  h_.HelloClient("c");
  auto [submit, payloads] = SchedulerHarness::NumbersJob({{2, 3}, {4, 5}});
  Sent sent;
  h_.Submit("c", submit, &sent, payloads);
  const v1::JobAccepted accepted =
      BodiesTo(sent, "c", v1::Envelope::kJobAccepted)[0].job_accepted();
  h_.HelloClient("c2");
  v1::Envelope attach = Attach(accepted.job_id(), accepted.job_token());
  attach.mutable_attach_job()->set_adopt(true);
  Sent refused = h_.Deliver("c2", attach);
  auto errors = BodiesTo(refused, "c2", v1::Envelope::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error().code(),
            static_cast<int32_t>(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(BodiesTo(refused, "c", v1::Envelope::kJobFinished).empty());
  // c still owns it: its cancel goes through.
  v1::Envelope cancel;
  cancel.mutable_cancel_job()->set_job_id(accepted.job_id());
  EXPECT_TRUE(BodiesTo(h_.Deliver("c", cancel), "c", v1::Envelope::kError).empty());
  EXPECT_EQ(h_.scheduler().stats().jobs_cancelled, 1u);
}

TEST_F(SchedulerAttachTest, AMarkOverItsLimitIsRefused) {
  h_.HelloWorker("w", 1, 1);
  h_.HelloClient("c");
  Sent sent;
  h_.Submit("c", SchedulerHarness::RangeJob(1, 100, 10), &sent);
  ReportAll(sent, "w");
  const uint64_t job = AssignmentsTo(sent, "w")[0].job_id();
  ItemRuns items;
  items.Add(0, 10);
  v1::Envelope ack = Ack(job, items);
  ack.mutable_ack_results()->set_mark(std::string(kMaxAckMarkBytes + 1, 'm'));
  auto errors = BodiesTo(h_.Deliver("c", ack), "c", v1::Envelope::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error().code(),
            static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(h_.scheduler().stats().acks_refused, 1u);
}

}  // namespace
}  // namespace tq::testing
