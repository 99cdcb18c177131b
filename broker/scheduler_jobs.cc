// Scheduler, part 2: jobs and chunks — submit and streamed input, dispatch by
// credit, capability and window, leases, reports, requeues, results,
// cancellation and timeouts. Peers and message routing: scheduler.cc; code
// jobs' admission: scheduler_code.cc.
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
  if (peer.jobs.size() >= options_.max_jobs_per_client) {
    refuse(absl::ResourceExhaustedError(absl::StrCat(
        "this client already runs ", peer.jobs.size(),
        " jobs, the most this broker allows one client")));
    return;
  }
  absl::StatusOr<JobPlan> plan = PlanJob(submit, *tasks_, WorkerThreads(),
                                         options_.max_result_window);
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
  auto job = std::make_unique<BrokerJob>(id, client,
                                   submit.has_code() ? peer.owner : "", *plan,
                                   std::move(submit), std::move(code_payloads));
  if (plan->streamed) {
    absl::Status appended =
        job->AppendInput(stream.chunks(), stream.complete(), message.payloads);
    if (!appended.ok()) {
      refuse(appended);
      return;
    }
  }
  ++next_job_id_;
  v1::Envelope env;
  v1::JobAccepted* accepted = env.mutable_job_accepted();
  accepted->set_request_id(request_id);
  accepted->set_job_id(id);
  accepted->set_chunk_size(plan->chunk_size);
  accepted->set_chunk_count(plan->streamed ? 0 : plan->chunk_count);
  accepted->set_result_window(plan->window);
  Send(client, std::move(env), now_us, out);
  Log(absl::StrCat(
      "job ", id, " (",
      job->is_code() ? absl::StrCat(job->submit().code().runtime(), " code")
                     : job->submit().task(),
      ") from ", PeerName(client), ": ",
      plan->streamed ? "streamed chunks"
                     : absl::StrCat(plan->chunk_count, " chunks of ",
                                    plan->chunk_size)));
  job->set_submitted_us(now_us);
  BrokerJob& stored = *(jobs_[id] = std::move(job));
  peer.jobs.insert(id);
  job_ring_.push_back(id);
  ++stats_.jobs_submitted;
  if (observer_ != nullptr) observer_->OnJobSubmitted(id, now_us);
  // A streamed job whose input ended without a chunk is done already.
  if (stored.AllDelivered()) EndJob(stored, absl::OkStatus(), now_us, out);
}

void Scheduler::OnAppendInput(const std::string& client,
                              InboundMessage& message, int64_t now_us,
                              Outbox* out) {
  const v1::AppendInput& append = message.envelope.append_input();
  auto it = jobs_.find(append.job_id());
  if (it == jobs_.end()) {
    ++stats_.stale_messages;  // the job ended while the input travelled
    return;
  }
  BrokerJob& job = *it->second;
  if (job.client() != client) {
    ++stats_.rejected_not_owner;
    SendError(client,
              absl::PermissionDeniedError(absl::StrCat(
                  "job ", append.job_id(), " belongs to another client")),
              now_us, out, append.job_id());
    return;
  }
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
  if (job.AllDelivered()) EndJob(job, absl::OkStatus(), now_us, out);
}

void Scheduler::OnClientCredit(const std::string& client,
                               const v1::ClientCredit& credit, int64_t now_us,
                               Outbox* out) {
  auto it = jobs_.find(credit.job_id());
  if (it == jobs_.end()) {
    ++stats_.stale_messages;  // the job ended while the credit travelled
    return;
  }
  if (it->second->client() != client) {
    ++stats_.rejected_not_owner;
    SendError(client,
              absl::PermissionDeniedError(absl::StrCat(
                  "job ", credit.job_id(), " belongs to another client")),
              now_us, out, credit.job_id());
    return;
  }
  it->second->GrantCredit(credit.chunks());
  DeliverResults(*it->second, now_us, out);
}

void Scheduler::OnCancel(const std::string& client, const v1::CancelJob& cancel,
                         int64_t now_us, Outbox* out) {
  auto it = jobs_.find(cancel.job_id());
  if (it == jobs_.end()) {
    ++stats_.stale_messages;  // already finished: JobFinished is on its way
    return;
  }
  if (it->second->client() != client) {
    ++stats_.rejected_not_owner;
    SendError(client,
              absl::PermissionDeniedError(absl::StrCat(
                  "job ", cancel.job_id(), " belongs to another client")),
              now_us, out, cancel.job_id());
    return;
  }
  EndJob(*it->second, absl::CancelledError("cancelled by the client"), now_us,
         out);
}

void Scheduler::OnReports(const std::string& worker, Peer& peer,
                          const v1::ChunkReports& reports,
                          const std::vector<Payload>& payloads, int64_t now_us,
                          Outbox* out) {
  // Credit counts even when the reports themselves are stale.
  peer.credit += reports.credit();
  for (const v1::ChunkReport& report : reports.reports()) {
    OnReport(worker, peer, report, payloads, now_us, out);
  }
}

void Scheduler::OnReport(const std::string& worker, Peer& peer,
                         const v1::ChunkReport& report,
                         const std::vector<Payload>& payloads, int64_t now_us,
                         Outbox* out) {
  auto it = jobs_.find(report.job_id());
  if (it == jobs_.end()) {
    ++stats_.reports_stale;
    return;
  }
  BrokerJob& job = *it->second;
  const uint64_t index = report.chunk_index();
  if (!job.IsOutstanding(index)) {
    ++stats_.duplicates_dropped;
    return;
  }
  if (report.outcome_case() != v1::ChunkReport::kResultPayload ||
      report.result_payload() >= payloads.size()) {
    // A failure only counts against the hand-out it reports; a stale
    // attempt's error must not penalise the chunk's current hand-out.
    const InFlightChunk* chunk = job.FindInFlight(index);
    if (chunk == nullptr || chunk->worker != worker ||
        chunk->history.last_attempt != report.attempt()) {
      ++stats_.duplicates_dropped;
      return;
    }
    absl::Status cause =
        !report.has_error()
            ? absl::InternalError(absl::StrCat(
                  "worker ", PeerName(worker),
                  report.outcome_case() == v1::ChunkReport::kResultPayload
                      ? " reported a result payload it did not send"
                      : " reported neither result nor error"))
            : StatusFromError(report.error());
    if (cause.ok()) cause = absl::UnknownError(report.error().message());
    if (report.has_error() && report.failure() == v1::FAILURE_USER_CODE &&
        job.is_code()) {
      UserCodeError user_error{index, {}};
      if (report.has_details_payload() &&
          report.details_payload() < payloads.size()) {
        user_error.details = payloads[report.details_payload()];
      }
      ReleaseFromWorker(job, index);
      job.Finish(index);
      EndJob(job, cause, now_us, out, &user_error);
      return;
    }
    if (report.has_error() && report.failure() == v1::FAILURE_CODE_MISSING &&
        job.is_code()) {
      // The worker dropped a blob it was sent: send it again next time.
      peer.code_sent.erase(job.submit().code().function_sha256());
      peer.code_sent.erase(job.submit().code().initializer_sha256());
      RequeueChunk(job, index, RequeueReason::kCodeMissing, cause, now_us, out);
      return;
    }
    RequeueChunk(job, index, RequeueReason::kTaskFailed, cause, now_us, out);
    return;
  }
  ReleaseFromWorker(job, index);
  stats_.items_completed += job.ChunkItems(index);  // before Finish drops it
  job.Finish(index);
  ++stats_.chunks_completed;
  if (observer_ != nullptr) observer_->OnChunkCompleted(report.run_micros());
  job.AddResult(PendingResult{index, report.run_micros(),
                              payloads[report.result_payload()]});
  DeliverResults(job, now_us, out);  // may end the job
}

void Scheduler::OnDrain(const std::string& worker, Peer& peer,
                        const v1::Drain& drain, int64_t now_us, Outbox* out) {
  peer.draining = true;
  Log(absl::StrCat("worker ", PeerName(worker), " draining, returned ",
                   drain.returned_size(), " chunks"));
  for (const v1::ChunkRef& ref : drain.returned()) {
    auto it = jobs_.find(ref.job_id());
    if (it == jobs_.end()) continue;
    const InFlightChunk* chunk = it->second->FindInFlight(ref.chunk_index());
    if (chunk == nullptr || chunk->worker != worker ||
        chunk->history.last_attempt != ref.attempt()) {
      continue;
    }
    RequeueChunk(*it->second, ref.chunk_index(), RequeueReason::kDrained,
                 absl::OkStatus(), now_us, out);
  }
}

std::pair<const std::string*, Scheduler::Peer*> Scheduler::BestWorkerFor(
    const BrokerJob& job) {
  // The least loaded worker with credit (fewest chunks held per thread): idle
  // workers get work before busy ones queue more, however much credit a
  // worker has granted (adaptive prefetch makes credit a poor measure of
  // load).
  const std::string* best_id = nullptr;
  Peer* best = nullptr;
  for (auto& [id, peer] : peers_) {
    if (peer.role != v1::ROLE_WORKER || peer.draining || peer.credit == 0 ||
        !CanRun(peer, job)) {
      continue;
    }
    if (best == nullptr ||
        peer.held * std::max<uint64_t>(1, best->threads) <
            best->held * std::max<uint64_t>(1, peer.threads)) {
      best_id = &id;
      best = &peer;
    }
  }
  return {best_id, best};
}

void Scheduler::Dispatch(int64_t now_us, Outbox* out) {
  // One chunk at a time: the next job in round-robin order that has a chunk,
  // room in its window and a worker able to run it goes to that worker.
  for (;;) {
    const size_t n = job_ring_.size();
    bool handed_out = false;
    for (size_t k = 0; k < n && !handed_out; ++k) {
      const size_t pos = (ring_pos_ + k) % n;
      BrokerJob& job = *jobs_.at(job_ring_[pos]);
      if (!job.HasChunkToHandOut() || !job.WindowOpen()) continue;
      auto [worker_id, worker] = BestWorkerFor(job);
      if (worker == nullptr) continue;
      ring_pos_ = (pos + 1) % n;
      HandOut(job, *worker_id, *worker, now_us, out);
      handed_out = true;
    }
    if (!handed_out) return;
  }
}

void Scheduler::ReleaseFromWorker(const BrokerJob& job, uint64_t index) {
  const InFlightChunk* chunk = job.FindInFlight(index);
  if (chunk == nullptr) return;
  auto peer = peers_.find(chunk->worker);
  if (peer != peers_.end() && peer->second.held > 0) --peer->second.held;
}

void Scheduler::HandOut(BrokerJob& job, const std::string& worker, Peer& peer,
                        int64_t now_us, Outbox* out) {
  auto [index, history] = job.TakeChunk();
  ++history.last_attempt;
  const int64_t deadline_us = now_us + options_.lease_ms * 1000;
  v1::Envelope env;
  std::vector<Payload> payloads;
  v1::Assignments* assignments = env.mutable_assignments();
  v1::Assignment* a = assignments->add_assignments();
  a->set_job_id(job.id());
  a->set_chunk_index(index);
  a->set_attempt(history.last_attempt);
  if (job.is_code()) {
    *a->mutable_code() = job.submit().code();
    a->set_owner(job.owner());
    // Each blob goes to each worker session once; it keeps them by digest.
    const std::string* digests[] = {&job.submit().code().function_sha256(),
                                    &job.submit().code().initializer_sha256()};
    for (size_t i = 0; i < job.code_payloads().size(); ++i) {
      if (!peer.code_sent.insert(*digests[i]).second) continue;
      v1::CodeBlob* blob = assignments->add_code_blobs();
      blob->set_sha256(*digests[i]);
      blob->set_payload(static_cast<uint32_t>(payloads.size()));
      payloads.push_back(job.code_payloads()[i]);
    }
  } else {
    a->set_task(job.submit().task());
    *a->mutable_params() = job.submit().params();
    a->set_reduction(job.submit().reduction());
  }
  job.FillInput(index, a->mutable_input(), &payloads);
  a->set_lease_ms(static_cast<uint32_t>(std::clamp<int64_t>(
      options_.lease_ms, 0, std::numeric_limits<uint32_t>::max())));
  leases_.Add(Lease{deadline_us, job.id(), index, history.last_attempt});
  job.PutInFlight(index, InFlightChunk{worker, std::move(history), deadline_us});
  ++stats_.chunks_dispatched;
  --peer.credit;
  ++peer.held;
  Send(worker, std::move(env), now_us, out, std::move(payloads));
  MaybeCompactLeases();
}

bool Scheduler::RequeueChunk(BrokerJob& job, uint64_t index, RequeueReason reason,
                             const absl::Status& cause, int64_t now_us,
                             Outbox* out) {
  const InFlightChunk* chunk = job.FindInFlight(index);
  if (chunk == nullptr) return true;
  ChunkHistory history = chunk->history;
  if (reason != RequeueReason::kDrained && reason != RequeueReason::kCodeMissing) {
    ++history.failures;
    history.last_code = static_cast<int32_t>(cause.code());
    history.last_error = std::string(cause.message());
    if (history.failures >= std::max<uint32_t>(1, options_.max_attempts)) {
      // A worker that reported a failure no longer holds the chunk (no
      // RevokeJob needed for it); after a lease expiry it may still.
      if (reason == RequeueReason::kTaskFailed) {
        ReleaseFromWorker(job, index);
        job.Finish(index);
      }
      EndJob(job,
             absl::Status(cause.code(),
                          absl::StrCat("chunk ", index, " of job ", job.id(),
                                       " failed ", history.failures,
                                       " times; last error: ",
                                       history.last_error)),
             now_us, out);
      return false;
    }
  }
  switch (reason) {
    case RequeueReason::kLeaseExpired: ++stats_.requeued_lease_expired; break;
    case RequeueReason::kWorkerLost: ++stats_.requeued_worker_lost; break;
    case RequeueReason::kTaskFailed: ++stats_.requeued_task_failed; break;
    case RequeueReason::kDrained: ++stats_.requeued_drained; break;
    case RequeueReason::kCodeMissing: ++stats_.requeued_code_missing; break;
  }
  ReleaseFromWorker(job, index);
  job.Requeue(index, std::move(history));
  return true;
}

void Scheduler::RequeueWorkerChunks(const std::string& worker,
                                    RequeueReason reason,
                                    const absl::Status& cause, int64_t now_us,
                                    Outbox* out) {
  std::vector<std::pair<uint64_t, uint64_t>> held;  // (job, chunk)
  for (const auto& [job_id, job] : jobs_) {
    for (const auto& [index, chunk] : job->in_flight()) {
      if (chunk.worker == worker) held.emplace_back(job_id, index);
    }
  }
  std::sort(held.begin(), held.end());
  for (const auto& [job_id, index] : held) {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) continue;  // failed by an earlier chunk
    RequeueChunk(*it->second, index, reason, cause, now_us, out);
  }
}

void Scheduler::ExpireLeases(int64_t now_us, Outbox* out) {
  for (const Lease& lease : leases_.PopDue(now_us)) {
    auto it = jobs_.find(lease.job_id);
    if (it == jobs_.end()) continue;
    const InFlightChunk* chunk = it->second->FindInFlight(lease.chunk_index);
    if (chunk == nullptr || chunk->history.last_attempt != lease.attempt ||
        chunk->deadline_us != lease.deadline_us) {
      continue;  // stale entry: reported or re-handed out since
    }
    const std::string cause = absl::StrCat(
        "lease of ", options_.lease_ms, " ms expired (attempt ", lease.attempt,
        " on worker ", PeerName(chunk->worker), ")");
    RequeueChunk(*it->second, lease.chunk_index, RequeueReason::kLeaseExpired,
                 absl::DeadlineExceededError(cause), now_us, out);
  }
}

void Scheduler::ExpireJobs(int64_t now_us, Outbox* out) {
  std::vector<uint64_t> due;
  for (const auto& [id, job] : jobs_) {
    if (job->deadline_us() <= now_us) due.push_back(id);
  }
  std::sort(due.begin(), due.end());
  for (uint64_t id : due) {
    BrokerJob& job = *jobs_.at(id);
    EndJob(job,
           absl::DeadlineExceededError(absl::StrCat(
               "job ", id, " ran past its timeout of ",
               job.submit().timeout_ms() / 1000.0, " s")),
           now_us, out);
  }
}

void Scheduler::DeliverResults(BrokerJob& job, int64_t now_us, Outbox* out) {
  std::vector<PendingResult> results = job.TakeDeliverable();
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
      result->set_payload(static_cast<uint32_t>(payloads.size()));
      payloads.push_back(std::move(r.payload));
    }
    Send(job.client(), std::move(env), now_us, out, std::move(payloads));
  }
  if (job.AllDelivered()) EndJob(job, absl::OkStatus(), now_us, out);
}

void Scheduler::EndJob(BrokerJob& job, const absl::Status& status, int64_t now_us,
                       Outbox* out, const UserCodeError* user_error) {
  const uint64_t id = job.id();
  const std::string client = job.client();
  for (const auto& [index, chunk] : job.in_flight()) ReleaseFromWorker(job, index);
  if (!status.ok()) {
    std::set<std::string> holders;
    for (const auto& [index, chunk] : job.in_flight()) holders.insert(chunk.worker);
    for (const std::string& worker : holders) {
      if (!peers_.contains(worker)) continue;
      v1::Envelope env;
      env.mutable_revoke_job()->set_job_id(id);
      Send(worker, std::move(env), now_us, out);
    }
  }
  if (auto peer = peers_.find(client); peer != peers_.end()) {
    peer->second.jobs.erase(id);
    v1::Envelope env;
    std::vector<Payload> payloads;
    v1::JobFinished* finished = env.mutable_job_finished();
    finished->set_job_id(id);
    finished->set_code(static_cast<int32_t>(status.code()));
    finished->set_message(std::string(status.message()));
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
  if (status.ok()) {
    ++stats_.jobs_completed;
  } else if (absl::IsCancelled(status)) {
    ++stats_.jobs_cancelled;
  } else {
    ++stats_.jobs_failed;
  }
  if (observer_ != nullptr) observer_->OnJobEnded(id, now_us);
  Log(absl::StrCat("job ", id, " ended: ",
                   status.ok() ? "done" : status.ToString()));
  auto pos = std::find(job_ring_.begin(), job_ring_.end(), id);
  if (pos != job_ring_.end()) {
    const size_t at = static_cast<size_t>(pos - job_ring_.begin());
    job_ring_.erase(pos);
    if (at < ring_pos_) --ring_pos_;
    if (ring_pos_ >= job_ring_.size()) ring_pos_ = 0;
  }
  jobs_.erase(id);  // destroys `job`
}

void Scheduler::MaybeCompactLeases() {
  if (leases_.size() < compact_at_) return;
  leases_.Compact([this](const Lease& lease) {
    auto it = jobs_.find(lease.job_id);
    if (it == jobs_.end()) return false;
    const InFlightChunk* chunk = it->second->FindInFlight(lease.chunk_index);
    return chunk != nullptr && chunk->history.last_attempt == lease.attempt &&
           chunk->deadline_us == lease.deadline_us;
  });
  compact_at_ = std::max<size_t>(4096, 2 * leases_.size());
}

}  // namespace tq
