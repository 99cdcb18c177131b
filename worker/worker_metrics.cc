// See worker_metrics.h. Every family is built once here and every labelled
// child cached, so the loop only adds, sets and observes.
#include "worker/worker_metrics.h"

#include <string>

#include "prometheus/family.h"

namespace tq {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Registry;

// The broker's tq_broker_chunk_run_seconds buckets, so the two compare.
const prometheus::Histogram::BucketBoundaries kChunkRunBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};

prometheus::Counter& Counter(Registry& r, const std::string& name,
                             const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(r).Add({});
}

prometheus::Gauge& Gauge(Registry& r, const std::string& name,
                         const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(r).Add({});
}

prometheus::Family<prometheus::Counter>& ChunksFamily(Registry& r) {
  return BuildCounter()
      .Name("tq_worker_chunks_total")
      .Help("Chunks this worker ran, by outcome")
      .Register(r);
}

}  // namespace

WorkerMetrics::WorkerMetrics(int threads)
    : registry_(std::make_shared<Registry>()),
      threads_(Gauge(*registry_, "tq_worker_threads", "Pool threads")),
      busy_threads_(Gauge(*registry_, "tq_worker_busy_threads",
                          "Pool threads running a chunk now")),
      capacity_(Gauge(*registry_, "tq_worker_capacity",
                      "Chunks the worker holds at most: threads + prefetch")),
      connected_(Gauge(*registry_, "tq_worker_connected",
                       "1 while a broker has welcomed this worker")),
      chunks_ok_(ChunksFamily(*registry_).Add({{"outcome", "ok"}})),
      chunks_error_(ChunksFamily(*registry_).Add({{"outcome", "error"}})),
      chunk_run_seconds_(
          BuildHistogram()
              .Name("tq_worker_chunk_run_seconds")
              .Help("Time the task spent on a chunk")
              .Register(*registry_)
              .Add({}, kChunkRunBuckets)),
      sessions_(Counter(*registry_, "tq_worker_sessions_total",
                        "Sessions with a broker started, reconnects included")),
      received_bytes_(Counter(*registry_, "tq_worker_received_bytes_total",
                              "Bytes of messages the worker received")),
      sent_bytes_(Counter(*registry_, "tq_worker_sent_bytes_total",
                          "Bytes of messages the worker sent")) {
  threads_.Set(threads);
}

void WorkerMetrics::SetState(int busy_threads, int capacity, bool connected) {
  busy_threads_.Set(busy_threads);
  capacity_.Set(capacity);
  connected_.Set(connected ? 1 : 0);
}

void WorkerMetrics::OnChunkFinished(const v1::ChunkReport& report) {
  if (report.outcome_case() == v1::ChunkReport::kOutput) {
    chunks_ok_.Increment();
  } else {
    chunks_error_.Increment();
  }
  chunk_run_seconds_.Observe(static_cast<double>(report.run_micros()) / 1e6);
}

}  // namespace tq
