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
// max_per_address connections and the broker at most max_total. Refusals
// are counted by cap (tq_broker_connections_refused_total); libzmq retries
// a refused connection, so one persistent peer counts once per attempt.
//
// Thread safety: not thread-safe; the broker loop thread owns it.
#ifndef TQ_BROKER_CONNECTION_LIMITER_H_
#define TQ_BROKER_CONNECTION_LIMITER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace tq {

// Connections refused so far, by the cap they hit (counters: only grow).
struct ConnectionRefusals {
  uint64_t total_cap = 0;        // --max-connections
  uint64_t per_address_cap = 0;  // --max-connections-per-address
};

class ConnectionLimiter {
 public:
  ConnectionLimiter(uint32_t max_total, uint32_t max_per_address);

  // A TCP connection was accepted on `fd` from `address` (numeric IP, as
  // ZAP names it; empty if unknown: counted in the total only).
  void OnAccepted(int fd, std::string address);
  // The connection on `fd` is gone. Unknown fds are ignored.
  void OnClosed(int fd);
  // nullopt if a connection from `address` may proceed; else why not,
  // counted in refusals(). The total cap is checked first.
  std::optional<std::string> Admit(const std::string& address);

  size_t total() const { return by_fd_.size(); }
  uint32_t from(const std::string& address) const;
  const ConnectionRefusals& refusals() const { return refusals_; }

 private:
  const uint32_t max_total_;
  const uint32_t max_per_address_;
  absl::flat_hash_map<int, std::string> by_fd_;
  absl::flat_hash_map<std::string, uint32_t> per_address_;
  ConnectionRefusals refusals_;
};

}  // namespace tq

#endif  // TQ_BROKER_CONNECTION_LIMITER_H_
