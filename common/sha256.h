// SHA-256, for content-addressing shipped code (CodeSpec, CodeBlob): the
// broker checks every blob a client sends against the digest it claims, so a
// peer can never get other code run under someone else's digest. libsodium
// provides it (libzmq already links libsodium for CURVE, so it costs no
// extra library at start-up).
#ifndef TQ_COMMON_SHA256_H_
#define TQ_COMMON_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/payload.h"

namespace tq {

inline constexpr size_t kSha256Bytes = 32;

// The 32-byte digest of `bytes` / of a payload's bytes.
std::string Sha256(absl::string_view bytes);
std::string Sha256(const Payload& payload);

// Lower-case hex of a digest (or any bytes), for logs and messages.
std::string HexDigest(absl::string_view digest);

}  // namespace tq

#endif  // TQ_COMMON_SHA256_H_
