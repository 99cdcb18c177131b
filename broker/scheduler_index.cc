// Scheduler, part 5: the indexes that keep dispatch cost independent of the
// cluster's size (issue 9). Dispatch (scheduler_workers.cc) asks two
// questions per chunk: which client's job goes next, and which worker
// takes it. Both were answered by scanning every job and every worker;
// they are answered here from ordered sets kept up to date as peers and
// jobs change:
//
//  - Workers are grouped by what they offer (tasks, runtimes): a job can
//    run on every worker of a class or on none. Each class keeps its ready
//    workers (credit, not draining, neither reserved nor running alone)
//    ordered by chunks held per thread, so the least loaded is the first
//    one that is neither quiet nor slow: O(log W) in a healthy cluster.
//  - Clients with jobs are ordered by load (ClientLoadUs): their jobs that
//    may have a chunk to hand out wait in turn in their share. Loads decay
//    with time (kUsageDecayUs, 5 s); they are evaluated at now rounded
//    down to kShareRefreshUs (10 ms: 0.2% of decay) and recomputed when
//    that changes (O(clients log clients) per 10 ms, not per chunk). Jobs join their turn when something about them changes
//    (JobChanged) and leave it lazily, when met without a chunk or room.
//
// Callers keep the indexes right: IndexWorker after a worker's credit,
// held chunks, draining, reserved or alone changed; IndexTurnaround after
// its turnaround; JobChanged after a job's chunks, window, client or
// in-flight count changed.
#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/scheduler.h"

namespace tq {
namespace {

// How often the clients' loads are evaluated again as their usage decays.
constexpr int64_t kShareRefreshUs = 10'000;

// What a worker offers, as a key: its tasks (sorted) and runtimes.
std::string OfferKey(const absl::flat_hash_set<std::string>& tasks,
                     const std::vector<v1::Runtime>& runtimes) {
  std::vector<std::string> sorted(tasks.begin(), tasks.end());
  std::sort(sorted.begin(), sorted.end());
  std::string key;
  for (const std::string& task : sorted)
    absl::StrAppend(&key, task.size(), ":", task);
  absl::StrAppend(&key, "|");
  std::vector<std::string> runs;
  for (const v1::Runtime& r : runtimes) {
    runs.push_back(absl::StrCat(r.name().size(), ":", r.name(),
                                r.version().size(), ":", r.version()));
  }
  std::sort(runs.begin(), runs.end());
  for (const std::string& r : runs) absl::StrAppend(&key, r);
  return key;
}

}  // namespace

bool Scheduler::LighterWorker::operator()(const Peer* a, const Peer* b) const {
  const unsigned __int128 left = static_cast<unsigned __int128>(a->ready_held) *
                                 std::max<uint64_t>(1, b->threads);
  const unsigned __int128 right =
      static_cast<unsigned __int128>(b->ready_held) *
      std::max<uint64_t>(1, a->threads);
  if (left != right) return left < right;
  return a->seq < b->seq;
}

bool Scheduler::LighterShare::operator()(const ClientShare* a,
                                         const ClientShare* b) const {
  if (a->load != b->load) return a->load < b->load;
  if (a->served != b->served) return a->served < b->served;
  return a->seq < b->seq;
}

void Scheduler::AddWorker(Peer& peer) {
  std::string key = OfferKey(peer.tasks, peer.runtimes);
  auto [it, added] = class_by_offer_.try_emplace(std::move(key), nullptr);
  if (added) {
    auto worker_class = std::make_unique<WorkerClass>();
    worker_class->sample.role = v1::ROLE_WORKER;
    worker_class->sample.tasks = peer.tasks;
    worker_class->sample.runtimes = peer.runtimes;
    it->second = worker_class.get();
    worker_classes_.push_back(std::move(worker_class));
  }
  peer.worker_class = it->second;
  peer.seq = next_worker_seq_++;
  worker_threads_ += peer.threads;
  IndexWorker(peer);
}

void Scheduler::RemoveWorker(Peer& peer) {
  if (peer.worker_class == nullptr) return;
  if (peer.ready) {
    peer.worker_class->ready.erase(&peer);
    peer.ready = false;
    --ready_workers_;
  }
  if (peer.turnaround_indexed) {
    turnarounds_.erase(turnarounds_.find(peer.turnaround_key));
    peer.turnaround_indexed = false;
  }
  if (peer.stalled) {
    stalled_.erase(&peer);
    peer.stalled = false;
  }
  worker_threads_ -= peer.threads;
  peer.worker_class = nullptr;
}

void Scheduler::IndexWorker(Peer& peer) {
  if (peer.worker_class == nullptr) return;
  const bool ready =
      !peer.draining && peer.credit > 0 && !peer.reserved && !RunsAlone(peer);
  if (peer.ready && (!ready || peer.ready_held != peer.held)) {
    peer.worker_class->ready.erase(&peer);
    peer.ready = false;
    --ready_workers_;
  }
  if (ready && !peer.ready) {
    peer.ready_held = peer.held;
    peer.worker_class->ready.insert(&peer);
    peer.ready = true;
    ++ready_workers_;
  }
}

void Scheduler::ReleaseHandOut(const Holder& holder) {
  handout_table_.Close(holder.ticket);
  auto p = peers_.find(holder.worker);
  if (p == peers_.end() || p->second.held == 0) return;
  --p->second.held;
  IndexWorker(p->second);
}

int64_t Scheduler::ShareLoad(const ClientShare& share) const {
  return static_cast<int64_t>(
      ClientLoadUs(share.peer, share.in_flight_us, load_at_us_));
}

void Scheduler::LinkSharePeer(const std::string& id, Peer* peer) {
  if (auto it = shares_.find(id); it != shares_.end()) it->second.peer = peer;
}

void Scheduler::RekeyShare(ClientShare& share) {
  SetShareKey(share, ShareLoad(share), share.served);
}

namespace {

// `it` names an element of `set` whose key has just changed: leaves it in
// place if its neighbours still bracket it, else re-inserts it. Re-keying
// happens for every hand-out and report; with one client (one share, the
// common case) an erase and insert would free and allocate the set's only
// node each time.
template <typename Set>
void Resort(Set& set, typename Set::iterator it) {
  if (it == set.end()) return;
  const auto& less = set.key_comp();
  auto* element = *it;
  if ((it == set.begin() || less(*std::prev(it), element)) &&
      (std::next(it) == set.end() || less(element, *std::next(it)))) {
    return;
  }
  set.erase(it);
  set.insert(element);
}

}  // namespace

void Scheduler::SetShareKey(ClientShare& share, int64_t load, uint64_t served) {
  if (load == share.load && served == share.served) return;
  // Found by the old key, then re-sorted by the new one.
  auto by_load = shares_by_load_.find(&share);
  auto ready = share.in_ready ? ready_shares_.find(&share) : ready_shares_.end();
  share.load = load;
  share.served = served;
  Resort(shares_by_load_, by_load);
  Resort(ready_shares_, ready);
}

void Scheduler::RefreshShares(int64_t now_us) {
  const int64_t at_us = now_us - now_us % kShareRefreshUs;
  if (at_us == load_at_us_) return;
  load_at_us_ = at_us;
  for (auto& [client, share] : shares_) RekeyShare(share);
}

void Scheduler::DropShareIfEmpty(ClientShare* share) {
  if (share->jobs > 0) return;
  shares_by_load_.erase(share);
  if (share->in_ready) ready_shares_.erase(share);
  shares_.erase(share->client);
}

void Scheduler::JobChanged(BrokerJob& job, uint64_t served) {
  JobShare& entry = ShareEntry(job);
  if (entry.share == nullptr || entry.share->client != job.client()) {
    if (ClientShare* old = entry.share; old != nullptr) {
      old->in_flight_us -= entry.in_flight_us;
      --old->jobs;
      RekeyShare(*old);
      DropShareIfEmpty(old);
    }
    auto [it, added] = shares_.try_emplace(job.client());
    ClientShare& share = it->second;
    if (added) {
      share.client = job.client();
      auto peer = peers_.find(share.client);
      share.peer = peer == peers_.end() ? nullptr : &peer->second;
      share.seq = next_share_seq_++;
      share.load = ShareLoad(share);
      shares_by_load_.insert(&share);
    }
    ++share.jobs;
    entry.share = &share;
    // Its place in the old share's turns, if any, is stale now.
    ++entry.generation;
    entry.in_turns = false;
    share.in_flight_us += entry.in_flight_us;
    RekeyShare(share);
  }
  ClientShare& share = *entry.share;
  total_in_flight_ += job.in_flight() - entry.in_flight;
  entry.in_flight = job.in_flight();
  const int64_t in_flight_us = job.InFlightMicros();
  share.in_flight_us += in_flight_us - entry.in_flight_us;
  entry.in_flight_us = in_flight_us;
  // Also after a ChargeClient: one re-key for both changes of a report
  // (and of a hand-out: in flight and served).
  SetShareKey(share, ShareLoad(share), served != 0 ? served : share.served);
  if (!entry.in_turns && job.HasChunkToHandOut() && job.WindowOpen()) {
    share.turns.emplace_back(job.id(), entry.generation);
    entry.in_turns = true;
    if (!share.in_ready) {
      share.in_ready = true;
      ready_shares_.insert(&share);
    }
  }
}

void Scheduler::ForgetJobShare(BrokerJob& job) {
  JobShare& entry = ShareEntry(job);
  total_in_flight_ -= entry.in_flight;
  if (ClientShare* share = entry.share; share != nullptr) {
    share->in_flight_us -= entry.in_flight_us;
    --share->jobs;
    RekeyShare(*share);
    DropShareIfEmpty(share);
  }
  entry = JobShare();
}

}  // namespace tq
