// libFuzzer target: a received message, as a peer could send it. The input
// names an envelope frame and the frames after it (layout below); the
// envelope goes through ParseEnvelope, then the whole message goes through
// the socket layer's receive path (TryReceive over an inproc DEALER ->
// ROUTER pair: routing id, envelope, payload frames checked against the
// envelope's payload_sizes). Invariants checked here, beyond "no crash, no
// sanitizer finding": what TryReceive accepts is what ParseEnvelope accepts,
// accepted payloads have exactly the announced sizes, and TryReceiveOnArena
// decides and reads the same as TryReceive.
//
// Input layout: byte 0 = number of payload frames F (0..7, low 3 bits);
// then F little-endian u16 frame sizes; the frames' bytes are taken from the
// end of the input, in order, and what lies between is the envelope frame.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/protocol.h"
#include "common/zmq_socket.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "tests/fuzz/fuzz_input.h"
#include "zmq.hpp"

namespace {

struct Sockets {
  zmq::context_t context{1};
  zmq::socket_t router{context, zmq::socket_type::router};
  zmq::socket_t dealer{context, zmq::socket_type::dealer};
  Sockets() {
    tq::ConfigureSocket(router);
    tq::ConfigureSocket(dealer);
    router.bind("inproc://fuzz");
    dealer.connect("inproc://fuzz");
  }
};

Sockets& GetSockets() {
  static Sockets* sockets = new Sockets();  // never destroyed: no exit races
  return *sockets;
}

// Map entries in key order: two parses of one message may hold their maps
// in different orders.
std::string Deterministic(const tq::v1::Envelope& envelope) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!envelope.SerializeToCodedStream(&coded)) std::abort();
  }
  return out;
}

// Sends `frames` as one message and waits until the ROUTER can read it.
void SendAndWait(const std::vector<std::string>& frames) {
  Sockets& s = GetSockets();
  for (size_t i = 0; i < frames.size(); ++i) {
    zmq::message_t message(frames[i].data(), frames[i].size());
    auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore
                                       : zmq::send_flags::none;
    if (!s.dealer.send(message, flags)) std::abort();
  }
  std::vector<zmq::pollitem_t> items = {{s.router.handle(), 0, ZMQ_POLLIN, 0}};
  // libFuzzer's -timeout alarm (SIGALRM) interrupts a poll (EINTR: 0
  // ready), the more often the busier the machine: poll again until the
  // deadline.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (tq::PollIgnoringEintr(items, std::chrono::milliseconds(100)) != 1) {
    if (std::chrono::steady_clock::now() > deadline) std::abort();
  }
}

std::optional<tq::Received> RoundTrip(const std::vector<std::string>& frames) {
  SendAndWait(frames);
  return tq::TryReceive(GetSockets().router, /*is_router=*/true);
}

// The same through TryReceiveOnArena (the client's receive path).
std::optional<tq::ReceivedOnArena> RoundTripOnArena(
    const std::vector<std::string>& frames, google::protobuf::Arena* arena) {
  SendAndWait(frames);
  return tq::TryReceiveOnArena(GetSockets().router, /*is_router=*/true, arena);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tq::fuzz::Input in(data, size);
  const size_t frame_count = in.Byte() & 7;
  std::vector<size_t> frame_sizes;
  for (size_t i = 0; i < frame_count; ++i) frame_sizes.push_back(in.U16());
  std::vector<std::string> frames = {std::string()};  // the envelope
  std::vector<std::string> tail = in.TakeFromEnd(frame_sizes);
  frames[0] = in.Rest();
  frames.insert(frames.end(), tail.begin(), tail.end());

  absl::StatusOr<tq::v1::Envelope> parsed =
      tq::ParseEnvelope(frames[0].data(), frames[0].size());
  if (parsed.ok()) {
    (void)tq::BodyName(*parsed);
    if (parsed->has_error()) (void)tq::StatusFromError(parsed->error());
  } else if (parsed.status().code() != absl::StatusCode::kInvalidArgument) {
    std::abort();  // the contract: bad input is kInvalidArgument
  }

  std::optional<tq::Received> received = RoundTrip(frames);
  if (!received.has_value()) std::abort();
  if (parsed.ok() && !received->envelope.ok()) {
    // Rejected after parsing: only if the frames do not match the sizes
    // (each payload here fits one frame; an empty payload has none).
    std::vector<std::string> nonempty;
    for (uint64_t s : parsed->payload_sizes()) {
      if (s != 0) nonempty.push_back(std::to_string(s));
    }
    std::vector<std::string> carried;
    for (size_t i = 1; i < frames.size(); ++i) {
      carried.push_back(std::to_string(frames[i].size()));
    }
    if (nonempty == carried) std::abort();
  }
  if (!parsed.ok() && received->envelope.ok()) std::abort();
  if (received->envelope.ok()) {
    const tq::v1::Envelope& envelope = *received->envelope;
    if (received->payloads.size() !=
        static_cast<size_t>(envelope.payload_sizes_size())) {
      std::abort();
    }
    for (size_t i = 0; i < received->payloads.size(); ++i) {
      const tq::Payload& payload = received->payloads[i];
      if (payload.size() != envelope.payload_sizes(static_cast<int>(i)))
        std::abort();
      std::string scratch;
      absl::string_view bytes = payload.Contiguous(&scratch);
      if (bytes.size() != payload.size()) std::abort();
      if (payload.ToString() != bytes) std::abort();
    }
  } else if (!received->payloads.empty()) {
    std::abort();
  }

  // Parsed on an arena: the same verdict, the same payloads.
  google::protobuf::Arena arena;
  std::optional<tq::ReceivedOnArena> on_arena = RoundTripOnArena(frames, &arena);
  if (!on_arena.has_value()) std::abort();
  if (on_arena->status.ok() != received->envelope.ok()) std::abort();
  if ((on_arena->envelope != nullptr) != on_arena->status.ok()) std::abort();
  if (on_arena->bytes != received->bytes) std::abort();
  if (on_arena->payloads.size() != received->payloads.size()) std::abort();
  for (size_t i = 0; i < on_arena->payloads.size(); ++i) {
    if (on_arena->payloads[i].ToString() != received->payloads[i].ToString()) {
      std::abort();
    }
  }
  if (on_arena->status.ok() && Deterministic(*on_arena->envelope) !=
                                    Deterministic(*received->envelope)) {
    std::abort();
  }
  return 0;
}
