// SchedulerOptions: what the Scheduler (scheduler.h) is told, and nothing it
// does not use: liveness, leases and run limits, attempts, the broker-wide
// limits on jobs and chunks, and which runtimes' code it accepts. Each
// default is stated once, on its field. BrokerOptions (broker_options.h)
// extends this with how the broker loop listens, journals, pairs and
// secures its socket, so tq-broker's flags and validation see one struct
// while the sans-I/O Scheduler sees only its part.
#ifndef TQ_BROKER_SCHEDULER_OPTIONS_H_
#define TQ_BROKER_SCHEDULER_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/protocol.h"

namespace tq {

struct SchedulerOptions {
  // Liveness: the broker sends something to each peer at least this often,
  // and considers a peer silent for heartbeat_timeout_ms gone. The timeout
  // must exceed the interval.
  int64_t heartbeat_interval_ms = kDefaultHeartbeatIntervalMs;
  int64_t heartbeat_timeout_ms = kDefaultHeartbeatTimeoutMs;
  // A client's jobs outlive its connection (lost, not closed with Goodbye)
  // this long: they go on within their result window and wait for a
  // client to attach (AttachJob: the same client reconnecting, or another
  // with the job's token), then are cancelled.
  int64_t client_grace_ms = 600'000;
  // A hand-out neither reported nor listed in one of its worker's
  // heartbeats (Heartbeat.held) for this long is requeued: the worker no
  // longer has it. A live worker renews the leases of what it holds.
  int64_t lease_ms = 30'000;
  // The most one hand-out may run (--chunk-timeout; a job may set its own,
  // SubmitJob.chunk_timeout_ms): beyond it the chunk counts as a failed
  // attempt and its worker is told to give it up. Generous: a healthy
  // worker running a long chunk must keep it.
  int64_t chunk_timeout_ms = 600'000;
  // Failed attempts of one item (task failures, lost workers, run limits,
  // lease expiries) before its job fails; a chunk out of attempts is split
  // to find the items that fail.
  uint32_t max_attempts = 4;
  // Upper bound on a job's result window (chunks in flight plus results not
  // yet delivered to its client, and for streamed input the chunks it
  // holds); a client asking more gets this.
  uint32_t max_result_window = kDefaultMaxResultWindow;
  // Most jobs one client may have running at once; a submit beyond it is
  // refused (RESOURCE_EXHAUSTED). Bounds what one client can make the broker
  // hold: per job at most max_result_window chunks of input and of results,
  // each at most kMaxPayloadBytes.
  uint32_t max_jobs_per_client = 64;
  // Most jobs the broker holds at once, over all clients; a submit beyond it
  // is refused as busy (RESOURCE_EXHAUSTED with Error.retryable: the same
  // submit may succeed later).
  uint32_t max_jobs = 1024;
  // Most chunks the broker holds for running jobs at once, over all jobs:
  // chunks handed to workers and not yet reported, plus results waiting for
  // their clients' credit. A submit while the broker holds this many is
  // refused as busy (retryable); running jobs are not affected.
  uint64_t max_chunks_in_flight = 65'536;
  // Runtimes whose shipped code this broker accepts jobs for, e.g.
  // {"python"} (--allow-code=python). Empty (the default): it runs no code,
  // only built-in tasks. Listening beyond loopback, code jobs also need
  // BrokerOptions::curve_code_clients_dir or allow_code_insecure
  // (CheckCodePolicy, broker_options.h).
  std::vector<std::string> allow_code;
};

}  // namespace tq

#endif  // TQ_BROKER_SCHEDULER_OPTIONS_H_
