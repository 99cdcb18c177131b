#include "common/handshake_monitor.h"

#include <atomic>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tq {
namespace {

std::atomic<uint64_t> g_next_monitor_id{0};

// The other reason a broker closes a connection during its handshake: its
// admission check refused us (ZAP status 300, which libzmq does not pass on).
constexpr char kAtConnectionLimit[] =
    "at its connection limit (--max-connections, "
    "--max-connections-per-address: retry later)";

constexpr int kWatchedEvents =
    ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
    ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

}  // namespace

absl::StatusOr<std::unique_ptr<HandshakeMonitor>> HandshakeMonitor::Attach(
    zmq::context_t& context, zmq::socket_t& socket, std::string endpoint,
    bool we_use_curve) {
  const std::string address =
      absl::StrCat("inproc://tq-handshake-monitor-", g_next_monitor_id++);
  if (zmq_socket_monitor(socket.handle(), address.c_str(), kWatchedEvents) != 0) {
    return absl::InternalError(absl::StrCat("cannot monitor socket: ",
                                            zmq_strerror(zmq_errno())));
  }
  zmq::socket_t pair(context, zmq::socket_type::pair);
  pair.set(zmq::sockopt::linger, 0);
  try {
    pair.connect(address);
  } catch (const zmq::error_t& e) {
    return absl::InternalError(
        absl::StrCat("cannot read socket events: ", e.what()));
  }
  return std::unique_ptr<HandshakeMonitor>(new HandshakeMonitor(
      socket.handle(), std::move(pair), std::move(endpoint), we_use_curve));
}

HandshakeMonitor::HandshakeMonitor(void* watched, zmq::socket_t pair,
                                   std::string endpoint, bool we_use_curve)
    : watched_(watched),
      pair_(std::move(pair)),
      endpoint_(std::move(endpoint)),
      we_use_curve_(we_use_curve) {}

HandshakeMonitor::~HandshakeMonitor() {
  // Stop the events first: the reader goes away with pair_.
  zmq_socket_monitor(watched_, nullptr, 0);
}

bool ReceiveMonitorEvent(zmq::socket_t& pair, MonitorEvent* event) {
  for (;;) {
    zmq::message_t frame;
    if (!pair.recv(frame, zmq::recv_flags::dontwait)) return false;
    // Event frame: uint16 event, uint32 value; then the endpoint frame.
    const bool valid = frame.size() == 6;
    if (valid) {
      memcpy(&event->id, frame.data(), sizeof event->id);
      memcpy(&event->value, static_cast<const char*>(frame.data()) + 2,
             sizeof event->value);
    }
    while (pair.get(zmq::sockopt::rcvmore)) {
      zmq::message_t rest;
      (void)pair.recv(rest, zmq::recv_flags::none);
    }
    if (valid) return true;
  }
}

bool HandshakeMonitor::Poll() {
  bool failed = false;
  MonitorEvent event;
  while (ReceiveMonitorEvent(pair_, &event)) {
    OnEvent(event.id, event.value);
    failed = failed || event.id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
             event.id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
             event.id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
  }
  return failed;
}

void HandshakeMonitor::OnEvent(uint16_t event, uint32_t value) {
  const std::string prefix =
      absl::StrCat("handshake with broker at ", endpoint_, " failed: ");
  switch (event) {
    case ZMQ_EVENT_CONNECTED:
      connected_ = true;
      break;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
      connected_ = false;
      succeeded_ = true;
      break;
    case ZMQ_EVENT_DISCONNECTED:
      if (connected_) ++closed_during_handshake_;
      connected_ = false;
      break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      connected_ = false;
      failure_ = absl::StrCat(
          prefix, "the broker refused our CURVE key (ZAP status ", value,
          "): is our public key in the broker's allowlist for this role?");
      break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      connected_ = false;
      if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        failure_ = absl::StrCat(
            prefix, "security mechanism mismatch: ",
            we_use_curve_
                ? "we use CURVE and the broker does not (drop --curve-key / "
                  "--curve-server-key, or start tq-broker with --curve-key)"
                : "the broker requires CURVE keys (give --curve-key and "
                  "--curve-server-key, or set TQ_CURVE_KEY and "
                  "TQ_CURVE_SERVER_KEY)");
      } else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        failure_ = absl::StrCat(
            prefix,
            "CURVE cryptographic error (is --curve-server-key the broker's "
            "public key?)");
      } else {
        failure_ = absl::StrFormat("%sZMTP protocol error 0x%08x", prefix, value);
      }
      break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      connected_ = false;
      // A wrong server key and a plaintext broker look alike from here:
      // the broker just closes the connection.
      failure_ = absl::StrCat(
          prefix, "the broker closed the connection during the handshake (",
          zmq_strerror(static_cast<int>(value)), "): ",
          we_use_curve_ ? "is --curve-server-key the broker's public key, and "
                          "does the broker use CURVE? Or it is "
                        : "the broker may require CURVE keys (give "
                          "--curve-key and --curve-server-key) or be ",
          kAtConnectionLimit);
      break;
    default:
      break;
  }
}

std::string HandshakeMonitor::Diagnosis() const {
  if (!failure_.empty()) return failure_;
  if (succeeded_) return "";
  if (closed_during_handshake_ > 0) {
    return absl::StrCat(
        "the broker at ", endpoint_, " closed the connection during the ",
        we_use_curve_ ? "CURVE " : "", "handshake ", closed_during_handshake_,
        " time(s): ",
        we_use_curve_
            ? "is --curve-server-key the broker's public key, and does the "
              "broker use CURVE? Or it is "
            : "the broker may require CURVE keys (--curve-key and "
              "--curve-server-key) or be ",
        kAtConnectionLimit);
  }
  return "";
}

}  // namespace tq
