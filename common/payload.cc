#include "common/payload.h"

#include <cstring>
#include <utility>

#include "common/protocol.h"

namespace tq {

Payload Payload::FromString(std::string bytes) {
  Payload payload;
  if (bytes.empty()) return payload;
  auto owner = std::make_shared<const std::string>(std::move(bytes));
  const std::string& stored = *owner;
  payload.size_ = stored.size();
  payload.frames_.reserve(FramesForPayload(stored.size()));
  for (size_t at = 0; at < stored.size(); at += kMaxFrameBytes) {
    payload.frames_.push_back(PayloadFrame{
        owner, stored.data() + at,
        std::min<size_t>(kMaxFrameBytes, stored.size() - at)});
  }
  return payload;
}

Payload Payload::FromFrames(PayloadFrames frames) {
  Payload payload;
  for (const PayloadFrame& frame : frames) payload.size_ += frame.size;
  payload.frames_ = std::move(frames);
  return payload;
}

absl::string_view Payload::Contiguous(std::string* scratch) const {
  if (frames_.empty()) return absl::string_view();
  if (frames_.size() == 1) return frames_[0].view();
  scratch->resize(size_);
  CopyTo(scratch->data());
  return *scratch;
}

std::string Payload::ToString() const {
  std::string bytes(size_, '\0');
  CopyTo(bytes.data());
  return bytes;
}

void Payload::CopyTo(char* out) const {
  for (const PayloadFrame& frame : frames_) {
    if (frame.size == 0) continue;
    std::memcpy(out, frame.data, frame.size);
    out += frame.size;
  }
}

size_t FramesForPayload(uint64_t size) {
  return static_cast<size_t>((size + kMaxFrameBytes - 1) / kMaxFrameBytes);
}

}  // namespace tq
