// ClientSessionTest: drives a ClientSession with fake time and hand-made
// broker messages (no sockets), for client_session_test.cc and
// client_session_resume_test.cc.
#ifndef TQ_TESTS_CLIENT_CLIENT_SESSION_FIXTURE_H_
#define TQ_TESTS_CLIENT_CLIENT_SESSION_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "client/client_session.h"
#include "common/protocol.h"
#include "gtest/gtest.h"

namespace tq::internal {

inline constexpr int64_t kMs = 1000;  // microseconds

class ClientSessionTest : public ::testing::Test {
 protected:
  ClientSessionTest() : session_(Options(), now_) {}

  static ClientSessionOptions Options() {
    ClientSessionOptions options;
    options.endpoint = "tcp://broker:5555";
    options.name = "test";
    options.connect_timeout_ms = 2'000;
    options.resume_timeout_ms = 10'000;
    options.liveness.heartbeat_interval_ms = 1'000;
    options.liveness.heartbeat_timeout_ms = 3'000;
    options.liveness.reconnect_min_ms = 100;
    options.liveness.reconnect_max_ms = 400;
    return options;
  }

  void Advance(int64_t ms) {
    now_ += ms * kMs;
    session_.OnTick(now_);
  }
  void Deliver(const v1::Envelope& envelope,
               const std::vector<Payload>& payloads = {}) {
    session_.OnMessage(envelope, payloads, now_);
    session_.OnTick(now_);
  }
  // The bodies sent since the last call, in order (the messages themselves:
  // last_sent_).
  std::vector<v1::Envelope::BodyCase> Sent() {
    std::vector<v1::Envelope::BodyCase> bodies;
    for (Outgoing& message : session_.TakeOutgoing()) {
      bodies.push_back(message.envelope.body_case());
      last_sent_.push_back(std::move(message.envelope));
      last_payloads_.push_back(std::move(message.payloads));
    }
    return bodies;
  }
  // The messages of one kind sent since the last call (others are dropped).
  std::vector<Outgoing> SentOf(v1::Envelope::BodyCase body) {
    std::vector<Outgoing> out;
    for (Outgoing& message : session_.TakeOutgoing()) {
      if (message.envelope.body_case() == body) out.push_back(std::move(message));
    }
    return out;
  }
  static v1::Envelope Welcome(uint32_t version = kProtocolVersion) {
    v1::Envelope envelope;
    envelope.mutable_welcome()->set_protocol_version(version);
    envelope.mutable_welcome()->set_heartbeat_interval_ms(1'000);
    envelope.mutable_welcome()->set_heartbeat_timeout_ms(3'000);
    envelope.mutable_welcome()->set_max_result_window(16);
    return envelope;
  }
  void Connect() {
    ASSERT_EQ(Sent(), std::vector{v1::Envelope::kHello});
    Deliver(Welcome());
    ASSERT_EQ(session_.state(), ClientSession::State::kConnected);
  }
  // Submits a range job of 100 items; returns its state (unanswered).
  std::shared_ptr<JobState> Submit(uint32_t window = 4, bool manual_ack = false,
                                   bool count = false) {
    auto job = std::make_shared<JobState>();
    job->range_last_index = 99;
    job->window = window;
    job->manual_ack = manual_ack;
    v1::SubmitJob submit;
    submit.set_task("primes");
    if (count) submit.set_reduction(v1::REDUCTION_COUNT);
    EXPECT_TRUE(session_.Submit(submit, {}, job, now_).ok());
    return job;
  }
  void Accept(const JobState& job, uint64_t job_id) {
    v1::Envelope accepted;
    accepted.mutable_job_accepted()->set_request_id(job.request_id);
    accepted.mutable_job_accepted()->set_job_id(job_id);
    accepted.mutable_job_accepted()->set_result_window(job.window);
    accepted.mutable_job_accepted()->set_job_token("token-of-" +
                                                   std::to_string(job_id));
    Deliver(accepted);
  }
  // The broker sends results for items [first, first + count) of `job_id`
  // as chunk `chunk`: failed items (they need no payload) unless `reduced`
  // holds a REDUCTION_COUNT count.
  void Result(uint64_t job_id, uint64_t chunk, uint64_t first, uint64_t count,
              std::optional<uint64_t> reduced = std::nullopt) {
    v1::Envelope envelope;
    v1::ChunkResult* result = envelope.mutable_job_results()->add_results();
    result->set_job_id(job_id);
    result->set_chunk_index(chunk);
    result->set_first_item(first);
    result->set_item_count(count);
    std::vector<Payload> payloads;
    if (reduced.has_value()) {
      v1::ChunkOutput output;
      output.set_count(*reduced);
      result->set_payload(0);
      payloads.push_back(Payload::FromString(output.SerializeAsString()));
    } else {
      result->mutable_error()->set_message("failed on every attempt");
    }
    Deliver(envelope, payloads);
  }
  // The user reads the job's next result (in completion order); nullopt if
  // none is there.
  std::optional<ChunkResult> Read(JobState& job) {
    std::optional<absl::StatusOr<JobEvent>> event =
        session_.NextEvent(job, /*ordered=*/false, /*want_room=*/false, now_);
    if (!event.has_value() || !event->ok() ||
        (*event)->kind != JobEvent::Kind::kResult) {
      return std::nullopt;
    }
    return (*event)->result;
  }
  // Silence from the broker just long enough to lose it (the timeout).
  void LoseBroker() {
    for (int i = 0; i < 3; ++i) Advance(1'000);
    ASSERT_EQ(session_.state(), ClientSession::State::kConnecting);
  }

  int64_t now_ = 1'000'000 * kMs;
  ClientSession session_;
  std::vector<v1::Envelope> last_sent_;
  std::vector<std::vector<Payload>> last_payloads_;
};

}  // namespace tq::internal

#endif  // TQ_TESTS_CLIENT_CLIENT_SESSION_FIXTURE_H_
