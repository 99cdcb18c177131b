// Payloads and the framing of messages: frames of at most kMaxFrameBytes,
// shared rather than copied; a message's frames checked against the sizes
// its envelope announces; SHA-256 for content-addressed code.
#include "common/payload.h"

#include <string>
#include <vector>

#include "common/protocol.h"
#include "common/sha256.h"
#include "common/zmq_socket.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace tq {
namespace {

TEST(PayloadTest, CutsIntoFullFramesThatShareOneBuffer) {
  std::string bytes(2 * kMaxFrameBytes + 5, 'x');
  bytes[kMaxFrameBytes] = 'y';
  Payload payload = Payload::FromString(bytes);
  ASSERT_EQ(payload.frames().size(), 3u);
  EXPECT_EQ(payload.frames()[0].size, kMaxFrameBytes);
  EXPECT_EQ(payload.frames()[2].size, 5u);
  EXPECT_EQ(payload.frames()[1].data[0], 'y');
  EXPECT_EQ(payload.frames()[1].data, payload.frames()[0].data + kMaxFrameBytes);
  EXPECT_EQ(payload.size(), bytes.size());
  EXPECT_EQ(payload.ToString(), bytes);
  std::string scratch;
  EXPECT_EQ(payload.Contiguous(&scratch), bytes);
  Payload copy = payload;  // shares, never copies
  EXPECT_EQ(copy.frames()[0].data, payload.frames()[0].data);
  EXPECT_EQ(FramesForPayload(0), 0u);
  EXPECT_EQ(FramesForPayload(kMaxFrameBytes), 1u);
  EXPECT_EQ(FramesForPayload(kMaxFrameBytes + 1), 2u);
  EXPECT_TRUE(Payload::FromString("").frames().empty());
}

class FramingTest : public ::testing::Test {
 protected:
  FramingTest()
      : a_(context_, zmq::socket_type::pair), b_(context_, zmq::socket_type::pair) {
    a_.bind("inproc://framing");
    b_.connect("inproc://framing");
  }
  std::optional<Received> ReceiveOne() {
    std::vector<zmq::pollitem_t> items = {{b_.handle(), 0, ZMQ_POLLIN, 0}};
    PollIgnoringEintr(items, std::chrono::seconds(10));
    return TryReceive(b_, false);
  }
  zmq::context_t context_;
  zmq::socket_t a_, b_;
};

TEST_F(FramingTest, PayloadsArriveWholeAndInOrder) {
  v1::Envelope envelope;
  envelope.mutable_heartbeat();
  std::vector<Payload> sent = {Payload::FromString(std::string(3 << 20, 'p')),
                               Payload(), Payload::FromString("tail")};
  absl::StatusOr<size_t> bytes = Send(a_, envelope, sent);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_GT(*bytes, (3u << 20) + 4);
  std::optional<Received> received = ReceiveOne();
  ASSERT_TRUE(received.has_value());
  ASSERT_TRUE(received->envelope.ok()) << received->envelope.status();
  EXPECT_EQ(received->envelope->payload_sizes_size(), 3);
  ASSERT_EQ(received->payloads.size(), 3u);
  EXPECT_EQ(received->payloads[0].size(), 3u << 20);
  EXPECT_EQ(received->payloads[0].frames().size(), (3u << 20) / kMaxFrameBytes);
  EXPECT_TRUE(received->payloads[1].empty());
  EXPECT_EQ(received->payloads[2].ToString(), "tail");
}

// Small payloads are copied into blocks shared by several of them; each
// keeps its bytes, whatever else of the message is dropped.
TEST_F(FramingTest, ManySmallPayloadsKeepTheirBytesAfterTheMessageIsGone) {
  v1::Envelope envelope;
  envelope.mutable_heartbeat();
  std::vector<Payload> sent;
  std::vector<std::string> expected;
  for (int i = 0; i < 1000; ++i) {
    // Sizes 0..299: small ones, some across block boundaries, and a few
    // above the small-frame bound, mixed with a large one.
    std::string bytes(static_cast<size_t>(i % 300), static_cast<char>('a' + i % 26));
    if (i == 500) bytes.assign(kMaxFrameBytes + 3, 'L');
    expected.push_back(bytes);
    sent.push_back(Payload::FromString(bytes));
  }
  ASSERT_TRUE(Send(a_, envelope, sent).ok());
  std::vector<Payload> kept;
  {
    std::optional<Received> received = ReceiveOne();
    ASSERT_TRUE(received.has_value());
    ASSERT_TRUE(received->envelope.ok()) << received->envelope.status();
    kept = received->payloads;
  }
  ASSERT_EQ(kept.size(), expected.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].ToString(), expected[i]) << "payload " << i;
  }
  EXPECT_EQ(kept[500].frames().size(), 2u);
}

TEST_F(FramingTest, ReceivesOnAnArenaAsWithout) {
  v1::Envelope envelope;
  for (int i = 0; i < 100; ++i) {
    v1::ChunkResult* result = envelope.mutable_job_results()->add_results();
    result->set_chunk_index(i);
    result->set_payload(i);
  }
  std::vector<Payload> sent;
  for (int i = 0; i < 100; ++i) sent.push_back(Payload::FromString(std::to_string(i)));
  google::protobuf::Arena arena;
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(Send(a_, envelope, sent).ok());
    std::vector<zmq::pollitem_t> items = {{b_.handle(), 0, ZMQ_POLLIN, 0}};
    PollIgnoringEintr(items, std::chrono::seconds(10));
    std::optional<ReceivedOnArena> received = TryReceiveOnArena(b_, false, &arena);
    ASSERT_TRUE(received.has_value());
    ASSERT_TRUE(received->status.ok()) << received->status;
    ASSERT_NE(received->envelope, nullptr);
    EXPECT_EQ(received->envelope->GetArena(), &arena);
    ASSERT_EQ(received->envelope->job_results().results_size(), 100);
    EXPECT_EQ(received->envelope->job_results().results(42).chunk_index(), 42u);
    ASSERT_EQ(received->payloads.size(), 100u);
    EXPECT_EQ(received->payloads[42].ToString(), "42");
    received.reset();
    arena.Reset();
  }
  // A malformed envelope: a status, no envelope, the rest consumed.
  ASSERT_TRUE(a_.send(zmq::buffer(std::string("\xff\xff\xff")), zmq::send_flags::sndmore));
  ASSERT_TRUE(a_.send(zmq::buffer(std::string("x")), zmq::send_flags::none));
  std::vector<zmq::pollitem_t> items = {{b_.handle(), 0, ZMQ_POLLIN, 0}};
  PollIgnoringEintr(items, std::chrono::seconds(10));
  std::optional<ReceivedOnArena> bad = TryReceiveOnArena(b_, false, &arena);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad->envelope, nullptr);
  EXPECT_TRUE(bad->payloads.empty());
  EXPECT_EQ(bad->bytes, 4u);
  EXPECT_FALSE(TryReceiveOnArena(b_, false, &arena).has_value());
}

TEST_F(FramingTest, FramesBeyondTheAnnouncedPayloadsAreRefused) {
  v1::Envelope envelope;
  envelope.mutable_heartbeat();
  envelope.add_payload_sizes(3);
  const std::string head = SerializeEnvelope(envelope);
  ASSERT_TRUE(a_.send(zmq::buffer(head), zmq::send_flags::sndmore));
  ASSERT_TRUE(a_.send(zmq::buffer(std::string("abc")), zmq::send_flags::sndmore));
  ASSERT_TRUE(a_.send(zmq::buffer(std::string("extra")), zmq::send_flags::none));
  std::optional<Received> received = ReceiveOne();
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(received->envelope.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(received->payloads.empty());
  EXPECT_EQ(received->bytes, head.size() + 8);
  // The next message is read whole, from its first frame.
  ASSERT_TRUE(Send(a_, envelope, {Payload::FromString("xyz")}).ok());
  received = ReceiveOne();
  ASSERT_TRUE(received.has_value());
  ASSERT_TRUE(received->envelope.ok()) << received->envelope.status();
  EXPECT_EQ(received->payloads[0].ToString(), "xyz");
}

TEST_F(FramingTest, FramesThatDoNotMatchTheAnnouncedSizesAreRefused) {
  v1::Envelope envelope;
  envelope.mutable_heartbeat();
  envelope.add_payload_sizes(kMaxFrameBytes + 10);
  const std::string head = SerializeEnvelope(envelope);
  // The right total in the wrong cut: 10 then kMaxFrameBytes.
  ASSERT_TRUE(a_.send(zmq::buffer(head), zmq::send_flags::sndmore));
  ASSERT_TRUE(a_.send(zmq::buffer(std::string(10, 'a')), zmq::send_flags::sndmore));
  ASSERT_TRUE(a_.send(zmq::buffer(std::string(kMaxFrameBytes, 'b')),
                      zmq::send_flags::none));
  std::optional<Received> received = ReceiveOne();
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(received->envelope.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(received->payloads.empty());
  // Too few frames.
  ASSERT_TRUE(a_.send(zmq::buffer(head), zmq::send_flags::none));
  received = ReceiveOne();
  ASSERT_TRUE(received.has_value());
  EXPECT_NE(std::string(received->envelope.status().message()).find("too few"),
            std::string::npos);
}

// An envelope too big for one frame would make the receiver's libzmq drop
// the connection: the sender refuses it, naming it, and sends nothing.
TEST_F(FramingTest, OversizedEnvelopeIsRefusedBeforeAnythingIsSent) {
  v1::Envelope envelope;
  envelope.mutable_error()->set_message(std::string(kMaxFrameBytes, 'm'));
  absl::StatusOr<size_t> bytes = Send(a_, envelope, {});
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bytes.status().message().find("error message of"),
            absl::string_view::npos)
      << bytes.status();
  // The connection still works, and nothing of the refused message came.
  envelope.mutable_error()->set_message("short");
  ASSERT_TRUE(Send(a_, envelope, {}).ok());
  std::optional<Received> received = ReceiveOne();
  ASSERT_TRUE(received.has_value());
  ASSERT_TRUE(received->envelope.ok()) << received->envelope.status();
  EXPECT_EQ(received->envelope->error().message(), "short");
}

TEST(Sha256Test, MatchesTheKnownDigest) {
  EXPECT_EQ(HexDigest(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string big(3 * kMaxFrameBytes + 7, 'q');
  EXPECT_EQ(Sha256(Payload::FromString(big)), Sha256(big));
}

}  // namespace
}  // namespace tq
