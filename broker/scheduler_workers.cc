// Scheduler, part 4: who gets the next chunk — the job of the client with
// the least work on workers (a client far below another's share has its
// chunks run first and the other's queued chunks given back), on the least
// loaded worker that is neither quiet nor slow — and speculative copies of
// stragglers on idle workers. Chunks: scheduler_chunks.cc.
#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/scheduler.h"

namespace tq {
namespace {

// Speculation: a chunk held longer than this many times its job's median
// chunk time, and at least kStragglerFloorUs, is re-run on an idle worker.
constexpr int64_t kStragglerFactor = 3;
constexpr int64_t kStragglerFloorUs = 1'000'000;
// How often Dispatch looks for stragglers while it finds none (the scan
// costs O(chunks out)); while it finds some, it looks whenever credit
// returns, so copies go out as fast as idle workers take them.
constexpr int64_t kSpeculateEveryUs = 100'000;
// A worker whose chunks' turnaround beyond their run time (network,
// queueing) is at least kSlowFactor times the fastest worker's, and at least
// kSlowFloorUs, is slow: it gets chunks only when the others cannot take
// them, and a probe chunk at most every kSlowProbeEveryUs while it holds
// none. An ordered job is otherwise held back by every chunk a lossy or
// distant host holds, while the result window keeps the others idle.
constexpr int64_t kSlowFactor = 4;
constexpr int64_t kSlowFloorUs = 10'000;
constexpr int64_t kSlowProbeEveryUs = 1'000'000;
// A stall (ObserveStall) counts in the worker's turnaround at once, then
// halves every kStallHalfLifeUs: a host that held a chunk 200 ms comes last
// for about 6 s (a second: about 10 s), probed meanwhile, unless it stalls
// again.
constexpr int64_t kStallHalfLifeUs = 1'500'000;
// A worker holding chunks that reported none for this long (and for
// kStragglerFactor times the job's median chunk time) gets no new chunk.
constexpr int64_t kQuietFloorUs = 250'000;

// Clients' use of workers counts for fair shares with this time constant:
// a client that just arrived is far below the share of one that has kept
// the workers busy for seconds, and goes first until their recent uses
// even out; two clients busy all along converge to equal shares.
constexpr double kUsageDecayUs = 5'000'000;

}  // namespace

// `peer`'s last stall, faded to `now_us`.
int64_t Scheduler::FadedStallUs(const Peer& peer, int64_t now_us) {
  const double faded =
      static_cast<double>(peer.stall_us) *
      std::exp2(-static_cast<double>(now_us - peer.stall_at_us) /
                static_cast<double>(kStallHalfLifeUs));
  return static_cast<int64_t>(faded);
}

void Scheduler::Dispatch(int64_t now_us, Outbox* out) {
  DispatchSuspects(now_us, out);
  const uint64_t threads = WorkerThreads();
  RefreshShares(now_us);
  // Loads decide (and run_first applies) only among several jobs.
  const bool several = jobs_.size() > 1;
  // One chunk at a time, to the job whose client has the least load
  // (ClientLoadUs; ties: the client served least recently), its jobs in
  // turn, among those with a chunk, room in their window and a worker able
  // to run them. A job no worker can take now waits aside until the end
  // of this call (workers only get busier within it).
  std::vector<std::pair<ClientShare*, std::pair<uint64_t, uint64_t>>> aside;
  // The first job in turn of the least loaded share that has one; nullptr
  // if none. Drops stale turns on the way.
  auto next_turn = [this]() -> std::pair<ClientShare*, BrokerJob*> {
    while (!ready_shares_.empty()) {
      ClientShare* share = *ready_shares_.begin();
      while (!share->turns.empty()) {
        const auto [job_id, generation] = share->turns.front();
        auto job = jobs_.find(job_id);
        JobShare* entry =
            job == jobs_.end() ? nullptr : &job->second->share_entry;
        if (entry != nullptr && entry->share == share &&
            entry->generation == generation) {
          if (job->second->HasChunkToHandOut() && job->second->WindowOpen()) {
            return {share, job->second.get()};
          }
          entry->in_turns = false;
        }
        share->turns.pop_front();
      }
      ready_shares_.erase(share);
      share->in_ready = false;
    }
    return {nullptr, nullptr};
  };
  while (ready_workers_ > 0) {
    auto [share, job] = next_turn();
    if (job == nullptr) break;
    auto [worker_id, worker] = BestWorkerFor(*job, now_us);
    if (worker == nullptr) {
      aside.emplace_back(share, share->turns.front());
      share->turns.pop_front();
      continue;
    }
    const bool run_first = several && UnderShare(*share);
    // Its turn is over: to the back, and its client was served now (its
    // share re-keyed once, by HandOut's JobChanged).
    share->turns.push_back(share->turns.front());
    share->turns.pop_front();
    HandOut(*job, job->TakeChunk(threads), *worker_id, *worker, now_us, out,
            /*alone=*/false, run_first, ++serve_count_);
  }
  // Back in front of their turns, in their order.
  for (auto it = aside.rbegin(); it != aside.rend(); ++it) {
    ClientShare* share = it->first;
    share->turns.push_front(it->second);
    if (!share->in_ready) {
      share->in_ready = true;
      ready_shares_.insert(share);
    }
  }
  // No worker has room, and the least loaded client waiting is far below
  // another's share: free it slots, instead of letting it wait behind the
  // chunks prefetched for that other client. At most one round per
  // millisecond (loads change no faster), for at most what its job can take.
  if (several && reclaim_at_us_ != now_us - now_us % 1000) {
    auto [share, job] = next_turn();
    if (job != nullptr && UnderShare(*share)) {
      reclaim_at_us_ = now_us - now_us % 1000;
      ReclaimQueued(*share, job->Room(), now_us, out);
    }
  }
  Speculate(now_us, out);
}

bool Scheduler::UnderShare(const ClientShare& share) const {
  // The heaviest other client: the last in load order, or the one before
  // it if that is `share`.
  auto it = shares_by_load_.rbegin();
  if (it != shares_by_load_.rend() && *it == &share) ++it;
  return it != shares_by_load_.rend() &&
         (*it)->load >= kUnderShareFactor * share.load + 1;
}

double Scheduler::UsageUs(const Peer& peer, int64_t now_us) {
  return peer.usage_us *
         std::exp(-static_cast<double>(now_us - peer.usage_at_us) /
                  kUsageDecayUs);
}

double Scheduler::ClientLoadUs(const Peer* client, int64_t in_flight_us,
                               int64_t now_us) {
  const double usage_us = client == nullptr ? 0 : UsageUs(*client, now_us);
  return usage_us + static_cast<double>(in_flight_us);
}

void Scheduler::ChargeClient(const std::string& client, uint64_t run_micros,
                             int64_t now_us) {
  auto it = peers_.find(client);
  if (it == peers_.end()) return;
  Peer& peer = it->second;
  peer.usage_us = UsageUs(peer, now_us) +
                  static_cast<double>(std::min<uint64_t>(run_micros, 1ull << 40));
  peer.usage_at_us = now_us;
  // The share is re-keyed by the JobChanged that follows (DeliverResults).
}

int64_t Scheduler::TurnaroundUs(const Peer& peer, int64_t now_us) {
  if (peer.stall_us == 0) return peer.turnaround_us;
  return std::max(peer.turnaround_us, FadedStallUs(peer, now_us));
}

void Scheduler::ObserveStall(Peer& peer, int64_t held_us, int64_t now_us) {
  if (held_us < TurnaroundUs(peer, now_us)) return;
  peer.stall_us = held_us;
  peer.stall_at_us = now_us;
}

bool Scheduler::IsSlow(const Peer& peer, int64_t fastest_us, int64_t now_us) {
  const int64_t turnaround_us = TurnaroundUs(peer, now_us);
  return fastest_us >= 0 && turnaround_us >= 0 &&
         turnaround_us >= std::max(kSlowFactor * fastest_us, kSlowFloorUs);
}

std::pair<const std::string*, Scheduler::Peer*> Scheduler::BestWorkerFor(
    const BrokerJob& job, int64_t now_us, const Chunk* except) {
  // The least loaded worker with credit (fewest chunks held per thread): idle
  // workers get work before busy ones queue more, however much credit a
  // worker has granted (adaptive prefetch makes credit a poor measure of
  // load). Slow workers only after the others. Each class able to run the
  // job offers its ready workers least loaded first: the first neither
  // quiet nor slow is its best, else its first slow one.
  if (ready_workers_ == 0) return {nullptr, nullptr};
  const int64_t fastest_us = FastestTurnaroundUs(now_us);
  // Unknown (no chunk of the job measured yet): no worker is judged by
  // its reports. Computed only if a worker owes reports.
  int64_t median_us = std::numeric_limits<int64_t>::min();
  Peer* best = nullptr;
  bool best_slow = false;
  for (const auto& worker_class : worker_classes_) {
    if (worker_class->ready.empty() || !ClassCanRun(*worker_class, job)) {
      continue;
    }
    for (Peer* candidate : worker_class->ready) {
      Peer& peer = *candidate;
      if (except != nullptr && except->FindHolder(*peer.id) != nullptr) continue;
      // Quiet for half an interval past its heartbeat, or owing reports (it
      // was handed chunks since its last report or held heartbeat) for far
      // longer than this job's chunks take: frozen or cut off, most likely
      // (or busy with a long chunk, which a new one would queue behind).
      // Chunks handed to it would wait for their copies (1 s) or its loss
      // (3 s).
      if (peer.owes_report && median_us == std::numeric_limits<int64_t>::min()) {
        median_us = job.MedianRunMicros();
      }
      if (Quiet(peer, median_us, now_us)) continue;
      // A probe keeps a slow worker's measure fresh (a healed link is seen).
      const bool slow = IsSlow(peer, fastest_us, now_us) &&
                        !(peer.held == 0 &&
                          now_us - peer.last_handout_us >= kSlowProbeEveryUs);
      if (best == nullptr || (best_slow && !slow) ||
          (slow == best_slow && LighterWorker()(&peer, best))) {
        best = &peer;
        best_slow = slow;
      }
      // Those after it are heavier: only a slow best looks further.
      if (!slow) break;
    }
  }
  if (best == nullptr) return {nullptr, nullptr};
  return {best->id, best};
}

bool Scheduler::Quiet(const Peer& peer, int64_t median_us,
                      int64_t now_us) const {
  if (now_us - peer.last_heard_us >
      3 * options_.heartbeat_interval_ms * 1000 / 2) {
    return true;
  }
  return peer.owes_report && median_us >= 0 &&
         now_us - peer.owing_since_us >
             std::max(kStragglerFactor * median_us, kQuietFloorUs);
}

int64_t Scheduler::FastestTurnaroundUs(int64_t now_us) {
  int64_t fastest_us = turnarounds_.empty() ? -1 : *turnarounds_.begin();
  for (auto it = stalled_.begin(); it != stalled_.end();) {
    Peer& peer = **it;
    const int64_t turnaround_us = TurnaroundUs(peer, now_us);
    if (turnaround_us >= 0 && (fastest_us < 0 || turnaround_us < fastest_us)) {
      fastest_us = turnaround_us;
    }
    ++it;
    // Faded out: from now on its turnaround is max(turnaround_us, 0), which
    // only a report changes.
    if (FadedStallUs(peer, now_us) == 0) IndexTurnaround(peer, now_us);
  }
  return fastest_us;
}

void Scheduler::IndexTurnaround(Peer& peer, int64_t now_us) {
  if (peer.worker_class == nullptr) return;
  if (peer.turnaround_indexed) {
    turnarounds_.erase(turnarounds_.find(peer.turnaround_key));
    peer.turnaround_indexed = false;
  }
  const bool stalled = peer.stall_us != 0 && FadedStallUs(peer, now_us) > 0;
  if (stalled != peer.stalled) {
    if (stalled) {
      stalled_.insert(&peer);
    } else {
      stalled_.erase(&peer);
    }
    peer.stalled = stalled;
  }
  if (stalled) return;
  const int64_t key = peer.stall_us != 0 ? std::max<int64_t>(peer.turnaround_us, 0)
                                         : peer.turnaround_us;
  if (key < 0) return;
  peer.turnaround_key = key;
  turnarounds_.insert(key);
  peer.turnaround_indexed = true;
}

int64_t Scheduler::NextSpeculationUs() const {
  if (total_in_flight_ > 0) return last_speculate_us_ + kSpeculateEveryUs;
  return std::numeric_limits<int64_t>::max();
}

void Scheduler::Speculate(int64_t now_us, Outbox* out) {
  if (!speculating_ && now_us - last_speculate_us_ < kSpeculateEveryUs) return;
  last_speculate_us_ = now_us;
  speculating_ = false;
  // Idle: credit left after Dispatch gave out what it could (the window is
  // full, or nothing is queued), so a copy takes no one's place.
  if (ready_workers_ == 0) return;
  // By position, not over a copy of the ring made per call: nothing below
  // (BestWorkerFor, HandOut) ends a job or changes the ring.
  for (size_t i = 0; i < job_ring_.size(); ++i) {
    auto it = jobs_.find(job_ring_[i]);
    if (it == jobs_.end()) continue;
    BrokerJob& job = *it->second;
    const int64_t median_us = job.MedianRunMicros();
    if (median_us < 0) continue;  // nothing measured: no straggler yet
    const int64_t threshold_us =
        std::max(kStragglerFactor * median_us, kStragglerFloorUs);
    // Stragglers in item order: the oldest undelivered first.
    std::vector<std::pair<uint64_t, uint64_t>> late;  // (first item, index)
    job.chunks().ForEach([&](uint64_t index, const Chunk& chunk) {
      // Never a suspect: a copy could crash a second worker, and would not
      // run alone.
      if (chunk.holders.size() == 1 && !chunk.history.suspect &&
          now_us - chunk.holders[0].handed_out_us > threshold_us) {
        late.emplace_back(chunk.first_item, index);
      }
    });
    std::sort(late.begin(), late.end());
    for (const auto& [first, index] : late) {
      const Chunk* chunk = job.Find(index);
      auto [worker_id, worker] = BestWorkerFor(job, now_us, chunk);
      // Up to the idle workers' whole credit: a frozen worker holds its
      // prefetch too, and copying one chunk per thread and round would
      // take longer than declaring it lost.
      if (worker == nullptr) break;
      ++stats_.chunks_speculated;
      Log(absl::StrCat("chunk ", index, " of job ", job.id(), " held ",
                       (now_us - chunk->holders[0].handed_out_us) / 1000,
                       " ms by ", PeerName(chunk->holders[0].worker),
                       ": running a copy on ", worker->name));
      HandOut(job, index, *worker_id, *worker, now_us, out);
      speculating_ = true;
    }
  }
}

}  // namespace tq
