// CurveZMQ keys for tq: making key pairs, reading key files (as tq-keygen
// writes them, or mounted from a Kubernetes Secret), loading a directory of
// public keys as an allowlist, and putting CURVE options on a socket.
//
// Key files hold ZeroMQ's Z85 text (40 characters per 32-byte key):
//   NAME.pub   public-key = "<Z85>"
//   NAME.key   public-key = "<Z85>" and secret-key = "<Z85>"  (mode 0600)
// '#' lines are comments; a file holding only a bare 40-character key is
// accepted too. Keys come only from files, never from the command line.
//
// Thread safety: the functions are thread-safe; a socket they configure
// belongs to its caller's thread as usual.
#ifndef TQ_COMMON_CURVE_H_
#define TQ_COMMON_CURVE_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "zmq.hpp"

namespace tq {

// Z85 text length of a 32-byte CURVE key.
inline constexpr size_t kCurveKeyZ85Length = 40;
// The ZAP domain the broker's ROUTER asks its handler about.
inline constexpr char kCurveZapDomain[] = "tq";

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters; empty for a public key only
};

// A fresh key pair (zmq_curve_keypair). kInternal if libzmq lacks CURVE.
absl::StatusOr<CurveKeyPair> NewCurveKeyPair();

// Writes DIR/NAME.key (mode 0600, both keys) and DIR/NAME.pub (0644).
// kAlreadyExists (naming the file) if either exists: never overwrites.
absl::Status WriteCurveKeyFiles(const std::string& dir, const std::string& name,
                                const CurveKeyPair& pair);

// Reads a public key file. Errors name the file: kNotFound (missing),
// kPermissionDenied (unreadable), kInvalidArgument (no key, wrong length,
// not Z85).
absl::StatusOr<std::string> LoadCurvePublicKey(const std::string& path);

// Reads a secret key file (public key derived if the file lacks it, checked
// against the secret if present). Errors as above; a file other users may
// read (mode o+r) is refused with kPermissionDenied; a group-readable one is
// accepted with a warning in *warning (Kubernetes' fsGroup makes mounted
// Secrets group-readable).
absl::StatusOr<CurveKeyPair> LoadCurveSecretKey(const std::string& path,
                                                std::string* warning = nullptr);

// Public key (Z85) -> name (the file name without ".pub").
using CurveAllowlist = absl::flat_hash_map<std::string, std::string>;

// Loads every DIR/*.pub. kNotFound if DIR is missing; any bad file is an
// error naming it. An empty directory gives an empty allowlist.
absl::StatusOr<CurveAllowlist> LoadCurveAllowlist(const std::string& dir);

// What a CURVE client (worker, tq-client) needs.
struct CurveClientKeys {
  CurveKeyPair own;
  std::string server_public_key;  // Z85
};

// Loads a client's keys from its own .key file and the broker's .pub file.
// Both empty: nullopt (plaintext). Exactly one given: kInvalidArgument.
absl::StatusOr<std::optional<CurveClientKeys>> LoadCurveClientKeys(
    const std::string& key_file, const std::string& server_key_file,
    std::string* warning = nullptr);

// Makes `socket` a CURVE server that asks the ZAP handler (domain
// kCurveZapDomain) about every peer, and refuses every peer if no handler
// is bound (ZMQ_ZAP_ENFORCE_DOMAIN). Call before bind.
absl::Status ApplyCurveServer(zmq::socket_t& socket, const CurveKeyPair& own);

// Makes `socket` a CURVE client of the server with that public key. Call
// before connect.
absl::Status ApplyCurveClient(zmq::socket_t& socket, const CurveClientKeys& keys);

// Whether `text` is a 40-character Z85 string that decodes.
bool IsZ85Key(const std::string& text);

}  // namespace tq

#endif  // TQ_COMMON_CURVE_H_
