// The worker loop over real TCP loopback: the test plays the broker by hand
// on a ROUTER socket. Every receive has a deadline; nothing sleeps.
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/protocol.h"
#include "common/zmq_socket.h"
#include "gtest/gtest.h"
#include "worker/worker.h"

namespace tq {
namespace {

using std::chrono::steady_clock;

class WorkerLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_ = zmq::socket_t(context_, zmq::socket_type::router);
    ConfigureSocket(router_);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = LastEndpoint(router_);
  }

  WorkerOptions Options() {
    WorkerOptions options;
    options.broker = endpoint_;
    options.threads = 2;
    options.prefetch = 1;
    options.name = "loop-test";
    options.heartbeat_interval_ms = 200;
    options.heartbeat_timeout_ms = 20'000;
    // The test answers by hand; give it time before a re-Hello.
    options.reconnect_min_ms = 10'000;
    options.reconnect_max_ms = 10'000;
    return options;
  }

  // Next message from the worker that is not a heartbeat, within 10 s.
  std::optional<v1::Envelope> Receive() {
    auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (steady_clock::now() < deadline) {
      std::vector<zmq::pollitem_t> items = {{router_.handle(), 0, ZMQ_POLLIN, 0}};
      PollIgnoringEintr(items, std::chrono::milliseconds(100));
      while (std::optional<Received> received = TryReceive(router_, true)) {
        EXPECT_TRUE(received->envelope.ok()) << received->envelope.status();
        if (!received->envelope.ok()) continue;
        peer_ = received->routing_id;
        if (received->envelope->has_heartbeat()) continue;
        return *std::move(received->envelope);
      }
    }
    return std::nullopt;
  }

  void SendToWorker(const v1::Envelope& envelope) {
    ASSERT_TRUE(SendTo(router_, peer_, envelope).ok());
  }

  zmq::context_t context_;
  zmq::socket_t router_;
  std::string endpoint_;
  std::string peer_;
};

TEST_F(WorkerLoopTest, RunsNoopChunksThenDrainsAndSaysGoodbye) {
  Worker worker(Options());
  EXPECT_EQ(worker.threads(), 2);
  absl::Status run_status = absl::UnknownError("not finished");
  std::thread runner([&] { run_status = worker.Run(); });

  std::optional<v1::Envelope> hello = Receive();
  ASSERT_TRUE(hello.has_value());
  ASSERT_TRUE(hello->has_hello()) << hello->DebugString();
  EXPECT_EQ(hello->hello().role(), v1::ROLE_WORKER);
  EXPECT_EQ(hello->hello().credit(), 3u);

  v1::Envelope welcome;
  welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
  welcome.mutable_welcome()->set_heartbeat_interval_ms(200);
  welcome.mutable_welcome()->set_heartbeat_timeout_ms(20'000);
  SendToWorker(welcome);

  v1::Envelope assignments;
  for (uint64_t chunk = 0; chunk < 3; ++chunk) {
    v1::Assignment* a = assignments.mutable_assignments()->add_assignments();
    a->set_job_id(42);
    a->set_chunk_index(chunk);
    a->set_attempt(1);
    a->set_task("noop");
    a->mutable_input()->mutable_range()->set_first(chunk * 5);
    a->mutable_input()->mutable_range()->set_last(chunk * 5 + 4);
  }
  SendToWorker(assignments);

  std::vector<bool> reported(3, false);
  uint32_t credit_returned = 0;
  int reports = 0;
  while (reports < 3) {
    std::optional<v1::Envelope> message = Receive();
    ASSERT_TRUE(message.has_value()) << "reports so far: " << reports;
    if (message->has_worker_credit()) {
      credit_returned += message->worker_credit().chunks();
      continue;
    }
    ASSERT_TRUE(message->has_chunk_reports()) << message->DebugString();
    credit_returned += message->chunk_reports().credit();
    for (const v1::ChunkReport& report : message->chunk_reports().reports()) {
      ASSERT_EQ(report.job_id(), 42u);
      ASSERT_LT(report.chunk_index(), 3u);
      EXPECT_FALSE(reported[report.chunk_index()]) << "reported twice";
      reported[report.chunk_index()] = true;
      EXPECT_EQ(report.attempt(), 1u);
      ASSERT_TRUE(report.output().has_values()) << report.DebugString();
      std::vector<uint64_t> values(report.output().values().values().begin(),
                                   report.output().values().values().end());
      uint64_t first = report.chunk_index() * 5;
      EXPECT_EQ(values, (std::vector<uint64_t>{first, first + 1, first + 2,
                                               first + 3, first + 4}));
      ++reports;
    }
  }
  EXPECT_EQ(credit_returned, 3u);

  worker.Stop();
  std::optional<v1::Envelope> drain = Receive();
  ASSERT_TRUE(drain.has_value());
  ASSERT_TRUE(drain->has_drain()) << drain->DebugString();
  EXPECT_EQ(drain->drain().returned_size(), 0);
  std::optional<v1::Envelope> goodbye = Receive();
  ASSERT_TRUE(goodbye.has_value());
  EXPECT_TRUE(goodbye->has_goodbye()) << goodbye->DebugString();
  runner.join();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

TEST_F(WorkerLoopTest, UnknownTaskIsReportedAsError) {
  Worker worker(Options());
  absl::Status run_status = absl::UnknownError("not finished");
  std::thread runner([&] { run_status = worker.Run(); });
  ASSERT_TRUE(Receive().has_value());
  v1::Envelope welcome;
  welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
  SendToWorker(welcome);
  v1::Envelope assignments;
  v1::Assignment* a = assignments.mutable_assignments()->add_assignments();
  a->set_job_id(1);
  a->set_attempt(1);
  a->set_task("no-such-task");
  a->mutable_input()->mutable_range()->set_last(3);
  SendToWorker(assignments);
  std::optional<v1::Envelope> message = Receive();
  ASSERT_TRUE(message.has_value());
  ASSERT_TRUE(message->has_chunk_reports()) << message->DebugString();
  ASSERT_EQ(message->chunk_reports().reports_size(), 1);
  const v1::ChunkReport& report = message->chunk_reports().reports(0);
  ASSERT_TRUE(report.has_error());
  EXPECT_EQ(report.error().code(), static_cast<int32_t>(absl::StatusCode::kNotFound));
  worker.Stop();
  runner.join();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

TEST_F(WorkerLoopTest, ErrorAnsweringHelloEndsRunWithThatError) {
  Worker worker(Options());
  absl::Status run_status;
  std::thread runner([&] { run_status = worker.Run(); });
  std::optional<v1::Envelope> hello = Receive();
  ASSERT_TRUE(hello.has_value());
  v1::Envelope error;
  *error.mutable_error() = ErrorFromStatus(
      absl::FailedPreconditionError("this broker speaks version 1 only"));
  SendToWorker(error);
  runner.join();
  EXPECT_EQ(run_status.code(), absl::StatusCode::kFailedPrecondition) << run_status;
}

TEST_F(WorkerLoopTest, StopBeforeWelcomeReturnsOk) {
  Worker worker(Options());
  absl::Status run_status = absl::UnknownError("not finished");
  std::thread runner([&] { run_status = worker.Run(); });
  ASSERT_TRUE(Receive().has_value());  // the Hello: the loop is running
  worker.Stop();
  runner.join();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

TEST_F(WorkerLoopTest, FindsABrokerThatStartsLater) {
  // Reserve a port, then close it: the worker starts with nothing listening.
  std::string endpoint = endpoint_;
  router_.close();
  WorkerOptions options = Options();
  options.broker = endpoint;
  options.heartbeat_interval_ms = 50;
  options.reconnect_min_ms = 50;
  options.reconnect_max_ms = 400;
  Worker worker(options);
  absl::Status run_status = absl::UnknownError("not finished");
  std::thread runner([&] { run_status = worker.Run(); });

  router_ = zmq::socket_t(context_, zmq::socket_type::router);
  ConfigureSocket(router_);
  router_.bind(endpoint);
  // Welcome every Hello (a re-Hello may overtake our answer) until a
  // welcomed session heartbeats: only a welcomed session does.
  bool heartbeat_seen = false;
  auto deadline = steady_clock::now() + std::chrono::seconds(20);
  while (!heartbeat_seen && steady_clock::now() < deadline) {
    std::vector<zmq::pollitem_t> items = {{router_.handle(), 0, ZMQ_POLLIN, 0}};
    PollIgnoringEintr(items, std::chrono::milliseconds(100));
    while (std::optional<Received> received = TryReceive(router_, true)) {
      ASSERT_TRUE(received->envelope.ok());
      if (received->envelope->has_hello()) {
        peer_ = received->routing_id;
        v1::Envelope welcome;
        welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
        SendTo(router_, peer_, welcome).IgnoreError();  // peer may be gone
      } else if (received->envelope->has_heartbeat()) {
        heartbeat_seen = true;
      }
    }
  }
  EXPECT_TRUE(heartbeat_seen);
  worker.Stop();
  runner.join();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

}  // namespace
}  // namespace tq
