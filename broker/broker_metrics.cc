// See broker_metrics.h. Every family is built once here and every labelled
// child cached, so the loop's per-iteration Update only adds and sets.
#include "broker/broker_metrics.h"

#include <string>

#include "broker/pair_state.h"
#include "common/metric_builders.h"
#include "prometheus/family.h"

namespace tq {
namespace {

using prometheus::BuildCounter;
using prometheus::Registry;

// Jobs run from milliseconds (a small map) to hours (2^64 range slices).
const prometheus::Histogram::BucketBoundaries kJobDurationBuckets = {
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5,  1,     5,
    10,    30,    60,   300,  900, 3600, 14400, 86400};

// A counter advanced from `last` to `now` (never backwards).
void Advance(prometheus::Counter &counter, uint64_t now, uint64_t &last) {
  if (now > last) counter.Increment(static_cast<double>(now - last));
  last = now;
}

} // namespace

BrokerMetrics::BrokerMetrics()
    : registry_(std::make_shared<Registry>()),
      received_bytes_(AddCounter(*registry_, "tq_broker_received_bytes_total",
                                 "Bytes of messages the broker received")),
      sent_bytes_(AddCounter(*registry_, "tq_broker_sent_bytes_total",
                             "Bytes of messages the broker sent")),
      jobs_active_(AddGauge(*registry_, "tq_broker_jobs_active",
                            "Jobs accepted and not yet ended")),
      chunks_queued_(AddGauge(*registry_, "tq_broker_chunks_queued",
                              "Chunks of active jobs not yet handed out")),
      chunks_in_flight_(AddGauge(*registry_, "tq_broker_chunks_in_flight",
                                 "Chunks handed to workers, not yet reported")),
      workers_(AddGauge(*registry_, "tq_broker_workers", "Connected workers")),
      worker_threads_(AddGauge(*registry_, "tq_broker_worker_threads",
                               "Threads of all connected workers")),
      clients_(AddGauge(*registry_, "tq_broker_clients", "Connected clients")),
      chunk_run_seconds_(
          AddHistogram(*registry_, "tq_broker_chunk_run_seconds",
                       "Time a worker's task spent on a chunk, as reported",
                       ChunkRunSecondsBuckets())),
      job_duration_seconds_(AddHistogram(
          *registry_, "tq_broker_job_duration_seconds",
          "Time from a job's submission to its end, whatever the outcome",
          kJobDurationBuckets)) {
  Registry &r = *registry_;
  auto add = [this](prometheus::Counter &c,
                    uint64_t (*read)(const SchedulerStats &)) {
    counters_.push_back({&c, read});
  };
  add(AddCounter(r, "tq_broker_jobs_submitted_total", "Jobs accepted"),
      [](const SchedulerStats &s) { return s.jobs_submitted; });

  auto &finished = BuildCounter()
                       .Name("tq_broker_jobs_finished_total")
                       .Help("Jobs ended, by outcome")
                       .Register(r);
  add(finished.Add({{"outcome", "completed"}}),
      [](const SchedulerStats &s) { return s.jobs_completed; });
  add(finished.Add({{"outcome", "failed"}}),
      [](const SchedulerStats &s) { return s.jobs_failed; });
  add(finished.Add({{"outcome", "cancelled"}}),
      [](const SchedulerStats &s) { return s.jobs_cancelled; });

  add(AddCounter(r, "tq_broker_chunks_dispatched_total",
                 "Chunk hand-outs to workers, retries included"),
      [](const SchedulerStats &s) { return s.chunks_dispatched; });
  add(AddCounter(r, "tq_broker_items_completed_total",
                 "Items of chunks whose result was accepted"),
      [](const SchedulerStats &s) { return s.items_completed; });

  auto &requeued = BuildCounter()
                       .Name("tq_broker_chunks_requeued_total")
                       .Help("Chunks taken back from a worker, by reason")
                       .Register(r);
  add(requeued.Add({{"reason", "lease_expired"}}),
      [](const SchedulerStats &s) { return s.requeued_lease_expired; });
  add(requeued.Add({{"reason", "worker_lost"}}),
      [](const SchedulerStats &s) { return s.requeued_worker_lost; });
  add(requeued.Add({{"reason", "task_failed"}}),
      [](const SchedulerStats &s) { return s.requeued_task_failed; });
  add(requeued.Add({{"reason", "drained"}}),
      [](const SchedulerStats &s) { return s.requeued_drained; });
  add(requeued.Add({{"reason", "returned"}}),
      [](const SchedulerStats &s) { return s.requeued_returned; });
  add(requeued.Add({{"reason", "code_missing"}}),
      [](const SchedulerStats &s) { return s.requeued_code_missing; });
  add(requeued.Add({{"reason", "worker_lost_unstarted"}}),
      [](const SchedulerStats &s) { return s.requeued_unstarted; });
  add(requeued.Add({{"reason", "run_limit"}}),
      [](const SchedulerStats &s) { return s.requeued_run_limit; });

  add(AddCounter(r, "tq_broker_chunks_split_total",
                 "Chunks out of attempts split in two to isolate a failing item"),
      [](const SchedulerStats &s) { return s.chunks_split; });
  add(AddCounter(r, "tq_broker_items_failed_total",
                 "Items that failed on every attempt and were skipped "
                 "(skip_failed jobs)"),
      [](const SchedulerStats &s) { return s.items_failed; });
  add(AddCounter(r, "tq_broker_chunks_speculated_total",
                 "Speculative copies of straggling chunks handed out"),
      [](const SchedulerStats &s) { return s.chunks_speculated; });

  auto &dropped = BuildCounter()
                      .Name("tq_broker_chunk_reports_dropped_total")
                      .Help("Chunk reports ignored: chunk already done "
                            "(duplicate), not held by the sender "
                            "(not_leased), from an ended worker session "
                            "(stale_session) or job gone (stale)")
                      .Register(r);
  add(dropped.Add({{"reason", "duplicate"}}),
      [](const SchedulerStats &s) { return s.duplicates_dropped; });
  add(dropped.Add({{"reason", "not_leased"}}),
      [](const SchedulerStats &s) { return s.reports_not_leased; });
  add(dropped.Add({{"reason", "stale_session"}}),
      [](const SchedulerStats &s) { return s.reports_stale_session; });
  add(dropped.Add({{"reason", "stale"}}),
      [](const SchedulerStats &s) { return s.reports_stale; });

  auto &rejected = BuildCounter()
                       .Name("tq_broker_messages_rejected_total")
                       .Help("Messages refused, by reason")
                       .Register(r);
  // A Hello without a role or a second Hello is a malformed conversation.
  add(rejected.Add({{"reason", "malformed"}}), [](const SchedulerStats &s) {
    return s.rejected_malformed + s.rejected_bad_hello;
  });
  add(rejected.Add({{"reason", "no_hello"}}),
      [](const SchedulerStats &s) { return s.rejected_no_hello; });
  add(rejected.Add({{"reason", "wrong_role"}}),
      [](const SchedulerStats &s) { return s.rejected_wrong_role; });
  add(rejected.Add({{"reason", "protocol_version"}}),
      [](const SchedulerStats &s) { return s.rejected_bad_version; });
  // A key sending what it may not (CURVE on), or a client touching a job
  // it does not own.
  add(rejected.Add({{"reason", "unauthorized"}}), [](const SchedulerStats &s) {
    return s.rejected_unauthorized + s.rejected_not_owner;
  });

  // Refused at the handshake by the connection caps (ConnectionLimiter).
  auto &refused = BuildCounter()
                      .Name("tq_broker_connections_refused_total")
                      .Help("TCP connections refused at the handshake, by the "
                            "cap they hit: --max-connections (total_cap) or "
                            "--max-connections-per-address (per_address_cap)")
                      .Register(r);
  refused_total_cap_ = &refused.Add({{"reason", "total_cap"}});
  refused_per_address_cap_ = &refused.Add({{"reason", "per_address_cap"}});
}

void BrokerMetrics::UpdateConnections(const ConnectionRefusals &refusals) {
  Advance(*refused_total_cap_, refusals.total_cap,
          refusals_seen_.total_cap);
  Advance(*refused_per_address_cap_, refusals.per_address_cap,
          refusals_seen_.per_address_cap);
}

void BrokerMetrics::Update(const SchedulerStats &stats) {
  for (CounterSource &source : counters_) {
    const uint64_t now = source.read(stats);
    if (now > source.last) {
      source.counter->Increment(static_cast<double>(now - source.last));
    }
    source.last = now;
  }
  jobs_active_.Set(static_cast<double>(stats.jobs_active));
  chunks_queued_.Set(static_cast<double>(stats.chunks_queued));
  chunks_in_flight_.Set(static_cast<double>(stats.chunks_in_flight));
  workers_.Set(static_cast<double>(stats.connected_workers));
  worker_threads_.Set(static_cast<double>(stats.worker_threads));
  clients_.Set(static_cast<double>(stats.connected_clients));
}

void BrokerMetrics::SetPairState(v1::PairStateName state, uint64_t epoch,
                                 bool followed) {
  if (pair_epoch_ == nullptr) {
    auto& states = prometheus::BuildGauge()
                       .Name("tq_broker_pair_state")
                       .Help("A standby pair's broker: 1 for its Binary Star "
                             "state (primary, backup, active, passive)")
                       .Register(*registry_);
    for (v1::PairStateName s :
         {v1::PAIR_STATE_PRIMARY, v1::PAIR_STATE_BACKUP, v1::PAIR_STATE_ACTIVE,
          v1::PAIR_STATE_PASSIVE}) {
      pair_states_.push_back({s, &states.Add({{"state", PairStateText(s)}})});
    }
    pair_epoch_ = &AddGauge(*registry_, "tq_broker_pair_epoch",
                            "The highest epoch this broker knows; its own "
                            "while active (a takeover raises it)");
    pair_followed_ = &AddGauge(*registry_, "tq_broker_pair_followed",
                               "1 if a passive broker follows this active "
                               "one's journal (jobs survive losing it)");
  }
  for (auto& [s, gauge] : pair_states_) gauge->Set(s == state ? 1 : 0);
  pair_epoch_->Set(static_cast<double>(epoch));
  pair_followed_->Set(followed ? 1 : 0);
}

void BrokerMetrics::OnJobSubmitted(uint64_t job_id, int64_t now_us) {
  job_started_us_[job_id] = now_us;
}

void BrokerMetrics::OnJobEnded(uint64_t job_id, int64_t now_us) {
  auto it = job_started_us_.find(job_id);
  if (it == job_started_us_.end())
    return; // submitted before we observed
  job_duration_seconds_.Observe(static_cast<double>(now_us - it->second) / 1e6);
  job_started_us_.erase(it);
}

void BrokerMetrics::OnChunkCompleted(uint64_t run_micros) {
  chunk_run_seconds_.Observe(static_cast<double>(run_micros) / 1e6);
}

} // namespace tq
