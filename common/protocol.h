// What every tq binary shares about the wire: the protocol version, size
// limits and liveness defaults, envelope (de)serialization, the name table
// for logs, and the mapping between absl::Status and the wire Error.
#ifndef TQ_COMMON_PROTOCOL_H_
#define TQ_COMMON_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// Sent in Hello; peers with any other version are refused with an Error.
inline constexpr uint32_t kProtocolVersion = 1;

// Largest message a tq socket accepts (ZMQ_MAXMSGSIZE). A larger one makes
// libzmq drop the connection of the peer that sent it.
inline constexpr int64_t kMaxMessageBytes = 64 << 20;

// Liveness defaults: send something at least every interval; a peer silent
// for the timeout is gone.
inline constexpr int64_t kDefaultHeartbeatIntervalMs = 1000;
inline constexpr int64_t kDefaultHeartbeatTimeoutMs = 5000;

// The envelope's body name ("hello", "submit_job", ...), "empty" if unset.
std::string_view BodyName(const v1::Envelope& envelope);

// Serializes `envelope` into a string (the one frame on the wire).
std::string SerializeEnvelope(const v1::Envelope& envelope);

// Parses one frame. Network input is untrusted: an oversized or malformed
// frame, or one with no body, is kInvalidArgument naming what was wrong.
absl::StatusOr<v1::Envelope> ParseEnvelope(const void* data, size_t size);

// The wire form of a status (code number + message), and back.
v1::Error ErrorFromStatus(const absl::Status& status, uint64_t job_id = 0,
                          uint64_t request_id = 0);
absl::Status StatusFromError(const v1::Error& error);
absl::Status StatusFromCode(int32_t code, absl::string_view message);

}  // namespace tq

#endif  // TQ_COMMON_PROTOCOL_H_
