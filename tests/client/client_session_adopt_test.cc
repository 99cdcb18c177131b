// ClientSession::Adopt (Pool::Attach, tq-client attach): a job another
// client submitted, read from the attach's answer: its input and task,
// ordered reading past what its earlier client acknowledged, the mark, and
// the jobs attach cannot take.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/client_session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/client_session_fixture.h"

namespace tq::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ClientSessionAdoptTest : public ClientSessionTest {
 protected:
  // Connected; job 7 adopted with `token` (answer not delivered yet).
  std::shared_ptr<JobState> Adopt(bool manual_ack = false) {
    Connect();
    auto job = std::make_shared<JobState>();
    job->window = 4;
    job->manual_ack = manual_ack;
    EXPECT_TRUE(session_.Adopt(7, "tok", job, now_).ok());
    std::vector<Outgoing> sent = SentOf(v1::Envelope::kAttachJob);
    EXPECT_EQ(sent.size(), 1u);
    if (!sent.empty()) attach_ = sent[0].envelope.attach_job();
    return job;
  }
  // The broker's answer describing `job`.
  v1::Envelope Answer(const v1::SubmitJob& job) {
    v1::Envelope envelope;
    v1::JobAccepted* accepted = envelope.mutable_job_accepted();
    accepted->set_request_id(attach_.request_id());
    accepted->set_job_id(7);
    accepted->set_result_window(4);
    *accepted->mutable_job() = job;
    return envelope;
  }
  static void AddRun(v1::JobAccepted* accepted, uint64_t first, uint64_t last) {
    v1::Range* range = accepted->add_acknowledged();
    range->set_first(first);
    range->set_last(last);
  }
  // The next event of `job` in input order: a result's first item, -1 for
  // kDone, -2 for nothing yet.
  int64_t NextInOrder(JobState& job) {
    auto event = session_.NextEvent(job, /*ordered=*/true, false, now_);
    if (!event.has_value()) return -2;
    EXPECT_TRUE(event->ok()) << event->status();
    if (!event->ok()) return -3;
    if ((*event)->kind == JobEvent::Kind::kDone) return -1;
    return static_cast<int64_t>((*event)->result->first_item());
  }
  void Finish() {
    v1::Envelope finished;
    finished.mutable_job_finished()->set_job_id(7);
    Deliver(finished);
  }

  v1::AttachJob attach_;
};

TEST_F(ClientSessionAdoptTest, ARangeJobIsReadInOrderPastWhatWasAcknowledged) {
  std::shared_ptr<JobState> job = Adopt(/*manual_ack=*/true);
  EXPECT_EQ(attach_.job_id(), 7u);
  EXPECT_EQ(attach_.job_token(), "tok");
  EXPECT_EQ(attach_.result_window(), 4u);
  EXPECT_EQ(attach_.have_size(), 0);
  EXPECT_FALSE(job->answered);

  v1::SubmitJob spec;
  spec.set_task("primes");
  spec.mutable_range()->set_first(11);
  spec.mutable_range()->set_last(110);
  v1::Envelope answer = Answer(spec);
  AddRun(answer.mutable_job_accepted(), 0, 19);
  AddRun(answer.mutable_job_accepted(), 30, 39);
  answer.mutable_job_accepted()->set_mark("bytes=42");
  Deliver(answer);
  ASSERT_TRUE(job->answered);
  ASSERT_TRUE(job->submit_status.ok()) << job->submit_status;
  EXPECT_EQ(job->task, "primes");
  EXPECT_EQ(job->range_lo, 11u);
  EXPECT_EQ(job->range_last_index, 99u);
  EXPECT_EQ(job->acknowledged_before, 30u);
  EXPECT_EQ(job->mark, "bytes=42");

  // Results arrive out of order; reading passes over items 0..19, 30..39.
  Result(7, 5, 40, 60);
  EXPECT_EQ(NextInOrder(*job), -2);  // 20..29 first
  Result(7, 4, 20, 10);
  EXPECT_EQ(NextInOrder(*job), 20);
  EXPECT_EQ(NextInOrder(*job), 40);
  Finish();
  EXPECT_EQ(NextInOrder(*job), -1);

  session_.Acknowledge(*job, "bytes=99");
  std::vector<Outgoing> acks = SentOf(v1::Envelope::kAckResults);
  ASSERT_EQ(acks.size(), 1u);
  const v1::AckResults& ack = acks[0].envelope.ack_results();
  ASSERT_EQ(ack.items_size(), 2);
  EXPECT_EQ(ack.items(0).first(), 20u);
  EXPECT_EQ(ack.items(0).last(), 29u);
  EXPECT_EQ(ack.items(1).first(), 40u);
  EXPECT_EQ(ack.items(1).last(), 99u);
  EXPECT_EQ(ack.mark(), "bytes=99");
}

// A code job's items are the broker's: their count comes with the answer.
TEST_F(ClientSessionAdoptTest, ACodeJobTakesItsItemCountFromTheAnswer) {
  std::shared_ptr<JobState> job = Adopt();
  v1::SubmitJob spec;
  spec.mutable_code()->set_runtime("python");
  spec.mutable_stream()->set_encoding(v1::ITEM_ENCODING_PICKLE);
  v1::Envelope answer = Answer(spec);
  answer.mutable_job_accepted()->set_items_received(5);
  answer.mutable_job_accepted()->set_chunks_received(2);
  answer.mutable_job_accepted()->set_input_complete(true);
  Deliver(answer);
  ASSERT_TRUE(job->submit_status.ok()) << job->submit_status;
  Result(7, 0, 0, 3);
  Result(7, 1, 3, 2);
  EXPECT_EQ(NextInOrder(*job), 0);
  EXPECT_EQ(NextInOrder(*job), 3);
  Finish();
  EXPECT_EQ(NextInOrder(*job), -1);
}

// The broker refuses to hand over a job whose input only its submitter
// has (AttachJob.adopt); one that did anyway is wrong.
TEST_F(ClientSessionAdoptTest, AJobWhoseInputOnlyItsSubmitterHasIsABrokerError) {
  std::shared_ptr<JobState> list = Adopt();
  EXPECT_TRUE(attach_.adopt());
  v1::SubmitJob spec;
  spec.set_task("primes");
  spec.mutable_stream()->set_encoding(v1::ITEM_ENCODING_U64LE);
  v1::Envelope answer = Answer(spec);
  answer.mutable_job_accepted()->set_input_complete(true);
  Deliver(answer);
  EXPECT_EQ(list->submit_status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(list->submit_status.message(), HasSubstr("only its submitter"));
}

TEST_F(ClientSessionAdoptTest, TheBrokersRefusalIsTheAnswer) {
  std::shared_ptr<JobState> job = Adopt();
  v1::Envelope error;
  error.mutable_error()->set_request_id(attach_.request_id());
  error.mutable_error()->set_job_id(7);
  error.mutable_error()->set_code(
      static_cast<int32_t>(absl::StatusCode::kPermissionDenied));
  error.mutable_error()->set_message("job 7 is not yours");
  Deliver(error);
  ASSERT_TRUE(job->answered);
  EXPECT_EQ(job->submit_status.code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace tq::internal
