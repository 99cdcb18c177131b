#include "common/zmq_socket.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/protocol.h"

namespace tq {

void ConfigureSocket(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::linger, 500);
  socket.set(zmq::sockopt::maxmsgsize, kMaxMessageBytes);
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

absl::Status Send(zmq::socket_t& dealer, const v1::Envelope& envelope) {
  std::string bytes = SerializeEnvelope(envelope);
  try {
    if (!dealer.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) {
      return absl::UnavailableError("send would block");
    }
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(absl::StrCat("send failed: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status SendTo(zmq::socket_t& router, const std::string& routing_id,
                    const v1::Envelope& envelope) {
  std::string bytes = SerializeEnvelope(envelope);
  try {
    if (!router.send(zmq::buffer(routing_id),
                     zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return absl::UnavailableError("peer queue full");
    }
    if (!router.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) {
      return absl::UnavailableError("peer queue full");
    }
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH under ZMQ_ROUTER_MANDATORY: the peer has disconnected.
    return absl::UnavailableError(absl::StrCat("peer unreachable: ", e.what()));
  }
  return absl::OkStatus();
}

std::optional<Received> TryReceive(zmq::socket_t& socket, bool is_router) {
  zmq::message_t first;
  if (!socket.recv(first, zmq::recv_flags::dontwait)) return std::nullopt;
  Received received;
  zmq::message_t payload;
  bool have_payload = true;
  if (is_router) {
    received.routing_id = first.to_string();
    if (!first.more() || !socket.recv(payload, zmq::recv_flags::none)) {
      have_payload = false;
    }
  } else {
    payload = std::move(first);
  }
  bool extra_frames = false;
  while (socket.get(zmq::sockopt::rcvmore)) {
    zmq::message_t discard;
    (void)socket.recv(discard, zmq::recv_flags::none);
    extra_frames = true;
  }
  received.bytes = payload.size();
  if (have_payload) {
    // Metadata, not payload: a peer cannot forge it.
    if (const char* user_id = zmq_msg_gets(payload.handle(), "User-Id")) {
      received.user_id = user_id;
    }
  }
  if (!have_payload) {
    received.envelope = absl::InvalidArgumentError("message has no payload frame");
  } else if (extra_frames) {
    received.envelope = absl::InvalidArgumentError(
        "message has more than one frame; tq sends exactly one");
  } else {
    received.envelope = ParseEnvelope(payload.data(), payload.size());
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
