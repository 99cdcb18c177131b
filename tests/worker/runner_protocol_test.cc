// The runner framing's byte layout (runner_protocol.h), without processes.
#include "worker/runners/runner_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace tq {
namespace {

TEST(RunnerProtocolTest, RequestFrameLaysOutHeaderAndBlobs) {
  runner_protocol::RequestHeader header;
  header.call_style = 1;
  header.items_kind = 0;
  header.has_initializer = true;
  header.max_result_bytes = 0x01020304;
  header.job_id = 7;
  header.items_b = 9;
  runner_protocol::RequestBlobs blobs;
  blobs.function_sha = "S";
  blobs.function_pickle = "FN";
  runner_protocol::RequestFrame frame(header, blobs);
  std::string bytes;
  for (auto piece : frame.pieces()) bytes.append(piece);
  ASSERT_EQ(bytes.size(), frame.size());
  std::string expected(
      "\x47\0\0\0"
      "\x01\x01\x00\x01"
      "\x04\x03\x02\x01",
      12);
  expected += std::string("\x07\0\0\0\0\0\0\0", 8) + std::string(8, '\0') +
              std::string(8, '\0') + std::string("\x09\0\0\0\0\0\0\0", 8) +
              std::string(8, '\0');
  expected += std::string("\x01\0\0\0S\x02\0\0\0FN", 11) +
              std::string(12, '\0');  // three empty blobs
  EXPECT_EQ(bytes, expected);
}

TEST(RunnerProtocolTest, ReplyHeaderRejectsWhatDoesNotFit) {
  runner_protocol::ReplyHeader header;
  header.kind = runner_protocol::ReplyKind::kUserError;
  header.retire = true;
  header.run_micros = 12345;
  std::string frame = runner_protocol::EncodeReply(header, "msg", "payload");
  const uint32_t body = runner_protocol::LoadU32(frame.data());
  absl::StatusOr<runner_protocol::ReplyHeader> decoded =
      runner_protocol::DecodeReplyHeader(frame.substr(4, 16), body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->kind, runner_protocol::ReplyKind::kUserError);
  EXPECT_TRUE(decoded->retire);
  EXPECT_EQ(decoded->run_micros, 12345u);
  EXPECT_EQ(decoded->message_size, 3u);
  EXPECT_TRUE(absl::IsDataLoss(
      runner_protocol::DecodeReplyHeader(frame.substr(4, 16), 21).status()));
  frame[4] = 9;  // unknown kind
  EXPECT_TRUE(absl::IsDataLoss(
      runner_protocol::DecodeReplyHeader(frame.substr(4, 16), body).status()));
}

}  // namespace
}  // namespace tq
