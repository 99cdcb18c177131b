// WorkerSessionOptions: what the WorkerSession (worker_session.h) is told,
// and nothing it does not use: pool size, prefetch, its name and how it keeps
// the connection alive. Each default is stated once, on its field.
// WorkerOptions (worker_options.h) extends this with which broker to
// connect to, CURVE keys, runners and the monitor, so tq-worker's flags and
// validation see one struct while the sans-I/O session sees only its part.
#ifndef TQ_WORKER_WORKER_SESSION_OPTIONS_H_
#define TQ_WORKER_WORKER_SESSION_OPTIONS_H_

#include <cstdint>
#include <string>

#include "common/protocol.h"

namespace tq {

struct WorkerSessionOptions {
  // Pool threads; 0 means UsableCpuCount() (cgroup quota, affinity), which
  // ResolveWorkerOptions fills in: a session needs threads >= 1.
  int threads = 0;
  // Chunks held beyond one per thread, so a thread never waits for the
  // network between chunks. -1 means adaptive: about 3 ms of queued work per
  // thread by the measured chunk run time, between 1 and kMaxPrefetch (256),
  // starting at max(1, threads / 2) (see worker_session.h). N >= 0 pins it
  // to N.
  int prefetch = -1;
  // Shown in broker logs and status (Hello.name); empty means
  // "hostname:pid", filled in by ResolveWorkerOptions.
  std::string name;
  // Send something to the broker at least this often; a broker silent for
  // the timeout (which must exceed the interval): drop the connection and
  // reconnect.
  int64_t heartbeat_interval_ms = kDefaultHeartbeatIntervalMs;
  int64_t heartbeat_timeout_ms = kDefaultHeartbeatTimeoutMs;
  // Reconnect back-off: starts at min, doubles per failure up to max.
  int64_t reconnect_min_ms = 100;
  int64_t reconnect_max_ms = 5'000;
};

}  // namespace tq

#endif  // TQ_WORKER_WORKER_SESSION_OPTIONS_H_
