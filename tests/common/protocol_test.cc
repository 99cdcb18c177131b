// Envelope parsing treats network input as untrusted; Status <-> Error
// round-trips; flag dashes normalise the way the README writes them.
#include "common/protocol.h"

#include <cstdlib>
#include <string>

#include "common/cli.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

TEST(ParseEnvelopeTest, RoundTripsAValidEnvelope) {
  v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(kProtocolVersion);
  hello.mutable_hello()->set_role(v1::ROLE_WORKER);
  std::string bytes = SerializeEnvelope(hello);
  auto parsed = ParseEnvelope(bytes.data(), bytes.size());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->hello().role(), v1::ROLE_WORKER);
  EXPECT_EQ(BodyName(*parsed), "hello");
}

// The wire as peers of earlier builds wrote it (by field numbers, not by
// this build's encoder): moving to protobuf's lite runtime changed no byte.
// Envelope{hello{protocol_version: 6, role: ROLE_WORKER, name: "w"}}.
TEST(ParseEnvelopeTest, ReadsAndWritesTheWireOfEarlierBuilds) {
  const std::string wire("\x0a\x07\x08\x06\x10\x02\x1a\x01w", 9);
  auto parsed = ParseEnvelope(wire.data(), wire.size());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->hello().protocol_version(), 6u);
  EXPECT_EQ(parsed->hello().role(), v1::ROLE_WORKER);
  EXPECT_EQ(parsed->hello().name(), "w");
  EXPECT_EQ(SerializeEnvelope(*parsed), wire);
}

TEST(ParseEnvelopeTest, RejectsGarbageWithInvalidArgument) {
  const std::string garbage = "\xff\xff\xff\xff\x0f";
  auto parsed = ParseEnvelope(garbage.data(), garbage.size());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("malformed"), std::string::npos);
}

TEST(ParseEnvelopeTest, RejectsAnEnvelopeWithNoBody) {
  auto parsed = ParseEnvelope("", 0);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("no body"), std::string::npos);
}

TEST(ParseEnvelopeTest, RejectsOversizedFramesBeforeParsing) {
  std::string big(kMaxFrameBytes + 1, '\0');
  auto parsed = ParseEnvelope(big.data(), big.size());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("frame limit"), std::string::npos);
}

TEST(ParseEnvelopeTest, RejectsPayloadsOverTheirLimits) {
  v1::Envelope envelope;
  envelope.mutable_heartbeat();
  envelope.add_payload_sizes(kMaxPayloadBytes + 1);
  std::string bytes = SerializeEnvelope(envelope);
  auto parsed = ParseEnvelope(bytes.data(), bytes.size());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("payload of"), std::string::npos);
  // Each payload within its limit, but together over the message's.
  envelope.clear_payload_sizes();
  for (int i = 0; i < 5; ++i) envelope.add_payload_sizes(kMaxPayloadBytes);
  bytes = SerializeEnvelope(envelope);
  parsed = ParseEnvelope(bytes.data(), bytes.size());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("message of"), std::string::npos);
}

TEST(ErrorFromStatusTest, RoundTripsCodeAndMessage) {
  absl::Status status = absl::ResourceExhaustedError("queue full");
  v1::Error error = ErrorFromStatus(status, 7, 9);
  EXPECT_EQ(error.job_id(), 7u);
  EXPECT_EQ(error.request_id(), 9u);
  EXPECT_EQ(StatusFromError(error), status);
}

TEST(ErrorFromStatusTest, UnknownWireCodesBecomeUnknownNotUndefined) {
  v1::Error error;
  error.set_code(999);
  error.set_message("from a newer peer");
  absl::Status status = StatusFromError(error);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_NE(status.message().find("from a newer peer"), std::string::npos);
}

TEST(NormalizeFlagDashesTest, ChangesOnlyTheFlagName) {
  EXPECT_EQ(NormalizeFlagDashes("--chunk-size=5"), "--chunk_size=5");
  EXPECT_EQ(NormalizeFlagDashes("--param=key-x=a-b"), "--param=key-x=a-b");
  EXPECT_EQ(NormalizeFlagDashes("--connect-timeout"), "--connect_timeout");
  EXPECT_EQ(NormalizeFlagDashes("-5"), "-5");
  EXPECT_EQ(NormalizeFlagDashes("--"), "--");
  EXPECT_EQ(NormalizeFlagDashes("tcp://a-b:1"), "tcp://a-b:1");
}

TEST(FlagOrEnvTest, FlagWinsThenEnvironmentThenEmpty) {
  setenv("TQ_TEST_FLAG_OR_ENV", "from-env", 1);
  EXPECT_EQ(FlagOrEnv("from-flag", "TQ_TEST_FLAG_OR_ENV"), "from-flag");
  EXPECT_EQ(FlagOrEnv("", "TQ_TEST_FLAG_OR_ENV"), "from-env");
  unsetenv("TQ_TEST_FLAG_OR_ENV");
  EXPECT_EQ(FlagOrEnv("", "TQ_TEST_FLAG_OR_ENV"), "");
}

}  // namespace
}  // namespace tq
