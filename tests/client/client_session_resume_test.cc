// ClientSession's jobs across connections, driven with fake time and
// hand-made broker messages: idempotency keys, acknowledgements (batched,
// counted, manual), attaching again after a reconnect (what the client
// holds, fresh credit, acks the broker lacks, duplicates dropped), a broker
// that lost the job, resubmits, the resume timeout, and streamed input sent
// again from where the broker's copy ends.
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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
using ::testing::Pair;

using Runs = std::vector<std::pair<uint64_t, uint64_t>>;

Runs RunsOf(const google::protobuf::RepeatedPtrField<v1::Range>& ranges) {
  Runs runs;
  for (const v1::Range& range : ranges) runs.emplace_back(range.first(), range.last());
  return runs;
}

class ClientSessionResumeTest : public ClientSessionTest {
 protected:
  // Connected, with job 7 (100 items) accepted; nothing left to read in
  // the outbox.
  std::shared_ptr<JobState> Running(uint32_t window = 4, bool manual_ack = false,
                                    bool count = false) {
    Connect();
    std::shared_ptr<JobState> job = Submit(window, manual_ack, count);
    Accept(*job, 7);
    Sent();
    return job;
  }
  // The broker is lost and a new one welcomes us; returns the AttachJob
  // sent for the job (what was sent after the Welcome: after_welcome_).
  v1::AttachJob Reconnect() {
    LoseBroker();
    Sent();
    Deliver(Welcome());
    after_welcome_.clear();
    v1::AttachJob attach;
    for (Outgoing& message : session_.TakeOutgoing()) {
      after_welcome_.push_back(message.envelope.body_case());
      if (message.envelope.has_attach_job()) {
        attach = message.envelope.attach_job();
      }
    }
    EXPECT_THAT(after_welcome_, ElementsAre(v1::Envelope::kAttachJob));
    return attach;
  }
  // The broker's answer to `attach`.
  void Attached(const v1::AttachJob& attach, Runs acknowledged = {},
                uint64_t acknowledged_count = 0, uint64_t chunks_received = 0,
                bool input_complete = false) {
    v1::Envelope envelope;
    v1::JobAccepted* accepted = envelope.mutable_job_accepted();
    accepted->set_request_id(attach.request_id());
    accepted->set_job_id(attach.job_id());
    accepted->set_result_window(attach.result_window());
    for (const auto& [first, last] : acknowledged) {
      v1::Range* range = accepted->add_acknowledged();
      range->set_first(first);
      range->set_last(last);
    }
    accepted->set_acknowledged_count(acknowledged_count);
    accepted->set_chunks_received(chunks_received);
    accepted->set_input_complete(input_complete);
    Deliver(envelope);
  }
  std::vector<v1::Envelope::BodyCase> after_welcome_;

  std::vector<v1::AckResults> Acks() {
    std::vector<v1::AckResults> acks;
    for (Outgoing& m : SentOf(v1::Envelope::kAckResults)) {
      acks.push_back(m.envelope.ack_results());
    }
    return acks;
  }
};

TEST_F(ClientSessionResumeTest, SubmitsCarryARandomIdempotencyKeyAndKeepTheToken) {
  Connect();
  std::shared_ptr<JobState> a = Submit();
  std::shared_ptr<JobState> b = Submit();
  std::vector<Outgoing> submits = SentOf(v1::Envelope::kSubmitJob);
  ASSERT_EQ(submits.size(), 2u);
  const std::string& key_a = submits[0].envelope.submit_job().idempotency_key();
  const std::string& key_b = submits[1].envelope.submit_job().idempotency_key();
  EXPECT_EQ(key_a.size(), 16u);
  EXPECT_EQ(key_b.size(), 16u);
  EXPECT_NE(key_a, key_b);
  EXPECT_EQ(a->idempotency_key, key_a);
  // Another session (another process) picks another key too.
  ClientSession other(Options(), now_);
  other.OnMessage(Welcome(), {}, now_);
  auto c = std::make_shared<JobState>();
  c->range_last_index = 9;
  c->window = 2;
  ASSERT_TRUE(other.Submit(v1::SubmitJob(), {}, c, now_).ok());
  EXPECT_EQ(c->idempotency_key.size(), 16u);
  EXPECT_NE(c->idempotency_key, key_a);
  Accept(*a, 7);
  EXPECT_EQ(a->job_token, "token-of-7");
}

TEST_F(ClientSessionResumeTest, AcksGoOutOnceHalfTheWindowWaitsAsMergedRuns) {
  std::shared_ptr<JobState> job = Running(/*window=*/4);  // batches of 2
  Result(7, 0, 0, 10);
  Result(7, 2, 20, 10);
  Result(7, 1, 10, 10);
  ASSERT_TRUE(Read(*job).has_value());  // items 0..9 (oldest first)
  EXPECT_TRUE(Acks().empty());
  ASSERT_TRUE(Read(*job).has_value());  // 20..29
  std::vector<v1::AckResults> acks = Acks();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].job_id(), 7u);
  EXPECT_THAT(RunsOf(acks[0].items()), ElementsAre(Pair(0, 9), Pair(20, 29)));
  EXPECT_EQ(acks[0].count(), 0u);
  ASSERT_TRUE(Read(*job).has_value());  // 10..19: one waits
  EXPECT_TRUE(Acks().empty());
  EXPECT_EQ(job->acks.acknowledged().covered(), 20u);
}

TEST_F(ClientSessionResumeTest, AnAckWaitsAtMost200Ms) {
  std::shared_ptr<JobState> job = Running();
  Result(7, 0, 0, 10);
  ASSERT_TRUE(Read(*job).has_value());
  EXPECT_LE(session_.NextDeadlineUs(), now_ + kAckDelayMs * kMs);
  Advance(kAckDelayMs - 1);
  EXPECT_TRUE(Acks().empty());
  Advance(1);
  std::vector<v1::AckResults> acks = Acks();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_THAT(RunsOf(acks[0].items()), ElementsAre(Pair(0, 9)));
  Advance(1'000);
  EXPECT_TRUE(Acks().empty());  // once
}

TEST_F(ClientSessionResumeTest, TheLastResultIsAcknowledgedAtOnceWithCountsSummed) {
  std::shared_ptr<JobState> job =
      Running(/*window=*/8, /*manual_ack=*/false, /*count=*/true);
  Result(7, 0, 0, 50, /*reduced=*/7);
  Result(7, 1, 50, 50, /*reduced=*/5);
  v1::Envelope finished;
  finished.mutable_job_finished()->set_job_id(7);
  Deliver(finished);
  ASSERT_TRUE(Read(*job).has_value());
  EXPECT_TRUE(Acks().empty());  // 1 of a batch of 4, the timer not due
  ASSERT_TRUE(Read(*job).has_value());
  std::vector<v1::AckResults> acks = Acks();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_THAT(RunsOf(acks[0].items()), ElementsAre(Pair(0, 99)));
  EXPECT_EQ(acks[0].count(), 12u);
  std::optional<absl::StatusOr<JobEvent>> done =
      session_.NextEvent(*job, false, false, now_);
  ASSERT_TRUE(done.has_value());
  ASSERT_TRUE(done->ok()) << done->status();
  EXPECT_EQ((*done)->kind, JobEvent::Kind::kDone);
  EXPECT_TRUE(Acks().empty());
}

TEST_F(ClientSessionResumeTest, ManualAcksGoOutOnlyOnAcknowledge) {
  std::shared_ptr<JobState> job = Running(/*window=*/4, /*manual_ack=*/true);
  Result(7, 0, 0, 10);
  Result(7, 1, 10, 10);
  Result(7, 2, 20, 10);
  ASSERT_TRUE(Read(*job).has_value());
  ASSERT_TRUE(Read(*job).has_value());
  Advance(1'000);
  EXPECT_TRUE(Acks().empty());
  session_.Acknowledge(*job);
  std::vector<v1::AckResults> acks = Acks();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_THAT(RunsOf(acks[0].items()), ElementsAre(Pair(0, 19)));
  session_.Acknowledge(*job);  // nothing new consumed: nothing sent
  EXPECT_TRUE(Acks().empty());
  ASSERT_TRUE(Read(*job).has_value());
  Advance(1'000);
  EXPECT_TRUE(Acks().empty());
  session_.Acknowledge(*job);
  acks = Acks();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_THAT(RunsOf(acks[0].items()), ElementsAre(Pair(20, 29)));
}

TEST_F(ClientSessionResumeTest, AReconnectAttachesTheJobWithWhatItHoldsBeyondItsAcks) {
  std::shared_ptr<JobState> job = Running(/*window=*/4, /*manual_ack=*/true);
  Result(7, 0, 0, 10);
  Result(7, 1, 10, 10);
  Result(7, 2, 20, 10);
  ASSERT_TRUE(Read(*job).has_value());
  ASSERT_TRUE(Read(*job).has_value());
  session_.Acknowledge(*job);           // 0..19 acknowledged
  ASSERT_TRUE(Read(*job).has_value());  // 20..29 consumed, not acknowledged
  Result(7, 3, 30, 10);                 // 30..39 buffered
  Sent();
  v1::AttachJob attach = Reconnect();
  // The job did not fail: it is attached again.
  EXPECT_FALSE(job->finished);
  EXPECT_EQ(attach.job_id(), 7u);
  EXPECT_EQ(attach.job_token(), "token-of-7");
  EXPECT_NE(attach.request_id(), 0u);
  EXPECT_NE(attach.request_id(), job->request_id);
  // The ack of 0..19 is not confirmed (it may have been lost): held too.
  EXPECT_THAT(RunsOf(attach.have()), ElementsAre(Pair(0, 39)));
  EXPECT_EQ(attach.result_window(), 4u);
  EXPECT_EQ(session_.reconnects(), 1);
  // The broker confirms 0..19; the next attach holds only the rest.
  Attached(attach, /*acknowledged=*/{{0, 19}});
  attach = Reconnect();
  EXPECT_THAT(RunsOf(attach.have()), ElementsAre(Pair(20, 39)));
  EXPECT_EQ(session_.reconnects(), 2);
}

TEST_F(ClientSessionResumeTest, AnAttachedJobGetsFreshCreditAcksAgainWhatTheBrokerLacksAndDropsDuplicates) {
  std::shared_ptr<JobState> job = Running(/*window=*/4);
  Result(7, 0, 0, 10);
  Result(7, 1, 10, 10);
  ASSERT_TRUE(Read(*job).has_value());
  ASSERT_TRUE(Read(*job).has_value());
  ASSERT_EQ(Acks().size(), 1u);  // 0..19, but say only 0..9 arrived
  v1::AttachJob attach = Reconnect();
  // Held, acknowledged or not: the broker keeps them as delivered.
  EXPECT_THAT(RunsOf(attach.have()), ElementsAre(Pair(0, 19)));
  // Nothing but the attach goes out before it is answered (Reconnect
  // checked): no credit, no acks.
  Attached(attach, /*acknowledged=*/{{0, 9}});
  std::vector<v1::AckResults> acks = Acks();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_THAT(RunsOf(acks[0].items()), ElementsAre(Pair(10, 19)));
  EXPECT_EQ(job->granted, job->received + 4);
  EXPECT_FALSE(job->detached);
  // Were the broker to send items 10..19 again: dropped, never handed out
  // twice.
  Result(7, 1, 10, 10);
  EXPECT_EQ(job->stats.duplicates, 1u);
  EXPECT_FALSE(Read(*job).has_value());
  Result(7, 2, 20, 10);
  std::optional<ChunkResult> next = Read(*job);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->first_item(), 20u);
}

TEST_F(ClientSessionResumeTest, ABrokerThatLostTheJobFailsItUnavailable) {
  std::shared_ptr<JobState> job = Running();
  Result(7, 0, 0, 10);
  v1::AttachJob attach = Reconnect();
  v1::Envelope error;
  error.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kNotFound));
  error.mutable_error()->set_message("no job 7");
  error.mutable_error()->set_request_id(attach.request_id());
  Deliver(error);
  ASSERT_TRUE(job->finished);
  EXPECT_EQ(job->final_status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(job->final_status.message(), HasSubstr("job 7 was lost"));
  EXPECT_THAT(job->final_status.message(), HasSubstr("--journal"));
  EXPECT_FALSE(IsJobFailure(job->final_status));  // exit 3, not 2
  // What arrived before is still read, then the error.
  EXPECT_TRUE(Read(*job).has_value());
  std::optional<absl::StatusOr<JobEvent>> event =
      session_.NextEvent(*job, false, false, now_);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ClientSessionResumeTest, ABrokerThatLostAJobWhoseResultsAllCameOnlyLostItsEnd) {
  std::shared_ptr<JobState> job = Running();
  Result(7, 0, 0, 60);
  Result(7, 1, 60, 40);  // every item; the JobFinished was lost
  v1::AttachJob attach = Reconnect();
  v1::Envelope error;
  error.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kNotFound));
  error.mutable_error()->set_request_id(attach.request_id());
  Deliver(error);
  ASSERT_TRUE(Read(*job).has_value());
  ASSERT_TRUE(Read(*job).has_value());
  std::optional<absl::StatusOr<JobEvent>> done =
      session_.NextEvent(*job, false, false, now_);
  ASSERT_TRUE(done.has_value());
  ASSERT_TRUE(done->ok()) << done->status();
  EXPECT_EQ((*done)->kind, JobEvent::Kind::kDone);
}

TEST_F(ClientSessionResumeTest, AJobReleasedWhileDetachedIsCancelledOnceAttached) {
  std::shared_ptr<JobState> job = Running();
  LoseBroker();
  session_.Release(*job);
  Sent();
  Deliver(Welcome());
  std::vector<Outgoing> attaches = SentOf(v1::Envelope::kAttachJob);
  ASSERT_EQ(attaches.size(), 1u);
  Attached(attaches[0].envelope.attach_job());
  EXPECT_EQ(Sent(), std::vector{v1::Envelope::kCancelJob});
  // Forgotten: the next reconnect attaches nothing.
  LoseBroker();
  Sent();
  Deliver(Welcome());
  EXPECT_TRUE(Sent().empty());
}

TEST_F(ClientSessionResumeTest, ASubmitNotAnsweredGoesAgainWithTheSameKey) {
  Connect();
  std::shared_ptr<JobState> job = Submit();
  std::vector<Outgoing> first = SentOf(v1::Envelope::kSubmitJob);
  ASSERT_EQ(first.size(), 1u);
  LoseBroker();
  EXPECT_FALSE(job->answered);
  Sent();
  Deliver(Welcome());
  std::vector<Outgoing> again = SentOf(v1::Envelope::kSubmitJob);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].envelope.submit_job().idempotency_key(),
            first[0].envelope.submit_job().idempotency_key());
  EXPECT_EQ(again[0].envelope.submit_job().request_id(), job->request_id);
  Accept(*job, 9);
  ASSERT_TRUE(job->answered);
  EXPECT_TRUE(job->submit_status.ok()) << job->submit_status;
  // Accepted now: the next loss attaches it, never submits it again.
  Sent();
  LoseBroker();
  Sent();
  Deliver(Welcome());
  EXPECT_EQ(Sent(), std::vector{v1::Envelope::kAttachJob});
}

TEST_F(ClientSessionResumeTest, AJobNotAttachedWithinTheResumeTimeoutFails) {
  std::shared_ptr<JobState> job = Running();
  std::shared_ptr<JobState> unanswered = Submit();
  Sent();
  LoseBroker();  // lost now; the resume timeout is 10 s
  Advance(9'999);
  EXPECT_FALSE(job->finished);
  EXPECT_FALSE(unanswered->answered);
  Advance(1);
  ASSERT_TRUE(job->finished);
  EXPECT_EQ(job->final_status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(job->final_status.message(), HasSubstr("silent for 3s"));
  EXPECT_THAT(job->final_status.message(), HasSubstr("lost with the connection"));
  EXPECT_THAT(job->final_status.message(), HasSubstr("within 10s"));
  ASSERT_TRUE(unanswered->answered);
  EXPECT_EQ(unanswered->submit_status.code(), absl::StatusCode::kUnavailable);
  // A broker that comes back later gets no attach for it.
  Sent();
  Deliver(Welcome());
  EXPECT_TRUE(SentOf(v1::Envelope::kAttachJob).empty());
}

TEST_F(ClientSessionResumeTest, ACancelWhileDetachedGoesOutOnceAttached) {
  std::shared_ptr<JobState> job = Running();
  LoseBroker();
  session_.Cancel(*job);
  Sent();  // only Hellos: no broker to tell
  Deliver(Welcome());
  std::vector<Outgoing> attaches = SentOf(v1::Envelope::kAttachJob);
  ASSERT_EQ(attaches.size(), 1u);
  Attached(attaches[0].envelope.attach_job());
  EXPECT_EQ(Sent(), std::vector{v1::Envelope::kCancelJob});
}

TEST_F(ClientSessionResumeTest, StreamedInputIsSentAgainFromWhatTheBrokerHolds) {
  Connect();
  auto job = std::make_shared<JobState>();
  job->streamed = true;
  for (uint64_t n = 11; n <= 20; ++n) job->list.push_back(n);
  job->list_chunk = 2;  // chunks 0..4: {11,12} ... {19,20}
  job->end_after_pending = true;
  job->window = 4;
  v1::SubmitJob submit;
  submit.set_task("primes");
  submit.mutable_stream()->set_encoding(v1::ITEM_ENCODING_U64LE);
  ASSERT_TRUE(session_.Submit(submit, {}, job, now_).ok());
  std::vector<Outgoing> submits = SentOf(v1::Envelope::kSubmitJob);
  ASSERT_EQ(submits.size(), 1u);
  EXPECT_EQ(submits[0].envelope.submit_job().stream().chunks_size(), 4);
  EXPECT_FALSE(submits[0].envelope.submit_job().stream().complete());
  Accept(*job, 5);
  // Chunk 0's result makes room: chunk 4 goes, with the end of the input.
  Result(5, 0, 0, 2);
  ASSERT_TRUE(Read(*job).has_value());
  std::vector<Outgoing> appends = SentOf(v1::Envelope::kAppendInput);
  ASSERT_EQ(appends.size(), 1u);
  EXPECT_TRUE(appends[0].envelope.append_input().complete());

  // The restarted broker holds chunks 0..2 and not the end: 3 and 4 go
  // again, with their numbers, and the end.
  v1::AttachJob attach = Reconnect();
  Attached(attach, /*acknowledged=*/{{0, 1}}, 0, /*chunks_received=*/3,
           /*input_complete=*/false);
  appends = SentOf(v1::Envelope::kAppendInput);
  ASSERT_EQ(appends.size(), 1u);
  const v1::AppendInput& again = appends[0].envelope.append_input();
  EXPECT_EQ(again.job_id(), 5u);
  EXPECT_TRUE(again.complete());
  ASSERT_EQ(again.chunks_size(), 2);
  ASSERT_EQ(appends[0].payloads.size(), 2u);
  std::vector<uint64_t> numbers;
  for (int i = 0; i < again.chunks_size(); ++i) {
    EXPECT_EQ(again.chunks(i).item_count(), 2u);
    const std::string bytes =
        appends[0].payloads[again.chunks(i).payload()].ToString();
    ASSERT_EQ(bytes.size(), 16u);
    for (size_t at = 0; at < bytes.size(); at += 8) {
      uint64_t n;
      std::memcpy(&n, bytes.data() + at, 8);
      numbers.push_back(n);
    }
  }
  EXPECT_THAT(numbers, ElementsAre(17, 18, 19, 20));
  // A broker that holds everything gets nothing again.
  attach = Reconnect();
  Attached(attach, {{0, 1}}, 0, /*chunks_received=*/5, /*input_complete=*/true);
  EXPECT_TRUE(SentOf(v1::Envelope::kAppendInput).empty());
  EXPECT_FALSE(job->finished);
}

}  // namespace
}  // namespace tq::internal
