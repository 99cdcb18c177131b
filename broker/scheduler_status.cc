// Scheduler, part 3: the operator's view. Builds a StatusReply (workers,
// totals, running jobs) from the scheduler's state at one instant; pure, so
// tests check it with fake time. Peers: scheduler.cc; jobs: scheduler_jobs.cc.
#include <algorithm>
#include <limits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "broker/scheduler.h"
#include "common/protocol.h"

namespace tq {
namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

// Bytes of the reply given to each list (workers, jobs): the reply must fit
// one frame (kMaxFrameBytes) however many peers there are and whatever
// their Hellos named. Entries past the budget are left out; the totals
// still count them, and the client says how many it was not shown.
constexpr size_t kListBudgetBytes = kMaxFrameBytes * 3 / 8;
static_assert(2 * kListBudgetBytes + 4096 <= kMaxFrameBytes);

// Drops the entries of `list` after those that fit within kListBudgetBytes.
template <typename Entries>
void KeepWithinBudget(Entries* list) {
  size_t bytes = 0;
  int keep = 0;
  for (; keep < list->size(); ++keep) {
    // Each entry costs its bytes plus a tag and a length of a few bytes.
    bytes += (*list)[keep].ByteSizeLong() + 8;
    if (bytes > kListBudgetBytes) break;
  }
  list->DeleteSubrange(keep, list->size() - keep);
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return b > kMaxU64 - a ? kMaxU64 : a + b;
}

// Milliseconds from `then_us` to `now_us`; 0 if the clock seems to run back.
uint64_t AgeMs(int64_t then_us, int64_t now_us) {
  return now_us > then_us ? static_cast<uint64_t>(now_us - then_us) / 1000 : 0;
}

uint32_t ClampU32(uint64_t n) {
  return static_cast<uint32_t>(
      std::min<uint64_t>(n, std::numeric_limits<uint32_t>::max()));
}

}  // namespace

v1::StatusReply Scheduler::Status(int64_t now_us) const {
  v1::StatusReply reply;
  v1::ClusterTotals* totals = reply.mutable_totals();
  uint64_t workers = 0, clients = 0;
  for (const auto& [id, peer] : peers_) {
    if (peer.role != v1::ROLE_WORKER) {
      ++clients;
      continue;
    }
    ++workers;
    v1::WorkerStatus* w = reply.add_workers();
    w->set_name(peer.name);
    w->set_threads(peer.threads);
    w->set_chunks_held(peer.held);
    w->set_credit(peer.credit);
    w->set_draining(peer.draining);
    w->set_silent_ms(AgeMs(peer.last_heard_us, now_us));
    for (const v1::Runtime& runtime : peer.runtimes) *w->add_runtimes() = runtime;
    totals->set_threads(totals->threads() + peer.threads);
    totals->set_busy_threads(totals->busy_threads() +
                             std::min<uint64_t>(peer.held, peer.threads));
  }
  // Peers live in a hash map: sort so the view is stable between refreshes.
  std::sort(reply.mutable_workers()->begin(), reply.mutable_workers()->end(),
            [](const v1::WorkerStatus& a, const v1::WorkerStatus& b) {
              return std::make_tuple(a.name(), a.threads(), a.chunks_held()) <
                     std::make_tuple(b.name(), b.threads(), b.chunks_held());
            });
  KeepWithinBudget(reply.mutable_workers());
  totals->set_workers(ClampU32(workers));
  totals->set_clients(ClampU32(clients));
  // Finished jobs kept for their last acknowledgements are not shown.
  std::vector<const BrokerJob*> jobs;
  jobs.reserve(jobs_.size());
  for (const auto& [id, job] : jobs_) {
    if (!job->finish_sent()) jobs.push_back(job.get());
  }
  totals->set_jobs(ClampU32(jobs.size()));
  std::sort(jobs.begin(), jobs.end(),
            [](const BrokerJob* a, const BrokerJob* b) { return a->id() < b->id(); });
  for (const BrokerJob* job : jobs) {
    v1::JobStatus* j = reply.add_jobs();
    j->set_job_id(job->id());
    j->set_task(job->submit().task());
    j->set_client(PeerName(job->client()));
    // The full 0..2^64-1 range has 2^64 items, one more than fits: it
    // saturates (documented on JobStatus.items_total).
    j->set_items_total(job->items_total());
    j->set_input_open(job->input_open());
    if (job->is_code()) {
      j->set_runtime(absl::StrCat(job->submit().code().runtime(), " ",
                                  job->submit().code().runtime_version()));
    }
    j->set_chunks_total(job->chunk_count());
    j->set_chunk_size(job->chunk_size());
    j->set_chunks_done(job->chunks_done());
    j->set_items_done(job->items_done());
    const absl::uint128 acknowledged = job->ledger().acknowledged().size();
    j->set_items_acknowledged(
        acknowledged > std::numeric_limits<uint64_t>::max()
            ? std::numeric_limits<uint64_t>::max()
            : static_cast<uint64_t>(acknowledged));
    j->set_detached(!job->attached());
    j->set_chunks_in_flight(job->in_flight());
    j->set_chunks_queued(job->ChunksQueued());
    j->set_age_ms(AgeMs(job->submitted_us(), now_us));
    std::string missing;
    if (job->in_flight() != 0) {
      j->set_state(v1::JobStatus::STATE_RUNNING);
    } else if (job->HasChunkToHandOut() && job->WindowOpen() &&
               !(missing = MissingCapability(*job)).empty()) {
      j->set_state(v1::JobStatus::STATE_WAITING_FOR_CAPABLE_WORKER);
      j->set_waiting_for(missing);
    } else if (job->HasChunkToHandOut() && job->WindowOpen()) {
      j->set_state(v1::JobStatus::STATE_WAITING_FOR_WORKERS);
    } else {
      j->set_state(v1::JobStatus::STATE_WAITING_FOR_CLIENT);
    }
    totals->set_chunks_in_flight(totals->chunks_in_flight() +
                                 job->in_flight());
    totals->set_chunks_queued(
        SaturatingAdd(totals->chunks_queued(), job->ChunksQueued()));
  }
  KeepWithinBudget(reply.mutable_jobs());
  return reply;
}

void Scheduler::OnStatusRequest(const std::string& client,
                                const v1::StatusRequest& request,
                                int64_t now_us, Outbox* out) {
  v1::Envelope env;
  *env.mutable_status_reply() = Status(now_us);
  env.mutable_status_reply()->set_request_id(request.request_id());
  Send(client, std::move(env), now_us, out);
}

}  // namespace tq
