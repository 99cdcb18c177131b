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
// 6: ReturnQueued, ChunkReports.returned, Assignment.run_first.
inline constexpr uint32_t kProtocolVersion = 6;

// Size limits of the framing (proto/tq/v1/tq.proto, top). No frame, the
// envelope's included, exceeds kMaxFrameBytes: every tq socket sets it as
// ZMQ_MAXMSGSIZE, which libzmq applies per frame, so a peer that starts a
// larger frame is disconnected before the process holds more of it. It is
// what one unauthenticated connection can make the broker hold in a
// half-sent frame (README "Hostile peers and overload"), hence small; large
// payloads simply take more frames.
inline constexpr size_t kMaxFrameBytes = size_t{256} << 10;
// A job's task parameters (SubmitJob.params, keys and values): every
// Assignment repeats them, so they must stay far below kMaxFrameBytes.
inline constexpr size_t kMaxParamsBytes = 16 << 10;
// One payload: a chunk's encoded items, a chunk's result, a code blob.
inline constexpr uint64_t kMaxPayloadBytes = uint64_t{16} << 20;
// One message, envelope and payloads together; a receiver drops larger ones.
inline constexpr uint64_t kMaxMessageBytes = uint64_t{64} << 20;
// AckResults.mark: the broker keeps (and journals) one per job.
inline constexpr size_t kMaxAckMarkBytes = 256;

// The most result credit a job gets from a default broker
// (BrokerOptions::max_result_window).
inline constexpr uint32_t kDefaultMaxResultWindow = 256;

// Liveness defaults: send something at least every interval; a peer silent
// for the timeout is gone. A dead, frozen or cut-off worker is declared lost
// within timeout + one tick (< 4 s) of its last message.
inline constexpr int64_t kDefaultHeartbeatIntervalMs = 1000;
inline constexpr int64_t kDefaultHeartbeatTimeoutMs = 3000;

// The envelope's body name ("hello", "submit_job", ...), "empty" if unset.
std::string_view BodyName(const v1::Envelope& envelope);

// Serializes `envelope` into a string (the message's first frame).
std::string SerializeEnvelope(const v1::Envelope& envelope);

// Parses an envelope frame. Network input is untrusted: an oversized or
// malformed frame, or one with no body, is kInvalidArgument naming what was
// wrong. The payload sizes it announces are checked against the limits
// above here, and against the frames that follow by the socket layer.
absl::StatusOr<v1::Envelope> ParseEnvelope(const void* data, size_t size);
// The same checks, parsing into `envelope` (e.g. one on an arena), which
// holds whatever was parsed when the status is not OK.
absl::Status ParseEnvelopeInto(const void* data, size_t size,
                               v1::Envelope* envelope);

// "Busy": a refusal the same request may overcome later (the broker's
// limits on jobs, chunks in flight or connections were reached).
// RESOURCE_EXHAUSTED, marked retryable: on the wire Error.retryable is set
// (tq-client exits 4 on it). IsRetryable() tells such a status, whether made
// here or read back from the wire by StatusFromError.
absl::Status BusyError(absl::string_view message);
bool IsRetryable(const absl::Status& status);

// The wire form of a status (code number + message + retryable), and back.
v1::Error ErrorFromStatus(const absl::Status& status, uint64_t job_id = 0,
                          uint64_t request_id = 0);
absl::Status StatusFromError(const v1::Error& error);
absl::Status StatusFromCode(int32_t code, absl::string_view message);

}  // namespace tq

#endif  // TQ_COMMON_PROTOCOL_H_
