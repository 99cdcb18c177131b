// The HTTP side of operations for tq-broker and tq-worker: one small server
// (civetweb, as prometheus-cpp's own Exposer uses) serving
//   /metrics  the Prometheus text format of a prometheus::Registry,
//   /healthz  200 while the socket loop has completed an iteration within
//             the last kAliveWindowUs, else 503,
//   /readyz   200 while the loop says it is ready, else 503.
// prometheus::Exposer cannot answer 503, hence our own handlers. The server's
// threads read only the Registry (thread-safe) and a LoopHealth (atomics):
// never a socket, never the scheduler or session.
#ifndef TQ_COMMON_METRICS_SERVER_H_
#define TQ_COMMON_METRICS_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

class CivetServer;

namespace tq {

// A loop older than this since its last iteration is reported dead. Both
// loops poll for at most about a second, so an idle loop still iterates.
inline constexpr int64_t kAliveWindowUs = 10'000'000;

// Written by the one loop thread, read by the HTTP threads. Thread-safe.
class LoopHealth {
 public:
  // `now_us` from MonotonicNowUs() (common/clock.h), as /healthz compares.
  void MarkIteration(int64_t now_us) {
    last_iteration_us_.store(now_us, std::memory_order_relaxed);
  }
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_relaxed); }

  bool AliveAt(int64_t now_us) const {
    const int64_t last = last_iteration_us_.load(std::memory_order_relaxed);
    return last != 0 && now_us - last <= kAliveWindowUs;
  }
  bool ready() const { return ready_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> last_iteration_us_{0};
  std::atomic<bool> ready_{false};
};

// Thread-safe; stops serving (joining its threads) when destroyed.
class MetricsServer {
 public:
  // Serves on `listen` = "HOST:PORT" (e.g. "0.0.0.0:9464", "127.0.0.1:0" for
  // an ephemeral port, "[::]:9464"). kInvalidArgument for a malformed
  // address, kUnavailable if it cannot be bound. `health` must outlive the
  // server.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
      const LoopHealth* health);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port actually bound (resolves port 0).
  int port() const { return port_; }

 private:
  class Handler;
  MetricsServer() = default;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Handler> metrics_, healthz_, readyz_;
  std::unique_ptr<CivetServer> server_;  // last: stops before the handlers go
  int port_ = 0;
  std::string wake_host_;  // see ~MetricsServer
};

}  // namespace tq

#endif  // TQ_COMMON_METRICS_SERVER_H_
