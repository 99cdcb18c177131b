#include "client/client_session.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/protocol.h"
#include "common/random.h"
#include "common/status_macros.h"

namespace tq {
namespace internal {
namespace {

// With a list of brokers, a first connection attempt waits at least this
// long for its Welcome before the next broker is tried.
constexpr int64_t kListAttemptMs = 1000;
// After a standby's refusal, the next broker is asked this much later.
constexpr int64_t kStandbyRetryMs = 100;

// Marks `status` as the broker's verdict on the job (tq-client exits 2).
absl::Status JobFailure(absl::Status status) {
  status.SetPayload(kJobFailurePayload, absl::Cord());
  return status;
}

// 16 bytes from the system's random source: a key no other submit (of this
// process or any other) picks.
std::string RandomKey() { return RandomBytes(16); }

}  // namespace

std::string DurationText(int64_t ms) {
  return absl::FormatDuration(absl::Milliseconds(ms));
}

absl::Status StatusFromBrokerError(const v1::Error& error) {
  absl::Status status = StatusFromError(error);
  if (error.retryable() && !status.ok()) {
    status = absl::Status(
        status.code(),
        absl::StrCat(status.message(),
                     " (the broker is busy: retry the same request later)"));
    status.SetPayload(kRetryablePayload, absl::Cord());
  }
  return status;
}

ClientSession::ClientSession(ClientSessionOptions options, int64_t now_us)
    : options_(std::move(options)), liveness_(options_.liveness) {
  SendHello(now_us);
  connect_deadline_us_ = now_us + options_.connect_timeout_ms * 1000;
  // The first Welcome may take the whole connect timeout; with a list of
  // brokers, each takes its turn.
  welcome_deadline_us_ =
      options_.endpoint_count > 1
          ? std::min(connect_deadline_us_,
                     std::max(welcome_deadline_us_, now_us + kListAttemptMs * 1000))
          : connect_deadline_us_;
}

// --- Connection ---------------------------------------------------------

void ClientSession::SendHello(int64_t now_us) {
  state_ = State::kConnecting;
  welcome_deadline_us_ = liveness_.Connecting(now_us);
  v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(kProtocolVersion);
  hello.mutable_hello()->set_role(v1::ROLE_CLIENT);
  hello.mutable_hello()->set_name(options_.name);
  hello.mutable_hello()->set_failed_over(hello_sent_ && !standby_refused_);
  hello_sent_ = true;
  standby_refused_ = false;
  Enqueue(std::move(hello));
}

void ClientSession::OnWelcome(const v1::Welcome& welcome, int64_t now_us) {
  if (welcome.protocol_version() != kProtocolVersion) {
    CloseWith(absl::FailedPreconditionError(absl::StrCat(
        "broker at ", options_.endpoint, " speaks protocol version ",
        welcome.protocol_version(), "; this client speaks ", kProtocolVersion,
        " (use tq-client and tq-broker of the same release)")));
    return;
  }
  if (ever_welcomed_) ++reconnects_;
  ever_welcomed_ = true;
  state_ = State::kConnected;
  welcome_ = welcome;
  liveness_.Welcomed(welcome, now_us);
  // Jobs of the lost connection are taken up again; then requests made
  // while we were away go out, in order.
  ResumeJobs();
  for (Held& held : held_) {
    outbox_.push_back(std::move(held.message));
  }
  held_.clear();
  if (has_outgoing()) liveness_.Sent(now_us);
}

void ClientSession::Lose(absl::Status why, int64_t now_us) {
  if (!ever_welcomed_) {
    CloseWith(std::move(why));
    return;
  }
  // What was queued for the old connection dies with it (acks and input
  // are sent again after the attach); held requests wait for the new one.
  outbox_.clear();
  lost_why_ = std::string(why.message());
  // Status requests are not resumed: kUnavailable (tq-client exits 3).
  for (auto& [id, reply] : status_requests_) {
    if (!reply.has_value()) {
      reply = absl::UnavailableError(absl::StrCat(
          why.message(), "; the request was lost with the connection"));
    }
  }
  DetachJobs(now_us);
  reconnect_ = true;
  SendHello(now_us);
}

void ClientSession::CloseWith(absl::Status why) {
  state_ = State::kClosed;
  closed_status_ = why;
  FailInFlight(why);
  ExpireHeld(0, /*force=*/true, why);
  outbox_.clear();
}

void ClientSession::FailInFlight(const absl::Status& status) {
  for (auto& [id, job] : by_request_) {
    job->answered = true;
    job->submit_status = status;
  }
  for (auto& [id, job] : by_job_) FailJob(*job, status);
  by_request_.clear();
  by_job_.clear();
  submits_.clear();
  attaches_.clear();
  for (auto& [id, reply] : status_requests_) {
    if (!reply.has_value()) reply = status;
  }
}

void ClientSession::OnTick(int64_t now_us) {
  ExpireHeld(now_us, /*force=*/false, absl::Status());
  ExpireResumes(now_us);
  switch (state_) {
    case State::kClosed:
      return;
    case State::kConnecting:
      if (now_us < welcome_deadline_us_) return;
      if (!ever_welcomed_ && now_us >= connect_deadline_us_) {
        CloseWith(absl::UnavailableError(absl::StrCat(
            "no answer from broker at ", options_.endpoint, " within ",
            DurationText(options_.connect_timeout_ms))));
      } else {
        reconnect_ = true;  // no Welcome: try again on a new socket
        SendHello(now_us);
        if (!ever_welcomed_) {
          welcome_deadline_us_ = std::min(
              connect_deadline_us_,
              std::max(welcome_deadline_us_, now_us + kListAttemptMs * 1000));
        }
      }
      return;
    case State::kConnected:
      if (liveness_.Silent(now_us)) {
        Lose(absl::UnavailableError(absl::StrCat(
                 "lost contact with broker at ", options_.endpoint,
                 ": silent for ", DurationText(liveness_.silent_ms(now_us)))),
             now_us);
        return;
      }
      for (auto& [id, job] : by_job_) {
        if (job->ack_due_us != 0 && job->ack_due_us <= now_us) FlushAcks(*job);
      }
      if (has_outgoing()) liveness_.Sent(now_us);
      if (liveness_.HeartbeatDue(now_us)) {
        v1::Envelope heartbeat;
        heartbeat.mutable_heartbeat();
        Enqueue(std::move(heartbeat));
        liveness_.Sent(now_us);
      }
      return;
  }
}

void ClientSession::OnHandshakeFailed(const std::string& why, int64_t now_us) {
  if (state_ == State::kClosed) return;
  absl::Status status = absl::UnavailableError(why);
  if (!ever_welcomed_) {
    CloseWith(std::move(status));
  } else if (state_ == State::kConnected) {
    Lose(std::move(status), now_us);
  }
  // Reconnecting: the attempt times out and the next one follows.
}

void ClientSession::Close(int64_t now_us) {
  if (state_ == State::kClosed) return;
  const bool say_goodbye = state_ == State::kConnected;
  CloseWith(absl::CancelledError("the session was closed"));
  if (say_goodbye) {
    v1::Envelope goodbye;
    goodbye.mutable_goodbye();
    Enqueue(std::move(goodbye));
    liveness_.Sent(now_us);
  }
}

std::vector<Outgoing> ClientSession::TakeOutgoing() {
  return std::exchange(outbox_, {});
}

bool ClientSession::TakeReconnect() { return std::exchange(reconnect_, false); }

int64_t ClientSession::NextDeadlineUs() const {
  int64_t deadline = std::numeric_limits<int64_t>::max();
  if (state_ == State::kConnecting) deadline = welcome_deadline_us_;
  if (state_ == State::kConnected) deadline = liveness_.NextDeadlineUs();
  for (const Held& held : held_) deadline = std::min(deadline, held.deadline_us);
  for (const auto* jobs : {&by_request_, &by_job_}) {
    for (const auto& [id, job] : *jobs) {
      if (job->resume_deadline_us != 0) {
        deadline = std::min(deadline, job->resume_deadline_us);
      }
      if (job->ack_due_us != 0 && state_ == State::kConnected) {
        deadline = std::min(deadline, job->ack_due_us);
      }
    }
  }
  return deadline;
}

// --- Requests -----------------------------------------------------------

void ClientSession::Request(v1::Envelope envelope, std::vector<Payload> payloads,
                            int64_t now_us) {
  const size_t bytes = PayloadBytes(payloads);
  Outgoing message{std::move(envelope), std::move(payloads), bytes};
  if (state_ == State::kConnected) {
    outbox_.push_back(std::move(message));
    liveness_.Sent(now_us);
    return;
  }
  const uint64_t request_id =
      message.envelope.has_submit_job()
          ? message.envelope.submit_job().request_id()
      : message.envelope.has_attach_job()
          ? message.envelope.attach_job().request_id()
          : message.envelope.status_request().request_id();
  held_.push_back(Held{request_id, now_us + options_.connect_timeout_ms * 1000,
                       std::move(message)});
}

void ClientSession::ExpireHeld(int64_t now_us, bool force,
                               const absl::Status& why) {
  while (!held_.empty() && (force || held_.front().deadline_us <= now_us)) {
    const uint64_t request_id = held_.front().request_id;
    held_.pop_front();
    FailRequest(request_id,
                force ? why
                      : absl::UnavailableError(absl::StrCat(
                            "not connected to broker at ", options_.endpoint,
                            ": no Welcome within ",
                            DurationText(options_.connect_timeout_ms),
                            " of reconnecting")));
  }
}

void ClientSession::FailRequest(uint64_t request_id, const absl::Status& status) {
  if (auto it = by_request_.find(request_id); it != by_request_.end()) {
    it->second->answered = true;
    it->second->submit_status = status;
    by_request_.erase(it);
  }
  submits_.erase(request_id);
  if (auto it = status_requests_.find(request_id);
      it != status_requests_.end() && !it->second.has_value()) {
    it->second = status;
  }
}

absl::Status ClientSession::Submit(v1::SubmitJob submit,
                                   std::vector<Payload> payloads,
                                   const std::shared_ptr<JobState>& job,
                                   int64_t now_us) {
  if (state_ == State::kClosed) return closed_status_;
  job->request_id = next_request_id_++;
  // What the broker will grant (JobAccepted says it for sure).
  if (welcome_.max_result_window() > 0) {
    job->window = std::min(job->window, welcome_.max_result_window());
  }
  job->window = std::max(job->window, 1u);
  job->granted = job->window;
  submit.set_request_id(job->request_id);
  submit.set_result_window(job->window);
  if (submit.idempotency_key().empty()) submit.set_idempotency_key(RandomKey());
  job->idempotency_key = submit.idempotency_key();
  job->count_reduction = submit.reduction() == v1::REDUCTION_COUNT;
  if (job->streamed) {
    // The first chunks travel with the submit, up to the window.
    v1::InputStream* stream = submit.mutable_stream();
    while (job->appended < job->window) {
      std::optional<InputChunk> chunk = TakePending(*job);
      if (!chunk.has_value()) break;
      TQ_RETURN_IF_ERROR(EncodeChunk(*job, *std::move(chunk),
                                     stream->add_chunks(), &payloads));
    }
    if (job->end_after_pending && job->pending.empty() &&
        job->list_pos >= job->list.size()) {
      stream->set_complete(true);
      job->input_complete = true;
      job->end_after_pending = false;
    } else {
      job->input_complete = false;
    }
  }
  by_request_[job->request_id] = job;
  v1::Envelope envelope;
  *envelope.mutable_submit_job() = std::move(submit);
  // Kept until answered, to go again after a reconnect (payloads are
  // shared, not copied).
  submits_[job->request_id] =
      Outgoing{envelope, payloads, PayloadBytes(payloads)};
  Request(std::move(envelope), std::move(payloads), now_us);
  return absl::OkStatus();
}

absl::Status ClientSession::Adopt(uint64_t job_id, std::string token,
                                  const std::shared_ptr<JobState>& job,
                                  int64_t now_us) {
  if (state_ == State::kClosed) return closed_status_;
  job->request_id = next_request_id_++;
  job->job_id = job_id;
  job->job_token = std::move(token);
  job->adopted = true;
  // 0 stays: the broker answers with the job's own window.
  if (welcome_.max_result_window() > 0) {
    job->window = std::min(job->window, welcome_.max_result_window());
  }
  v1::Envelope envelope;
  v1::AttachJob* attach = envelope.mutable_attach_job();
  attach->set_request_id(job->request_id);
  attach->set_job_id(job_id);
  attach->set_job_token(job->job_token);
  attach->set_result_window(job->window);
  attach->set_adopt(true);
  // Answered like a submit (by_request_), and sent again like one after a
  // reconnect.
  by_request_[job->request_id] = job;
  submits_[job->request_id] = Outgoing{envelope, {}, 0};
  Request(std::move(envelope), {}, now_us);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ClientSession::RequestStatus(int64_t now_us) {
  if (state_ == State::kClosed) return closed_status_;
  const uint64_t request_id = next_request_id_++;
  status_requests_[request_id] = std::nullopt;
  v1::Envelope envelope;
  envelope.mutable_status_request()->set_request_id(request_id);
  Request(std::move(envelope), {}, now_us);
  return request_id;
}

std::optional<absl::StatusOr<v1::StatusReply>> ClientSession::TakeStatusReply(
    uint64_t id) {
  auto it = status_requests_.find(id);
  if (it == status_requests_.end()) {
    return absl::StatusOr<v1::StatusReply>(
        absl::InternalError(absl::StrCat("no status request ", id)));
  }
  if (!it->second.has_value()) return std::nullopt;
  std::optional<absl::StatusOr<v1::StatusReply>> reply = std::move(it->second);
  status_requests_.erase(it);
  return reply;
}

// --- Messages from the broker -------------------------------------------

void ClientSession::OnMessage(const v1::Envelope& envelope,
                              const std::vector<Payload>& payloads,
                              int64_t now_us) {
  if (state_ == State::kClosed) return;
  liveness_.Heard(now_us);
  if (state_ == State::kConnecting) {
    // Only the answer to our Hello counts; anything else is from the old
    // connection's broker state or garbage.
    if (envelope.has_welcome()) {
      OnWelcome(envelope.welcome(), now_us);
    } else if (envelope.has_error() && envelope.error().standby()) {
      // A standby pair's broker that does not serve: ask the next one
      // soon (OnTick), not at once, or two standbys would be asked in a
      // loop; the first connection until connect_timeout_ms.
      standby_refused_ = true;
      welcome_deadline_us_ =
          std::min(welcome_deadline_us_, now_us + kStandbyRetryMs * 1000);
    } else if (envelope.has_error()) {
      absl::Status status = StatusFromBrokerError(envelope.error());
      absl::Status refused(status.code(),
                           absl::StrCat("broker at ", options_.endpoint,
                                        " refused us: ", status.message()));
      if (IsRetryable(status)) {
        refused.SetPayload(kRetryablePayload, absl::Cord());
        // Busy: a later attempt may get in (the first attempt reports it).
        if (ever_welcomed_) return;
      }
      CloseWith(std::move(refused));
    }
    return;
  }
  switch (envelope.body_case()) {
    case v1::Envelope::kJobAccepted:
      HandleAccepted(envelope.job_accepted());
      break;
    case v1::Envelope::kError:
      HandleError(envelope.error(), now_us);
      break;
    case v1::Envelope::kJobResults:
      HandleResults(envelope.job_results(), payloads);
      break;
    case v1::Envelope::kJobFinished:
      HandleFinished(envelope.job_finished(), payloads);
      break;
    case v1::Envelope::kStatusReply: {
      auto it = status_requests_.find(envelope.status_reply().request_id());
      if (it != status_requests_.end()) it->second = envelope.status_reply();
      break;
    }
    case v1::Envelope::kGoodbye:
      Lose(absl::UnavailableError(
               absl::StrCat("broker at ", options_.endpoint, " is shutting down")),
           now_us);
      break;
    default:
      break;  // heartbeats only prove liveness; anything else is ignored
  }
}

void ClientSession::HandleAccepted(const v1::JobAccepted& accepted) {
  if (auto at = attaches_.find(accepted.request_id()); at != attaches_.end()) {
    std::shared_ptr<JobState> job = at->second;
    attaches_.erase(at);
    HandleAttached(*job, accepted);
    return;
  }
  auto it = by_request_.find(accepted.request_id());
  if (it == by_request_.end()) return;
  std::shared_ptr<JobState> job = it->second;
  by_request_.erase(it);
  submits_.erase(accepted.request_id());
  job->answered = true;
  job->resubmit = false;
  job->resume_deadline_us = 0;
  if (job->adopted) {
    job->submit_status = HandleAdopted(*job, accepted);
    if (job->submit_status.ok()) by_job_[job->job_id] = job;
    return;
  }
  job->job_id = accepted.job_id();
  job->job_token = accepted.job_token();
  job->window = accepted.result_window();
  job->granted = job->window;  // the broker's credit: the window it took
  bool fits = job->window >= 1;
  if (!job->streamed) {
    // A fixed size names the chunks it makes; automatic sizing: 0, 0.
    job->chunk_size = accepted.chunk_size();
    job->chunk_count = accepted.chunk_count();
    fits = fits && (job->chunk_size == 0
                        ? job->chunk_count == 0
                        : job->chunk_count ==
                              job->range_last_index / job->chunk_size + 1);
  }
  if (!fits) {
    job->submit_status = absl::InternalError(absl::StrCat(
        "broker accepted the job with chunk_size ", accepted.chunk_size(),
        ", chunk_count ", accepted.chunk_count(), " and window ",
        accepted.result_window(), ", which do not fit its input"));
    v1::Envelope cancel;
    cancel.mutable_cancel_job()->set_job_id(job->job_id);
    Enqueue(std::move(cancel));
    return;
  }
  by_job_[job->job_id] = job;
  FeedPending(*job);
}

void ClientSession::HandleError(const v1::Error& error, int64_t now_us) {
  if (auto st = status_requests_.find(error.request_id());
      error.request_id() != 0 && st != status_requests_.end()) {
    st->second = StatusFromBrokerError(error);
  } else if (auto it = by_request_.find(error.request_id());
             error.request_id() != 0 && it != by_request_.end()) {
    it->second->answered = true;
    it->second->submit_status = StatusFromBrokerError(error);
    by_request_.erase(it);
    submits_.erase(error.request_id());
  } else if (auto at = attaches_.find(error.request_id());
             error.request_id() != 0 && at != attaches_.end()) {
    std::shared_ptr<JobState> job = at->second;
    attaches_.erase(at);
    HandleAttachError(*job, error);
  } else if (auto jt = by_job_.find(error.job_id());
             error.job_id() != 0 && jt != by_job_.end()) {
    FailJob(*jt->second, StatusFromBrokerError(error));
  } else if (error.job_id() == 0 && error.request_id() == 0) {
    // About the session itself (e.g. a restarted broker does not know us):
    // start a new one.
    Lose(absl::UnavailableError(absl::StrCat(
             "broker at ", options_.endpoint, " ended our session: ",
             StatusFromBrokerError(error).message())),
         now_us);
  }
}

void ClientSession::HandleFinished(const v1::JobFinished& finished,
                                   const std::vector<Payload>& payloads) {
  auto it = by_job_.find(finished.job_id());
  if (it == by_job_.end()) return;
  JobState& job = *it->second;
  if (finished.code() == 0) {
    job.finished = true;
  } else if (finished.user_code_error()) {
    UserCodeError error;
    error.chunk_index = finished.chunk_index();
    if (auto first = job.index_first.find(finished.chunk_index());
        first != job.index_first.end()) {
      error.first_item = first->second;
    }
    if (finished.has_details_payload() &&
        finished.details_payload() < payloads.size()) {
      error.details = payloads[finished.details_payload()].ToString();
    }
    job.user_error = std::move(error);
    FailJob(job, JobFailure(absl::AbortedError(finished.message())));
  } else {
    std::string message = finished.message();
    if (finished.has_failed_item()) {
      message = FailedItemMessage(job, finished.failed_item(), message);
    }
    FailJob(job, JobFailure(StatusFromCode(finished.code(), message)));
  }
  by_job_.erase(it);
}

}  // namespace internal
}  // namespace tq
