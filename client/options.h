// ClientOptions: how tq-client (or any program using the library) reaches a
// cluster, every default stated once on its field (tq-client's flags take
// theirs from here), and the rules a usable set obeys. Part of the client
// library's public API.
#ifndef TQ_CLIENT_OPTIONS_H_
#define TQ_CLIENT_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace tq {

// An embedded cluster's worker running shipped Python code in runner
// processes (the embedded cluster may: it is the caller's own process).
struct EmbeddedPython {
  // The interpreter runner processes start with, e.g. sys.executable.
  std::string interpreter;
  // Its major.minor ("3.11") and a line for humans ("CPython 3.11.2,
  // cloudpickle 2.2.0"), as the worker announces them.
  std::string version;
  std::string detail;
  // Prepended to the runners' PYTHONPATH, so they import the caller's tq.
  std::string path;
};

struct ClientOptions {
  // Broker endpoint, e.g. "tcp://10.0.0.1:5555", or a standby pair's two,
  // comma-separated ("tcp://a:5555,tcp://b:5555": the client moves to the
  // next when it loses one). Default: empty, which runs an embedded cluster
  // (broker + worker in this process over inproc://).
  std::string broker;
  // How long Connect() waits for the broker's Welcome. Default: 10 s; at
  // most kMaxConnectTimeoutMs.
  int64_t connect_timeout_ms = 10'000;
  // How long a job waits for a lost broker to come back (or another to take
  // its address) and take the job back, after which it fails kUnavailable.
  // Default: 10 minutes, a broker's grace period for a lost client's jobs;
  // 0: jobs fail as soon as the connection is lost. At most
  // kMaxConnectTimeoutMs.
  int64_t resume_timeout_ms = 600'000;
  // Embedded cluster only: worker pool threads. Default: 0, meaning
  // UsableCpuCount() (affinity and cgroup quota).
  int embedded_threads = 0;
  // Result credit per job, in chunks: the most chunks of one job that are
  // in flight, waiting at the broker or buffered here. Default: 0, meaning
  // automatic: enough to keep every worker thread busy (at least 16), and
  // for small results (counts, no-ops) up to kDefaultMaxResultWindow (256),
  // a default broker's cap, as long as results stay within a 32 MiB budget.
  uint32_t result_window = 0;
  // Name sent in Hello for the broker's logs. Default: empty -> "tq-client:pid".
  std::string name;
  // Embedded cluster only: run shipped Python code too. Default: none, the
  // embedded worker runs built-in tasks only.
  std::optional<EmbeddedPython> embedded_python;
  // CurveZMQ (a broker only, not the embedded cluster): our secret key file
  // (tq-keygen NAME.key; its public key must be in the broker's clients
  // allowlist) and the broker's public key file (.pub; for a list of
  // brokers, one per broker, comma-separated, or one for all). Default: both
  // empty, plaintext. Exactly one given, or either without a broker, is
  // invalid.
  std::string curve_key_file;
  std::string curve_server_key_file;
};

// The longest connect_timeout_ms accepted: a day. Longer is a mistake, e.g.
// --connect-timeout=inf, which would overflow the deadline arithmetic.
inline constexpr int64_t kMaxConnectTimeoutMs = 86'400'000;

// OK if `options` can connect; else kInvalidArgument naming the first
// offending option and its value (key files and the endpoint are checked
// only by Pool::Connect(), which calls this first).
absl::Status ValidateClientOptions(const ClientOptions& options);

}  // namespace tq

#endif  // TQ_CLIENT_OPTIONS_H_
