// HandshakeMonitor: watches a connecting socket's ZMTP handshakes (through
// zmq_socket_monitor over inproc) so a refused or mismatched security set-up
// is reported precisely ("handshake failed: ...") instead of looking like a
// broker that never answers.
//
// Thread safety: not thread-safe; the thread that owns the watched socket
// uses and destroys it. Destroy it before the watched socket: destruction
// stops the socket's monitoring, without which libzmq's I/O thread would
// block for good on the socket's next event, with nobody left to read it
// (libzmq issue 3575: a client then never connects again).
#ifndef TQ_COMMON_HANDSHAKE_MONITOR_H_
#define TQ_COMMON_HANDSHAKE_MONITOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "zmq.hpp"

namespace tq {

// One event read off a ZeroMQ socket monitor's PAIR socket.
struct MonitorEvent {
  uint16_t id = 0;     // ZMQ_EVENT_*
  uint32_t value = 0;  // the event's value (a file descriptor, an errno...)
};

// Reads the next well-formed event from `pair` without waiting (malformed
// ones are skipped); false when none is pending.
bool ReceiveMonitorEvent(zmq::socket_t& pair, MonitorEvent* event);

class HandshakeMonitor {
 public:
  // Starts watching `socket` (call before connect). `endpoint` and
  // `we_use_curve` only shape the messages.
  static absl::StatusOr<std::unique_ptr<HandshakeMonitor>> Attach(
      zmq::context_t& context, zmq::socket_t& socket, std::string endpoint,
      bool we_use_curve);
  ~HandshakeMonitor();
  HandshakeMonitor(const HandshakeMonitor&) = delete;
  HandshakeMonitor& operator=(const HandshakeMonitor&) = delete;

  // Reads every event waiting (non-blocking). Returns true if a handshake
  // failed definitively since the last call (see failure()).
  bool Poll();

  // The latest definitive failure, e.g. "handshake with broker at X failed:
  // it refused our CURVE key (...)"; empty if none.
  const std::string& failure() const { return failure_; }
  // Connections that closed before their handshake finished, with no
  // reason given (what a wrong server key looks like from our side).
  int closed_during_handshake() const { return closed_during_handshake_; }
  bool handshake_succeeded() const { return succeeded_; }
  // A sentence for a timeout message: what the handshakes told us, or "".
  std::string Diagnosis() const;

 private:
  HandshakeMonitor(void* watched, zmq::socket_t pair, std::string endpoint,
                   bool we_use_curve);
  void OnEvent(uint16_t event, uint32_t value);

  void* const watched_;  // the watched socket's handle
  zmq::socket_t pair_;
  const std::string endpoint_;
  const bool we_use_curve_;
  bool connected_ = false;  // a connection is up, its handshake unfinished
  bool succeeded_ = false;
  int closed_during_handshake_ = 0;
  std::string failure_;
};

}  // namespace tq

#endif  // TQ_COMMON_HANDSHAKE_MONITOR_H_
