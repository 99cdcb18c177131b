// ClientSession's jobs across connections (client_session.h): a lost
// connection detaches them; after the next Welcome each is attached again
// (or its unanswered submit sent again, with the same idempotency key), its
// streamed input completed where the broker lacks it; and the
// acknowledgements that let the broker forget results for good.
#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/client_session.h"
#include "common/protocol.h"
#include "common/status_macros.h"

namespace tq {
namespace internal {

absl::uint128 ClientSession::TotalItems(const JobState& job) {
  return job.streamed ? job.items_appended
                      : absl::uint128(job.range_last_index) + 1;
}

bool ClientSession::AllResultsIn(const JobState& job) {
  return job.coverage.covered() == TotalItems(job) &&
         (!job.streamed || job.input_complete);
}

void ClientSession::FailAndCancel(JobState& job, absl::Status status) {
  FailJob(job, std::move(status));
  v1::Envelope cancel;
  cancel.mutable_cancel_job()->set_job_id(job.job_id);
  Enqueue(std::move(cancel));
}

// --- Losing and resuming a connection -----------------------------------

void ClientSession::DetachJobs(int64_t now_us) {
  const int64_t deadline = now_us + options_.resume_timeout_ms * 1000;
  // Attaches not answered go again on the next connection.
  attaches_.clear();
  std::set<uint64_t> held;
  for (const Held& request : held_) held.insert(request.request_id);
  for (auto& [request_id, job] : by_request_) {
    // A held submit was never sent: it waits as a new request does.
    if (held.count(request_id) > 0) continue;
    job->resubmit = true;
    if (job->resume_deadline_us == 0) job->resume_deadline_us = deadline;
  }
  for (auto it = by_job_.begin(); it != by_job_.end();) {
    JobState& job = *it->second;
    if (job.finished) {  // failed here: nothing to resume
      it = by_job_.erase(it);
      continue;
    }
    job.detached = true;
    job.attach_request_id = 0;
    job.ack_due_us = 0;  // acks wait for the attach
    // A job already waiting keeps its first deadline.
    if (job.resume_deadline_us == 0) job.resume_deadline_us = deadline;
    ++it;
  }
}

void ClientSession::ResumeJobs() {
  for (auto& [request_id, job] : by_request_) {
    if (!job->resubmit) continue;
    job->resubmit = false;
    // The same SubmitJob, idempotency key included: a broker that accepted
    // the first answers with that job.
    if (auto it = submits_.find(request_id); it != submits_.end()) {
      outbox_.push_back(it->second);
    }
  }
  for (auto& [job_id, job] : by_job_) {
    if (job->detached && job->attach_request_id == 0) SendAttach(job);
  }
}

void ClientSession::SendAttach(const std::shared_ptr<JobState>& job) {
  job->attach_request_id = next_request_id_++;
  attaches_[job->attach_request_id] = job;
  v1::Envelope envelope;
  v1::AttachJob* attach = envelope.mutable_attach_job();
  attach->set_request_id(job->attach_request_id);
  attach->set_job_id(job->job_id);
  attach->set_job_token(job->job_token);
  // What we hold beyond the acks the broker confirmed: buffered, consumed,
  // and acknowledged since its last answer (such an ack may have been lost
  // with the connection; held, the broker keeps those results as delivered
  // rather than computing them again, and takes the ack sent again).
  for (const ItemCoverage::Run& run :
       job->coverage.Minus(job->acks.confirmed())) {
    v1::Range* have = attach->add_have();
    have->set_first(run.first);
    have->set_last(static_cast<uint64_t>(run.end - 1));
  }
  attach->set_result_window(job->window);
  Enqueue(std::move(envelope));
}

void ClientSession::HandleAttached(JobState& job,
                                   const v1::JobAccepted& accepted) {
  job.attach_request_id = 0;
  if (!job.detached || job.finished) return;  // given up meanwhile
  job.detached = false;
  job.resume_deadline_us = 0;
  if (job.released) {
    FailAndCancel(job, absl::CancelledError("job released"));
    by_job_.erase(job.job_id);
    return;
  }
  if (accepted.job_id() != job.job_id || accepted.result_window() == 0) {
    FailAndCancel(job, absl::InternalError(absl::StrCat(
                           "broker answered the attach of job ", job.job_id,
                           " with job ", accepted.job_id(), " and window ",
                           accepted.result_window())));
    return;
  }
  // The attach is fresh credit: the window, whatever was granted before.
  job.window = accepted.result_window();
  job.granted = job.received + job.window;
  job.ungranted = 0;
  if (job.cancelled) {
    v1::Envelope cancel;
    cancel.mutable_cancel_job()->set_job_id(job.job_id);
    Enqueue(std::move(cancel));
    return;
  }
  if (absl::Status s = job.acks.Reconcile(accepted.acknowledged(),
                                          accepted.acknowledged_count(),
                                          TotalItems(job));
      !s.ok()) {
    FailAndCancel(job, std::move(s));
    return;
  }
  if (job.streamed) {
    if (absl::Status s = ResendInput(job, accepted.chunks_received(),
                                     accepted.input_complete());
        !s.ok()) {
      FailAndCancel(job, std::move(s));
      return;
    }
  }
  FlushAcks(job);
  FeedPending(job);
}

absl::Status ClientSession::HandleAdopted(JobState& job,
                                          const v1::JobAccepted& accepted) {
  const v1::SubmitJob& spec = accepted.job();
  if (accepted.job_id() != job.job_id || accepted.result_window() == 0 ||
      (!spec.has_range() && !spec.has_stream()) ||
      (spec.has_range() && spec.range().first() > spec.range().last())) {
    return absl::InternalError(absl::StrCat(
        "broker answered the attach of job ", job.job_id, " with job ",
        accepted.job_id(), ", window ", accepted.result_window(),
        " and no valid description of its input"));
  }
  job.is_code = spec.has_code();
  job.task = spec.task();
  job.count_reduction = spec.reduction() == v1::REDUCTION_COUNT;
  job.window = accepted.result_window();
  job.granted = job.window;
  job.chunk_size = accepted.chunk_size();
  job.chunk_count = accepted.chunk_count();
  if (spec.has_range()) {
    job.range_lo = spec.range().first();
    job.range_last_index = spec.range().last() - spec.range().first();
  } else {
    // The broker refuses these (AttachJob.adopt); a broker that did not is
    // wrong.
    if (!job.is_code || !accepted.input_complete()) {
      return absl::InternalError(absl::StrCat(
          "broker attached job ", job.job_id,
          ", whose input only its submitter has"));
    }
    job.streamed = true;
    job.input_complete = true;
    job.appended = accepted.chunks_received();
    job.items_appended = accepted.items_received();
  }
  TQ_RETURN_IF_ERROR(job.acks.Reconcile(accepted.acknowledged(),
                                        accepted.acknowledged_count(),
                                        TotalItems(job)));
  // Acknowledged items never come: they count as covered, and ordered
  // reading passes over them.
  for (const ItemCoverage::Run& run : job.acks.acknowledged().Runs()) {
    job.coverage.Merge(run.first, run.end);
    job.buffer.Skip(run.first, run.end);
  }
  job.acknowledged_before = job.coverage.covered();
  job.acknowledged_count_before = accepted.acknowledged_count();
  job.mark = accepted.mark();
  return absl::OkStatus();
}

void ClientSession::HandleAttachError(JobState& job, const v1::Error& error) {
  job.attach_request_id = 0;
  by_job_.erase(job.job_id);  // the caller holds the job
  if (job.released || job.finished) return;
  const absl::Status status = StatusFromBrokerError(error);
  if (absl::IsNotFound(status)) {
    // Every result is here already: only the JobFinished was lost.
    if (AllResultsIn(job)) {
      job.detached = false;
      job.finished = true;
      return;
    }
    FailJob(job, absl::UnavailableError(absl::StrCat(
                     "job ", job.job_id,
                     " was lost with the connection: broker at ",
                     options_.endpoint,
                     " does not know it any more (", status.message(),
                     "): a broker started without --journal forgets its jobs "
                     "when it restarts, or the job ended meanwhile")));
    return;
  }
  FailJob(job, absl::Status(status.code(),
                            absl::StrCat("broker at ", options_.endpoint,
                                         " refused to attach job ", job.job_id,
                                         " again: ", status.message())));
}

absl::Status ClientSession::ResendInput(JobState& job, uint64_t from,
                                        bool broker_complete) {
  if (from > job.appended ||
      (broker_complete && (from != job.appended || !job.input_complete))) {
    return absl::InternalError(absl::StrCat(
        "broker says it holds ", from, " input chunks of job ", job.job_id,
        broker_complete ? " and their end" : "", "; this client appended ",
        job.appended, job.input_complete ? " and ended the input" : ""));
  }
  v1::Envelope envelope;
  std::vector<Payload> payloads;
  size_t bytes = 0;
  auto send = [&] {
    Enqueue(std::move(envelope), std::move(payloads));
    envelope = v1::Envelope();
    payloads.clear();
    bytes = 0;
  };
  for (uint64_t index = from; index < job.appended; ++index) {
    auto first = job.index_first.find(index);
    if (first == job.index_first.end()) {
      return absl::UnavailableError(absl::StrCat(
          "broker at ", options_.endpoint, " lost input chunk ", index,
          " of job ", job.job_id,
          ", whose results this client has and whose input it no longer "
          "keeps"));
    }
    const PendingChunk& chunk = job.metas.at(first->second);
    v1::AppendInput* append = envelope.mutable_append_input();
    if (append->chunks_size() >= kMaxChunksPerAppend ||
        (append->chunks_size() > 0 &&
         bytes + chunk.payload.size() > kMaxPayloadBytes)) {
      send();
      append = envelope.mutable_append_input();
    }
    append->set_job_id(job.job_id);
    v1::ChunkInput* input = append->add_chunks();
    *input = chunk.input;
    if (input->input_case() == v1::ChunkInput::kPayload) {
      input->set_payload(static_cast<uint32_t>(payloads.size()));
      payloads.push_back(chunk.payload);
      bytes += chunk.payload.size();
    }
  }
  if (job.input_complete && !broker_complete) {
    envelope.mutable_append_input()->set_job_id(job.job_id);
    envelope.mutable_append_input()->set_complete(true);
  }
  if (envelope.has_append_input()) send();
  return absl::OkStatus();
}

void ClientSession::ExpireResumes(int64_t now_us) {
  const std::string waited = DurationText(options_.resume_timeout_ms);
  for (auto it = by_request_.begin(); it != by_request_.end();) {
    JobState& job = *it->second;
    if (job.resume_deadline_us == 0 || job.resume_deadline_us > now_us) {
      ++it;
      continue;
    }
    job.answered = true;
    job.submit_status = absl::UnavailableError(absl::StrCat(
        lost_why_, "; the submit was lost with the connection (no broker "
        "answered it again within ", waited, ")"));
    submits_.erase(it->first);
    it = by_request_.erase(it);
  }
  for (auto it = by_job_.begin(); it != by_job_.end();) {
    JobState& job = *it->second;
    if (!job.detached || job.resume_deadline_us == 0 ||
        job.resume_deadline_us > now_us) {
      ++it;
      continue;
    }
    if (job.attach_request_id != 0) attaches_.erase(job.attach_request_id);
    FailJob(job, absl::UnavailableError(absl::StrCat(
                     lost_why_, "; job ", job.job_id,
                     " and the jobs in flight were lost with the connection "
                     "(not attached again within ", waited, ")")));
    it = by_job_.erase(it);
  }
}

// --- Acknowledgements ---------------------------------------------------

void ClientSession::Consumed(JobState& job, const ChunkResult& result,
                             int64_t now_us) {
  if (job.cancelled || (job.finished && !job.final_status.ok())) return;
  const uint64_t count =
      job.count_reduction && !result.failed() ? result.count() : 0;
  job.acks.Consumed(result.first_item(), result.size(), count,
                    /*hold=*/job.manual_ack);
  if (job.manual_ack) return;
  const uint64_t batch = std::max<uint64_t>(1, job.window / 2);
  if (job.acks.waiting_results() >= batch ||
      (job.buffer.empty() && AllResultsIn(job))) {
    FlushAcks(job);
  } else if (job.ack_due_us == 0 && !job.detached) {
    job.ack_due_us = now_us + kAckDelayMs * 1000;
  }
}

void ClientSession::FlushAcks(JobState& job) {
  job.ack_due_us = 0;
  // Not attached: they go after the attach (HandleAttached).
  if (!job.acks.has_waiting() || state_ != State::kConnected ||
      job.detached || job.job_id == 0 || job.cancelled ||
      (job.finished && !job.final_status.ok())) {
    return;
  }
  v1::Envelope envelope;
  v1::AckResults* ack = envelope.mutable_ack_results();
  ack->set_job_id(job.job_id);
  job.acks.TakeWaiting(ack);
  Enqueue(std::move(envelope));
}

void ClientSession::Acknowledge(JobState& job, std::string mark) {
  job.acks.ReleaseHeld(std::move(mark));
  FlushAcks(job);
}

}  // namespace internal
}  // namespace tq
