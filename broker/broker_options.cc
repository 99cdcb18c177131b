#include "broker/broker_options.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace tq {
namespace {

// The standby pair's options (BrokerOptions::pair and what it needs).
absl::Status ValidatePairOptions(const BrokerOptions& options) {
  if (!options.pair.has_value()) {
    if (!options.pair_listen.empty() || !options.pair_peer.empty() ||
        !options.pair_peer_key_file.empty()) {
      return absl::InvalidArgumentError(
          "pair_listen, pair_peer and pair_peer_key_file need pair (the "
          "broker's role in a standby pair: primary or backup)");
    }
    return absl::OkStatus();
  }
  if (options.journal_dir.empty()) {
    return absl::InvalidArgumentError(
        "a standby pair needs journal_dir: the passive keeps the active's "
        "journal there");
  }
  if (options.pair_listen.empty() || options.pair_peer.empty()) {
    return absl::InvalidArgumentError(
        "a standby pair needs pair_listen (this broker's pair endpoint) and "
        "pair_peer (the other broker's)");
  }
  if (options.pair_timeout_ms < 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pair_timeout_ms (", options.pair_timeout_ms, ") must be at least 100"));
  }
  if (options.curve_key_file.empty() != options.pair_peer_key_file.empty()) {
    return absl::InvalidArgumentError(
        options.curve_key_file.empty()
            ? "pair_peer_key_file needs curve_key_file, the broker's secret key"
            : "with CURVE, a standby pair needs pair_peer_key_file (the other "
              "broker's public key): a plaintext pair link would let anyone "
              "who reaches it feed the passive's journal");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateBrokerOptions(const BrokerOptions& options) {
  if (options.listen.empty()) {
    return absl::InvalidArgumentError("listen names no endpoint");
  }
  for (const std::string& endpoint : options.listen) {
    if (endpoint.empty()) {
      return absl::InvalidArgumentError("listen has an empty endpoint");
    }
  }
  if (options.heartbeat_interval_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("heartbeat_interval_ms (", options.heartbeat_interval_ms,
                     ") must be positive"));
  }
  // A timeout no longer than the interval would declare a peer gone
  // between two of its heartbeats.
  if (options.heartbeat_timeout_ms <= options.heartbeat_interval_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("heartbeat_timeout_ms (", options.heartbeat_timeout_ms,
                     ") must be greater than heartbeat_interval_ms (",
                     options.heartbeat_interval_ms, ")"));
  }
  if (options.client_grace_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client_grace_ms (", options.client_grace_ms, ") must not be negative"));
  }
  if (options.lease_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease_ms (", options.lease_ms, ") must be positive"));
  }
  if (options.chunk_timeout_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk_timeout_ms (", options.chunk_timeout_ms, ") must be positive"));
  }
  if (options.max_attempts == 0) {
    return absl::InvalidArgumentError("max_attempts (0) must be at least 1");
  }
  if (options.max_result_window == 0) {
    return absl::InvalidArgumentError(
        "max_result_window (0) must be at least 1");
  }
  // Without a key the broker is plaintext and lets anyone in: an allowlist
  // given alone would look like security and be none.
  if (options.curve_key_file.empty() && !options.curve_clients_dir.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("curve_clients_dir (", options.curve_clients_dir,
                     ") needs curve_key_file, the broker's secret key"));
  }
  if (options.curve_key_file.empty() && !options.curve_workers_dir.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("curve_workers_dir (", options.curve_workers_dir,
                     ") needs curve_key_file, the broker's secret key"));
  }
  if (options.curve_key_file.empty() && !options.curve_code_clients_dir.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("curve_code_clients_dir (", options.curve_code_clients_dir,
                     ") needs curve_key_file, the broker's secret key"));
  }
  TQ_RETURN_IF_ERROR(ValidatePairOptions(options));
  if (options.max_jobs_per_client == 0) {
    return absl::InvalidArgumentError(
        "max_jobs_per_client (0) must be at least 1");
  }
  if (options.max_jobs == 0) {
    return absl::InvalidArgumentError("max_jobs (0) must be at least 1");
  }
  if (options.max_chunks_in_flight == 0) {
    return absl::InvalidArgumentError(
        "max_chunks_in_flight (0) must be at least 1");
  }
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("max_connections (0) must be at least 1");
  }
  if (options.max_connections_per_address == 0) {
    return absl::InvalidArgumentError(
        "max_connections_per_address (0) must be at least 1");
  }
  for (const std::string& runtime : options.allow_code) {
    if (runtime != "python") {
      return absl::InvalidArgumentError(absl::StrCat(
          "allow_code: unknown runtime '", runtime, "'; tq runs: python"));
    }
  }
  return CheckCodePolicy(options);
}

bool IsLocalEndpoint(absl::string_view endpoint) {
  if (absl::StartsWith(endpoint, "inproc://") ||
      absl::StartsWith(endpoint, "ipc://")) {
    return true;
  }
  if (!absl::ConsumePrefix(&endpoint, "tcp://")) return false;
  const absl::string_view host = endpoint.substr(0, endpoint.rfind(':'));
  return absl::StartsWith(host, "127.") || host == "localhost" ||
         host == "[::1]";
}

absl::Status CheckCodePolicy(const BrokerOptions& options) {
  if (options.allow_code.empty() || options.allow_code_insecure ||
      !options.curve_code_clients_dir.empty()) {
    return absl::OkStatus();
  }
  for (const std::string& endpoint : options.listen) {
    if (IsLocalEndpoint(endpoint)) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        "--allow-code on ", endpoint,
        " would let anyone who reaches that port run code on the workers: "
        "give --curve-code-clients=DIR (with CURVE keys), listen on loopback "
        "only, or accept the risk with --allow-code-insecure"));
  }
  return absl::OkStatus();
}

}  // namespace tq
