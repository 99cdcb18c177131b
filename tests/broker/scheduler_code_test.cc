// Scheduler: streamed input (chunks the client cuts and appends under its
// window) and code jobs (admission, capability dispatch, blobs shipped once,
// user errors, limits), driven with fake time.
#include "broker/scheduler.h"

#include "tests/broker/scheduler_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq::testing {
namespace {

using ::testing::HasSubstr;
using E = v1::Envelope;

SchedulerOptions CodeOptions() {
  SchedulerOptions options = TestOptions();
  options.allow_code = {"python"};
  return options;
}

class SchedulerStreamTest : public ::testing::Test {
 protected:
  SchedulerHarness h_;
};

v1::Envelope Append(uint64_t job, const std::vector<size_t>& payload_indexes,
                    bool complete, uint64_t items = 2) {
  v1::Envelope env;
  v1::AppendInput* append = env.mutable_append_input();
  append->set_job_id(job);
  append->set_complete(complete);
  for (size_t index : payload_indexes) {
    v1::ChunkInput* chunk = append->add_chunks();
    chunk->set_payload(static_cast<uint32_t>(index));
    chunk->set_item_count(items);
  }
  return env;
}

TEST_F(SchedulerStreamTest, AppendedChunksAreNumberedOnAndTheJobEndsWithThem) {
  h_.HelloClient("c1");
  h_.HelloWorker("w1", 1, 10);
  auto [submit, payloads] = SchedulerHarness::NumbersJob({{1, 2}}, false);
  Sent sent;
  const uint64_t job = h_.Submit("c1", submit, &sent, payloads);
  EXPECT_EQ(BodiesTo(sent, "c1", E::kJobAccepted)[0].job_accepted().chunk_count(), 0u);
  auto a = AssignmentsTo(sent, "w1");
  ASSERT_EQ(a.size(), 1u);
  sent = h_.Deliver("c1", Append(job, {0, 1}, false),
                    {SchedulerHarness::Numbers({3, 4}),
                     SchedulerHarness::Numbers({5, 6})});
  auto more = AssignmentsTo(sent, "w1");
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more[0].chunk_index(), 1u);
  EXPECT_EQ(more[1].chunk_index(), 2u);
  for (const auto& x : {a[0], more[0], more[1]}) {
    EXPECT_TRUE(BodiesTo(h_.Report("w1", x), "c1", E::kJobFinished).empty());
  }
  // Every chunk is done, but the input is still open: the end is the
  // client's to say.
  sent = h_.Deliver("c1", Append(job, {}, true));
  ASSERT_EQ(BodiesTo(sent, "c1", E::kJobFinished).size(), 1u);
  EXPECT_EQ(BodiesTo(sent, "c1", E::kJobFinished)[0].job_finished().code(), 0);
  EXPECT_EQ(h_.scheduler().stats().items_completed, 6u);
}

TEST_F(SchedulerStreamTest, AnInputEndedWithoutChunksIsDoneAtOnce) {
  h_.HelloClient("c1");
  auto [submit, payloads] = SchedulerHarness::NumbersJob({}, true);
  Sent sent;
  h_.Submit("c1", submit, &sent, payloads);
  ASSERT_EQ(BodiesTo(sent, "c1", E::kJobFinished).size(), 1u);
  EXPECT_EQ(BodiesTo(sent, "c1", E::kJobFinished)[0].job_finished().code(), 0);
}

TEST_F(SchedulerStreamTest, AppendingBeyondTheWindowFailsTheJob) {
  h_.HelloClient("c1");
  auto [submit, payloads] =
      SchedulerHarness::NumbersJob({{1}, {2}}, false, /*window=*/3);
  const uint64_t job = h_.Submit("c1", submit, nullptr, payloads);
  Sent sent = h_.Deliver("c1", Append(job, {0, 1}, false, 1),
                         {SchedulerHarness::Numbers({3}),
                          SchedulerHarness::Numbers({4})});
  auto finished = BodiesTo(sent, "c1", E::kJobFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].job_finished().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(finished[0].job_finished().message(), HasSubstr("window is 3"));
}

TEST_F(SchedulerStreamTest, ChunksMustHoldWhatTheyClaim) {
  h_.HelloClient("c1");
  auto [submit, payloads] = SchedulerHarness::NumbersJob({{1, 2, 3}});
  submit.mutable_submit_job()->mutable_stream()->mutable_chunks(0)->set_item_count(4);
  Sent sent = h_.Deliver("c1", submit, payloads);
  auto errors = BodiesTo(sent, "c1", E::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].error().message(), HasSubstr("claims 4 numbers in 24 bytes"));
  // A payload index the message does not carry.
  auto [bad, none] = SchedulerHarness::NumbersJob({{1}});
  sent = h_.Deliver("c1", bad, {});
  errors = BodiesTo(sent, "c1", E::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].error().message(), HasSubstr("names payload 0"));
}

TEST_F(SchedulerStreamTest, ARequeuedChunkCarriesTheSameInputAgain) {
  h_.HelloClient("c1");
  auto [submit, payloads] = SchedulerHarness::NumbersJob({{7, 8, 9}});
  h_.Submit("c1", submit, nullptr, payloads);
  Sent first = h_.HelloWorker("w1", 1, 1);
  ASSERT_EQ(AssignmentsTo(first, "w1").size(), 1u);
  h_.ReportError("w1", AssignmentsTo(first, "w1")[0], "flaky", 0);
  Sent again = h_.HelloWorker("w2", 1, 1);
  auto a = AssignmentsTo(again, "w2");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].attempt(), 2u);
  const OutgoingMessage& m = again.back();
  EXPECT_EQ(m.payloads.at(a[0].input().payload()).ToString(),
            payloads[0].ToString());
}

class SchedulerCodeTest : public ::testing::Test {
 protected:
  SchedulerHarness h_{CodeOptions()};
};

TEST(SchedulerCodeAdmissionTest, ABrokerWithoutAllowCodeRefusesCodeJobs) {
  SchedulerHarness h;
  h.HelloClient("c1");
  auto [submit, payloads] = SchedulerHarness::CodeJob("f", {"x"});
  auto errors = BodiesTo(h.Deliver("c1", submit, payloads), "c1", E::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error().code(),
            static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(errors[0].error().message(), HasSubstr("--allow-code=python"));
  EXPECT_EQ(errors[0].error().request_id(), 7u);
}

TEST_F(SchedulerCodeTest, AVersionNoWorkerOffersFailsTheSubmitNamingBoth) {
  h_.HelloClient("c1");
  h_.HelloWorker("w1", 1, 1, {SchedulerHarness::Python("3.9")});
  auto [submit, payloads] = SchedulerHarness::CodeJob("f", {"x"}, true, 10, "3.11");
  auto errors = BodiesTo(h_.Deliver("c1", submit, payloads), "c1", E::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error().code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(errors[0].error().message(), HasSubstr("python 3.11"));
  EXPECT_THAT(errors[0].error().message(), HasSubstr("python 3.9"));
}

TEST_F(SchedulerCodeTest, ABlobThatDoesNotMatchItsDigestIsRefused) {
  h_.HelloClient("c1");
  auto [submit, payloads] = SchedulerHarness::CodeJob("f", {"x"});
  payloads[0] = Payload::FromString("not f");
  auto errors = BodiesTo(h_.Deliver("c1", submit, payloads), "c1", E::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].error().message(), HasSubstr("does not match"));
}

TEST_F(SchedulerCodeTest, WaitsForACapableWorkerAndGoesOnlyToIt) {
  h_.HelloClient("c1");
  h_.HelloWorker("plain", 4, 10);
  auto [submit, payloads] = SchedulerHarness::CodeJob("f", {"x", "y"});
  Sent sent;
  const uint64_t job = h_.Submit("c1", submit, &sent, payloads);
  EXPECT_TRUE(AssignmentsTo(sent, "plain").empty());
  v1::StatusReply status = h_.scheduler().Status(h_.now());
  ASSERT_EQ(status.jobs_size(), 1);
  EXPECT_EQ(status.jobs(0).state(),
            v1::JobStatus::STATE_WAITING_FOR_CAPABLE_WORKER);
  EXPECT_THAT(status.jobs(0).waiting_for(), HasSubstr("python 3.11"));
  EXPECT_EQ(status.jobs(0).runtime(), "python 3.11");

  sent = h_.HelloWorker("py", 1, 2, {SchedulerHarness::Python("3.11")});
  auto a = AssignmentsTo(sent, "py");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].job_id(), job);
  EXPECT_TRUE(a[0].task().empty());
  EXPECT_EQ(a[0].code().runtime_version(), "3.11");
  EXPECT_THAT(a[0].owner(), HasSubstr("session:"));
  // The function goes once per worker session, with the first chunk.
  const OutgoingMessage& m = sent.back();
  ASSERT_EQ(m.envelope.assignments().code_blobs_size(), 1);
  const v1::CodeBlob& blob = m.envelope.assignments().code_blobs(0);
  EXPECT_EQ(blob.sha256(), Sha256("f"));
  EXPECT_EQ(m.payloads.at(blob.payload()).ToString(), "f");
  EXPECT_EQ(m.payloads.at(a[1].input().payload()).ToString(), "y");
}

TEST_F(SchedulerCodeTest, ShipsAFunctionOnceAndAgainAfterTheWorkerLostIt) {
  h_.HelloClient("c1");
  h_.HelloWorker("py", 1, 1, {SchedulerHarness::Python()});
  auto [submit, payloads] = SchedulerHarness::CodeJob("f", {"a", "b", "c"});
  Sent sent;
  h_.Submit("c1", submit, &sent, payloads);
  auto blobs = [](const Sent& s) {
    int n = 0;
    for (const auto& m : s) {
      if (m.envelope.has_assignments()) n += m.envelope.assignments().code_blobs_size();
    }
    return n;
  };
  EXPECT_EQ(blobs(sent), 1);
  auto a = AssignmentsTo(sent, "py");
  ASSERT_EQ(a.size(), 1u);
  sent = h_.Report("py", a[0]);
  EXPECT_EQ(blobs(sent), 0);  // the worker has it
  a = AssignmentsTo(sent, "py");
  ASSERT_EQ(a.size(), 1u);
  // The worker evicted it: it says so; the chunk comes back with the blob
  // and no attempt counted against it.
  v1::Envelope missing;
  v1::ChunkReport* r = missing.mutable_chunk_reports()->add_reports();
  r->set_job_id(a[0].job_id());
  r->set_chunk_index(a[0].chunk_index());
  r->set_attempt(a[0].attempt());
  r->mutable_error()->set_code(9);
  r->mutable_error()->set_message("no code");
  r->set_failure(v1::FAILURE_CODE_MISSING);
  missing.mutable_chunk_reports()->set_credit(1);
  sent = h_.Deliver("py", missing);
  EXPECT_EQ(blobs(sent), 1);
  auto again = AssignmentsTo(sent, "py");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].chunk_index(), a[0].chunk_index());
  EXPECT_EQ(h_.scheduler().stats().requeued_code_missing, 1u);
}

TEST_F(SchedulerCodeTest, AUserCodeErrorFailsTheJobAtOnceWithItsDetails) {
  h_.HelloClient("c1");
  h_.HelloWorker("py", 1, 2, {SchedulerHarness::Python()});
  auto [submit, payloads] = SchedulerHarness::CodeJob("f", {"a", "b"});
  Sent sent;
  h_.Submit("c1", submit, &sent, payloads);
  auto a = AssignmentsTo(sent, "py");
  ASSERT_EQ(a.size(), 2u);
  v1::Envelope env;
  v1::ChunkReport* r = env.mutable_chunk_reports()->add_reports();
  r->set_job_id(a[1].job_id());
  r->set_chunk_index(a[1].chunk_index());
  r->set_attempt(a[1].attempt());
  r->mutable_error()->set_code(static_cast<int>(absl::StatusCode::kAborted));
  r->mutable_error()->set_message("ValueError: bad (item 1: 12)");
  r->set_failure(v1::FAILURE_USER_CODE);
  r->set_details_payload(0);
  sent = h_.Deliver("py", env, {Payload::FromString("pickled details")});
  auto finished = BodiesTo(sent, "c1", E::kJobFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_TRUE(finished[0].job_finished().user_code_error());
  EXPECT_EQ(finished[0].job_finished().chunk_index(), 1u);
  EXPECT_THAT(finished[0].job_finished().message(), HasSubstr("ValueError"));
  for (const auto& m : sent) {
    if (!m.envelope.has_job_finished()) continue;
    EXPECT_EQ(m.payloads.at(m.envelope.job_finished().details_payload()).ToString(),
              "pickled details");
  }
  // Not retried: the other hand-out is revoked, nothing is requeued.
  EXPECT_EQ(BodiesTo(sent, "py", E::kRevokeJob).size(), 1u);
  EXPECT_EQ(h_.scheduler().stats().requeued_task_failed, 0u);
  EXPECT_EQ(h_.scheduler().stats().jobs_failed, 1u);
}

TEST_F(SchedulerCodeTest, OwnersAreTheClientsKeyOrItsOwnSession) {
  h_.HelloClient("c1");
  h_.HelloClient("c2");
  h_.HelloClient("c3", "code-client:alice");
  h_.HelloWorker("py", 1, 10, {SchedulerHarness::Python()});
  std::vector<std::string> owners;
  for (const char* client : {"c1", "c2", "c3"}) {
    auto [submit, payloads] = SchedulerHarness::CodeJob("f", {"a"});
    Sent sent;
    h_.Submit(client, submit, &sent, payloads);
    auto a = AssignmentsTo(sent, "py");
    ASSERT_EQ(a.size(), 1u);
    owners.push_back(a[0].owner());
  }
  EXPECT_NE(owners[0], owners[1]);
  EXPECT_EQ(owners[2], "code-client:alice");
}

TEST_F(SchedulerCodeTest, MaxConcurrencyCapsChunksOnWorkers) {
  h_.HelloClient("c1");
  auto [submit, payloads] = SchedulerHarness::CodeJob("f", {"a", "b", "c"});
  submit.mutable_submit_job()->set_max_concurrency(1);
  h_.Submit("c1", submit, nullptr, payloads);
  Sent sent = h_.HelloWorker("py", 4, 4, {SchedulerHarness::Python()});
  auto a = AssignmentsTo(sent, "py");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(AssignmentsTo(h_.Report("py", a[0]), "py").size(), 1u);
}

TEST_F(SchedulerCodeTest, ATimedOutJobIsCancelledAndItsChunksRevoked) {
  h_.HelloClient("c1");
  h_.HelloWorker("py", 1, 1, {SchedulerHarness::Python()});
  auto [submit, payloads] = SchedulerHarness::CodeJob("f", {"a"});
  submit.mutable_submit_job()->set_timeout_ms(1500);
  h_.Submit("c1", submit, nullptr, payloads);
  h_.AdvanceMs(1000);
  h_.Heartbeat("py");
  h_.Heartbeat("c1");
  EXPECT_TRUE(BodiesTo(h_.Tick(), "c1", E::kJobFinished).empty());
  h_.AdvanceMs(500);
  EXPECT_LE(h_.scheduler().NextDeadlineUs(), h_.now());
  Sent sent = h_.Tick();
  auto finished = BodiesTo(sent, "c1", E::kJobFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].job_finished().code(),
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(finished[0].job_finished().message(), HasSubstr("timeout of 1.5 s"));
  EXPECT_EQ(BodiesTo(sent, "py", E::kRevokeJob).size(), 1u);
}

TEST_F(SchedulerCodeTest, OneClientRunsAtMostMaxJobsPerClient) {
  SchedulerOptions options = CodeOptions();
  options.max_jobs_per_client = 2;
  SchedulerHarness h(options);
  h.HelloClient("c1");
  h.Submit("c1", SchedulerHarness::RangeJob(1, 10, 1));
  h.Submit("c1", SchedulerHarness::RangeJob(1, 10, 1));
  auto errors = BodiesTo(h.Deliver("c1", SchedulerHarness::RangeJob(1, 10, 1)),
                         "c1", E::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  // Another client is not held back.
  h.HelloClient("c2");
  h.Submit("c2", SchedulerHarness::RangeJob(1, 10, 1));
}

TEST_F(SchedulerCodeTest, TaskJobsGoOnlyToWorkersRunningTheTask) {
  h_.HelloClient("c1");
  v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(kProtocolVersion);
  hello.mutable_hello()->set_role(v1::ROLE_WORKER);
  hello.mutable_hello()->set_threads(1);
  hello.mutable_hello()->set_credit(5);
  hello.mutable_hello()->add_tasks("noop");
  h_.Deliver("noop-only", hello);
  Sent sent;
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 10, 1, 100, "primes"), &sent);
  EXPECT_TRUE(AssignmentsTo(sent, "noop-only").empty());
  sent.clear();
  h_.Submit("c1", SchedulerHarness::RangeJob(1, 10, 5, 100, "noop"), &sent);
  EXPECT_EQ(AssignmentsTo(sent, "noop-only").size(), 2u);
}

}  // namespace
}  // namespace tq::testing
