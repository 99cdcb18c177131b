#include "worker/runners/runner_protocol.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tq::runner_protocol {

uint32_t LoadU32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 |
         uint32_t{b[3]} << 24;
}

static uint64_t LoadU64(const char* p) {
  return uint64_t{LoadU32(p)} | uint64_t{LoadU32(p + 4)} << 32;
}

void AppendU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

void AppendU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

RequestFrame::RequestFrame(const RequestHeader& header,
                           const RequestBlobs& blobs) {
  const std::array<std::string_view, kRequestBlobs> parts = {
      blobs.function_sha, blobs.function_pickle, blobs.initializer_sha,
      blobs.initializer_pickle, blobs.items_pickle};
  size_t body = kRequestHeaderSize;
  for (std::string_view part : parts) body += 4 + part.size();
  size_ = kLengthSize + body;

  // All small parts first, then the views: prefixes_ must not reallocate
  // once views point into it.
  prefixes_.reserve(kLengthSize + kRequestHeaderSize + 4 * kRequestBlobs);
  AppendU32(&prefixes_, static_cast<uint32_t>(body));
  prefixes_.push_back(1);  // kind: run a chunk
  prefixes_.push_back(static_cast<char>(header.call_style));
  prefixes_.push_back(static_cast<char>(header.items_kind));
  prefixes_.push_back(header.has_initializer ? 1 : 0);
  AppendU32(&prefixes_, header.max_result_bytes);
  AppendU64(&prefixes_, header.job_id);
  AppendU64(&prefixes_, header.chunk_index);
  AppendU64(&prefixes_, header.items_a);
  AppendU64(&prefixes_, header.items_b);
  AppendU64(&prefixes_, header.items_c);
  const size_t header_end = prefixes_.size();
  for (std::string_view part : parts) {
    AppendU32(&prefixes_, static_cast<uint32_t>(part.size()));
  }

  // Merge each length prefix with what precedes it, so a request of small
  // blobs is a handful of pieces.
  const std::string_view all = prefixes_;
  size_t start = 0, end = header_end;
  for (size_t i = 0; i < parts.size(); ++i) {
    end += 4;  // this blob's length
    if (parts[i].empty()) continue;
    pieces_.push_back(all.substr(start, end - start));
    pieces_.push_back(parts[i]);
    start = end;
  }
  if (end > start) pieces_.push_back(all.substr(start, end - start));
}

absl::StatusOr<ReplyHeader> DecodeReplyHeader(std::string_view head,
                                              uint32_t body_size) {
  if (head.size() != kReplyHeaderSize + 4 || body_size < kReplyHeaderSize + 8) {
    return absl::DataLossError(
        absl::StrCat("reply of ", body_size, " bytes is too short"));
  }
  const uint8_t kind = static_cast<uint8_t>(head[0]);
  if (kind < 1 || kind > 5) {
    return absl::DataLossError(absl::StrCat("unknown reply kind ", kind));
  }
  ReplyHeader header;
  header.kind = static_cast<ReplyKind>(kind);
  header.retire = (static_cast<uint8_t>(head[1]) & 1) != 0;
  header.run_micros = LoadU64(head.data() + 4);
  header.message_size = LoadU32(head.data() + kReplyHeaderSize);
  if (header.message_size > body_size - kReplyHeaderSize - 8) {
    return absl::DataLossError(
        absl::StrCat("reply message of ", header.message_size,
                     " bytes overruns its frame of ", body_size));
  }
  return header;
}

std::string EncodeReply(const ReplyHeader& header, std::string_view message,
                        std::string_view payload) {
  std::string out;
  AppendU32(&out, static_cast<uint32_t>(kReplyHeaderSize + 8 + message.size() +
                                        payload.size()));
  out.push_back(static_cast<char>(header.kind));
  out.push_back(header.retire ? 1 : 0);
  out.append(2, '\0');
  AppendU64(&out, header.run_micros);
  AppendU32(&out, static_cast<uint32_t>(message.size()));
  out.append(message);
  AppendU32(&out, static_cast<uint32_t>(payload.size()));
  out.append(payload);
  return out;
}

}  // namespace tq::runner_protocol
