#include "common/zmq_socket.h"

#include <nss.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/protocol.h"
#include "common/status_macros.h"

namespace tq {

void LookUpProtocolsInFilesOnly() {
  // glibc's <nss.h>; a failure only leaves the system's configuration.
  (void)__nss_configure_lookup("protocols", "files");
}

void ConfigureSocket(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::linger, 500);
  socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(kMaxFrameBytes));
  socket.set(zmq::sockopt::heartbeat_ivl, 1000);
  socket.set(zmq::sockopt::heartbeat_timeout, 5000);
  socket.set(zmq::sockopt::heartbeat_ttl, 5000);
  if (socket.get(zmq::sockopt::type) == ZMQ_ROUTER) {
    socket.set(zmq::sockopt::router_mandatory, true);
  }
}

std::string LastEndpoint(const zmq::socket_t& socket) {
  return socket.get(zmq::sockopt::last_endpoint);
}

namespace {

// Frames at most this small are copied into the message (libzmq keeps them
// inline); larger ones are handed over by reference.
constexpr size_t kCopyFrameBytes = 64;

// ThreadSanitizer (scripts/sanitize.sh tsan) cannot see that libzmq orders
// a message's send before its receipt and before its free function runs:
// Debian's libzmq is not instrumented, so a frame handed over by reference
// (inproc: the embedded cluster's threads) would look like a race between
// the thread that wrote its bytes and the one that reads them. These tell it
// what libzmq guarantees; they are no-ops in every other build.
#if defined(__SANITIZE_THREAD__)
#define TQ_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TQ_TSAN 1
#endif
#endif
#ifdef TQ_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
void HandOver(const void* p) { __tsan_release(const_cast<void*>(p)); }
void TakeOver(const void* p) { __tsan_acquire(const_cast<void*>(p)); }
#else
void HandOver(const void*) {}
void TakeOver(const void*) {}
#endif

void ReleaseFrameOwner(void* /*data*/, void* hint) {
  TakeOver(hint);
  delete static_cast<std::shared_ptr<const void>*>(hint);
}

zmq::message_t FrameMessage(const PayloadFrame& frame) {
  if (frame.size <= kCopyFrameBytes) {
    zmq::message_t copy(frame.data, frame.size);
    // A copy past libzmq's in-message size sits in a buffer the receiver
    // reads in place (GatherPayloads takes it over there).
    HandOver(copy.data());
    return copy;
  }
  // libzmq never writes to a message's data; the owner keeps it alive until
  // libzmq is done with it (after the send, possibly on its I/O thread).
  auto* owner = new std::shared_ptr<const void>(frame.owner);
  HandOver(owner);
  HandOver(frame.data);
  return zmq::message_t(const_cast<char*>(frame.data), frame.size,
                        &ReleaseFrameOwner, owner);
}

// Sends the envelope and payload frames that follow an optional routing id.
absl::StatusOr<size_t> SendFrames(zmq::socket_t& socket,
                                  const std::string* routing_id,
                                  v1::Envelope& envelope,
                                  const std::vector<Payload>& payloads) {
  envelope.clear_payload_sizes();
  for (const Payload& payload : payloads) envelope.add_payload_sizes(payload.size());
  std::string bytes = SerializeEnvelope(envelope);
  if (bytes.size() > kMaxFrameBytes) {
    // The receiver's libzmq would drop the connection at this frame's
    // header; refuse it here, where the error can name what was too big.
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(BodyName(envelope)), " message of ", bytes.size(),
        " bytes exceeds the frame limit of ", kMaxFrameBytes,
        " (its payloads travel in frames of their own)"));
  }
  size_t sent = bytes.size();
  try {
    // dontwait on every frame: libzmq admits or refuses a message at its
    // first frame (the high-water mark counts whole messages), so a message
    // is never cut off half-way.
    if (routing_id != nullptr &&
        !socket.send(zmq::buffer(*routing_id),
                     zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return absl::UnavailableError("peer queue full");
    }
    size_t remaining_frames = 0;
    for (const Payload& payload : payloads) remaining_frames += payload.frames().size();
    if (!socket.send(zmq::buffer(bytes),
                     (remaining_frames > 0 ? zmq::send_flags::sndmore
                                           : zmq::send_flags::none) |
                         zmq::send_flags::dontwait)) {
      return absl::UnavailableError(routing_id != nullptr ? "peer queue full"
                                                          : "send would block");
    }
    for (const Payload& payload : payloads) {
      for (const PayloadFrame& frame : payload.frames()) {
        --remaining_frames;
        zmq::message_t message = FrameMessage(frame);
        sent += frame.size;
        if (!socket.send(message, (remaining_frames > 0 ? zmq::send_flags::sndmore
                                                        : zmq::send_flags::none) |
                                      zmq::send_flags::dontwait)) {
          return absl::UnavailableError("send would block mid-message");
        }
      }
    }
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH under ZMQ_ROUTER_MANDATORY: the peer has disconnected.
    return absl::UnavailableError(absl::StrCat(
        routing_id != nullptr ? "peer unreachable: " : "send failed: ", e.what()));
  }
  return sent;
}

// Payload frames at most this small are copied out of their ZeroMQ
// messages into blocks shared by the message's small frames (one allocation
// per block rather than one per frame); larger ones are kept as received.
constexpr size_t kSmallFrameBytes = 256;
// Bytes per shared block: what one small payload kept alive (a result the
// broker holds for its client) can pin, like libzmq's own receive buffers.
constexpr size_t kSmallBlockBytes = 8 << 10;

// Turns the frames after an envelope into its payloads as they are read,
// checking each against the sizes the envelope announced.
class PayloadReader {
 public:
  explicit PayloadReader(const v1::Envelope& envelope) {
    for (uint64_t size : envelope.payload_sizes()) {
      if (size <= kSmallFrameBytes) small_left_ += size;
    }
  }

  // Reads the envelope's payloads from `socket` (the envelope frame read,
  // more frames announced by `more`). Adds every frame's size to *bytes.
  absl::Status Read(zmq::socket_t& socket, const v1::Envelope& envelope,
                    bool more, std::vector<Payload>* payloads, uint64_t* bytes) {
    payloads->reserve(envelope.payload_sizes_size());
    for (uint64_t size : envelope.payload_sizes()) {
      const size_t count = FramesForPayload(size);
      PayloadFrames parts;
      parts.reserve(count);
      for (size_t k = 0; k < count; ++k) {
        zmq::message_t frame;
        if (!more || !socket.recv(frame, zmq::recv_flags::none)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "message announces ", envelope.payload_sizes_size(),
              " payloads but carries too few frames"));
        }
        *bytes += frame.size();
        more = frame.more();
        const size_t expected =
            k + 1 < count ? kMaxFrameBytes : size - (count - 1) * kMaxFrameBytes;
        if (frame.size() != expected) {
          return absl::InvalidArgumentError(absl::StrCat(
              "payload frame of ", frame.size(), " bytes where ", expected,
              " were announced"));
        }
        TakeOver(frame.data());
        parts.push_back(size <= kSmallFrameBytes ? CopySmall(frame)
                                                 : Keep(std::move(frame)));
      }
      payloads->push_back(Payload::FromFrames(std::move(parts)));
    }
    if (more) {
      return absl::InvalidArgumentError(
          "message carries frames beyond the payloads it announces");
    }
    return absl::OkStatus();
  }

 private:
  static PayloadFrame Keep(zmq::message_t frame) {
    auto owner = std::make_shared<zmq::message_t>(std::move(frame));
    const char* data = static_cast<const char*>(owner->data());
    const size_t size = owner->size();
    return PayloadFrame{std::move(owner), data, size};
  }

  // Copies a small frame into the current shared block. The blocks are
  // sized by what the envelope announced and is still to come (at most
  // kSmallBlockBytes each), so frames that never arrive cost nothing.
  PayloadFrame CopySmall(const zmq::message_t& frame) {
    const size_t size = frame.size();
    if (block_ == nullptr || block_used_ + size > block_size_) {
      block_size_ = std::max(size, std::min(small_left_, kSmallBlockBytes));
      block_ = std::make_shared_for_overwrite<char[]>(block_size_);
      block_used_ = 0;
    }
    char* at = block_.get() + block_used_;
    std::memcpy(at, frame.data(), size);
    block_used_ += size;
    small_left_ -= size;
    return PayloadFrame{std::shared_ptr<const void>(block_, at), at, size};
  }

  uint64_t small_left_ = 0;  // small payload bytes announced, not yet read
  std::shared_ptr<char[]> block_;
  size_t block_size_ = 0;
  size_t block_used_ = 0;
};

// Reads and drops the rest of a message, adding the frames' sizes to *bytes.
void Discard(zmq::socket_t& socket, bool more, uint64_t* bytes) {
  while (more) {
    zmq::message_t frame;
    if (!socket.recv(frame, zmq::recv_flags::none)) return;
    *bytes += frame.size();
    more = frame.more();
  }
}

}  // namespace

absl::StatusOr<size_t> Send(zmq::socket_t& dealer, v1::Envelope& envelope,
                            const std::vector<Payload>& payloads) {
  return SendFrames(dealer, nullptr, envelope, payloads);
}

absl::StatusOr<size_t> SendTo(zmq::socket_t& router,
                              const std::string& routing_id,
                              v1::Envelope& envelope,
                              const std::vector<Payload>& payloads) {
  return SendFrames(router, &routing_id, envelope, payloads);
}

namespace {

// One message as read, its envelope parsed by the caller's `parse`.
struct RawMessage {
  std::string routing_id;
  std::string user_id;
  absl::Status status;
  std::vector<Payload> payloads;
  uint64_t bytes = 0;
};

// Reads one waiting message: `parse(data, size)` turns the envelope frame
// into an absl::StatusOr<const v1::Envelope*>, then the payloads it
// announces are read. nullopt if nothing waits.
template <typename Parse>
std::optional<RawMessage> ReadMessage(zmq::socket_t& socket, bool is_router,
                                      Parse parse) {
  zmq::message_t first;
  if (!socket.recv(first, zmq::recv_flags::dontwait)) return std::nullopt;
  RawMessage message;
  zmq::message_t head;
  if (is_router) {
    message.routing_id = first.to_string();
    if (!first.more() || !socket.recv(head, zmq::recv_flags::none)) {
      message.status =
          absl::InvalidArgumentError("message has no envelope frame");
      return message;
    }
  } else {
    head = std::move(first);
  }
  // The rest of the message is already here: libzmq delivers whole
  // messages. It is read frame by frame as the envelope announces it, so
  // that no frame waits in a list of its own.
  message.bytes = head.size();
  // Metadata, not payload: a peer cannot forge it.
  if (const char* user_id = zmq_msg_gets(head.handle(), "User-Id")) {
    message.user_id = user_id;
  }
  absl::StatusOr<const v1::Envelope*> envelope = parse(head.data(), head.size());
  if (!envelope.ok()) {
    message.status = envelope.status();
    Discard(socket, head.more(), &message.bytes);
    return message;
  }
  PayloadReader reader(**envelope);
  message.status = reader.Read(socket, **envelope, head.more(),
                               &message.payloads, &message.bytes);
  if (!message.status.ok()) {
    message.payloads.clear();
    Discard(socket, /*more=*/socket.get(zmq::sockopt::rcvmore), &message.bytes);
  }
  // Within kMaxMessageBytes when the status is OK: the envelope's sizes
  // were checked, and the frames matched them.
  return message;
}

}  // namespace

std::optional<Received> TryReceive(zmq::socket_t& socket, bool is_router) {
  Received received;
  std::optional<RawMessage> message = ReadMessage(
      socket, is_router,
      [&received](const void* data,
                  size_t size) -> absl::StatusOr<const v1::Envelope*> {
        received.envelope = ParseEnvelope(data, size);
        if (!received.envelope.ok()) return received.envelope.status();
        return &*received.envelope;
      });
  if (!message.has_value()) return std::nullopt;
  received.routing_id = std::move(message->routing_id);
  received.user_id = std::move(message->user_id);
  received.bytes = message->bytes;
  if (!message->status.ok()) {
    received.envelope = std::move(message->status);
  } else {
    received.payloads = std::move(message->payloads);
  }
  return received;
}

std::optional<ReceivedOnArena> TryReceiveOnArena(zmq::socket_t& socket,
                                                 bool is_router,
                                                 google::protobuf::Arena* arena) {
  v1::Envelope* envelope = nullptr;
  std::optional<RawMessage> message = ReadMessage(
      socket, is_router,
      [&envelope, arena](const void* data,
                         size_t size) -> absl::StatusOr<const v1::Envelope*> {
        envelope = google::protobuf::Arena::CreateMessage<v1::Envelope>(arena);
        TQ_RETURN_IF_ERROR(ParseEnvelopeInto(data, size, envelope));
        return envelope;
      });
  if (!message.has_value()) return std::nullopt;
  ReceivedOnArena received;
  received.routing_id = std::move(message->routing_id);
  received.user_id = std::move(message->user_id);
  received.bytes = message->bytes;
  received.status = std::move(message->status);
  if (received.status.ok()) {
    received.envelope = envelope;
    received.payloads = std::move(message->payloads);
  }
  return received;
}

int PollIgnoringEintr(std::vector<zmq::pollitem_t>& items,
                      std::chrono::milliseconds timeout) {
  try {
    return zmq::poll(items.data(), items.size(), timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return 0;
    throw;
  }
}

}  // namespace tq
