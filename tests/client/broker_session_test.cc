// BrokerSession against a scripted broker: a ROUTER socket driven by the
// test, so the client's side of the protocol (Hello, result_window, credit
// batching, heartbeats, failures) is checked message by message.
#include "client/broker_session.h"

#include <chrono>
#include <future>
#include <string>

#include "common/protocol.h"
#include "common/zmq_socket.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

using ::testing::HasSubstr;

constexpr auto kDeadline = std::chrono::seconds(10);

class ScriptedBroker {
 public:
  ScriptedBroker() : router_(context_, zmq::socket_type::router) {
    ConfigureSocket(router_);
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = LastEndpoint(router_);
  }
  const std::string& endpoint() const { return endpoint_; }

  // Next message that is not a heartbeat, waiting up to the deadline.
  v1::Envelope Receive(bool skip_heartbeats = true) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<zmq::pollitem_t> items = {
          {static_cast<void*>(router_), 0, ZMQ_POLLIN, 0}};
      PollIgnoringEintr(items, std::chrono::milliseconds(100));
      while (std::optional<Received> received = TryReceive(router_, true)) {
        peer_ = received->routing_id;
        EXPECT_TRUE(received->envelope.ok());
        if (!received->envelope.ok()) continue;
        if (skip_heartbeats && received->envelope->has_heartbeat()) continue;
        return *received->envelope;
      }
    }
    ADD_FAILURE() << "no message from the client in time";
    return v1::Envelope();
  }
  void Send(const v1::Envelope& envelope) {
    ASSERT_TRUE(SendTo(router_, peer_, envelope).ok());
  }
  void Welcome(uint32_t interval_ms = 1000, uint32_t timeout_ms = 5000) {
    v1::Envelope welcome;
    welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
    welcome.mutable_welcome()->set_heartbeat_interval_ms(interval_ms);
    welcome.mutable_welcome()->set_heartbeat_timeout_ms(timeout_ms);
    welcome.mutable_welcome()->add_tasks("primes");
    Send(welcome);
  }
  void Accept(uint64_t request_id, uint64_t job_id, uint64_t chunk_size,
              uint64_t chunk_count) {
    v1::Envelope accepted;
    accepted.mutable_job_accepted()->set_request_id(request_id);
    accepted.mutable_job_accepted()->set_job_id(job_id);
    accepted.mutable_job_accepted()->set_chunk_size(chunk_size);
    accepted.mutable_job_accepted()->set_chunk_count(chunk_count);
    Send(accepted);
  }
  // Count results for chunks, all in one JobResults message.
  void Results(uint64_t job_id, std::vector<uint64_t> chunk_indices) {
    v1::Envelope results;
    for (uint64_t index : chunk_indices) {
      v1::ChunkResult* result = results.mutable_job_results()->add_results();
      result->set_job_id(job_id);
      result->set_chunk_index(index);
      result->mutable_output()->set_count(1);
    }
    Send(results);
  }
  void Result(uint64_t job_id, uint64_t chunk_index) {
    Results(job_id, {chunk_index});
  }

 private:
  zmq::context_t context_;
  zmq::socket_t router_;
  std::string endpoint_;
  std::string peer_;
};

struct Connected {
  ScriptedBroker broker;
  std::unique_ptr<zmq::context_t> context = std::make_unique<zmq::context_t>();
  std::unique_ptr<BrokerSession> session;
};

// Connects a session and answers its Hello.
void Connect(Connected& c, uint32_t interval_ms = 1000, uint32_t timeout_ms = 5000) {
  auto opened = std::async(std::launch::async, [&] {
    return BrokerSession::Open(*c.context, c.broker.endpoint(), 5000, "test");
  });
  v1::Envelope hello = c.broker.Receive();
  ASSERT_TRUE(hello.has_hello());
  EXPECT_EQ(hello.hello().role(), v1::ROLE_CLIENT);
  EXPECT_EQ(hello.hello().protocol_version(), kProtocolVersion);
  c.broker.Welcome(interval_ms, timeout_ms);
  auto session = opened.get();
  ASSERT_TRUE(session.ok()) << session.status();
  c.session = *std::move(session);
}

// Submits 0..99 in chunks of 10 with `window`; the broker accepts as job 7.
std::shared_ptr<JobState> Submit(Connected& c, uint32_t window) {
  auto input = std::make_shared<JobInput>();
  input->lo = 0;
  input->hi = 99;
  v1::SubmitJob submit;
  submit.set_task("primes");
  submit.mutable_range()->set_first(0);
  submit.mutable_range()->set_last(99);
  auto submitted = std::async(std::launch::async, [&] {
    return c.session->Submit(submit, input, window);
  });
  v1::Envelope sent = c.broker.Receive();
  EXPECT_TRUE(sent.has_submit_job());
  EXPECT_EQ(sent.submit_job().result_window(), window);
  c.broker.Accept(sent.submit_job().request_id(), 7, 10, 10);
  auto job = submitted.get();
  EXPECT_TRUE(job.ok()) << job.status();
  return job.ok() ? *job : nullptr;
}

TEST(BrokerSessionTest, GrantsCreditInHalfWindowBatchesAsChunksAreConsumed) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 4);
  ASSERT_NE(job, nullptr);
  // One message, so all four are buffered before the first Next() returns
  // and no Next() has to wait (waiting returns credit early, by design).
  c.broker.Results(7, {0, 1, 2, 3});
  // Consuming 2 chunks returns 2 credits in one message, not two.
  for (uint64_t i = 0; i < 2; ++i) {
    auto chunk = c.session->Next(*job, true);
    ASSERT_TRUE(chunk.ok() && chunk->has_value());
    EXPECT_EQ((*chunk)->chunk_index(), i);
  }
  v1::Envelope credit = c.broker.Receive();
  ASSERT_TRUE(credit.has_client_credit()) << BodyName(credit);
  EXPECT_EQ(credit.client_credit().job_id(), 7u);
  EXPECT_EQ(credit.client_credit().chunks(), 2u);
}

TEST(BrokerSessionTest, FailedJobReturnsItsErrorAfterTheChunksReceived) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 8);
  ASSERT_NE(job, nullptr);
  c.broker.Results(7, {1, 0});
  v1::Envelope finished;
  finished.mutable_job_finished()->set_job_id(7);
  finished.mutable_job_finished()->set_code(
      static_cast<int32_t>(absl::StatusCode::kAborted));
  finished.mutable_job_finished()->set_message("chunk 2 failed 4 times");
  c.broker.Send(finished);
  for (uint64_t i = 0; i < 2; ++i) {
    auto chunk = c.session->Next(*job, true);
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    ASSERT_TRUE(chunk->has_value());
    EXPECT_EQ((*chunk)->chunk_index(), i);
  }
  auto failed = c.session->Next(*job, true);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(failed.status().message(), HasSubstr("chunk 2 failed"));
}

TEST(BrokerSessionTest, MalformedChunkFailsTheJobAndCancelsIt) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 8);
  ASSERT_NE(job, nullptr);
  c.broker.Result(7, 42);  // the job has 10 chunks
  auto failed = c.session->Next(*job, true);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  v1::Envelope cancel = c.broker.Receive();
  ASSERT_TRUE(cancel.has_cancel_job()) << BodyName(cancel);
  EXPECT_EQ(cancel.cancel_job().job_id(), 7u);
}

TEST(BrokerSessionTest, HeartbeatsWhileTheUserIsIdleAndDetectsASilentBroker) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c, /*interval_ms=*/50, /*timeout_ms=*/400));
  std::shared_ptr<JobState> job = Submit(c, 4);
  ASSERT_NE(job, nullptr);
  // Nobody calls Next: the I/O thread still heartbeats on its own.
  v1::Envelope heartbeat = c.broker.Receive(/*skip_heartbeats=*/false);
  EXPECT_TRUE(heartbeat.has_heartbeat()) << BodyName(heartbeat);
  // Then the broker stays silent: the job fails, naming the broker.
  auto lost = c.session->Next(*job, true);
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(lost.status().message(), HasSubstr("lost contact with broker at"));
  EXPECT_THAT(lost.status().message(), HasSubstr(c.broker.endpoint()));
}

TEST(BrokerSessionTest, RefusalIsReturnedFromOpen) {
  ScriptedBroker broker;
  zmq::context_t context;
  auto opened = std::async(std::launch::async, [&] {
    return BrokerSession::Open(context, broker.endpoint(), 5000, "test");
  });
  ASSERT_TRUE(broker.Receive().has_hello());
  v1::Envelope error;
  *error.mutable_error() = ErrorFromStatus(
      absl::FailedPreconditionError("this broker speaks version 2"));
  broker.Send(error);
  auto session = opened.get();
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(session.status().message(), HasSubstr("speaks version 2"));
}

}  // namespace
}  // namespace tq
