// Payload: opaque bytes that travel after an envelope (a chunk's encoded
// items, a chunk's result, a shipped function), held as frames of at most
// kMaxFrameBytes that share their storage. Copying a Payload copies
// references, never bytes: the broker forwards a worker's result frames to
// the client without copying them, and a payload built from one string is
// cut into frames that point into that string.
//
// It knows nothing of sockets (the sans-I/O cores hold payloads too);
// common/zmq_socket.h turns received ZeroMQ frames into a Payload and a
// Payload's frames back into ZeroMQ messages without copying.
//
// Thread safety: a Payload is immutable; copies may be used on different
// threads (the storage's reference count is atomic).
#ifndef TQ_COMMON_PAYLOAD_H_
#define TQ_COMMON_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"

namespace tq {

// One frame's bytes, kept alive by `owner`.
struct PayloadFrame {
  std::shared_ptr<const void> owner;
  const char* data = nullptr;
  size_t size = 0;

  absl::string_view view() const { return absl::string_view(data, size); }
};

// A payload's frames. Most payloads fill one frame: held inline, so a
// payload costs no allocation of its own.
using PayloadFrames = absl::InlinedVector<PayloadFrame, 1>;

class Payload {
 public:
  Payload() = default;

  // Takes `bytes` and cuts it into frames of kMaxFrameBytes (the last one
  // shorter) that point into it.
  static Payload FromString(std::string bytes);
  // Frames as received: each must already respect the framing rule (every
  // frame kMaxFrameBytes but the last, none empty); the caller checked.
  static Payload FromFrames(PayloadFrames frames);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const PayloadFrames& frames() const { return frames_; }

  // The bytes in one piece: a view of the single frame when there is one
  // (no copy), else a copy into `scratch`. Valid while both live.
  absl::string_view Contiguous(std::string* scratch) const;
  // A copy of the bytes.
  std::string ToString() const;
  // Copies the bytes to `out`, which must hold size() bytes.
  void CopyTo(char* out) const;

 private:
  PayloadFrames frames_;
  size_t size_ = 0;
};

// Frames a payload of `size` bytes fills on the wire.
size_t FramesForPayload(uint64_t size);

}  // namespace tq

#endif  // TQ_COMMON_PAYLOAD_H_
