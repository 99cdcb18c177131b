// WorkerOptions: which broker a worker serves, with how many threads and how
// much prefetch, how it keeps the connection alive and secures it, each
// default stated once on its field (tq-worker's flags take theirs from
// here), and the rules a usable set obeys. The automatic values (threads,
// name) are resolved by ResolveWorkerOptions (worker.h), which asks the OS.
#ifndef TQ_WORKER_WORKER_OPTIONS_H_
#define TQ_WORKER_WORKER_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/worker_monitor.h"
#include "worker/worker_session_options.h"

namespace tq {

// The session's part (threads, prefetch, name, liveness) is the base,
// WorkerSessionOptions (worker_session_options.h); the fields below are the
// worker loop's.
struct WorkerOptions : WorkerSessionOptions {
  // Broker endpoint to connect to, e.g. "tcp://10.0.0.1:5555", or a standby
  // pair's two, comma-separated ("tcp://a:5555,tcp://b:5555": each new
  // session, after a lost one or a standby's refusal, goes to the next).
  // Required.
  std::string broker;
  // Log connections and protocol events to stderr.
  bool verbose = false;
  // Told what the loop does (chunks, sessions, bytes, state after each
  // iteration; see worker/worker_monitor.h), e.g. tq-worker's Prometheus
  // metrics. nullptr (the default): nobody watches. Called only from the
  // thread in Run(); must outlive Run().
  std::shared_ptr<WorkerMonitor> monitor;
  // CurveZMQ: our secret key file (tq-keygen NAME.key; its public key must
  // be in the broker's workers allowlist) and the broker's public key file
  // (its .pub; for a list of brokers, one per broker, comma-separated, or
  // one for all). Both empty (the default): plaintext. Exactly one is
  // invalid. A refused handshake is logged to stderr and retried with
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
  // Offer and run the test-only tasks (`crash`, which aborts, fails or hangs
  // on chosen items) (--enable-test-tasks). Default false: never in
  // production, where a hostile client could kill workers with them.
  bool enable_test_tasks = false;
};

// OK if `options` can run a worker; else kInvalidArgument naming the first
// offending option and its value (key files and the endpoint are checked
// only by Worker::Run(), which calls this first).
absl::Status ValidateWorkerOptions(const WorkerOptions& options);

}  // namespace tq

#endif  // TQ_WORKER_WORKER_OPTIONS_H_
