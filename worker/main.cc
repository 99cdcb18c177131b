// tq-worker: connects to a tq-broker and runs chunks on all usable CPUs until
// SIGTERM/SIGINT, then drains (hands back queued chunks, finishes running
// ones) and exits 0.
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/cli.h"
#include "common/malloc_reuse.h"
#include "common/zmq_socket.h"
#include "worker/prometheus_worker_monitor.h"
#include "worker/worker.h"

ABSL_FLAG(std::string, broker, tq::WorkerOptions{}.broker,
          "broker endpoint, e.g. tcp://10.0.0.1:5555, or a standby pair's "
          "two, tcp://a:5555,tcp://b:5555 (default: $TQ_BROKER)");
ABSL_FLAG(int, threads, tq::WorkerOptions{}.threads,
          "pool threads; 0 = usable CPUs (cgroup quota, affinity)");
ABSL_FLAG(int, prefetch, tq::WorkerOptions{}.prefetch,
          "chunks held beyond one per thread; -1 = adaptive (about 3 ms of "
          "queued work per thread by measured chunk time, 1..256), N >= 0 "
          "pins it to N");
ABSL_FLAG(std::string, name, tq::WorkerOptions{}.name,
          "name shown by the broker; default hostname:pid");
ABSL_FLAG(int64_t, heartbeat_interval_ms,
          tq::WorkerOptions{}.heartbeat_interval_ms,
          "send something to the broker at least this often");
ABSL_FLAG(int64_t, heartbeat_timeout_ms,
          tq::WorkerOptions{}.heartbeat_timeout_ms,
          "broker silent this long: reconnect");
ABSL_FLAG(bool, verbose, tq::WorkerOptions{}.verbose,
          "log connections and protocol events to stderr");
ABSL_FLAG(std::string, allow_code, "",
          "run shipped code for these runtimes (comma-separated; tq runs: "
          "python), in runner processes; default: none, built-in tasks only");
ABSL_FLAG(std::string, python, tq::WorkerOptions{}.python,
          "with --allow-code=python: the interpreter runners start with (its "
          "major.minor must match the clients'; it needs cloudpickle and tq)");
ABSL_FLAG(std::string, code_user, tq::WorkerOptions{}.code_user,
          "with --allow-code: run runner processes as this user, so shipped "
          "code cannot read what the worker's user can (e.g. its CURVE key); "
          "needs a worker running as root");
ABSL_FLAG(std::string, curve_key, tq::WorkerOptions{}.curve_key_file,
          "CurveZMQ: our secret key file (tq-keygen NAME.key); default "
          "$TQ_CURVE_KEY; needs --curve-server-key");
ABSL_FLAG(std::string, curve_server_key,
          tq::WorkerOptions{}.curve_server_key_file,
          "CurveZMQ: the broker's public key file (.pub); for a pair, one per "
          "broker, comma-separated; default $TQ_CURVE_SERVER_KEY");
ABSL_FLAG(bool, enable_test_tasks, false,
          "offer and run test-only tasks (crash: aborts, fails or hangs on "
          "chosen items) for fault tests; never in production");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT serving /metrics (Prometheus), /healthz and /readyz, "
          "e.g. 0.0.0.0:9464 (port 0: a free port); empty = none");

namespace {

constexpr char kUsage[] =
    "tq-worker: runs tq chunks for a broker on this machine's CPUs.\n"
    "\n"
    "usage: tq-worker --broker=tcp://HOST:PORT [flags]\n"
    "SIGTERM or SIGINT drains the worker: queued chunks go back to the broker,\n"
    "running ones finish and are reported, then it exits 0. A chunk that\n"
    "ignores cancellation makes it exit 75 for its supervisor to restart it.";

tq::Worker* g_worker = nullptr;

extern "C" void HandleStopSignal(int) {
  if (g_worker != nullptr) g_worker->Stop();  // async-signal-safe
}

}  // namespace

int main(int argc, char** argv) {
  tq::LookUpProtocolsInFilesOnly();
  tq::ReuseFreedMemory();
  std::vector<std::string> positional = tq::ParseFlagsOrExit(argc, argv, kUsage);
  if (!positional.empty()) {
    fprintf(stderr, "tq-worker: unexpected argument '%s' (see --help)\n",
            positional[0].c_str());
    return tq::kExitUsage;
  }
  tq::WorkerOptions options;
  options.broker = tq::FlagOrEnv(absl::GetFlag(FLAGS_broker), "TQ_BROKER");
  options.threads = absl::GetFlag(FLAGS_threads);
  options.prefetch = absl::GetFlag(FLAGS_prefetch);
  options.name = absl::GetFlag(FLAGS_name);
  options.heartbeat_interval_ms = absl::GetFlag(FLAGS_heartbeat_interval_ms);
  options.heartbeat_timeout_ms = absl::GetFlag(FLAGS_heartbeat_timeout_ms);
  options.verbose = absl::GetFlag(FLAGS_verbose);
  options.curve_key_file =
      tq::FlagOrEnv(absl::GetFlag(FLAGS_curve_key), "TQ_CURVE_KEY");
  options.curve_server_key_file = tq::FlagOrEnv(
      absl::GetFlag(FLAGS_curve_server_key), "TQ_CURVE_SERVER_KEY");
  for (absl::string_view runtime :
       absl::StrSplit(absl::GetFlag(FLAGS_allow_code), ',', absl::SkipWhitespace())) {
    options.allow_code.emplace_back(absl::StripAsciiWhitespace(runtime));
  }
  options.python = absl::GetFlag(FLAGS_python);
  options.code_user = absl::GetFlag(FLAGS_code_user);
  options.enable_test_tasks = absl::GetFlag(FLAGS_enable_test_tasks);
  // Tests only: announce another Python version than the interpreter's
  // (e.g. to see a client of another version refused).
  if (const char* version = getenv("TQ_TEST_PYTHON_VERSION")) {
    options.python_version = version;
    options.python_detail = "version set by TQ_TEST_PYTHON_VERSION";
  }
  // Checked here too (Run() would) so bad flags stop before metrics start.
  if (absl::Status valid = tq::ValidateWorkerOptions(options); !valid.ok()) {
    fprintf(stderr, "tq-worker: %s\n", std::string(valid.message()).c_str());
    return tq::kExitUsage;
  }

  // Resolved here already (the worker would do it too) so the metrics know
  // the pool size.
  options = tq::ResolveWorkerOptions(std::move(options));
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  std::shared_ptr<tq::PrometheusWorkerMonitor> monitor;
  if (!metrics_listen.empty()) {
    auto started = tq::PrometheusWorkerMonitor::Start(metrics_listen, options.threads);
    if (!started.ok()) {
      fprintf(stderr, "tq-worker: %s\n",
              std::string(started.status().message()).c_str());
      return tq::kExitUsage;
    }
    monitor = *std::move(started);
    options.monitor = monitor;
    printf("metrics on http://%s:%d\n",
           metrics_listen.substr(0, metrics_listen.rfind(':')).c_str(),
           monitor->port());
    fflush(stdout);
  }

  auto worker = std::make_unique<tq::Worker>(options);
  g_worker = worker.get();
  struct sigaction action = {};
  action.sa_handler = HandleStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  fprintf(stderr, "tq-worker: %d threads, broker %s\n", worker->threads(),
          options.broker.c_str());
  absl::Status status = worker->Run();
  g_worker = nullptr;
  if (status.code() == absl::StatusCode::kAborted) {
    // Wedged: a pool thread may never return. Destroying the Worker (which
    // Run() left without its pool) closes its ZeroMQ context, which sends
    // the last reports, Drain and Goodbye (bounded by the linger); then no
    // orderly exit (static destructors) is attempted.
    fprintf(stderr, "tq-worker: %s\n", status.ToString().c_str());
    worker.reset();
    fflush(stderr);
    fflush(stdout);
    _exit(tq::kExitWorkerWedged);
  }
  if (!status.ok()) {
    fprintf(stderr, "tq-worker: %s\n", status.ToString().c_str());
    return status.code() == absl::StatusCode::kInvalidArgument ||
                   status.code() == absl::StatusCode::kFailedPrecondition
               ? tq::kExitUsage
               : tq::kExitUnavailable;
  }
  return tq::kExitOk;
}
