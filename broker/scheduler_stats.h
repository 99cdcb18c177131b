// Counters and gauges describing what the Scheduler has done and holds now.
// A plain struct: the metrics exporter (a later issue) copies it out; the
// gauges are computed on demand by Scheduler::stats().
#ifndef TQ_BROKER_SCHEDULER_STATS_H_
#define TQ_BROKER_SCHEDULER_STATS_H_

#include <cstdint>

namespace tq {

struct SchedulerStats {
  // Jobs, by how they ended.
  uint64_t jobs_submitted = 0;
  uint64_t jobs_completed = 0;
  uint64_t jobs_failed = 0;
  uint64_t jobs_cancelled = 0;
  // Submits refused (bad task, params, range, chunk size, ...).
  uint64_t jobs_rejected = 0;

  // Chunks.
  uint64_t chunks_dispatched = 0;  // every hand-out, retries included
  uint64_t chunks_completed = 0;   // first report accepted
  uint64_t items_completed = 0;
  uint64_t requeued_lease_expired = 0;
  uint64_t requeued_worker_lost = 0;
  uint64_t requeued_task_failed = 0;
  uint64_t requeued_drained = 0;
  // A worker no longer held a code blob the chunk needed (sent again).
  uint64_t requeued_code_missing = 0;
  // Reports for a chunk already finished (or a superseded attempt's error).
  uint64_t duplicates_dropped = 0;
  // Reports for a job that is gone (finished, failed or cancelled).
  uint64_t reports_stale = 0;
  // Credit / cancel messages about jobs that no longer exist.
  uint64_t stale_messages = 0;

  // Messages refused, by reason.
  uint64_t rejected_malformed = 0;      // not a tq.v1.Envelope + its payloads
  uint64_t rejected_no_hello = 0;       // first message was not a Hello
  uint64_t rejected_bad_version = 0;    // Hello with another protocol version
  uint64_t rejected_bad_hello = 0;      // no role, or a second Hello
  uint64_t rejected_wrong_role = 0;     // a client message from a worker, ...
  uint64_t rejected_not_owner = 0;      // a client touching another's job
  // CURVE on: a message its sender's key may not send (a Hello claiming
  // another role than the key's, or a message from another key on a
  // registered connection). Counted by Scheduler::OnUnauthorized.
  uint64_t rejected_unauthorized = 0;

  // Gauges (now).
  uint64_t connected_workers = 0;
  uint64_t connected_clients = 0;
  uint64_t worker_threads = 0;
  uint64_t jobs_active = 0;
  uint64_t chunks_in_flight = 0;
  // Chunks not yet handed out (saturates at 2^64-1).
  uint64_t chunks_queued = 0;
  // Results waiting for client credit.
  uint64_t results_undelivered = 0;
};

}  // namespace tq

#endif  // TQ_BROKER_SCHEDULER_STATS_H_
