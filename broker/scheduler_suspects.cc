// Scheduler, part 4: suspects, the chunks a worker held when it was lost
// with others beside them, and how they run alone. Where chunks become
// suspects and are charged: RequeueChunk (scheduler_chunks.cc).
//
// Poison chunks. A chunk that crashes its worker (the process dies, by
// SIGABRT say) usually does so before any heartbeat says it started, and
// beside other chunks the worker held: prefetched ones, or ones running on
// its other threads. Charging them all would fail innocent chunks; charging
// none would let the poison chunk crash-loop the fleet. So a worker lost
// with several chunks (or with one it never said it started) charges none
// of them and makes each a suspect; a suspect runs alone, on a worker
// holding nothing else that gets nothing else until it is done. An innocent
// suspect just completes; a poison one takes down its worker alone and is
// charged, with the loss it was suspected of. A poison item therefore costs
// max_attempts worker deaths for its chunk, then one per halving of the
// chunk (both halves stay suspects) until the item is alone:
// max_attempts + ceil(log2(chunk items)) at most.
//
// Running alone costs a suspect's worker its other threads for one chunk,
// and a round trip per suspect; a lost worker makes as many suspects as it
// held chunks (its prefetch), so recovery after a SIGKILL takes a few round
// trips more. Speculative copies are never made of suspects.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/scheduler.h"

namespace tq {

void Scheduler::DispatchSuspects(int64_t now_us, Outbox* out) {
  // No suspect anywhere (the common case): nothing to walk.
  if (!maybe_suspects_) {
    ReserveWorkers(0, {});
    return;
  }
  bool any_suspect = false;
  uint64_t waiting = 0;
  std::vector<const BrokerJob*> waiting_jobs;
  for (uint64_t job_id : job_ring_) {
    BrokerJob& job = *jobs_.at(job_id);
    while (job.HasSuspectToHandOut() && job.SuspectWindowOpen()) {
      // An idle worker, a reserved one first (it was kept free for this).
      const std::string* idle_id = nullptr;
      Peer* idle = nullptr;
      for (auto& [id, peer] : peers_) {
        if (peer.role != v1::ROLE_WORKER || peer.draining ||
            peer.credit == 0 || peer.held != 0 || !CanRun(peer, job)) {
          continue;
        }
        if (idle == nullptr || (peer.reserved && !idle->reserved)) {
          idle_id = &id;
          idle = &peer;
        }
      }
      if (idle == nullptr) break;
      const uint64_t index = job.TakeSuspect();
      ++stats_.chunks_run_alone;
      const Chunk& chunk = *job.Find(index);
      Log(absl::StrCat("job ", job.id(), ": running suspect items ",
                       chunk.first_item, "..",
                       chunk.first_item + chunk.items - 1, " alone on ",
                       idle->name));
      HandOut(job, index, *idle_id, *idle, now_us, out, /*alone=*/true);
    }
    if (job.HasSuspectToHandOut() && job.SuspectWindowOpen()) {
      waiting += job.suspects_queued();
      waiting_jobs.push_back(&job);
    }
    any_suspect = any_suspect || job.HasSuspectToHandOut();
  }
  maybe_suspects_ = any_suspect;
  ReserveWorkers(waiting, waiting_jobs);
}

void Scheduler::ReserveWorkers(uint64_t waiting,
                               const std::vector<const BrokerJob*>& jobs) {
  // Nothing waits and nothing is reserved: the common case costs nothing.
  if (waiting == 0 && !maybe_reserved_) return;
  maybe_reserved_ = waiting > 0;
  // Reservations stick until no suspect waits, so a worker that is draining
  // its queue for a suspect is not passed over for one that got busier.
  std::vector<Peer*> reserved;
  std::vector<Peer*> others;
  for (auto& entry : peers_) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot
    // capture one in a lambda.
    Peer& peer = entry.second;
    if (peer.role != v1::ROLE_WORKER) continue;
    const bool able =
        !peer.draining &&
        std::any_of(jobs.begin(), jobs.end(),
                    [&](const BrokerJob* job) { return CanRun(peer, *job); });
    if (!able) {
      peer.reserved = false;
      IndexWorker(peer);
    } else if (peer.reserved) {
      reserved.push_back(&peer);
    } else if (!RunsAlone(peer)) {
      others.push_back(&peer);
    }
  }
  const uint64_t able = reserved.size() + others.size();
  const uint64_t target = std::min<uint64_t>(waiting, (able + 1) / 2);
  // Least loaded (chunks held per thread) first.
  auto lighter = [](const Peer* a, const Peer* b) {
    return a->held * std::max<uint64_t>(1, b->threads) <
           b->held * std::max<uint64_t>(1, a->threads);
  };
  std::sort(reserved.begin(), reserved.end(), lighter);
  std::sort(others.begin(), others.end(), lighter);
  for (size_t i = target; i < reserved.size(); ++i) {
    reserved[i]->reserved = false;
    IndexWorker(*reserved[i]);
  }
  for (size_t i = 0; reserved.size() + i < target && i < others.size(); ++i) {
    others[i]->reserved = true;
    IndexWorker(*others[i]);
  }
}

}  // namespace tq
