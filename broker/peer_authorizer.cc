#include "broker/peer_authorizer.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tq {
namespace {

absl::string_view RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_CLIENT:
      return "client";
    case v1::ROLE_WORKER:
      return "worker";
    default:
      return "unspecified";
  }
}

}  // namespace

std::optional<v1::Role> RoleOfUserId(absl::string_view user_id) {
  if (absl::StartsWith(user_id, "client:")) return v1::ROLE_CLIENT;
  if (MaySubmitCode(user_id)) return v1::ROLE_CLIENT;
  if (absl::StartsWith(user_id, "worker:")) return v1::ROLE_WORKER;
  return std::nullopt;
}

bool MaySubmitCode(absl::string_view user_id) {
  return absl::StartsWith(user_id, "code-client:");
}

absl::Status PeerAuthorizer::Check(const std::string& peer,
                                   const std::string& user_id,
                                   const v1::Envelope& envelope) {
  std::optional<v1::Role> key_role = RoleOfUserId(user_id);
  if (!key_role.has_value()) {
    // Cannot happen behind ZAP_ENFORCE_DOMAIN; refuse rather than trust.
    return absl::PermissionDeniedError(
        "this connection was not authenticated by a CURVE key");
  }
  if (envelope.body_case() == v1::Envelope::kHello) {
    const v1::Role claimed = envelope.hello().role();
    if (claimed != *key_role) {
      return absl::PermissionDeniedError(absl::StrCat(
          "CURVE key '", user_id, "' may connect as a ",
          RoleName(*key_role), " only, not as a ", RoleName(claimed)));
    }
    user_ids_[peer] = user_id;
    return absl::OkStatus();
  }
  auto it = user_ids_.find(peer);
  if (it != user_ids_.end() && it->second != user_id) {
    return absl::PermissionDeniedError(absl::StrCat(
        "message from CURVE key '", user_id,
        "' on a connection registered by another key"));
  }
  if (code_needs_key_ && envelope.has_submit_job() &&
      envelope.submit_job().has_code() && !MaySubmitCode(user_id)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "CURVE key '", user_id,
        "' may not submit code jobs; the broker's --curve-code-clients "
        "directory must hold its .pub"));
  }
  // Not registered here: the Scheduler refuses it for want of a Hello.
  return absl::OkStatus();
}

void PeerAuthorizer::PruneIfLarge(
    const std::function<bool(const std::string&)>& registered) {
  if (user_ids_.size() < prune_at_) return;
  std::vector<std::string> gone;
  for (const auto& [peer, user_id] : user_ids_) {
    if (!registered(peer)) gone.push_back(peer);
  }
  for (const std::string& peer : gone) user_ids_.erase(peer);
  prune_at_ = std::max<size_t>(1024, 2 * user_ids_.size());
}

}  // namespace tq
