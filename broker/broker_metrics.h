// The broker's Prometheus metrics (names in the issue 3 contract, listed in
// README "Metrics"). tq-broker's PrometheusBrokerMonitor owns one and passes
// on what the broker loop tells it: Update(scheduler.stats()) after loop
// iterations, the bytes it moved, and the Scheduler's observer events for
// the histograms. The Registry is what the HTTP server
// (common/metrics_server.h) serves.
#ifndef TQ_BROKER_BROKER_METRICS_H_
#define TQ_BROKER_BROKER_METRICS_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "broker/connection_limiter.h"
#include "broker/scheduler_observer.h"
#include "broker/scheduler_stats.h"
#include "tq/v1/pair.pb.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tq {

// Not thread-safe: one thread (the broker loop) calls every method. The
// registry may be collected from any thread (prometheus-cpp locks it).
class BrokerMetrics : public SchedulerObserver {
 public:
  BrokerMetrics();
  BrokerMetrics(const BrokerMetrics&) = delete;
  BrokerMetrics& operator=(const BrokerMetrics&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const {
    return registry_;
  }

  // Brings the metrics up to `stats`: each counter advances by how much its
  // statistic grew since the previous Update (a statistic that went down,
  // e.g. a new Scheduler, advances nothing: counters never go backwards);
  // gauges are set.
  void Update(const SchedulerStats& stats);
  // Brings tq_broker_connections_refused_total up to `refusals`, the same
  // way.
  void UpdateConnections(const ConnectionRefusals& refusals);
  // Sizes of the frames the loop received and sent.
  void AddReceivedBytes(uint64_t bytes) { received_bytes_.Increment(bytes); }
  void AddSentBytes(uint64_t bytes) { sent_bytes_.Increment(bytes); }

  // A standby pair's broker: tq_broker_pair_state{state} (1 for the
  // current state, 0 for the others), tq_broker_pair_epoch and
  // tq_broker_pair_followed; registered at the first call, so a broker
  // not in a pair has none of them.
  void SetPairState(v1::PairStateName state, uint64_t epoch, bool followed);

  // SchedulerObserver: job durations and chunk run times.
  void OnJobSubmitted(uint64_t job_id, int64_t now_us) override;
  void OnJobEnded(uint64_t job_id, int64_t now_us) override;
  void OnChunkCompleted(uint64_t run_micros) override;

 private:
  // One counter fed by the sum of some SchedulerStats fields.
  struct CounterSource {
    prometheus::Counter* counter;
    uint64_t (*read)(const SchedulerStats&);
    uint64_t last = 0;
  };

  const std::shared_ptr<prometheus::Registry> registry_;
  // Cached at construction: Family::Add locks and hashes labels.
  std::vector<CounterSource> counters_;
  // tq_broker_connections_refused_total{reason="total_cap"} and
  // {reason="per_address_cap"}, and the counts they last advanced to.
  prometheus::Counter* refused_total_cap_ = nullptr;
  prometheus::Counter* refused_per_address_cap_ = nullptr;
  ConnectionRefusals refusals_seen_;
  prometheus::Counter& received_bytes_;
  prometheus::Counter& sent_bytes_;
  prometheus::Gauge& jobs_active_;
  prometheus::Gauge& chunks_queued_;
  prometheus::Gauge& chunks_in_flight_;
  prometheus::Gauge& workers_;
  prometheus::Gauge& worker_threads_;
  prometheus::Gauge& clients_;
  prometheus::Histogram& chunk_run_seconds_;
  prometheus::Histogram& job_duration_seconds_;
  // The pair's gauges (null until SetPairState): by state, then epoch and
  // followed.
  std::vector<std::pair<v1::PairStateName, prometheus::Gauge*>> pair_states_;
  prometheus::Gauge* pair_epoch_ = nullptr;
  prometheus::Gauge* pair_followed_ = nullptr;
  // Submit time of each running job, for its duration.
  absl::flat_hash_map<uint64_t, int64_t> job_started_us_;
};

}  // namespace tq

#endif  // TQ_BROKER_BROKER_METRICS_H_
