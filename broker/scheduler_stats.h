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
  // Jobs whose client's connection was lost (they wait for an attach), jobs
  // attached to a client again (AttachJob or a retried submit), submits
  // answered with the job their idempotency key started, refused attaches
  // (no such job, not the owner, ...) and acknowledgements (items never
  // delivered).
  uint64_t jobs_detached = 0;
  uint64_t jobs_attached = 0;
  uint64_t submits_deduplicated = 0;
  uint64_t attaches_refused = 0;
  uint64_t acks_refused = 0;
  // Jobs resumed from the journal at start.
  uint64_t jobs_restored = 0;

  // Chunks.
  uint64_t chunks_dispatched = 0;  // every hand-out, retries included
  uint64_t chunks_completed = 0;   // first report accepted
  uint64_t items_completed = 0;
  uint64_t requeued_lease_expired = 0;
  // The worker was lost while running the chunk alone, or a suspect chunk
  // (a failed attempt).
  uint64_t requeued_worker_lost = 0;
  // The worker was lost holding the chunk beside others, or without having
  // started it (no failed attempt: the chunk becomes a suspect).
  uint64_t requeued_unstarted = 0;
  uint64_t requeued_task_failed = 0;
  // The chunk ran past its run limit (a failed attempt).
  uint64_t requeued_run_limit = 0;
  uint64_t requeued_drained = 0;
  // Given back unstarted (ReturnQueued) so that another client's chunk runs
  // first (no failed attempt).
  uint64_t requeued_returned = 0;
  // A worker no longer held a code blob the chunk needed (sent again).
  uint64_t requeued_code_missing = 0;
  // Chunks out of attempts split in two to isolate a failing item.
  uint64_t chunks_split = 0;
  // Hand-outs of suspects to a worker of their own (run alone).
  uint64_t chunks_run_alone = 0;
  // Items that failed on every attempt, skipped (SubmitJob.skip_failed).
  uint64_t items_failed = 0;
  // Speculative copies of stragglers handed out, and copies revoked because
  // another copy of their chunk reported first.
  uint64_t chunks_speculated = 0;
  uint64_t speculative_copies_revoked = 0;
  // Reports dropped, by reason: for a chunk already finished; from a worker
  // not holding that hand-out (a copy that lost, an expired lease, a
  // forgery); from a worker session that has ended (a worker declared lost
  // that came back, or one from before a broker restart); for a job that is
  // gone (finished, failed or cancelled).
  uint64_t duplicates_dropped = 0;
  uint64_t reports_not_leased = 0;
  uint64_t reports_stale_session = 0;
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
