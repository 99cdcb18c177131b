// Scheduler, part 2: jobs — submit and streamed input, results and client
// credit, cancellation and timeouts, the end of a job. Peers and message
// routing: scheduler.cc; chunks (dispatch, leases, reports, retries,
// stragglers): scheduler_chunks.cc; code jobs' admission: scheduler_code.cc.
#include <algorithm>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "broker/job_plan.h"
#include "broker/scheduler.h"
#include "common/protocol.h"

namespace tq {

void Scheduler::OnSubmit(const std::string& client, Peer& peer,
                         InboundMessage& message, int64_t now_us,
                         Outbox* out) {
  v1::SubmitJob& submit = *message.envelope.mutable_submit_job();
  const uint64_t request_id = submit.request_id();
  auto refuse = [&](const absl::Status& status) {
    ++stats_.jobs_rejected;
    Log(absl::StrCat("refused a job from ", PeerName(client), ": ",
                     status.message()));
    SendError(client, status, now_us, out, 0, request_id);
  };
  if (AttachRetriedSubmit(client, peer, submit, now_us, out)) return;
  if (peer.jobs.size() >= options_.max_jobs_per_client) {
    refuse(BusyError(absl::StrCat(
        "busy: this client already runs ", peer.jobs.size(),
        " jobs, the most this broker allows one client")));
    return;
  }
  // Busy beyond the broker-wide limits (limits: SchedulerOptions).
  uint64_t chunks_held = 0;
  for (const auto& [job_id, job] : jobs_) {
    chunks_held += job->in_flight() + job->undelivered();
  }
  if (jobs_.size() >= options_.max_jobs ||
      chunks_held >= options_.max_chunks_in_flight) {
    refuse(BusyError(absl::StrCat(
        "busy: the broker holds ", jobs_.size(), " jobs (at most ",
        options_.max_jobs, ") and ", chunks_held, " chunks in flight (at most ",
        options_.max_chunks_in_flight, "); try again later")));
    return;
  }
  absl::StatusOr<JobPlan> plan =
      PlanJob(submit, *tasks_, options_.max_result_window);
  if (!plan.ok()) {
    refuse(plan.status());
    return;
  }
  std::vector<Payload> code_payloads;
  if (submit.has_code()) {
    if (absl::Status allowed = CheckCodeJob(submit); !allowed.ok()) {
      refuse(allowed);
      return;
    }
    absl::StatusOr<std::vector<Payload>> blobs =
        TakeCodeBlobs(submit, message.payloads);
    if (!blobs.ok()) {
      refuse(blobs.status());
      return;
    }
    code_payloads = *std::move(blobs);
  }
  // The stream's first chunks go into the job below; the job keeps the rest
  // of the SubmitJob (task, code, limits) for Assignments and status.
  v1::InputStream stream;
  if (submit.has_stream()) stream.Swap(submit.mutable_stream());
  submit.clear_code_blobs();
  if (plan->streamed) submit.mutable_stream()->set_encoding(plan->encoding);
  const uint64_t id = next_job_id_;
  auto job = std::make_unique<ScheduledJob>(
      id, client, submit.has_code() ? peer.owner : "", *plan, std::move(submit),
      std::move(code_payloads));
  if (plan->streamed) {
    absl::Status appended =
        job->AppendInput(stream.chunks(), stream.complete(), message.payloads);
    if (!appended.ok()) {
      refuse(appended);
      return;
    }
  }
  ++next_job_id_;
  AdoptNewJob(*job, message);
  v1::Envelope env;
  v1::JobAccepted* accepted = env.mutable_job_accepted();
  accepted->set_request_id(request_id);
  accepted->set_job_id(id);
  accepted->set_chunk_size(plan->chunk_size);
  accepted->set_chunk_count(plan->streamed ? 0 : plan->chunk_count);
  accepted->set_result_window(plan->window);
  accepted->set_job_token(job->token());
  Send(client, std::move(env), now_us, out);
  Log(absl::StrCat(
      "job ", id, " (",
      job->is_code() ? absl::StrCat(job->submit().code().runtime(), " code")
                     : job->submit().task(),
      ") from ", PeerName(client), ": ",
      plan->streamed         ? "streamed chunks"
      : plan->chunk_size != 0 ? absl::StrCat(plan->chunk_count, " chunks of ",
                                             plan->chunk_size)
                              : "chunks sized by their run time"));
  job->set_submitted_us(now_us);
  BrokerJob& stored = *(jobs_[id] = std::move(job));
  peer.jobs.insert(id);
  job_ring_.push_back(id);
  JobChanged(stored);
  WatchJob(stored);
  ++stats_.jobs_submitted;
  if (observer_ != nullptr) observer_->OnJobSubmitted(id, now_us);
  // A streamed job whose input ended without a chunk is done already.
  if (stored.AllDelivered()) CompleteJob(stored, now_us, out);
}

BrokerJob* Scheduler::OwnedJob(const std::string& client, uint64_t job_id,
                               int64_t now_us, Outbox* out) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    // The job ended while the message travelled (its JobFinished is on
    // its way).
    ++stats_.stale_messages;
    return nullptr;
  }
  if (it->second->client() != client) {
    ++stats_.rejected_not_owner;
    SendError(client,
              absl::PermissionDeniedError(absl::StrCat(
                  "job ", job_id, " belongs to another client")),
              now_us, out, job_id);
    return nullptr;
  }
  return it->second.get();
}

void Scheduler::OnAppendInput(const std::string& client,
                              InboundMessage& message, int64_t now_us,
                              Outbox* out) {
  const v1::AppendInput& append = message.envelope.append_input();
  BrokerJob* owned = OwnedJob(client, append.job_id(), now_us, out);
  if (owned == nullptr) return;
  BrokerJob& job = *owned;
  if (!job.is_streamed()) {
    EndJob(job,
           absl::InvalidArgumentError(absl::StrCat(
               "job ", append.job_id(), " has range input; it takes no more")),
           now_us, out);
    return;
  }
  absl::Status appended =
      job.AppendInput(append.chunks(), append.complete(), message.payloads);
  if (!appended.ok()) {
    EndJob(job, appended, now_us, out);
    return;
  }
  if (journal_ != nullptr) {
    const size_t n = static_cast<size_t>(append.chunks_size());
    journal_->InputAppended(job.id(), job.chunks_appended() - n,
                            job.LastAppended(n), append.complete());
  }
  JobChanged(job);
  if (job.AllDelivered()) CompleteJob(job, now_us, out);
}

void Scheduler::OnClientCredit(const std::string& client,
                               const v1::ClientCredit& credit, int64_t now_us,
                               Outbox* out) {
  BrokerJob* job = OwnedJob(client, credit.job_id(), now_us, out);
  if (job == nullptr) return;
  job->GrantCredit(credit.chunks());
  DeliverResults(*job, now_us, out);
}

void Scheduler::OnCancel(const std::string& client, const v1::CancelJob& cancel,
                         int64_t now_us, Outbox* out) {
  BrokerJob* job = OwnedJob(client, cancel.job_id(), now_us, out);
  if (job == nullptr) return;
  EndJob(*job, absl::CancelledError("cancelled by the client"), now_us, out);
}

void Scheduler::ExpireJobs(int64_t now_us, Outbox* out) {
  // Entries of jobs that ended are met and dropped.
  std::vector<uint64_t> due;
  for (const auto& [due_us, id] : job_timeouts_.PopDue(now_us)) {
    auto job = jobs_.find(id);
    if (job != jobs_.end() && job->second->deadline_us() <= now_us) {
      due.push_back(id);
    }
  }
  std::sort(due.begin(), due.end());
  due.erase(std::unique(due.begin(), due.end()), due.end());
  for (uint64_t id : due) {
    BrokerJob& job = *jobs_.at(id);
    EndJob(job,
           absl::DeadlineExceededError(absl::StrCat(
               "job ", id, " ran past its timeout of ",
               job.submit().timeout_ms() / 1000.0, " s")),
           now_us, out);
  }
}

void Scheduler::DeliverResults(BrokerJob& job, int64_t now_us, Outbox* out,
                               PendingResult* fresh) {
  std::vector<PendingResult> results =
      fresh != nullptr ? job.AddAndTakeDeliverable(std::move(*fresh))
                       : job.TakeDeliverable();
  if (!results.empty()) {
    v1::Envelope env;
    std::vector<Payload> payloads;
    payloads.reserve(results.size());
    auto* list = env.mutable_job_results()->mutable_results();
    for (PendingResult& r : results) {
      v1::ChunkResult* result = list->Add();
      result->set_job_id(job.id());
      result->set_chunk_index(r.chunk_index);
      result->set_run_micros(r.run_micros);
      result->set_first_item(r.first_item);
      result->set_item_count(r.items);
      if (!r.error.ok()) {
        *result->mutable_error() = ErrorFromStatus(r.error, job.id());
        continue;
      }
      result->set_payload(static_cast<uint32_t>(payloads.size()));
      payloads.push_back(std::move(r.payload));
    }
    Send(job.client(), std::move(env), now_us, out, std::move(payloads));
  }
  JobChanged(job);
  if (job.AllDelivered()) CompleteJob(job, now_us, out);
}

void Scheduler::CompleteJob(BrokerJob& job, int64_t now_us, Outbox* out) {
  if (job.AllAcknowledged() || job.ledger().overflowed()) {
    EndJob(job, absl::OkStatus(), now_us, out);
    return;
  }
  if (job.finish_sent() || !job.attached()) return;
  const bool counted = job.completed();
  job.set_finish_sent();
  v1::Envelope env;
  env.mutable_job_finished()->set_job_id(job.id());
  Send(job.client(), std::move(env), now_us, out);
  if (counted) return;  // a client attached after its first finish
  CountEnded(job.id(), absl::OkStatus(), now_us);
  Log(absl::StrCat("job ", job.id(), " ended: done (kept until its client "
                   "acknowledges its last results)"));
}

void Scheduler::CountEnded(uint64_t id, const absl::Status& status,
                           int64_t now_us) {
  if (status.ok()) {
    ++stats_.jobs_completed;
  } else if (absl::IsCancelled(status)) {
    ++stats_.jobs_cancelled;
  } else {
    ++stats_.jobs_failed;
  }
  if (observer_ != nullptr) observer_->OnJobEnded(id, now_us);
}

void Scheduler::EndJob(BrokerJob& job, const absl::Status& status,
                       int64_t now_us, Outbox* out,
                       const UserCodeError* user_error, int64_t failed_item) {
  const uint64_t id = job.id();
  const std::string client = job.client();
  // Whatever is still on workers is withdrawn (a finished job has only the
  // losing copies of speculative re-runs left).
  std::set<std::string> holders;
  job.chunks().ForEach([&](uint64_t, const Chunk& chunk) {
    for (const Holder& holder : chunk.holders) {
      holders.insert(holder.worker);
      handout_table_.Close(holder.ticket);
    }
  });
  for (const std::string& worker : holders) {
    auto peer = peers_.find(worker);
    if (peer == peers_.end()) continue;
    job.chunks().ForEach([&](uint64_t, const Chunk& chunk) {
      if (chunk.FindHolder(worker) != nullptr && peer->second.held > 0) {
        --peer->second.held;
      }
    });
    IndexWorker(peer->second);
    v1::Envelope env;
    env.mutable_revoke_job()->set_job_id(id);
    Send(worker, std::move(env), now_us, out);
  }
  if (auto peer = peers_.find(client); peer != peers_.end()) {
    peer->second.jobs.erase(id);
  }
  if (auto peer = peers_.find(client);
      peer != peers_.end() && !job.finish_sent()) {
    v1::Envelope env;
    std::vector<Payload> payloads;
    v1::JobFinished* finished = env.mutable_job_finished();
    finished->set_job_id(id);
    finished->set_code(static_cast<int32_t>(status.code()));
    finished->set_message(std::string(status.message()));
    if (failed_item >= 0) {
      finished->set_failed_item(static_cast<uint64_t>(failed_item));
    }
    if (user_error != nullptr) {
      finished->set_user_code_error(true);
      finished->set_chunk_index(user_error->chunk_index);
      if (!user_error->details.empty()) {
        finished->set_details_payload(0);
        payloads.push_back(user_error->details);
      }
    }
    Send(client, std::move(env), now_us, out, std::move(payloads));
  }
  // A job whose client was told it finished was counted then; whatever
  // ends it now (its acknowledgements, Goodbye, the grace period) only
  // forgets it.
  if (job.completed()) {
    Log(absl::StrCat("job ", id, " forgotten",
                     status.ok() ? "" : absl::StrCat(": ", status.message())));
  } else {
    CountEnded(id, status, now_us);
    Log(absl::StrCat("job ", id, " ended: ",
                     status.ok() ? "done" : status.ToString()));
  }
  auto pos = std::find(job_ring_.begin(), job_ring_.end(), id);
  if (pos != job_ring_.end()) {
    const size_t at = static_cast<size_t>(pos - job_ring_.begin());
    job_ring_.erase(pos);
    if (at < ring_pos_) --ring_pos_;
    if (ring_pos_ >= job_ring_.size()) ring_pos_ = 0;
  }
  if (!job.submit().idempotency_key().empty()) {
    by_idempotency_key_.erase(job.submit().idempotency_key());
  }
  if (journal_ != nullptr) journal_->JobEnded(id);
  ForgetJobShare(job);
  jobs_.erase(id);  // destroys `job`
}

}  // namespace tq
