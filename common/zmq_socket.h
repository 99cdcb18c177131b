// Thin helpers over cppzmq shared by the broker, worker and client loops:
// socket options every tq socket needs, sending and receiving messages (an
// Envelope frame, then its payloads' frames: proto/tq/v1/tq.proto), and a
// poll that survives EINTR. Payload frames are sent and received without
// copying their bytes. Sockets are not thread-safe: each is used by the one
// thread that owns it.
#ifndef TQ_COMMON_ZMQ_SOCKET_H_
#define TQ_COMMON_ZMQ_SOCKET_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/payload.h"
#include "tq/v1/tq.pb.h"
#include "zmq.hpp"

namespace tq {

// For tq's executables, before their first ZeroMQ context: points the
// process's "protocols" name lookups at /etc/protocols alone. libzmq.so's
// OpenPGM support calls getprotobyname() as a context starts, and Debian's
// default nsswitch.conf ("protocols: db files") has it try ~45 paths for
// the absent libnss_db first: ~0.5 ms of every start-up. Executables that
// link libzmq.a (the default, cmake/StaticDeps.cmake) have no OpenPGM and
// make no such lookup; this is for the others (TQ_STATIC_DEPS=OFF, the
// sanitizer trees). tq opens no PGM sockets and looks no protocol up
// itself. Not for the client library, whose host process's lookups are not
// ours to change.
void LookUpProtocolsInFilesOnly();

// Applies what every tq socket needs: finite linger, ZMQ_MAXMSGSIZE (per
// frame: kMaxFrameBytes), ZMTP heartbeats; on a ROUTER also
// ZMQ_ROUTER_MANDATORY (so a send to a vanished peer fails loudly instead of
// vanishing).
void ConfigureSocket(zmq::socket_t& socket);

// The endpoint a socket actually bound (resolves "tcp://127.0.0.1:*").
std::string LastEndpoint(const zmq::socket_t& socket);

// DEALER side: sends one message without blocking: `envelope` (its
// payload_sizes are set here from `payloads`), then the payloads' frames.
// kUnavailable if it cannot be queued now (no connection yet / high-water
// mark). Returns the bytes sent.
absl::StatusOr<size_t> Send(zmq::socket_t& dealer, v1::Envelope& envelope,
                            const std::vector<Payload>& payloads = {});

// ROUTER side: the same, to `routing_id`. kUnavailable if that peer is gone
// or its queue is full.
absl::StatusOr<size_t> SendTo(zmq::socket_t& router,
                              const std::string& routing_id,
                              v1::Envelope& envelope,
                              const std::vector<Payload>& payloads = {});

// For envelopes the caller keeps unchanged (small ones, tests): sends a copy.
inline absl::StatusOr<size_t> Send(zmq::socket_t& dealer,
                                   const v1::Envelope& envelope,
                                   const std::vector<Payload>& payloads = {}) {
  v1::Envelope copy = envelope;
  return Send(dealer, copy, payloads);
}
inline absl::StatusOr<size_t> SendTo(zmq::socket_t& router,
                                     const std::string& routing_id,
                                     const v1::Envelope& envelope,
                                     const std::vector<Payload>& payloads = {}) {
  v1::Envelope copy = envelope;
  return SendTo(router, routing_id, copy, payloads);
}

// One received message, parsed or not.
struct Received {
  std::string routing_id;  // ROUTER only
  // Not OK if the envelope is malformed or the frames after it do not match
  // its payload_sizes; then `payloads` is empty.
  absl::StatusOr<v1::Envelope> envelope;
  // The payloads the envelope announced, in order.
  std::vector<Payload> payloads;
  size_t bytes = 0;
  // The ZAP handler's User-Id for the sender's connection (message
  // metadata, set by libzmq); empty when no ZAP handler authenticated it.
  std::string user_id;
};

// Receives one message if one is waiting (non-blocking), else nullopt.
// Frames that do not match the envelope's payload_sizes make the envelope an
// InvalidArgument error; they are consumed either way.
std::optional<Received> TryReceive(zmq::socket_t& socket, bool is_router);

// As Received, with the envelope on an arena (TryReceiveOnArena).
struct ReceivedOnArena {
  std::string routing_id;  // ROUTER only
  // Not OK if the envelope is malformed or the frames after it do not match
  // its payload_sizes; then `envelope` is null and `payloads` empty.
  absl::Status status;
  // On the arena given: valid until the arena is reset.
  const v1::Envelope* envelope = nullptr;
  std::vector<Payload> payloads;
  size_t bytes = 0;
  std::string user_id;
};

// TryReceive, parsing the envelope on `arena`: for a receiver that only
// reads what arrives (the client), a body with many items (JobResults)
// then costs no allocation per item. Reset the arena once done with the
// envelope (payloads do not live on it).
std::optional<ReceivedOnArena> TryReceiveOnArena(zmq::socket_t& socket,
                                                 bool is_router,
                                                 google::protobuf::Arena* arena);

// zmq::poll that returns 0 (nothing ready) when interrupted by a signal.
int PollIgnoringEintr(std::vector<zmq::pollitem_t>& items,
                      std::chrono::milliseconds timeout);

}  // namespace tq

#endif  // TQ_COMMON_ZMQ_SOCKET_H_
