// tq-broker: binds the listen endpoints, prints one "listening on <endpoint>"
// line per bound endpoint to stdout (scripts and tests parse it to learn an
// ephemeral port), and runs the broker until SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "broker/broker.h"
#include "broker/prometheus_broker_monitor.h"
#include "common/cli.h"
#include "common/malloc_reuse.h"
#include "common/zmq_socket.h"

ABSL_FLAG(std::string, listen, absl::StrJoin(tq::BrokerOptions{}.listen, ","),
          "Comma-separated endpoints to bind, e.g. tcp://*:5555 or "
          "tcp://127.0.0.1:* (ephemeral port)");
ABSL_FLAG(int64_t, heartbeat_interval_ms,
          tq::BrokerOptions{}.heartbeat_interval_ms,
          "Send something to every peer at least this often");
ABSL_FLAG(int64_t, heartbeat_timeout_ms,
          tq::BrokerOptions{}.heartbeat_timeout_ms,
          "A peer silent this long is gone (a worker's chunks are requeued, "
          "a client's jobs wait --client_grace_ms for it to attach again)");
ABSL_FLAG(std::string, journal, "",
          "Directory of the job journal: accepted range jobs survive a "
          "broker restart on it (created if missing)");
ABSL_FLAG(std::string, pair, "",
          "primary or backup: this broker's role in a standby pair (README "
          "'The standby broker'); needs --journal, --pair-listen, --pair-peer");
ABSL_FLAG(std::string, pair_listen, "",
          "standby pair: where this broker's pair socket listens, e.g. "
          "tcp://*:5557");
ABSL_FLAG(std::string, pair_peer, "",
          "standby pair: the other broker's --pair-listen address, e.g. "
          "tcp://other:5557");
ABSL_FLAG(int64_t, pair_timeout_ms, tq::BrokerOptions{}.pair_timeout_ms,
          "standby pair: the peer is silent (may be taken over from) after "
          "this long without a message");
ABSL_FLAG(std::string, pair_peer_key, "",
          "standby pair with CURVE: the other broker's public key file (.pub)");
ABSL_FLAG(int64_t, client_grace_ms, tq::BrokerOptions{}.client_grace_ms,
          "Jobs whose client's connection was lost wait this long for a "
          "client to attach, then are cancelled");
ABSL_FLAG(int64_t, lease_ms, tq::BrokerOptions{}.lease_ms,
          "A chunk neither reported nor listed in its worker's heartbeats "
          "for this long is requeued");
ABSL_FLAG(int64_t, chunk_timeout_ms, tq::BrokerOptions{}.chunk_timeout_ms,
          "The most one chunk hand-out may run before it counts as a failed "
          "attempt (a job may set its own)");
ABSL_FLAG(uint32_t, max_attempts, tq::BrokerOptions{}.max_attempts,
          "Failed attempts of one item before its job fails (a chunk out of "
          "attempts is split to find the failing items)");
ABSL_FLAG(uint32_t, max_result_window, tq::BrokerOptions{}.max_result_window,
          "Most chunks a job may have in flight or undelivered");
ABSL_FLAG(std::string, curve_key, tq::BrokerOptions{}.curve_key_file,
          "CurveZMQ: this broker's secret key file (tq-keygen NAME.key); "
          "turns security on: only keys in --curve-clients / --curve-workers "
          "may connect");
ABSL_FLAG(std::string, curve_clients, tq::BrokerOptions{}.curve_clients_dir,
          "CurveZMQ: directory of *.pub files allowed as clients");
ABSL_FLAG(std::string, curve_workers, tq::BrokerOptions{}.curve_workers_dir,
          "CurveZMQ: directory of *.pub files allowed as workers");
ABSL_FLAG(std::string, allow_code, "",
          "Accept jobs that ship code for these runtimes (comma-separated; "
          "tq runs: python). Default: none, built-in tasks only. Beyond "
          "loopback it also needs --curve-code-clients or "
          "--allow-code-insecure");
ABSL_FLAG(std::string, curve_code_clients,
          tq::BrokerOptions{}.curve_code_clients_dir,
          "CurveZMQ: directory of *.pub files of clients allowed to submit "
          "code jobs (they may submit other jobs too)");
ABSL_FLAG(bool, allow_code_insecure, tq::BrokerOptions{}.allow_code_insecure,
          "With --allow-code beyond loopback and no --curve-code-clients: "
          "accept code jobs from anyone who reaches the port (logs a warning)");
ABSL_FLAG(uint32_t, max_jobs_per_client, tq::BrokerOptions{}.max_jobs_per_client,
          "Most jobs one client may run at once");
ABSL_FLAG(uint32_t, max_jobs, tq::BrokerOptions{}.max_jobs,
          "Most jobs the broker holds at once; beyond it submits are refused "
          "as busy (retryable)");
ABSL_FLAG(uint64_t, max_chunks_in_flight,
          tq::BrokerOptions{}.max_chunks_in_flight,
          "Most chunks held for running jobs (at workers or waiting for their "
          "client); beyond it submits are refused as busy (retryable)");
ABSL_FLAG(uint32_t, max_connections, tq::BrokerOptions{}.max_connections,
          "Most TCP connections at once; more are refused at the handshake");
ABSL_FLAG(uint32_t, max_connections_per_address,
          tq::BrokerOptions{}.max_connections_per_address,
          "Most TCP connections at once from one IP address; more are "
          "refused at the handshake");
ABSL_FLAG(bool, verbose, tq::BrokerOptions{}.verbose,
          "Log peers and job lifecycle to stderr");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT serving /metrics (Prometheus), /healthz and /readyz, "
          "e.g. 0.0.0.0:9464 (port 0: a free port); empty = none");

namespace {

constexpr char kUsage[] =
    "tq-broker: hands chunks of jobs to tq-worker processes and streams the "
    "results to tq-client.\n\n"
    "Usage: tq-broker [--listen=tcp://*:5555] [flags]\n\n"
    "Prints 'listening on <endpoint>' once per bound endpoint, then serves "
    "until SIGINT or SIGTERM.";

// A standby pair's broker fenced by its peer (EX_TEMPFAIL: start it again;
// it then follows the peer as passive).
constexpr int kExitFenced = 75;

tq::Broker* g_broker = nullptr;

void OnSignal(int) {
  if (g_broker != nullptr) g_broker->Stop();
}

}  // namespace

int main(int argc, char** argv) {
  tq::LookUpProtocolsInFilesOnly();
  tq::ReuseFreedMemory();
  std::vector<std::string> args = tq::ParseFlagsOrExit(argc, argv, kUsage);
  if (!args.empty()) {
    fprintf(stderr, "tq-broker: unexpected argument '%s' (see --help)\n",
            args[0].c_str());
    return tq::kExitUsage;
  }
  tq::BrokerOptions options;
  options.listen.clear();
  for (absl::string_view endpoint :
       absl::StrSplit(absl::GetFlag(FLAGS_listen), ',', absl::SkipWhitespace())) {
    options.listen.emplace_back(absl::StripAsciiWhitespace(endpoint));
  }
  options.heartbeat_interval_ms = absl::GetFlag(FLAGS_heartbeat_interval_ms);
  options.heartbeat_timeout_ms = absl::GetFlag(FLAGS_heartbeat_timeout_ms);
  options.client_grace_ms = absl::GetFlag(FLAGS_client_grace_ms);
  options.journal_dir = absl::GetFlag(FLAGS_journal);
  const std::string pair = absl::GetFlag(FLAGS_pair);
  if (pair == "primary") {
    options.pair = tq::PairRole::kPrimary;
  } else if (pair == "backup") {
    options.pair = tq::PairRole::kBackup;
  } else if (!pair.empty()) {
    fprintf(stderr, "tq-broker: --pair=%s: must be primary or backup\n",
            pair.c_str());
    return tq::kExitUsage;
  }
  options.pair_listen = absl::GetFlag(FLAGS_pair_listen);
  options.pair_peer = absl::GetFlag(FLAGS_pair_peer);
  options.pair_timeout_ms = absl::GetFlag(FLAGS_pair_timeout_ms);
  options.pair_peer_key_file = absl::GetFlag(FLAGS_pair_peer_key);
  options.lease_ms = absl::GetFlag(FLAGS_lease_ms);
  options.chunk_timeout_ms = absl::GetFlag(FLAGS_chunk_timeout_ms);
  options.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  options.max_result_window = absl::GetFlag(FLAGS_max_result_window);
  options.verbose = absl::GetFlag(FLAGS_verbose);
  options.curve_key_file = absl::GetFlag(FLAGS_curve_key);
  options.curve_clients_dir = absl::GetFlag(FLAGS_curve_clients);
  options.curve_workers_dir = absl::GetFlag(FLAGS_curve_workers);
  options.curve_code_clients_dir = absl::GetFlag(FLAGS_curve_code_clients);
  options.allow_code_insecure = absl::GetFlag(FLAGS_allow_code_insecure);
  options.max_jobs_per_client = absl::GetFlag(FLAGS_max_jobs_per_client);
  options.max_jobs = absl::GetFlag(FLAGS_max_jobs);
  options.max_chunks_in_flight = absl::GetFlag(FLAGS_max_chunks_in_flight);
  options.max_connections = absl::GetFlag(FLAGS_max_connections);
  options.max_connections_per_address =
      absl::GetFlag(FLAGS_max_connections_per_address);
  for (absl::string_view runtime :
       absl::StrSplit(absl::GetFlag(FLAGS_allow_code), ',', absl::SkipWhitespace())) {
    options.allow_code.emplace_back(absl::StripAsciiWhitespace(runtime));
  }
  // Checked here too (Bind() would) so bad flags stop before metrics start.
  if (absl::Status valid = tq::ValidateBrokerOptions(options); !valid.ok()) {
    fprintf(stderr, "tq-broker: %s\n", std::string(valid.message()).c_str());
    return tq::kExitUsage;
  }

  // Metrics start before the broker exists (its options carry the monitor);
  // /readyz says 503 until Bind() has bound every endpoint.
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  std::shared_ptr<tq::PrometheusBrokerMonitor> monitor;
  if (!metrics_listen.empty()) {
    auto started = tq::PrometheusBrokerMonitor::Start(metrics_listen);
    if (!started.ok()) {
      fprintf(stderr, "tq-broker: %s\n",
              std::string(started.status().message()).c_str());
      return tq::kExitUsage;
    }
    monitor = *std::move(started);
    options.monitor = monitor;
  }

  tq::Broker broker(options);
  if (absl::Status status = broker.Bind(); !status.ok()) {
    fprintf(stderr, "tq-broker: %s\n", std::string(status.message()).c_str());
    return tq::kExitUsage;
  }
  for (const std::string& endpoint : broker.bound_endpoints()) {
    printf("listening on %s\n", endpoint.c_str());
  }
  if (monitor != nullptr) {
    printf("metrics on http://%s:%d\n",
           metrics_listen.substr(0, metrics_listen.rfind(':')).c_str(),
           monitor->port());
  }
  fflush(stdout);

  g_broker = &broker;
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  absl::Status status = broker.Run();
  g_broker = nullptr;
  if (!status.ok()) {
    fprintf(stderr, "tq-broker: %s\n", std::string(status.message()).c_str());
    // Fenced by the active peer of a standby pair: restart to follow it.
    return absl::IsAborted(status) ? kExitFenced : tq::kExitUnavailable;
  }
  return tq::kExitOk;
}
