// An optional listener for the Scheduler events that a counter cannot carry:
// single observations for histograms (a chunk's run time, a job's duration).
// Counters and gauges come from Scheduler::stats() instead. Keeps the
// Scheduler free of any metrics library: the broker loop passes on its
// BrokerMonitor (broker/broker_monitor.h), which tq-broker implements with
// prometheus-cpp (broker/broker_metrics.h); tests use plain vectors.
#ifndef TQ_BROKER_SCHEDULER_OBSERVER_H_
#define TQ_BROKER_SCHEDULER_OBSERVER_H_

#include <cstdint>

namespace tq {

// Called on the Scheduler's thread, synchronously: keep it cheap.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  // A job was accepted at `now_us`.
  virtual void OnJobSubmitted(uint64_t job_id, int64_t now_us) {}
  // A job ended (completed, failed or cancelled) at `now_us`.
  virtual void OnJobEnded(uint64_t job_id, int64_t now_us) {}
  // A chunk's first successful report was accepted; `run_micros` is the
  // wall time the worker says the task spent on it.
  virtual void OnChunkCompleted(uint64_t run_micros) {}
};

}  // namespace tq

#endif  // TQ_BROKER_SCHEDULER_OBSERVER_H_
