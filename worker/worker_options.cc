#include "worker/worker_options.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace tq {

absl::Status ValidateWorkerOptions(const WorkerOptions& options) {
  if (options.broker.empty()) {
    return absl::InvalidArgumentError(
        "broker is required (--broker or $TQ_BROKER), e.g. "
        "tcp://10.0.0.1:5555");
  }
  if (options.threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "threads (", options.threads, ") must be 0 (usable CPUs) or more"));
  }
  if (options.prefetch < -1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prefetch (", options.prefetch, ") must be -1 (adaptive) or more"));
  }
  if (options.heartbeat_interval_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("heartbeat_interval_ms (", options.heartbeat_interval_ms,
                     ") must be positive"));
  }
  // A timeout no longer than the interval would drop a live broker between
  // two of its heartbeats.
  if (options.heartbeat_timeout_ms <= options.heartbeat_interval_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("heartbeat_timeout_ms (", options.heartbeat_timeout_ms,
                     ") must be greater than heartbeat_interval_ms (",
                     options.heartbeat_interval_ms, ")"));
  }
  if (options.reconnect_min_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reconnect_min_ms (", options.reconnect_min_ms, ") must be positive"));
  }
  if (options.reconnect_max_ms < options.reconnect_min_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("reconnect_max_ms (", options.reconnect_max_ms,
                     ") must be at least reconnect_min_ms (",
                     options.reconnect_min_ms, ")"));
  }
  if (!options.curve_key_file.empty() &&
      options.curve_server_key_file.empty()) {
    return absl::InvalidArgumentError(
        "curve_key_file needs curve_server_key_file, the broker's public key");
  }
  if (options.curve_key_file.empty() &&
      !options.curve_server_key_file.empty()) {
    return absl::InvalidArgumentError(
        "curve_server_key_file needs curve_key_file, our secret key");
  }
  for (const std::string& runtime : options.allow_code) {
    if (runtime != "python") {
      return absl::InvalidArgumentError(absl::StrCat(
          "allow_code: unknown runtime '", runtime, "'; tq runs: python"));
    }
  }
  if (!options.allow_code.empty() && options.python.empty()) {
    return absl::InvalidArgumentError(
        "python (the interpreter) must be given with allow_code=python");
  }
  if (options.allow_code.empty() && !options.code_user.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "code_user (", options.code_user, ") runs shipped code: it needs allow_code"));
  }
  return absl::OkStatus();
}

}  // namespace tq
