// BrokerOptions: how a broker listens, keeps peers alive, leases chunks and
// secures its socket, each default stated once on its field (tq-broker's
// flags take theirs from here), and the rules a usable set obeys.
#ifndef TQ_BROKER_BROKER_OPTIONS_H_
#define TQ_BROKER_BROKER_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "broker/broker_monitor.h"
#include "broker/pair_state.h"
#include "broker/scheduler_options.h"
#include "common/protocol.h"

namespace tq {

// The Scheduler's part (liveness, leases, attempts, limits, allow_code) is
// the base, SchedulerOptions (scheduler_options.h); the fields below are the
// broker loop's.
struct BrokerOptions : SchedulerOptions {
  // Endpoints to bind: "tcp://*:5555", "tcp://127.0.0.1:*" (ephemeral port),
  // "inproc://name". At least one.
  std::vector<std::string> listen = {"tcp://*:5555"};
  // The job journal's directory (--journal): accepted range jobs and what
  // their clients acknowledged are kept there and resumed by the next
  // broker started on it (broker/job_journal.h). Empty: no journal; jobs
  // end with the broker.
  std::string journal_dir;
  // A standby pair (--pair; broker/pair_state.h, README "The standby
  // broker"): this broker's role, unset when it runs alone. Needs
  // journal_dir, pair_listen and pair_peer.
  std::optional<PairRole> pair;
  // Where this broker's pair socket listens ("tcp://*:5557"), and the
  // peer's ("tcp://other:5557").
  std::string pair_listen;
  std::string pair_peer;
  // The peer counts as silent (it may be taken over from) after this long
  // without a message; heartbeats go every quarter of it. Below the
  // clients' and workers' heartbeat timeout (kDefaultHeartbeatTimeoutMs),
  // so the backup already knows the primary is gone when they ask it.
  int64_t pair_timeout_ms = 2000;
  // With CURVE (curve_key_file): the peer broker's public key file; the
  // pair link is encrypted and accepts only that key. Required then.
  std::string pair_peer_key_file;
  // Connections (TCP endpoints; inproc is not counted) the broker accepts at
  // once: beyond max_connections in total, or beyond
  // max_connections_per_address from one IP address, the ZAP handler refuses
  // the new connection's handshake (ZAP status 300, "busy"), with or without
  // CURVE. Each bounds what peers can make the broker hold before their Hello
  // (README "Security"): about 256 KiB + 38 KB per connection at most.
  uint32_t max_connections = 1024;
  uint32_t max_connections_per_address = 64;
  // CurveZMQ: a directory of *.pub files of the clients allowed to submit
  // code jobs (they may submit other jobs too). Empty: none. Needs
  // curve_key_file.
  std::string curve_code_clients_dir;
  // Accept code jobs from any client that reaches the port, even listening
  // beyond loopback without a code allowlist. Logs a warning at start.
  bool allow_code_insecure = false;
  // Log peer arrivals/departures and job lifecycle to stderr.
  bool verbose = false;
  // Told what the loop does (bytes, scheduler statistics, liveness,
  // readiness; see broker/broker_monitor.h), e.g. tq-broker's Prometheus
  // metrics. nullptr (the default): nobody watches. Called only from the
  // loop's thread (Bind() and Run()); must outlive Run().
  std::shared_ptr<BrokerMonitor> monitor;
  // CurveZMQ security. Empty (the default): plaintext, anyone may connect.
  // Set: the broker's secret key file (tq-keygen's NAME.key); the ROUTER
  // becomes a CURVE server and only keys in the allowlists below get in,
  // each only in its role. Bind() fails if a file is missing or bad.
  std::string curve_key_file;
  // Directories of *.pub files: keys allowed as clients / as workers.
  // Empty (the default): none allowed. A named directory that is missing is
  // an error; naming one without curve_key_file is invalid.
  std::string curve_clients_dir;
  std::string curve_workers_dir;
};

// OK if `options` can run a broker; else kInvalidArgument naming the first
// offending option and its value (files and endpoints are checked only by
// Broker::Bind(), which calls this first). Includes CheckCodePolicy.
absl::Status ValidateBrokerOptions(const BrokerOptions& options);

// Whether `endpoint` is reachable from this machine only: inproc://, ipc://,
// or tcp:// on a loopback address (127.x.x.x, localhost, [::1]).
bool IsLocalEndpoint(absl::string_view endpoint);

// Code jobs (allow_code) on an endpoint beyond loopback need a CURVE code
// allowlist or the explicit allow_code_insecure: reaching the port must not
// be enough to run code. kInvalidArgument saying so otherwise.
absl::Status CheckCodePolicy(const BrokerOptions& options);

}  // namespace tq

#endif  // TQ_BROKER_BROKER_OPTIONS_H_
