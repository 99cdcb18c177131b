// Scheduler, part 2: jobs and chunks — submit, dispatch by credit and
// window, leases, reports, requeues, results, cancellation. Peers and message
// routing: scheduler.cc.
#include <algorithm>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "broker/job_plan.h"
#include "broker/scheduler.h"
#include "common/protocol.h"

namespace tq {

void Scheduler::OnSubmit(const std::string& client, Peer& peer,
                         v1::SubmitJob& submit, int64_t now_us, Outbox* out) {
  absl::StatusOr<JobPlan> plan = PlanJob(submit, *tasks_, WorkerThreads());
  if (!plan.ok()) {
    ++stats_.jobs_rejected;
    Log(absl::StrCat("refused a job from ", PeerName(client), ": ",
                     plan.status().message()));
    SendError(client, plan.status(), now_us, out, 0, submit.request_id());
    return;
  }
  const uint64_t id = next_job_id_++;
  v1::Envelope env;
  v1::JobAccepted* accepted = env.mutable_job_accepted();
  accepted->set_request_id(submit.request_id());
  accepted->set_job_id(id);
  accepted->set_chunk_size(plan->chunk_size);
  accepted->set_chunk_count(plan->chunk_count);
  Send(client, std::move(env), now_us, out);
  Log(absl::StrCat("job ", id, " (", submit.task(), ") from ",
                   PeerName(client), ": ", plan->chunk_count,
                   " chunks of ", plan->chunk_size));
  jobs_[id] = std::make_unique<Job>(id, client, *plan, std::move(submit));
  jobs_[id]->set_submitted_us(now_us);
  peer.jobs.insert(id);
  job_ring_.push_back(id);
  ++stats_.jobs_submitted;
  if (observer_ != nullptr) observer_->OnJobSubmitted(id, now_us);
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
                          v1::ChunkReports& reports, int64_t now_us,
                          Outbox* out) {
  // Credit counts even when the reports themselves are stale.
  peer.credit += reports.credit();
  for (v1::ChunkReport& report : *reports.mutable_reports()) {
    OnReport(worker, report, now_us, out);
  }
}

void Scheduler::OnReport(const std::string& worker, v1::ChunkReport& report,
                         int64_t now_us, Outbox* out) {
  auto it = jobs_.find(report.job_id());
  if (it == jobs_.end()) {
    ++stats_.reports_stale;
    return;
  }
  Job& job = *it->second;
  const uint64_t index = report.chunk_index();
  if (!job.IsOutstanding(index)) {
    ++stats_.duplicates_dropped;
    return;
  }
  if (report.outcome_case() != v1::ChunkReport::kOutput) {
    // A failure only counts against the hand-out it reports; a stale
    // attempt's error must not penalise the chunk's current hand-out.
    const InFlightChunk* chunk = job.FindInFlight(index);
    if (chunk == nullptr || chunk->worker != worker ||
        chunk->history.last_attempt != report.attempt()) {
      ++stats_.duplicates_dropped;
      return;
    }
    absl::Status cause =
        report.has_error()
            ? StatusFromError(report.error())
            : absl::InternalError("report carried neither output nor error");
    if (cause.ok()) cause = absl::UnknownError(report.error().message());
    RequeueChunk(job, index, RequeueReason::kTaskFailed, cause, now_us, out);
    return;
  }
  ReleaseFromWorker(job, index);
  job.Finish(index);
  ++stats_.chunks_completed;
  stats_.items_completed += job.ChunkItems(index);
  if (observer_ != nullptr) observer_->OnChunkCompleted(report.run_micros());
  v1::ChunkResult result;
  result.set_job_id(job.id());
  result.set_chunk_index(index);
  *result.mutable_output() = std::move(*report.mutable_output());
  job.AddResult(std::move(result));
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

void Scheduler::Dispatch(int64_t now_us, Outbox* out) {
  if (job_ring_.empty()) return;
  // One chunk at a time, each to the least loaded worker with credit (fewest
  // chunks held per thread): idle workers get work before busy ones queue
  // more, however much credit a worker has granted (adaptive prefetch makes
  // credit a poor measure of load).
  for (;;) {
    const std::string* best_id = nullptr;
    Peer* best = nullptr;
    for (auto& [id, peer] : peers_) {
      if (peer.role != v1::ROLE_WORKER || peer.draining || peer.credit == 0) {
        continue;
      }
      if (best == nullptr ||
          peer.held * std::max<uint64_t>(1, best->threads) <
              best->held * std::max<uint64_t>(1, peer.threads)) {
        best_id = &id;
        best = &peer;
      }
    }
    if (best == nullptr) return;
    Job* job = NextDispatchableJob();
    if (job == nullptr) return;  // nothing any worker could take
    HandOut(*job, *best_id, now_us, out);
    --best->credit;
    ++best->held;
  }
}

void Scheduler::ReleaseFromWorker(const Job& job, uint64_t index) {
  const InFlightChunk* chunk = job.FindInFlight(index);
  if (chunk == nullptr) return;
  auto peer = peers_.find(chunk->worker);
  if (peer != peers_.end() && peer->second.held > 0) --peer->second.held;
}

Job* Scheduler::NextDispatchableJob() {
  const size_t n = job_ring_.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t pos = (ring_pos_ + k) % n;
    Job& job = *jobs_.at(job_ring_[pos]);
    if (job.HasChunkToHandOut() && job.WindowOpen(options_.max_result_window)) {
      ring_pos_ = (pos + 1) % n;
      return &job;
    }
  }
  return nullptr;
}

void Scheduler::HandOut(Job& job, const std::string& worker, int64_t now_us,
                        Outbox* out) {
  auto [index, history] = job.TakeChunk();
  ++history.last_attempt;
  const int64_t deadline_us = now_us + options_.lease_ms * 1000;
  v1::Envelope env;
  v1::Assignment* a = env.mutable_assignments()->add_assignments();
  a->set_job_id(job.id());
  a->set_chunk_index(index);
  a->set_attempt(history.last_attempt);
  a->set_task(job.submit().task());
  *a->mutable_params() = job.submit().params();
  a->set_reduction(job.submit().reduction());
  job.FillInput(index, a->mutable_input());
  a->set_lease_ms(static_cast<uint32_t>(std::clamp<int64_t>(
      options_.lease_ms, 0, std::numeric_limits<uint32_t>::max())));
  leases_.Add(Lease{deadline_us, job.id(), index, history.last_attempt});
  job.PutInFlight(index, InFlightChunk{worker, std::move(history), deadline_us});
  ++stats_.chunks_dispatched;
  Send(worker, std::move(env), now_us, out);
  MaybeCompactLeases();
}

bool Scheduler::RequeueChunk(Job& job, uint64_t index, RequeueReason reason,
                             const absl::Status& cause, int64_t now_us,
                             Outbox* out) {
  const InFlightChunk* chunk = job.FindInFlight(index);
  if (chunk == nullptr) return true;
  ChunkHistory history = chunk->history;
  if (reason != RequeueReason::kDrained) {
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

void Scheduler::DeliverResults(Job& job, int64_t now_us, Outbox* out) {
  std::vector<v1::ChunkResult> results = job.TakeDeliverable();
  if (!results.empty()) {
    v1::Envelope env;
    auto* list = env.mutable_job_results()->mutable_results();
    for (v1::ChunkResult& r : results) list->Add(std::move(r));
    Send(job.client(), std::move(env), now_us, out);
  }
  if (job.AllDelivered()) EndJob(job, absl::OkStatus(), now_us, out);
}

void Scheduler::EndJob(Job& job, const absl::Status& status, int64_t now_us,
                       Outbox* out) {
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
    v1::JobFinished* finished = env.mutable_job_finished();
    finished->set_job_id(id);
    finished->set_code(static_cast<int32_t>(status.code()));
    finished->set_message(std::string(status.message()));
    Send(client, std::move(env), now_us, out);
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
