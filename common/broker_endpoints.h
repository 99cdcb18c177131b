// The brokers a client or worker may use: one endpoint, or the two of a
// standby pair (--broker=tcp://a:5555,tcp://b:5555, TQ_BROKER likewise),
// each with its CURVE server key when CURVE is on. A client or worker
// starts with the first and, losing it (silence, or a standby's refusal),
// connects to the next, round-robin.
#ifndef TQ_COMMON_BROKER_ENDPOINTS_H_
#define TQ_COMMON_BROKER_ENDPOINTS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/curve.h"

namespace tq {

struct BrokerEndpoint {
  std::string address;                   // "tcp://host:5555"
  std::optional<CurveClientKeys> curve;  // nullopt: plaintext
};

// Splits `brokers` at commas (blanks around them ignored) and loads the
// CURVE keys: our secret `key_file` and `server_key_files`, a comma list of
// the brokers' public key files, one per endpoint in the same order (or one
// for all). Both key settings empty: plaintext. Errors (kInvalidArgument or
// the key loader's) name what was wrong: an empty list or entry, one key
// setting without the other, a key count that does not match.
absl::StatusOr<std::vector<BrokerEndpoint>> ParseBrokerEndpoints(
    const std::string& brokers, const std::string& key_file,
    const std::string& server_key_files, std::string* warning);

}  // namespace tq

#endif  // TQ_COMMON_BROKER_ENDPOINTS_H_
