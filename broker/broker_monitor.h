// What the broker loop reports about itself, for whoever watches it: bytes
// moved, the Scheduler's statistics, loop liveness and readiness, and (as a
// SchedulerObserver) the histogram events. An interface with no metrics
// library behind it, so tq_broker (and the client's embedded cluster, which
// links it) carries neither prometheus-cpp nor an HTTP server; tq-broker
// plugs in the Prometheus one (broker/prometheus_broker_monitor.h).
#ifndef TQ_BROKER_BROKER_MONITOR_H_
#define TQ_BROKER_BROKER_MONITOR_H_

#include <cstdint>

#include "broker/connection_limiter.h"
#include "broker/scheduler_observer.h"
#include "broker/scheduler_stats.h"
#include "tq/v1/pair.pb.h"

namespace tq {

// Called only from the broker loop's thread (the one in Broker::Bind and
// Broker::Run), synchronously: keep every method cheap.
class BrokerMonitor : public SchedulerObserver {
 public:
  // Sizes of the frames the loop received and sent.
  virtual void AddReceivedBytes(uint64_t bytes) {}
  virtual void AddSentBytes(uint64_t bytes) {}
  // The Scheduler's statistics now; the loop calls this at most every
  // 10 ms (stats() walks every peer and job), and within a second of any
  // change since the poll timeout is at most one second.
  virtual void Update(const SchedulerStats& stats) {}
  // TCP connections refused so far by the connection caps; called with
  // Update.
  virtual void UpdateConnections(const ConnectionRefusals& refusals) {}
  // The loop completed an iteration at `now_us` (MonotonicNowUs(),
  // common/clock.h).
  virtual void OnLoopIteration(int64_t now_us) {}
  // Every listen endpoint is bound: the broker can take peers.
  virtual void OnReady() {}
  // A standby pair's broker (--pair): its state and epoch, and whether a
  // passive peer follows it (acknowledged its journal stream); told when
  // one of them changes.
  virtual void OnPairState(v1::PairStateName state, uint64_t epoch,
                           bool followed) {}
};

}  // namespace tq

#endif  // TQ_BROKER_BROKER_MONITOR_H_
