// tq-worker as a library: connects to a broker, registers, pulls chunks by
// credit and runs them on a thread pool sized to the usable CPUs. tq-worker's
// main and the client's embedded cluster both run this.
#ifndef TQ_WORKER_WORKER_H_
#define TQ_WORKER_WORKER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/protocol.h"
#include "worker/worker_monitor.h"
#include "zmq.hpp"

namespace tq {

struct WorkerOptions {
  // Broker endpoint to connect to, e.g. "tcp://10.0.0.1:5555".
  std::string broker;
  // Pool threads; 0 means UsableCpuCount() (cgroup quota, affinity).
  int threads = 0;
  // Chunks held beyond one per thread, so a thread never waits for the
  // network between chunks. -1 (any negative) means adaptive: about 3 ms of
  // queued work per thread by the measured chunk run time, between 1 and
  // 256, starting at max(1, threads / 2) (see worker_session.h). N >= 0 pins
  // it to N.
  int prefetch = -1;
  // Shown in broker logs and status; empty means "hostname:pid".
  std::string name;
  int64_t heartbeat_interval_ms = kDefaultHeartbeatIntervalMs;
  // Broker silent this long: drop the connection and reconnect.
  int64_t heartbeat_timeout_ms = kDefaultHeartbeatTimeoutMs;
  // Reconnect back-off: starts at min, doubles per failure up to max.
  int64_t reconnect_min_ms = 100;
  int64_t reconnect_max_ms = 5'000;
  bool verbose = false;
  // Told what the loop does (chunks, sessions, bytes, state after each
  // iteration; see worker/worker_monitor.h), e.g. tq-worker's Prometheus
  // metrics. nullptr (the default): nobody watches. Called only from the
  // thread in Run(); must outlive Run().
  std::shared_ptr<WorkerMonitor> monitor;
  // CurveZMQ: our secret key file (tq-keygen NAME.key; its public key must
  // be in the broker's workers allowlist) and the broker's public key file
  // (its .pub). Both empty (the default): plaintext. Exactly one: Run()
  // fails. A refused handshake is logged to stderr and retried with
  // back-off, like an absent broker.
  std::string curve_key_file;
  std::string curve_server_key_file;
  // Runtimes to run shipped code in (--allow-code=python): {"python"}.
  // Empty (the default): built-in tasks only; code chunks never come.
  std::vector<std::string> allow_code;
  // The interpreter for Python runner processes (--python). Default:
  // "python3" from PATH. Run() checks it once (version, cloudpickle, tq).
  std::string python = "python3";
  // The Python version and detail to announce instead of asking the
  // interpreter (the embedded cluster knows them; tests fake a version).
  // Empty: ask it.
  std::string python_version;
  std::string python_detail;
  // Prepended to the runners' PYTHONPATH. Default: empty, nothing.
  std::string python_path;
  // Run runner processes as this user (--code-user), so shipped code cannot
  // read what the worker's user can (its CURVE secret key). Needs root.
  // Default: empty, the worker's own user.
  std::string code_user;
};

class Worker {
 public:
  // `context` must outlive the worker; nullptr makes the worker own one.
  explicit Worker(WorkerOptions options, zmq::context_t* context = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Pool size actually used (options.threads resolved).
  int threads() const;
  // Connects and serves until Stop() has drained it: returns OK after a
  // clean drain, an error if the broker refused it (e.g. protocol version).
  absl::Status Run();
  // Stop taking work, hand back what is queued, finish what runs, say
  // Goodbye, return from Run(). Thread-safe and async-signal-safe.
  void Stop();

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace tq

#endif  // TQ_WORKER_WORKER_H_
