#include "common/protocol.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace tq {

std::string_view BodyName(const v1::Envelope& envelope) {
  using E = v1::Envelope;
  switch (envelope.body_case()) {
    case E::kHello: return "hello";
    case E::kWelcome: return "welcome";
    case E::kHeartbeat: return "heartbeat";
    case E::kGoodbye: return "goodbye";
    case E::kError: return "error";
    case E::kSubmitJob: return "submit_job";
    case E::kJobAccepted: return "job_accepted";
    case E::kClientCredit: return "client_credit";
    case E::kCancelJob: return "cancel_job";
    case E::kJobResults: return "job_results";
    case E::kJobFinished: return "job_finished";
    case E::kAppendInput: return "append_input";
    case E::kAckResults: return "ack_results";
    case E::kAttachJob: return "attach_job";
    case E::kAssignments: return "assignments";
    case E::kChunkReports: return "chunk_reports";
    case E::kWorkerCredit: return "worker_credit";
    case E::kRevokeJob: return "revoke_job";
    case E::kDrain: return "drain";
    case E::kReturnQueued: return "return_queued";
    case E::kStatusRequest: return "status_request";
    case E::kStatusReply: return "status_reply";
    case E::BODY_NOT_SET: return "empty";
  }
  return "unknown";
}

std::string SerializeEnvelope(const v1::Envelope& envelope) {
  return envelope.SerializeAsString();
}

absl::Status ParseEnvelopeInto(const void* data, size_t size,
                               v1::Envelope* envelope) {
  if (size > kMaxFrameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "envelope of ", size, " bytes exceeds the frame limit of ",
        kMaxFrameBytes));
  }
  if (!envelope->ParseFromArray(data, static_cast<int>(size))) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed message (", size, " bytes): not a tq.v1.Envelope"));
  }
  if (envelope->body_case() == v1::Envelope::BODY_NOT_SET) {
    return absl::InvalidArgumentError("message has no body");
  }
  uint64_t total = size;
  for (uint64_t payload : envelope->payload_sizes()) {
    if (payload > kMaxPayloadBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("payload of ", payload, " bytes exceeds the limit of ",
                       kMaxPayloadBytes));
    }
    total += payload;
  }
  if (total > kMaxMessageBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message of ", total, " bytes exceeds the limit of ", kMaxMessageBytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Envelope> ParseEnvelope(const void* data, size_t size) {
  v1::Envelope envelope;
  if (absl::Status s = ParseEnvelopeInto(data, size, &envelope); !s.ok()) return s;
  return envelope;
}

namespace {
// The status payload that marks a status retryable (its value is unused).
constexpr char kRetryableUrl[] = "tq.dev/retryable";
}  // namespace

absl::Status BusyError(absl::string_view message) {
  absl::Status status = absl::ResourceExhaustedError(message);
  status.SetPayload(kRetryableUrl, absl::Cord("1"));
  return status;
}

bool IsRetryable(const absl::Status& status) {
  return status.GetPayload(kRetryableUrl).has_value();
}

v1::Error ErrorFromStatus(const absl::Status& status, uint64_t job_id,
                          uint64_t request_id) {
  v1::Error error;
  error.set_code(static_cast<int32_t>(status.code()));
  error.set_message(std::string(status.message()));
  error.set_job_id(job_id);
  error.set_request_id(request_id);
  error.set_retryable(IsRetryable(status));
  return error;
}

absl::Status StatusFromCode(int32_t code, absl::string_view message) {
  if (code < 0 || code > static_cast<int32_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(absl::StrCat("(code ", code, ") ", message));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), message);
}

absl::Status StatusFromError(const v1::Error& error) {
  absl::Status status = StatusFromCode(error.code(), error.message());
  if (error.retryable() && !status.ok()) {
    status.SetPayload(kRetryableUrl, absl::Cord("1"));
  }
  return status;
}

}  // namespace tq
