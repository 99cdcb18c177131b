#include "broker/connection_events.h"

#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/handshake_monitor.h"

namespace tq {
namespace {

std::atomic<uint64_t> g_next_events_id{0};

// The peer's numeric IP address, formatted as libzmq formats it for ZAP
// (getnameinfo, NI_NUMERICHOST); empty if the fd is no longer connected.
std::string PeerAddress(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return "";
  }
  if (address.ss_family != AF_INET && address.ss_family != AF_INET6) return "";
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host,
                  sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) {
    return "";
  }
  return host;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConnectionEvents>> ConnectionEvents::Attach(
    zmq::context_t& context, zmq::socket_t& router) {
  const std::string address =
      absl::StrCat("inproc://tq-broker-connections-", g_next_events_id++);
  if (zmq_socket_monitor(router.handle(), address.c_str(),
                         ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
    return absl::InternalError(absl::StrCat(
        "cannot monitor the broker's connections: ", zmq_strerror(zmq_errno())));
  }
  zmq::socket_t pair(context, zmq::socket_type::pair);
  pair.set(zmq::sockopt::linger, 0);
  // No high-water mark: libzmq drops monitor events beyond it, and a lost
  // event would skew the counts. The loop drains them every wake.
  pair.set(zmq::sockopt::rcvhwm, 0);
  try {
    pair.connect(address);
  } catch (const zmq::error_t& e) {
    return absl::InternalError(
        absl::StrCat("cannot read the broker's connection events: ", e.what()));
  }
  return std::unique_ptr<ConnectionEvents>(new ConnectionEvents(std::move(pair)));
}

void ConnectionEvents::Drain(ConnectionLimiter& limiter) {
  // The value is the connection's fd; the endpoint (the listener's, not the
  // peer's) is not used.
  MonitorEvent event;
  while (ReceiveMonitorEvent(pair_, &event)) {
    const int fd = static_cast<int>(event.value);
    if (event.id == ZMQ_EVENT_ACCEPTED) {
      limiter.OnAccepted(fd, PeerAddress(fd));
    } else if (event.id == ZMQ_EVENT_DISCONNECTED) {
      limiter.OnClosed(fd);
    }
  }
}

}  // namespace tq
