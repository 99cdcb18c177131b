// Scheduler, part 3: chunks — dispatch by credit, capability, window and
// fair share; hand-outs and their leases (renewed by the workers'
// heartbeats); reports, accepted only from the worker session holding the
// hand-out; retries (a lost worker's chunks may become suspects, which run
// alone: scheduler_suspects.cc), and splitting a chunk that keeps failing.
// Which worker gets a chunk, and copies of stragglers:
// scheduler_workers.cc. Jobs: scheduler_jobs.cc; peers: scheduler.cc.
#include <algorithm>
#include <limits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "broker/scheduler.h"
#include "common/protocol.h"

namespace tq {
namespace {

v1::ChunkRef Ref(uint64_t job_id, uint64_t index, uint32_t attempt) {
  v1::ChunkRef ref;
  ref.set_job_id(job_id);
  ref.set_chunk_index(index);
  ref.set_attempt(attempt);
  return ref;
}

// "item 776 (n=777)", "items 0..999"; `number`: with the item's number.
std::string ItemsText(const BrokerJob& job, const Chunk& chunk,
                      bool number = true) {
  if (chunk.items == 1) {
    return job.is_streamed() || !number
               ? absl::StrCat("item ", chunk.first_item)
               : absl::StrCat("item ", chunk.first_item, " (n=",
                              job.ItemNumber(chunk.first_item), ")");
  }
  return absl::StrCat("items ", chunk.first_item, "..",
                      chunk.first_item + chunk.items - 1);
}

}  // namespace

int64_t Scheduler::RunLimitMs(const BrokerJob& job) const {
  const uint64_t own = job.submit().chunk_timeout_ms();
  if (own == 0) return options_.chunk_timeout_ms;
  return static_cast<int64_t>(
      std::min<uint64_t>(own, std::numeric_limits<int64_t>::max() / 1000));
}

uint32_t Scheduler::MaxAttempts(const BrokerJob& job) const {
  const uint32_t own = job.submit().max_attempts();
  return std::max<uint32_t>(1, own != 0 ? own : options_.max_attempts);
}

void Scheduler::OnReports(const std::string& worker, Peer& peer,
                          const v1::ChunkReports& reports,
                          const std::vector<Payload>& payloads, int64_t now_us,
                          Outbox* out) {
  // Credit counts even when the reports themselves are stale.
  peer.credit += reports.credit();
  IndexWorker(peer);
  if (reports.session() != 0 && (reports.broker_epoch() != epoch_ ||
                                 reports.session() != peer.session)) {
    stats_.reports_stale_session += reports.reports_size();
    return;
  }
  if (reports.reports_size() > 0) peer.owes_report = false;
  for (const v1::ChunkReport& report : reports.reports()) {
    OnReport(worker, peer, report, payloads, now_us, out);
  }
  RequeueGivenBack(worker, reports.returned(), RequeueReason::kReturned,
                   now_us, out);
  IndexWorker(peer);
}

void Scheduler::OnOrphanReports(const std::string& id,
                                const v1::ChunkReports& reports,
                                int64_t now_us, Outbox* out) {
  // A worker the broker declared lost (frozen, cut off) that came back on
  // the same connection: what it reports was requeued already.
  stats_.reports_stale_session += reports.reports_size();
  Log(absl::StrCat("dropped ", reports.reports_size(),
                   " stale reports from an ended worker session"));
  SendError(id,
            absl::FailedPreconditionError(
                "send hello first: this worker session has ended"),
            now_us, out);
}

void Scheduler::OnReport(const std::string& worker, Peer& peer,
                         const v1::ChunkReport& report,
                         const std::vector<Payload>& payloads, int64_t now_us,
                         Outbox* out) {
  auto it = jobs_.find(report.job_id());
  // A finished job waiting for acknowledgements is gone for workers.
  if (it == jobs_.end() || it->second->finish_sent()) {
    ++stats_.reports_stale;
    return;
  }
  BrokerJob& job = *it->second;
  const uint64_t index = report.chunk_index();
  Chunk* chunk = job.Find(index);
  if (chunk == nullptr) {
    ++stats_.duplicates_dropped;  // finished already
    return;
  }
  const Holder* holder = chunk->FindHolder(worker);
  if (holder == nullptr || holder->attempt != report.attempt()) {
    // Not this worker's hand-out (any more): a copy that lost, a lease
    // that expired, or a forgery. Only the holder's report counts.
    ++stats_.reports_not_leased;
    return;
  }
  if (report.outcome_case() != v1::ChunkReport::kResultPayload ||
      report.result_payload() >= payloads.size()) {
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
      EndJob(job, cause, now_us, out, &user_error);
      return;
    }
    if (report.has_error() && report.failure() == v1::FAILURE_CODE_MISSING &&
        job.is_code()) {
      // The worker dropped a blob it was sent: send it again next time.
      peer.code_sent.erase(job.submit().code().function_sha256());
      peer.code_sent.erase(job.submit().code().initializer_sha256());
      RequeueChunk(job, index, worker, RequeueReason::kCodeMissing, cause,
                   now_us, out);
      return;
    }
    RequeueChunk(job, index, worker,
                 report.failure() == v1::FAILURE_RUN_LIMIT
                     ? RequeueReason::kRunLimit
                     : RequeueReason::kTaskFailed,
                 cause, now_us, out);
    return;
  }
  // Turnaround beyond the run, smoothed (weight 1/4 for the newest).
  const int64_t sample_us = std::max<int64_t>(
      0, now_us - holder->handed_out_us -
             static_cast<int64_t>(std::min<uint64_t>(report.run_micros(),
                                                     INT64_MAX / 2)));
  peer.turnaround_us = peer.turnaround_us < 0
                           ? sample_us
                           : (3 * peer.turnaround_us + sample_us) / 4;
  if (sample_us >= kStallFloorUs) ObserveStall(peer, sample_us, now_us);
  IndexTurnaround(peer, now_us);
  // The first result wins: other copies (speculative re-runs) are revoked,
  // and their holders charged with a stall as long as they held them.
  for (const Holder& other : chunk->holders) {
    if (other.worker == worker) continue;
    ++stats_.speculative_copies_revoked;
    if (auto loser = peers_.find(other.worker); loser != peers_.end()) {
      ObserveStall(loser->second, now_us - other.handed_out_us, now_us);
      IndexTurnaround(loser->second, now_us);
    }
    RevokeChunks(other.worker, job.id(), {Ref(job.id(), index, other.attempt)},
                 now_us, out);
  }
  for (const Holder& h : chunk->holders) ReleaseHandOut(h);
  const Payload& result = payloads[report.result_payload()];
  PendingResult pending{index, chunk->first_item, chunk->items,
                        report.run_micros(), result, absl::OkStatus()};
  job.ObserveRun(chunk->items, report.run_micros(), result.size());
  ChargeClient(job.client(), report.run_micros(), now_us);
  stats_.items_completed += chunk->items;
  job.Finish(index);  // `chunk` is invalid from here
  ++stats_.chunks_completed;
  if (observer_ != nullptr) observer_->OnChunkCompleted(report.run_micros());
  DeliverResults(job, now_us, out, &pending);  // may end the job
}

void Scheduler::OnHeld(const std::string& worker, const v1::WorkerHeld& held,
                       int64_t now_us, Outbox* out) {
  auto p = peers_.find(worker);
  if (p == peers_.end()) return;
  if (held.session() != 0 && held.session() != p->second.session) return;
  // Says what it runs: as good as a report for judging it quiet.
  p->second.owes_report = false;
  const int64_t lease_us = options_.lease_ms * 1000;
  // (job, chunk, attempt) past their run limit, handled after the loop.
  std::vector<std::tuple<uint64_t, uint64_t, uint32_t, int64_t>> overrun;
  auto renew = [&](const v1::ChunkRef& ref, bool running) {
    auto it = jobs_.find(ref.job_id());
    if (it == jobs_.end()) return;
    Chunk* chunk = it->second->Find(ref.chunk_index());
    Holder* holder = chunk == nullptr ? nullptr : chunk->FindHolder(worker);
    if (holder == nullptr || holder->attempt != ref.attempt()) return;
    holder->lease_deadline_us = std::max(holder->lease_deadline_us,
                                         now_us + lease_us);
    if (!running) return;
    if (holder->started_us < 0) {
      const int64_t ago_us = static_cast<int64_t>(std::min<uint64_t>(
          ref.started_ms(), std::numeric_limits<int64_t>::max() / 2000)) * 1000;
      holder->started_us = std::max(holder->handed_out_us, now_us - ago_us);
      handout_table_.Settle(holder->ticket);
    }
    const int64_t limit_ms = RunLimitMs(*it->second);
    if (now_us - holder->started_us > limit_ms * 1000) {
      overrun.emplace_back(ref.job_id(), ref.chunk_index(), ref.attempt(),
                           limit_ms);
    }
  };
  for (const v1::ChunkRef& ref : held.running()) renew(ref, true);
  for (const v1::ChunkRef& ref : held.queued()) renew(ref, false);
  for (const auto& [job_id, index, attempt, limit_ms] : overrun) {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) continue;
    RevokeChunks(worker, job_id, {Ref(job_id, index, attempt)}, now_us, out);
    RequeueChunk(*it->second, index, worker, RequeueReason::kRunLimit,
                 absl::DeadlineExceededError(absl::StrCat(
                     "ran past its run limit of ", limit_ms / 1000.0,
                     " s on worker ", PeerName(worker))),
                 now_us, out);
  }
}

void Scheduler::OnDrain(const std::string& worker, Peer& peer,
                        const v1::Drain& drain, int64_t now_us, Outbox* out) {
  peer.draining = true;
  IndexWorker(peer);
  Log(absl::StrCat("worker ", PeerName(worker), " draining, returned ",
                   drain.returned_size(), " chunks"));
  RequeueGivenBack(worker, drain.returned(), RequeueReason::kDrained, now_us,
                   out);
}

void Scheduler::RequeueGivenBack(
    const std::string& worker,
    const google::protobuf::RepeatedPtrField<v1::ChunkRef>& refs,
    RequeueReason reason, int64_t now_us, Outbox* out) {
  for (const v1::ChunkRef& ref : refs) {
    auto it = jobs_.find(ref.job_id());
    if (it == jobs_.end()) continue;
    const Chunk* chunk = it->second->Find(ref.chunk_index());
    const Holder* holder = chunk == nullptr ? nullptr : chunk->FindHolder(worker);
    if (holder == nullptr || holder->attempt != ref.attempt()) continue;
    RequeueChunk(*it->second, ref.chunk_index(), worker, reason,
                 absl::OkStatus(), now_us, out);
  }
}

void Scheduler::HandOut(BrokerJob& job, uint64_t index,
                        const std::string& worker, Peer& peer, int64_t now_us,
                        Outbox* out, bool alone, bool run_first,
                        uint64_t served) {
  Chunk& chunk = *job.Find(index);
  const uint32_t attempt = ++chunk.history.last_attempt;
  const int64_t deadline_us = now_us + options_.lease_ms * 1000;
  v1::Envelope env;
  std::vector<Payload> payloads;
  v1::Assignments* assignments = env.mutable_assignments();
  assignments->set_broker_epoch(epoch_);
  assignments->set_session(peer.session);
  v1::Assignment* a = assignments->add_assignments();
  a->set_job_id(job.id());
  a->set_chunk_index(index);
  a->set_attempt(attempt);
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
    a->set_compact_results(job.submit().compact_results());
  }
  job.FillInput(index, a->mutable_input(), &payloads);
  a->set_lease_ms(static_cast<uint32_t>(std::clamp<int64_t>(
      options_.lease_ms, 0, std::numeric_limits<uint32_t>::max())));
  a->set_run_limit_ms(static_cast<uint64_t>(RunLimitMs(job)));
  a->set_run_first(run_first);
  const HandOutTicket ticket = handout_table_.Open();
  leases_.Add(Lease{deadline_us, job.id(), index, attempt, ticket});
  Holder holder;
  holder.worker = worker;
  holder.attempt = attempt;
  holder.alone = alone;
  holder.handed_out_us = now_us;
  holder.lease_deadline_us = deadline_us;
  holder.ticket = ticket;
  job.AddHolder(index, std::move(holder));
  if (!alone) RecordHandOut(job.id(), index, attempt, ticket);
  ++stats_.chunks_dispatched;
  --peer.credit;
  if (!peer.owes_report) {
    peer.owes_report = true;
    peer.owing_since_us = now_us;
  }
  ++peer.held;
  peer.last_handout_us = now_us;
  peer.alone = alone;  // BestWorkerFor passes over workers running alone
  if (alone) peer.reserved = false;
  IndexWorker(peer);
  JobChanged(job, served);
  Send(worker, std::move(env), now_us, out, std::move(payloads));
  if (alone) WatchHeartbeat(worker, peer);
  MaybeCompactLeases();
}

bool Scheduler::RequeueChunk(BrokerJob& job, uint64_t index,
                             const std::string& worker, RequeueReason reason,
                             const absl::Status& cause, int64_t now_us,
                             Outbox* out) {
  Chunk* chunk = job.Find(index);
  const Holder* holder = chunk == nullptr ? nullptr : chunk->FindHolder(worker);
  if (holder == nullptr) return true;
  const uint32_t max_attempts = MaxAttempts(job);
  bool charge = false;
  switch (reason) {
    case RequeueReason::kLeaseExpired:
      ++stats_.requeued_lease_expired;
      charge = true;
      break;
    case RequeueReason::kWorkerLost:
    case RequeueReason::kWorkerLostWithOthers:
      // Charged only when the loss is surely this chunk's doing: it ran
      // alone (a suspect's run, or the worker's only chunk, which it said
      // it had started), or it is a suspect already (lost twice). Then the
      // loss it was suspected of counts too. Otherwise (prefetched chunks,
      // chunks beside a crashing one) it becomes a suspect, uncharged.
      if (holder->alone || chunk->history.suspect ||
          (reason == RequeueReason::kWorkerLost && holder->started_us >= 0)) {
        ++stats_.requeued_worker_lost;
        charge = true;
        chunk->history.failures += chunk->history.unattributed_losses;
        chunk->history.unattributed_losses = 0;
      } else {
        ++stats_.requeued_unstarted;
        ++chunk->history.unattributed_losses;
        job.MarkSuspect(index);
      }
      break;
    case RequeueReason::kTaskFailed:
      ++stats_.requeued_task_failed;
      charge = true;
      break;
    case RequeueReason::kRunLimit:
      ++stats_.requeued_run_limit;
      charge = true;
      break;
    case RequeueReason::kDrained:
      ++stats_.requeued_drained;
      break;
    case RequeueReason::kReturned:
      ++stats_.requeued_returned;
      break;
    case RequeueReason::kCodeMissing:
      ++stats_.requeued_code_missing;
      break;
  }
  if (charge) {
    ++chunk->history.failures;
    ChunkFailure& failure = chunk->history.NewFailure();
    failure.code = static_cast<int32_t>(cause.code());
    failure.error = std::string(cause.message());
    if (reason == RequeueReason::kWorkerLost ||
        reason == RequeueReason::kWorkerLostWithOthers) {
      absl::StrAppend(&failure.error, holder->alone ? " while running it alone"
                                                    : " while running it");
    }
  }
  ReleaseHandOut(*holder);
  job.RemoveHolder(index, worker);
  // It may be a suspect now, or split below.
  maybe_suspects_ = true;
  if (charge && chunk->history.failures >= max_attempts) {
    // Out of attempts: a copy still running elsewhere (speculative) is
    // revoked, not waited for. It may fail the same way, and a chunk that
    // hangs would otherwise be copied again and again, never failing.
    const std::vector<Holder> others(chunk->holders.begin(),
                                     chunk->holders.end());
    for (const Holder& other : others) {
      RevokeChunks(other.worker, job.id(), {Ref(job.id(), index, other.attempt)},
                   now_us, out);
      ReleaseHandOut(other);
      job.RemoveHolder(index, other.worker);
    }
    const uint64_t id = job.id();
    const bool kept = ExhaustChunk(job, index, now_us, out);
    if (kept && jobs_.contains(id)) JobChanged(job);
    return kept;
  }
  JobChanged(job);
  return true;  // requeued, unless another copy still runs
}

bool Scheduler::ExhaustChunk(BrokerJob& job, uint64_t index, int64_t now_us,
                             Outbox* out) {
  Chunk& chunk = *job.Find(index);
  const uint32_t max_attempts = MaxAttempts(job);
  const std::string items = ItemsText(job, chunk);
  if (job.CanSplit(index)) {
    // Halve it: the half holding the failing item fails once more and is
    // halved again, the other half runs. A poison item costs max_attempts
    // + log2(chunk items) failed attempts, each a crash at worst.
    ++stats_.chunks_split;
    Log(absl::StrCat("job ", job.id(), ": ", items, " failed ",
                     chunk.history.failures,
                     " times; splitting to find the failing items (last: ",
                     chunk.history.last_error(), ")"));
    chunk.history.failures = max_attempts - 1;
    job.Split(index);
    return true;
  }
  const int64_t failed_item =
      chunk.items == 1 && chunk.first_item <= std::numeric_limits<int64_t>::max()
          ? static_cast<int64_t>(chunk.first_item)
          : -1;
  // A job failed by one item names it in JobFinished.failed_item, and the
  // client puts the item's number into the message ("item 776 (n=777) of
  // job 1 failed ..."); a skipped item's error carries the number itself.
  const bool client_adds_number =
      failed_item >= 0 && !job.submit().skip_failed();
  const absl::Status cause =
      StatusFromCode(chunk.history.last_code() == 0
                         ? static_cast<int32_t>(absl::StatusCode::kUnknown)
                         : chunk.history.last_code(),
                     absl::StrCat(ItemsText(job, chunk, !client_adds_number),
                                  " of job ", job.id(), " failed ",
                                  chunk.history.failures,
                                  " times; last error: ",
                                  chunk.history.last_error()));
  if (job.submit().skip_failed()) {
    stats_.items_failed += chunk.items;
    Log(absl::StrCat("job ", job.id(), ": skipping ", items, ": ",
                     cause.message()));
    PendingResult failed{index, chunk.first_item, chunk.items, 0, Payload(),
                         cause};
    const uint64_t id = job.id();
    job.Finish(index);
    job.AddResult(std::move(failed));
    DeliverResults(job, now_us, out);  // may end the job
    return jobs_.contains(id);
  }
  EndJob(job, cause, now_us, out, nullptr, failed_item);
  return false;
}

void Scheduler::RequeueWorkerChunks(const std::string& worker,
                                    RequeueReason reason,
                                    const absl::Status& cause, int64_t now_us,
                                    Outbox* out) {
  std::vector<std::pair<uint64_t, uint64_t>> held;  // (job, chunk)
  for (const auto& [job_id, job] : jobs_) {
    job->chunks().ForEach([&, id = job_id](uint64_t index, const Chunk& chunk) {
      if (chunk.FindHolder(worker) != nullptr) held.emplace_back(id, index);
    });
  }
  std::sort(held.begin(), held.end());
  if (reason == RequeueReason::kWorkerLost && held.size() > 1) {
    reason = RequeueReason::kWorkerLostWithOthers;
  }
  for (const auto& [job_id, index] : held) {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) continue;  // failed by an earlier chunk
    RequeueChunk(*it->second, index, worker, reason, cause, now_us, out);
  }
}

void Scheduler::RevokeChunks(const std::string& worker, uint64_t job_id,
                             const std::vector<v1::ChunkRef>& chunks,
                             int64_t now_us, Outbox* out) {
  if (!peers_.contains(worker)) return;
  v1::Envelope env;
  v1::RevokeJob* revoke = env.mutable_revoke_job();
  revoke->set_job_id(job_id);
  for (const v1::ChunkRef& ref : chunks) *revoke->add_chunks() = ref;
  Send(worker, std::move(env), now_us, out);
}

void Scheduler::ExpireLeases(int64_t now_us, Outbox* out) {
  for (const Lease& lease : leases_.PopDue(now_us)) {
    // Stale (reported or requeued): known without its job.
    if (!handout_table_.IsOut(lease.ticket)) continue;
    auto it = jobs_.find(lease.job_id);
    if (it == jobs_.end()) continue;
    const Chunk* chunk = it->second->Find(lease.chunk_index);
    if (chunk == nullptr) continue;
    const Holder* holder = nullptr;
    for (const Holder& h : chunk->holders) {
      if (h.attempt == lease.attempt) holder = &h;
    }
    if (holder == nullptr) continue;  // stale entry: reported or requeued
    if (holder->lease_deadline_us > now_us) {
      // Renewed by a heartbeat since: wake up at the new deadline.
      leases_.Add(Lease{holder->lease_deadline_us, lease.job_id,
                        lease.chunk_index, lease.attempt, lease.ticket});
      continue;
    }
    const std::string worker = holder->worker;
    const std::string cause = absl::StrCat(
        "lease of ", options_.lease_ms, " ms expired (attempt ", lease.attempt,
        " on worker ", PeerName(worker), ")");
    RevokeChunks(worker, lease.job_id,
                 {Ref(lease.job_id, lease.chunk_index, lease.attempt)}, now_us,
                 out);
    RequeueChunk(*it->second, lease.chunk_index, worker,
                 RequeueReason::kLeaseExpired,
                 absl::DeadlineExceededError(cause), now_us, out);
  }
}

void Scheduler::MaybeCompactLeases() {
  if (leases_.size() < compact_at_) return;
  leases_.Compact([this](const Lease& lease) {
    return handout_table_.IsOut(lease.ticket);
  });
  compact_at_ = std::max<size_t>(4096, 2 * leases_.size());
}

}  // namespace tq
