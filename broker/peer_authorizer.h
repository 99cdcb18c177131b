// PeerAuthorizer: with CURVE on, decides for each message whether its
// sender may send it, by the ZAP User-Id libzmq attached to the connection
// ("client:<name>", "code-client:<name>" or "worker:<name>", see
// zap_handler.h), never by anything inside the payload. A Hello must claim
// the role its key has; every later message on that routing id must come
// from the same key; with a code allowlist, only code-client keys may submit
// code jobs. Sans-I/O: the broker loop asks it, and turns a refusal into
// Scheduler::OnUnauthorized.
//
// Thread safety: not thread-safe; the broker loop thread owns it.
#ifndef TQ_BROKER_PEER_AUTHORIZER_H_
#define TQ_BROKER_PEER_AUTHORIZER_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// The role a ZAP User-Id grants, or nullopt if it grants none.
std::optional<v1::Role> RoleOfUserId(absl::string_view user_id);

// Whether the User-Id's key is in the code clients allowlist.
bool MaySubmitCode(absl::string_view user_id);

class PeerAuthorizer {
 public:
  // `code_needs_key`: a code allowlist is configured, so code jobs need a
  // code-client key.
  explicit PeerAuthorizer(bool code_needs_key = false)
      : code_needs_key_(code_needs_key) {}

  // OK: hand the message to the Scheduler. kPermissionDenied (the message
  // says why, for the peer): refuse it; the peer is not registered.
  absl::Status Check(const std::string& peer, const std::string& user_id,
                     const v1::Envelope& envelope);

  // Forgets peers `registered` says are gone, once the table has doubled
  // since the last sweep (amortised O(1) per message).
  void PruneIfLarge(const std::function<bool(const std::string&)>& registered);

  size_t size() const { return user_ids_.size(); }

 private:
  const bool code_needs_key_;
  // Routing id -> the User-Id whose Hello was let through on it.
  absl::flat_hash_map<std::string, std::string> user_ids_;
  size_t prune_at_ = 1024;
};

}  // namespace tq

#endif  // TQ_BROKER_PEER_AUTHORIZER_H_
