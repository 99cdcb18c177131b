// Thin helpers over cppzmq shared by the broker, worker and client loops:
// socket options every tq socket needs, sending and receiving one Envelope per
// message, and a poll that survives EINTR. Sockets are not thread-safe: each
// is used by the one thread that owns it.
#ifndef TQ_COMMON_ZMQ_SOCKET_H_
#define TQ_COMMON_ZMQ_SOCKET_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tq/v1/tq.pb.h"
#include "zmq.hpp"

namespace tq {

// Applies what every tq socket needs: finite linger, ZMQ_MAXMSGSIZE,
// ZMTP heartbeats; on a ROUTER also ZMQ_ROUTER_MANDATORY (so a send to a
// vanished peer fails loudly instead of vanishing).
void ConfigureSocket(zmq::socket_t& socket);

// The endpoint a socket actually bound (resolves "tcp://127.0.0.1:*").
std::string LastEndpoint(const zmq::socket_t& socket);

// DEALER side: sends one envelope without blocking. kUnavailable if the
// message cannot be queued now (no connection yet / high-water mark).
absl::Status Send(zmq::socket_t& dealer, const v1::Envelope& envelope);

// ROUTER side: sends one envelope to `routing_id` without blocking.
// kUnavailable if that peer is gone or its queue is full.
absl::Status SendTo(zmq::socket_t& router, const std::string& routing_id,
                    const v1::Envelope& envelope);

// One received message, parsed or not.
struct Received {
  std::string routing_id;  // ROUTER only
  absl::StatusOr<v1::Envelope> envelope;
  size_t bytes = 0;
  // The ZAP handler's User-Id for the sender's connection (message
  // metadata, set by libzmq); empty when no ZAP handler authenticated it.
  std::string user_id;
};

// Receives one message if one is waiting (non-blocking), else nullopt.
// Unexpected extra frames make the envelope an InvalidArgument error; they
// are consumed either way.
std::optional<Received> TryReceive(zmq::socket_t& socket, bool is_router);

// zmq::poll that returns 0 (nothing ready) when interrupted by a signal.
int PollIgnoringEintr(std::vector<zmq::pollitem_t>& items,
                      std::chrono::milliseconds timeout);

}  // namespace tq

#endif  // TQ_COMMON_ZMQ_SOCKET_H_
