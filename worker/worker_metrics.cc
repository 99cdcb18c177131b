// See worker_metrics.h. Every family is built once here and every labelled
// child cached, so the loop only adds, sets and observes.
#include "worker/worker_metrics.h"

#include <string>

#include "common/metric_builders.h"
#include "prometheus/family.h"

namespace tq {
namespace {

using prometheus::BuildCounter;
using prometheus::Registry;

prometheus::Family<prometheus::Counter> &ChunksFamily(Registry &r) {
  return BuildCounter()
      .Name("tq_worker_chunks_total")
      .Help("Chunks this worker ran, by outcome")
      .Register(r);
}

} // namespace

WorkerMetrics::WorkerMetrics(int threads)
    : registry_(std::make_shared<Registry>()),
      threads_(AddGauge(*registry_, "tq_worker_threads", "Pool threads")),
      busy_threads_(AddGauge(*registry_, "tq_worker_busy_threads",
                             "Pool threads running a chunk now")),
      capacity_(
          AddGauge(*registry_, "tq_worker_capacity",
                   "Chunks the worker holds at most: threads + prefetch")),
      connected_(AddGauge(*registry_, "tq_worker_connected",
                          "1 while a broker has welcomed this worker")),
      chunks_ok_(ChunksFamily(*registry_).Add({{"outcome", "ok"}})),
      chunks_error_(ChunksFamily(*registry_).Add({{"outcome", "error"}})),
      chunk_run_seconds_(AddHistogram(*registry_, "tq_worker_chunk_run_seconds",
                                      "Time the task spent on a chunk",
                                      ChunkRunSecondsBuckets())),
      sessions_(
          AddCounter(*registry_, "tq_worker_sessions_total",
                     "Sessions with a broker started, reconnects included")),
      received_bytes_(AddCounter(*registry_, "tq_worker_received_bytes_total",
                                 "Bytes of messages the worker received")),
      sent_bytes_(AddCounter(*registry_, "tq_worker_sent_bytes_total",
                             "Bytes of messages the worker sent")) {
  threads_.Set(threads);
}

void WorkerMetrics::SetState(int busy_threads, int capacity, bool connected) {
  busy_threads_.Set(busy_threads);
  capacity_.Set(capacity);
  connected_.Set(connected ? 1 : 0);
}

void WorkerMetrics::OnChunkFinished(const v1::ChunkReport &report) {
  if (!report.has_error()) {
    chunks_ok_.Increment();
  } else {
    chunks_error_.Increment();
  }
  chunk_run_seconds_.Observe(static_cast<double>(report.run_micros()) / 1e6);
}

} // namespace tq
