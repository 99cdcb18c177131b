// ConnectionEvents: reads the broker ROUTER's monitor events (through
// zmq_socket_monitor over inproc) and tells a ConnectionLimiter which TCP
// connections opened (with the peer's IP address) and closed, so the ZAP
// handler can cap connections in total and per address.
//
// libzmq emits "accepted" for every TCP connection a listener takes and
// "disconnected" whenever its engine ends (peer gone, handshake failed or
// refused, heartbeat timeout), both with the connection's fd; the loop reads
// them before it answers ZAP requests, so a connection is counted before it
// is decided on.
//
// Thread safety: not thread-safe; the broker loop thread owns it. Destroy it
// before the context is closed.
#ifndef TQ_BROKER_CONNECTION_EVENTS_H_
#define TQ_BROKER_CONNECTION_EVENTS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "broker/connection_limiter.h"
#include "zmq.hpp"

namespace tq {

class ConnectionEvents {
 public:
  // Starts monitoring `router` (call before it binds).
  static absl::StatusOr<std::unique_ptr<ConnectionEvents>> Attach(
      zmq::context_t& context, zmq::socket_t& router);

  // For the loop's poll set.
  zmq::socket_t& socket() { return pair_; }
  // Reads every waiting event (non-blocking) into `limiter`.
  void Drain(ConnectionLimiter& limiter);

 private:
  explicit ConnectionEvents(zmq::socket_t pair) : pair_(std::move(pair)) {}

  zmq::socket_t pair_;
};

}  // namespace tq

#endif  // TQ_BROKER_CONNECTION_EVENTS_H_
