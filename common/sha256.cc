#include "common/sha256.h"

#include <sodium.h>

#include "absl/strings/escaping.h"

namespace tq {
namespace {

// libsodium asks for sodium_init() before any other call (thread-safe and
// idempotent since 1.0.11).
void EnsureSodium() {
  static const bool initialized = sodium_init() >= 0;
  (void)initialized;
}

}  // namespace

std::string Sha256(absl::string_view bytes) {
  EnsureSodium();
  std::string digest(kSha256Bytes, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(digest.data()),
                     reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size());
  return digest;
}

std::string Sha256(const Payload& payload) {
  EnsureSodium();
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  for (const PayloadFrame& frame : payload.frames()) {
    crypto_hash_sha256_update(
        &state, reinterpret_cast<const unsigned char*>(frame.data), frame.size);
  }
  std::string digest(kSha256Bytes, '\0');
  crypto_hash_sha256_final(&state,
                           reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

std::string HexDigest(absl::string_view digest) {
  return absl::BytesToHexString(digest);
}

}  // namespace tq
