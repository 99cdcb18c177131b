// The worker loop over real TCP loopback: the test plays the broker by hand
// on a ROUTER socket. Every receive has a deadline; nothing sleeps.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/protocol.h"
#include "common/zmq_socket.h"
#include "gtest/gtest.h"
#include "tests/worker/worker_loop_test_util.h"
#include "worker/worker.h"

namespace tq {
namespace {

// A loopback TCP port nobody listens on (bound and closed synchronously).
std::string UnusedLoopbackEndpoint() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  return "tcp://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

TEST_F(WorkerLoopTest, RunsNoopChunksThenDrainsAndSaysGoodbye) {
  RunningWorker running(Options());
  Worker& worker = running.worker();
  EXPECT_EQ(worker.threads(), 2);

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
      v1::ChunkOutput output = Output(report);
      ASSERT_TRUE(output.has_values()) << output.DebugString();
      std::vector<uint64_t> values(output.values().values().begin(),
                                   output.values().values().end());
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
  absl::Status run_status = running.Join();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

TEST_F(WorkerLoopTest, RunsTheNumbersOfAPayloadWithinOffsetAndCount) {
  RunningWorker running(Options());
  ASSERT_TRUE(Receive().has_value());
  v1::Envelope welcome;
  welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
  SendToWorker(welcome);
  // 200,000 numbers: the payload spans two frames.
  std::vector<uint64_t> numbers(200'000);
  for (size_t i = 0; i < numbers.size(); ++i) numbers[i] = 1000 + i;
  std::string bytes(numbers.size() * 8, '\0');
  memcpy(bytes.data(), numbers.data(), bytes.size());
  v1::Envelope assignments;
  v1::Assignment* a = assignments.mutable_assignments()->add_assignments();
  a->set_job_id(1);
  a->set_attempt(1);
  a->set_task("noop");
  a->mutable_input()->set_payload(0);
  a->mutable_input()->set_item_count(numbers.size());
  a->mutable_input()->set_encoding(v1::ITEM_ENCODING_U64LE);
  a->mutable_input()->set_offset(131'070);  // across the frame boundary
  a->mutable_input()->set_count(4);
  SendToWorker(assignments, {Payload::FromString(bytes)});
  std::optional<v1::Envelope> message = Receive();
  ASSERT_TRUE(message.has_value());
  ASSERT_TRUE(message->has_chunk_reports()) << message->DebugString();
  v1::ChunkOutput output = Output(message->chunk_reports().reports(0));
  EXPECT_EQ(std::vector<uint64_t>(output.values().values().begin(),
                                  output.values().values().end()),
            (std::vector<uint64_t>{132'070, 132'071, 132'072, 132'073}));
  absl::Status run_status = running.Finish();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

TEST_F(WorkerLoopTest, UnknownTaskIsReportedAsError) {
  RunningWorker running(Options());
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
  absl::Status run_status = running.Finish();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

TEST_F(WorkerLoopTest, ErrorAnsweringHelloEndsRunWithThatError) {
  RunningWorker running(Options());
  std::optional<v1::Envelope> hello = Receive();
  ASSERT_TRUE(hello.has_value());
  v1::Envelope error;
  *error.mutable_error() = ErrorFromStatus(
      absl::FailedPreconditionError("this broker speaks version 1 only"));
  SendToWorker(error);
  absl::Status run_status = running.Join();
  EXPECT_EQ(run_status.code(), absl::StatusCode::kFailedPrecondition) << run_status;
}

TEST_F(WorkerLoopTest, StopBeforeWelcomeReturnsOk) {
  RunningWorker running(Options());
  ASSERT_TRUE(Receive().has_value());  // the Hello: the loop is running
  absl::Status run_status = running.Finish();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

TEST_F(WorkerLoopTest, FindsABrokerThatStartsLater) {
  // The worker starts with nothing listening on its endpoint.
  std::string endpoint = UnusedLoopbackEndpoint();
  router_.close();
  WorkerOptions options = Options();
  options.broker = endpoint;
  options.heartbeat_interval_ms = 50;
  options.reconnect_min_ms = 50;
  options.reconnect_max_ms = 400;
  RunningWorker running(options);

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
  absl::Status run_status = running.Finish();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

}  // namespace
}  // namespace tq
