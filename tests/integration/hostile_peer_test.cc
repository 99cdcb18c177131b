// Untrusted input reaching real processes: a hand-driven DEALER sends the
// broker garbage, extra frames, an oversized frame and a wrong protocol
// version; a hand-driven ROUTER sends a real worker garbage. Each process
// must answer or drop, never crash, and keep serving good peers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "common/protocol.h"
#include "common/zmq_socket.h"
#include "gtest/gtest.h"
#include "tests/integration/local_cluster.h"
#include "zmq.hpp"

namespace tq::testing {
namespace {

constexpr auto kReplyTimeout = std::chrono::seconds(10);

// Receives one envelope within the deadline (nullopt if none came); its
// payloads go to `payloads` if given.
std::optional<v1::Envelope> ReceiveWithin(zmq::socket_t& socket, bool is_router,
                                          std::chrono::milliseconds timeout,
                                          std::string* routing_id = nullptr,
                                          std::vector<Payload>* payloads = nullptr) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto received = TryReceive(socket, is_router)) {
      if (routing_id) *routing_id = received->routing_id;
      if (payloads) *payloads = received->payloads;
      if (received->envelope.ok()) return *received->envelope;
      continue;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    std::vector<zmq::pollitem_t> items = {{socket.handle(), 0, ZMQ_POLLIN, 0}};
    PollIgnoringEintr(items, left);
  }
}

// Receives until an envelope with the given body arrives (skipping
// heartbeats and the like) or the deadline passes.
std::optional<v1::Envelope> ReceiveBody(zmq::socket_t& socket, bool is_router,
                                        v1::Envelope::BodyCase body,
                                        std::string* routing_id = nullptr,
                                        std::vector<Payload>* payloads = nullptr) {
  auto deadline = Clock::now() + kReplyTimeout;
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    auto envelope = ReceiveWithin(socket, is_router, left, routing_id, payloads);
    if (envelope && envelope->body_case() == body) return envelope;
  }
  return std::nullopt;
}

zmq::socket_t Dealer(zmq::context_t& context, const std::string& endpoint) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint);
  return socket;
}

v1::Envelope ClientHello(uint32_t version) {
  v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(version);
  hello.mutable_hello()->set_role(v1::ROLE_CLIENT);
  hello.mutable_hello()->set_name("hostile-test");
  return hello;
}

class HostilePeerTest : public ::testing::Test {
 protected:
  zmq::context_t context_;
};

TEST_F(HostilePeerTest, BrokerRefusesAnotherProtocolVersionClearly) {
  LocalCluster cluster;
  zmq::socket_t peer = Dealer(context_, cluster.endpoint());
  ASSERT_TRUE(Send(peer, ClientHello(99)).ok());
  auto reply = ReceiveBody(peer, false, v1::Envelope::kError);
  ASSERT_TRUE(reply.has_value()) << "no Error reply to a version-99 hello";
  EXPECT_EQ(reply->error().code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_NE(reply->error().message().find("version"), std::string::npos)
      << reply->error().message();
}

TEST_F(HostilePeerTest, BrokerSurvivesGarbageAndKeepsServing) {
  LocalCluster cluster;
  cluster.AddWorker();
  zmq::socket_t peer = Dealer(context_, cluster.endpoint());

  // Bytes that are not an Envelope: answered with an Error.
  const std::string garbage = "\xff\xff\xff\xff not protobuf";
  ASSERT_TRUE(peer.send(zmq::buffer(garbage), zmq::send_flags::none));
  auto reply = ReceiveBody(peer, false, v1::Envelope::kError);
  ASSERT_TRUE(reply.has_value()) << "no Error reply to garbage";
  EXPECT_EQ(reply->error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));

  // Frames after a good envelope that announces none: answered with an
  // Error naming them.
  v1::Envelope heartbeat;
  heartbeat.mutable_heartbeat();
  const std::string envelope = SerializeEnvelope(heartbeat);
  ASSERT_TRUE(peer.send(zmq::buffer(envelope), zmq::send_flags::sndmore));
  ASSERT_TRUE(peer.send(zmq::str_buffer("b"), zmq::send_flags::sndmore));
  ASSERT_TRUE(peer.send(zmq::str_buffer("c"), zmq::send_flags::none));
  auto extra = ReceiveBody(peer, false, v1::Envelope::kError);
  ASSERT_TRUE(extra.has_value());
  EXPECT_NE(extra->error().message().find("beyond the payloads"),
            std::string::npos)
      << extra->error().message();

  // Payload frames that do not match the sizes announced: refused.
  v1::Envelope lying = heartbeat;
  lying.add_payload_sizes(10);
  const std::string liar = SerializeEnvelope(lying);
  ASSERT_TRUE(peer.send(zmq::buffer(liar), zmq::send_flags::sndmore));
  ASSERT_TRUE(peer.send(zmq::str_buffer("short"), zmq::send_flags::none));
  auto mismatch = ReceiveBody(peer, false, v1::Envelope::kError);
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_NE(mismatch->error().message().find("were announced"),
            std::string::npos)
      << mismatch->error().message();

  // A frame over the 1 MiB frame limit: libzmq drops that connection before
  // the broker holds it.
  zmq::socket_t big = Dealer(context_, cluster.endpoint());
  std::string oversized(kMaxFrameBytes + 1024, 'x');
  ASSERT_TRUE(big.send(zmq::buffer(oversized), zmq::send_flags::none));

  // A job submitted without a hello first: refused, not crashed on.
  v1::Envelope submit;
  submit.mutable_submit_job()->set_task("primes");
  ASSERT_TRUE(Send(peer, submit).ok());
  EXPECT_TRUE(ReceiveBody(peer, false, v1::Envelope::kError).has_value());

  // The broker still serves a real client.
  auto client = cluster.StartClient({"map", "primes", "1", "1000", "--format=count"});
  auto status = client->Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0) << client->stderr_text();
  EXPECT_EQ(client->stdout_text(), "168\n");
}

// Executables carry failing stand-ins for libzmq's GSS-API calls
// (common/no_gssapi.cc), safe only because a peer that announces the GSSAPI
// mechanism is refused for the mismatch before any of them runs: the
// broker hangs up on such a greeting and goes on serving.
TEST_F(HostilePeerTest, BrokerHangsUpOnAGssapiGreeting) {
  LocalCluster cluster;
  cluster.AddWorker();
  const std::string& endpoint = cluster.endpoint();  // tcp://127.0.0.1:PORT
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  // A ZMTP 3.0 greeting: signature, version 3.0, mechanism "GSSAPI"
  // (20 bytes, zero-padded), as-server 0, 31 bytes of filler.
  std::string greeting("\xff\0\0\0\0\0\0\0\0\x7f\x03\x00", 12);
  greeting += std::string("GSSAPI", 6) + std::string(14, '\0');
  greeting += std::string(32, '\0');
  ASSERT_EQ(greeting.size(), 64u);
  ASSERT_EQ(write(fd, greeting.data(), greeting.size()), 64);
  // The broker's own greeting arrives, then end of stream.
  bool closed = false;
  const auto deadline = Clock::now() + kReplyTimeout;
  while (!closed && Clock::now() < deadline) {
    pollfd item{fd, POLLIN, 0};
    if (poll(&item, 1, 100) <= 0) continue;
    char buffer[256];
    const ssize_t n = read(fd, buffer, sizeof buffer);
    closed = n == 0 || (n < 0 && errno == ECONNRESET);
  }
  close(fd);
  EXPECT_TRUE(closed) << "the broker kept a GSSAPI peer's connection open";

  auto client = cluster.StartClient({"map", "primes", "1", "1000", "--format=count"});
  auto status = client->Wait(kJobTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0) << client->stderr_text();
  EXPECT_EQ(client->stdout_text(), "168\n");
}

TEST_F(HostilePeerTest, WorkerSurvivesGarbageFromItsBrokerAndKeepsWorking) {
  // The test plays the broker.
  zmq::socket_t router(context_, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  Subprocess worker({WorkerBinary(), "--broker=" + LastEndpoint(router),
                     "--threads=1"});

  std::string worker_id;
  auto hello = ReceiveBody(router, true, v1::Envelope::kHello, &worker_id);
  ASSERT_TRUE(hello.has_value()) << worker.stderr_text();
  EXPECT_EQ(hello->hello().role(), v1::ROLE_WORKER);
  ASSERT_GE(hello->hello().credit(), 1u);

  v1::Envelope welcome;
  welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
  welcome.mutable_welcome()->set_heartbeat_interval_ms(1000);
  welcome.mutable_welcome()->set_heartbeat_timeout_ms(5000);
  v1::Envelope assign;
  v1::Assignment* a = assign.mutable_assignments()->add_assignments();
  a->set_job_id(7);
  a->set_chunk_index(0);
  a->set_attempt(1);
  a->set_task("noop");
  a->mutable_input()->mutable_range()->set_first(11);
  a->mutable_input()->mutable_range()->set_last(15);
  a->set_lease_ms(10000);
  // Garbage, then a Welcome and a chunk. A worker that waited longer than
  // its first back-off (100 ms: a loaded machine) says Hello again on a new
  // socket: it is answered the same way.
  auto serve = [&](const std::string& id) {
    ASSERT_TRUE(router.send(zmq::buffer(id), zmq::send_flags::sndmore));
    ASSERT_TRUE(router.send(zmq::str_buffer("\x0a\xff\xff garbage"),
                            zmq::send_flags::none));
    ASSERT_TRUE(SendTo(router, id, welcome).ok());
    ASSERT_TRUE(SendTo(router, id, assign).ok());
  };
  serve(worker_id);

  std::vector<Payload> payloads;
  std::optional<v1::Envelope> reports;
  const auto deadline = Clock::now() + kReplyTimeout;
  while (!reports.has_value() && Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    std::string from;
    auto envelope = ReceiveWithin(router, true, left, &from, &payloads);
    if (!envelope.has_value()) continue;
    if (envelope->has_hello()) {
      serve(from);
    } else if (envelope->has_chunk_reports()) {
      reports = std::move(envelope);
    }
  }
  ASSERT_TRUE(reports.has_value()) << worker.stderr_text();
  ASSERT_EQ(reports->chunk_reports().reports_size(), 1);
  const v1::ChunkReport& report = reports->chunk_reports().reports(0);
  EXPECT_EQ(report.job_id(), 7u);
  ASSERT_EQ(report.outcome_case(), v1::ChunkReport::kResultPayload)
      << report.error().message();
  v1::ChunkOutput output;
  ASSERT_TRUE(output.ParseFromString(payloads.at(report.result_payload()).ToString()));
  EXPECT_EQ(output.values().values_size(), 5);
  EXPECT_EQ(output.values().values(4), 15u);

  worker.Signal(SIGTERM);
  EXPECT_TRUE(ReceiveBody(router, true, v1::Envelope::kGoodbye).has_value());
  auto status = worker.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0) << worker.stderr_text();
}

}  // namespace
}  // namespace tq::testing
