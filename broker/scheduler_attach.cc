// Scheduler, part 5: jobs that outlive their client's connection. A client
// lost without Goodbye leaves its jobs detached: they go on computing within
// their result window for options_.client_grace_ms and wait for a client to
// attach (AttachJob: the same client reconnecting, another process with the
// job's token, or under CURVE the key that submitted it), then are
// cancelled. Results delivered to a lost connection and not acknowledged
// (AckResults) are computed again for the attaching client, unless it says
// it holds them. A submit repeated with the same idempotency key attaches to
// the job the first one started instead of starting another.
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "broker/job_plan.h"
#include "broker/scheduler.h"
#include "common/item_runs.h"
#include "common/protocol.h"
#include "common/random.h"

namespace tq {
namespace {

// 16 bytes from the OS's random source.
std::string NewToken() { return RandomBytes(16); }

// Compares secrets in time independent of where they differ.
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

void Scheduler::AdoptNewJob(BrokerJob& job, const InboundMessage& message) {
  job.set_token(NewToken());
  job.set_submitter(message.user_id);
  const std::string& key = job.submit().idempotency_key();
  if (!key.empty()) by_idempotency_key_[key] = job.id();
  if (journal_ == nullptr) return;
  v1::JournalJob record;
  record.set_job_id(job.id());
  *record.mutable_submit() = job.submit();
  record.set_token(job.token());
  record.set_submitter(job.submitter());
  for (const Payload& blob : job.code_payloads()) {
    record.add_code_blobs(blob.ToString());
  }
  record.set_owner(job.owner());
  journal_->JobAccepted(record);
  if (job.is_streamed()) {
    journal_->InputAppended(job.id(), 0,
                            job.LastAppended(job.chunks_appended()),
                            !job.input_open());
  }
}

size_t Scheduler::RestoreJobs(const std::vector<JournaledJob>& jobs,
                              uint64_t first_index, int64_t now_us) {
  size_t restored = 0;
  for (const JournaledJob& journaled : jobs) {
    const v1::JournalJob& record = journaled.job;
    const uint64_t id = record.job_id();
    absl::StatusOr<JobPlan> plan =
        PlanJob(record.submit(), *tasks_, options_.max_result_window);
    absl::Status resumable = plan.status();
    if (resumable.ok() && id == 0) {
      resumable = absl::DataLossError("a job record without an id");
    } else if (resumable.ok() && jobs_.contains(id)) {
      resumable = absl::DataLossError("a second record of the job");
    } else if (resumable.ok() && record.submit().has_code()) {
      // The code opt-in is this broker's, not the one that accepted it.
      resumable = CheckCodeJob(record.submit());
    }
    if (!resumable.ok()) {
      Log(absl::StrCat("journal: job ", id, " not resumed: ",
                       resumable.message()));
      if (journal_ != nullptr) journal_->JobEnded(id);
      continue;
    }
    std::vector<Payload> code_payloads;
    for (const std::string& blob : record.code_blobs()) {
      code_payloads.push_back(Payload::FromString(blob));
    }
    auto job = std::make_unique<ScheduledJob>(id, "", record.owner(), *plan,
                                              record.submit(),
                                              std::move(code_payloads));
    if (plan->streamed) {
      job->RestoreStream(journaled.acknowledged, journaled.acknowledged_count,
                         first_index, journaled.chunks_appended,
                         journaled.items_appended, journaled.input_complete,
                         journaled.input);
    } else {
      job->Restore(journaled.acknowledged, journaled.acknowledged_count,
                   first_index);
    }
    job->set_mark(journaled.mark);
    job->set_token(record.token());
    job->set_submitter(record.submitter());
    job->set_submitted_us(now_us);
    job->Detach(now_us);
    if (!record.submit().idempotency_key().empty()) {
      by_idempotency_key_[record.submit().idempotency_key()] = id;
    }
    next_job_id_ = std::max(next_job_id_, id + 1);
    Log(absl::StrCat("journal: job ", id, " resumed (",
                     static_cast<uint64_t>(journaled.acknowledged.size()),
                     " items acknowledged before); it waits for its client"));
    BrokerJob& stored = *(jobs_[id] = std::move(job));
    job_ring_.push_back(id);
    JobChanged(stored);
    WatchJob(stored);
    maybe_suspects_ = true;
    ++stats_.jobs_restored;
    ++restored;
  }
  std::sort(job_ring_.begin(), job_ring_.end());
  return restored;
}

bool Scheduler::AttachRetriedSubmit(const std::string& client, Peer& peer,
                                    const v1::SubmitJob& submit,
                                    int64_t now_us, Outbox* out) {
  if (submit.idempotency_key().empty()) return false;
  auto known = by_idempotency_key_.find(submit.idempotency_key());
  if (known == by_idempotency_key_.end()) return false;
  auto job = jobs_.find(known->second);
  if (job == jobs_.end()) return false;
  ++stats_.submits_deduplicated;
  AttachTo(*job->second, client, peer, submit.request_id(),
           submit.result_window(), ItemRuns(), now_us, out);
  return true;
}

void Scheduler::DetachJobs(Peer& peer, absl::string_view name,
                           int64_t now_us) {
  for (uint64_t job_id : peer.jobs) {
    auto job = jobs_.find(job_id);
    if (job == jobs_.end()) continue;
    job->second->Detach(now_us);
    JobChanged(*job->second);
    WatchJob(*job->second);
    ++stats_.jobs_detached;
    Log(absl::StrCat("job ", job_id, " detached: its client ", name,
                     " is gone; it waits ", options_.client_grace_ms / 1000.0,
                     " s for a client to attach"));
  }
  peer.jobs.clear();
}

void Scheduler::OnAttachJob(const std::string& client, Peer& peer,
                            const InboundMessage& message, int64_t now_us,
                            Outbox* out) {
  const v1::AttachJob& attach = message.envelope.attach_job();
  auto refuse = [&](const absl::Status& status) {
    ++stats_.attaches_refused;
    Log(absl::StrCat("refused an attach to job ", attach.job_id(), " from ",
                     PeerName(client), ": ", status.message()));
    SendError(client, status, now_us, out, attach.job_id(), attach.request_id());
  };
  auto it = jobs_.find(attach.job_id());
  if (it == jobs_.end()) {
    refuse(absl::NotFoundError(absl::StrCat(
        "no job ", attach.job_id(),
        " here: it ended, or was lost with a broker that keeps no journal")));
    return;
  }
  BrokerJob& job = *it->second;
  const bool by_token =
      !job.token().empty() && SameSecret(attach.job_token(), job.token());
  const bool by_key =
      !job.submitter().empty() && job.submitter() == message.user_id;
  if (!by_token && !by_key) {
    refuse(absl::PermissionDeniedError(absl::StrCat(
        "job ", attach.job_id(), " is not yours: attaching takes its token")));
    return;
  }
  if (attach.adopt() && job.is_streamed() && !job.is_code()) {
    refuse(absl::FailedPreconditionError(absl::StrCat(
        "job ", job.id(), " runs ", job.submit().task(),
        " over a list of numbers, which only the client that submitted it "
        "holds: attach takes range jobs and code jobs")));
    return;
  }
  if (attach.adopt() && job.input_open()) {
    refuse(absl::FailedPreconditionError(absl::StrCat(
        "job ", job.id(), " has ", job.chunks_appended(),
        " input chunks and not the end of its input: only the client that "
        "submitted it can send the rest")));
    return;
  }
  if (job.ledger().overflowed()) {
    refuse(absl::FailedPreconditionError(absl::StrCat(
        "job ", attach.job_id(), " cannot be resumed exactly: its client did "
        "not acknowledge the results it received")));
    return;
  }
  ItemRuns have;
  if (!ItemRuns::FromRanges(attach.have(), &have)) {
    refuse(absl::InvalidArgumentError("AttachJob.have holds a reversed range"));
    return;
  }
  // 0: the window the job was accepted with.
  const uint32_t window =
      attach.result_window() != 0 ? attach.result_window() : job.window();
  AttachTo(job, client, peer, attach.request_id(), window, have, now_us, out);
}

void Scheduler::AttachTo(BrokerJob& job, const std::string& client,
                         Peer& peer, uint64_t request_id, uint32_t window,
                         const ItemRuns& have, int64_t now_us, Outbox* out) {
  // A client attached now loses the job to this one.
  if (job.attached() && job.client() != client) {
    auto previous = peers_.find(job.client());
    if (previous != peers_.end()) {
      previous->second.jobs.erase(job.id());
      v1::Envelope env;
      v1::JobFinished* finished = env.mutable_job_finished();
      finished->set_job_id(job.id());
      finished->set_code(static_cast<int32_t>(absl::StatusCode::kAborted));
      finished->set_message(absl::StrCat("job ", job.id(),
                                         " was attached by another client"));
      Send(job.client(), std::move(env), now_us, out);
    }
  }
  const uint64_t recomputed = job.RecomputeLost(have);
  job.AddHeld(have);
  job.Attach(client, window);
  maybe_suspects_ = true;
  peer.jobs.insert(job.id());
  ++stats_.jobs_attached;

  v1::Envelope env;
  v1::JobAccepted* accepted = env.mutable_job_accepted();
  accepted->set_request_id(request_id);
  accepted->set_job_id(job.id());
  accepted->set_chunk_size(job.chunk_size());
  accepted->set_chunk_count(job.is_streamed() ? 0 : job.chunk_count());
  accepted->set_result_window(static_cast<uint32_t>(
      std::min<uint64_t>(window, job.window())));
  accepted->set_job_token(job.token());
  job.ledger().acknowledged().ToRanges(accepted->mutable_acknowledged());
  accepted->set_acknowledged_count(job.ledger().acknowledged_count());
  if (job.is_streamed()) {
    accepted->set_chunks_received(job.chunks_appended());
    accepted->set_input_complete(!job.input_open());
    accepted->set_items_received(job.items_total());
  }
  // What it is, for a client that did not submit it (submit() holds no
  // input chunks or code blobs).
  v1::SubmitJob* described = accepted->mutable_job();
  *described = job.submit();
  described->clear_request_id();
  described->clear_idempotency_key();
  accepted->set_mark(job.mark());
  Send(client, std::move(env), now_us, out);
  Log(absl::StrCat("job ", job.id(), " attached to ", PeerName(client),
                   recomputed > 0
                       ? absl::StrCat("; ", recomputed,
                                      " chunks delivered before and lost are "
                                      "computed again")
                       : ""));
  DeliverResults(job, now_us, out);
}

void Scheduler::OnAckResults(const std::string& client,
                             const v1::AckResults& ack, int64_t now_us,
                             Outbox* out) {
  BrokerJob* owned = OwnedJob(client, ack.job_id(), now_us, out);
  if (owned == nullptr) return;
  BrokerJob& job = *owned;
  ItemRuns items;
  absl::Status status =
      ack.mark().size() > kMaxAckMarkBytes
          ? absl::InvalidArgumentError(absl::StrCat(
                "AckResults.mark of ", ack.mark().size(),
                " bytes; at most ", kMaxAckMarkBytes))
      : ItemRuns::FromRanges(ack.items(), &items)
          ? job.Acknowledge(items, ack.count())
          : absl::InvalidArgumentError("AckResults holds a reversed range");
  if (!status.ok()) {
    ++stats_.acks_refused;
    SendError(client, status, now_us, out, ack.job_id());
    return;
  }
  if (!ack.mark().empty()) job.set_mark(ack.mark());
  if (journal_ != nullptr) {
    journal_->Acknowledged(job.id(), items, ack.count(), ack.mark());
  }
  if (job.AllDelivered()) CompleteJob(job, now_us, out);
}

void Scheduler::ExpireDetached(int64_t now_us, Outbox* out) {
  // Entries of jobs attached since are dropped (a new detach pushes one);
  // a job detached again later goes back with its new expiry.
  const int64_t grace_us = options_.client_grace_ms * 1000;
  std::vector<uint64_t> due;
  for (const auto& [due_us, id] : detach_expiries_.PopDue(now_us)) {
    auto job = jobs_.find(id);
    if (job == jobs_.end() || job->second->attached()) continue;
    const int64_t expiry_us = job->second->detached_since_us() + grace_us;
    if (expiry_us <= now_us) {
      due.push_back(id);
    } else {
      detach_expiries_.Push(expiry_us, id);
    }
  }
  std::sort(due.begin(), due.end());
  due.erase(std::unique(due.begin(), due.end()), due.end());
  for (uint64_t id : due) {
    EndJob(*jobs_.at(id),
           absl::CancelledError(absl::StrCat(
               "no client attached to job ", id, " within ",
               options_.client_grace_ms / 1000.0, " s of losing its own")),
           now_us, out);
  }
}

int64_t Scheduler::NextDetachedExpiryUs() const {
  return detach_expiries_.EarliestUs();
}

}  // namespace tq
