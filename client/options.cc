#include "client/options.h"

#include "absl/strings/str_cat.h"

namespace tq {

absl::Status ValidateClientOptions(const ClientOptions& options) {
  if (options.connect_timeout_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("connect_timeout_ms (",
                                                   options.connect_timeout_ms,
                                                   ") must be positive"));
  }
  if (options.connect_timeout_ms > kMaxConnectTimeoutMs) {
    return absl::InvalidArgumentError(
        absl::StrCat("connect_timeout_ms (", options.connect_timeout_ms,
                     ") must be at most ", kMaxConnectTimeoutMs, " (a day)"));
  }
  if (options.resume_timeout_ms < 0 ||
      options.resume_timeout_ms > kMaxConnectTimeoutMs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resume_timeout_ms (", options.resume_timeout_ms,
        ") must be 0 to ", kMaxConnectTimeoutMs, " (a day)"));
  }
  if (options.embedded_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("embedded_threads (", options.embedded_threads,
                     ") must be 0 (usable CPUs) or more"));
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
  // The embedded cluster runs in this process over inproc://: there is no
  // one to authenticate.
  if (!options.curve_key_file.empty() && options.broker.empty()) {
    return absl::InvalidArgumentError(
        "CURVE keys are for a remote broker; give --broker (or TQ_BROKER)");
  }
  return absl::OkStatus();
}

}  // namespace tq
