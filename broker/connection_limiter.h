// ConnectionLimiter: counts the broker's open TCP connections, in total and
// per peer IP address, and decides whether a new one may finish its
// handshake. libzmq gives no hook at accept time, so the count is kept from
// the ROUTER's monitor events (accepted / disconnected, keyed by the
// connection's file descriptor: connection_events.h) and the decision is
// taken by the ZAP handler, which libzmq asks about every TCP peer during
// its handshake, with or without CURVE (zap_handler.h). A refused peer is
// disconnected before it can send a single message.
//
// Counts include the connection being decided (its accept event comes
// first), so a connection is admitted while its address holds at most
// max_per_address connections and the broker at most max_total.
//
// Thread safety: not thread-safe; the broker loop thread owns it.
#ifndef TQ_BROKER_CONNECTION_LIMITER_H_
#define TQ_BROKER_CONNECTION_LIMITER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace tq {

class ConnectionLimiter {
 public:
  ConnectionLimiter(uint32_t max_total, uint32_t max_per_address);

  // A TCP connection was accepted on `fd` from `address` (numeric IP, as
  // ZAP names it; empty if unknown: counted in the total only).
  void OnAccepted(int fd, std::string address);
  // The connection on `fd` is gone. Unknown fds are ignored.
  void OnClosed(int fd);
  // nullopt if a connection from `address` may proceed; else why not.
  std::optional<std::string> Admit(const std::string& address) const;

  size_t total() const { return by_fd_.size(); }
  uint32_t from(const std::string& address) const;
  uint64_t refused() const { return refused_; }
  // Counts one refusal (for stats and logs).
  void CountRefusal() { ++refused_; }

 private:
  const uint32_t max_total_;
  const uint32_t max_per_address_;
  absl::flat_hash_map<int, std::string> by_fd_;
  absl::flat_hash_map<std::string, uint32_t> per_address_;
  uint64_t refused_ = 0;
};

}  // namespace tq

#endif  // TQ_BROKER_CONNECTION_LIMITER_H_
