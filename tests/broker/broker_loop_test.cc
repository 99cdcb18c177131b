// Broker loop over real TCP loopback: a DEALER speaks the protocol by hand.
// Waits are polls with deadlines, never sleeps.
#include <chrono>
#include <thread>

#include "broker/broker.h"
#include "common/protocol.h"
#include "common/zmq_socket.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

using ::testing::HasSubstr;

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerOptions options;
    options.listen = {"tcp://127.0.0.1:*"};
    broker_ = std::make_unique<Broker>(options, &context_);
    ASSERT_TRUE(broker_->Bind().ok());
    ASSERT_EQ(broker_->bound_endpoints().size(), 1u);
    endpoint_ = broker_->bound_endpoints()[0];
    thread_ = std::thread([this] { run_status_ = broker_->Run(); });
    dealer_ = zmq::socket_t(context_, zmq::socket_type::dealer);
    ConfigureSocket(dealer_);
    dealer_.connect(endpoint_);
  }
  void TearDown() override {
    broker_->Stop();
    thread_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_;
    dealer_.close();
  }

  // The next non-heartbeat message, or an error after 10 s.
  absl::StatusOr<Received> ReceiveMessage() {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<zmq::pollitem_t> items = {
          {static_cast<void*>(dealer_), 0, ZMQ_POLLIN, 0}};
      PollIgnoringEintr(items, std::chrono::milliseconds(100));
      std::optional<Received> received = TryReceive(dealer_, false);
      if (!received.has_value()) continue;
      if (!received->envelope.ok()) return received->envelope.status();
      if (received->envelope->has_heartbeat()) continue;
      return *std::move(received);
    }
    return absl::DeadlineExceededError("no reply from the broker");
  }
  absl::StatusOr<v1::Envelope> Receive() {
    absl::StatusOr<Received> received = ReceiveMessage();
    if (!received.ok()) return received.status();
    return *std::move(received->envelope);
  }

  void SendHello() {
    v1::Envelope hello;
    hello.mutable_hello()->set_protocol_version(kProtocolVersion);
    hello.mutable_hello()->set_role(v1::ROLE_CLIENT);
    hello.mutable_hello()->set_name("test");
    ASSERT_TRUE(Send(dealer_, hello).ok());
  }

  zmq::context_t context_;
  std::unique_ptr<Broker> broker_;
  std::string endpoint_;
  std::thread thread_;
  absl::Status run_status_;
  zmq::socket_t dealer_;
};

TEST_F(BrokerTest, BindsEphemeralPortAndWelcomesHello) {
  EXPECT_THAT(endpoint_, ::testing::StartsWith("tcp://127.0.0.1:"));
  EXPECT_THAT(endpoint_, ::testing::Not(::testing::EndsWith("*")));
  SendHello();
  absl::StatusOr<v1::Envelope> reply = Receive();
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->has_welcome()) << reply->DebugString();
  EXPECT_EQ(reply->welcome().protocol_version(), kProtocolVersion);
  EXPECT_THAT(reply->welcome().tasks(), ::testing::Contains("noop"));
}

TEST_F(BrokerTest, AnswersGarbageWithErrorAndCarriesOn) {
  SendHello();
  ASSERT_TRUE(Receive().ok());
  const std::string garbage = "\xff\xff\xff garbage, not a protobuf";
  ASSERT_TRUE(dealer_.send(zmq::buffer(garbage), zmq::send_flags::none));
  absl::StatusOr<v1::Envelope> reply = Receive();
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->has_error()) << reply->DebugString();
  EXPECT_EQ(reply->error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));

  // A frame no envelope announced: also refused, also survived.
  v1::Envelope heartbeat;
  heartbeat.mutable_heartbeat();
  const std::string envelope = SerializeEnvelope(heartbeat);
  ASSERT_TRUE(dealer_.send(zmq::buffer(envelope), zmq::send_flags::sndmore));
  ASSERT_TRUE(dealer_.send(zmq::str_buffer("b"), zmq::send_flags::none));
  reply = Receive();
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->has_error());
  EXPECT_THAT(reply->error().message(), HasSubstr("frames beyond"));

  // Still serving: a job is accepted.
  v1::Envelope submit;
  submit.mutable_submit_job()->set_request_id(42);
  submit.mutable_submit_job()->set_task("noop");
  submit.mutable_submit_job()->mutable_range()->set_first(1);
  submit.mutable_submit_job()->mutable_range()->set_last(10);
  submit.mutable_submit_job()->set_result_window(4);
  ASSERT_TRUE(Send(dealer_, submit).ok());
  reply = Receive();
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->has_job_accepted()) << reply->DebugString();
  EXPECT_EQ(reply->job_accepted().request_id(), 42u);
}

TEST_F(BrokerTest, RunsAJobThroughAHandWrittenWorker) {
  zmq::socket_t worker(context_, zmq::socket_type::dealer);
  ConfigureSocket(worker);
  worker.connect(endpoint_);
  v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(kProtocolVersion);
  hello.mutable_hello()->set_role(v1::ROLE_WORKER);
  hello.mutable_hello()->set_threads(1);
  hello.mutable_hello()->set_credit(4);
  hello.mutable_hello()->add_tasks("noop");
  ASSERT_TRUE(Send(worker, hello).ok());
  SendHello();
  ASSERT_TRUE(Receive().ok());
  v1::Envelope submit;
  submit.mutable_submit_job()->set_task("noop");
  submit.mutable_submit_job()->mutable_range()->set_first(1);
  submit.mutable_submit_job()->mutable_range()->set_last(4);
  submit.mutable_submit_job()->set_chunk_size(1);
  submit.mutable_submit_job()->set_result_window(4);
  ASSERT_TRUE(Send(dealer_, submit).ok());

  // Act as the worker: answer every assignment until all four are done.
  int reported = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (reported < 4 && std::chrono::steady_clock::now() < deadline) {
    std::vector<zmq::pollitem_t> items = {
        {static_cast<void*>(worker), 0, ZMQ_POLLIN, 0}};
    PollIgnoringEintr(items, std::chrono::milliseconds(100));
    std::optional<Received> received = TryReceive(worker, false);
    if (!received.has_value() || !received->envelope.ok()) continue;
    if (!received->envelope->has_assignments()) continue;
    v1::Envelope reports;
    std::vector<Payload> payloads;
    for (const auto& a : received->envelope->assignments().assignments()) {
      v1::ChunkReport* r = reports.mutable_chunk_reports()->add_reports();
      r->set_job_id(a.job_id());
      r->set_chunk_index(a.chunk_index());
      r->set_attempt(a.attempt());
      r->set_result_payload(static_cast<uint32_t>(payloads.size()));
      // Results larger than a frame: forwarded untouched, frames and all.
      payloads.push_back(Payload::FromString(std::string(
          kMaxFrameBytes + 1000, static_cast<char>('a' + a.chunk_index()))));
      ++reported;
    }
    ASSERT_TRUE(Send(worker, reports, payloads).ok());
  }
  ASSERT_EQ(reported, 4);
  int results = 0;
  bool finished = false;
  while (!finished) {
    absl::StatusOr<Received> reply = ReceiveMessage();
    ASSERT_TRUE(reply.ok()) << reply.status();
    if (reply->envelope->has_job_results()) {
      for (const v1::ChunkResult& r : reply->envelope->job_results().results()) {
        ASSERT_LT(r.payload(), reply->payloads.size());
        const Payload& payload = reply->payloads[r.payload()];
        EXPECT_EQ(payload.size(), kMaxFrameBytes + 1000);
        EXPECT_EQ(payload.frames().size(), 2u);
        EXPECT_EQ(payload.frames()[0].data[0],
                  static_cast<char>('a' + r.chunk_index()));
        ++results;
      }
      continue;
    }
    absl::StatusOr<v1::Envelope> reply_envelope = reply->envelope;
    if (reply_envelope->has_job_finished()) {
      EXPECT_EQ(reply_envelope->job_finished().code(), 0);
      finished = true;
    }
  }
  EXPECT_EQ(results, 4);
  worker.close();
}

TEST(BrokerBindTest, BindFailureNamesTheEndpoint) {
  BrokerOptions options;
  options.listen = {"tcp://not-an-address:xyz"};
  Broker broker(options);
  absl::Status status = broker.Bind();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("tcp://not-an-address:xyz"));
}

}  // namespace
}  // namespace tq
