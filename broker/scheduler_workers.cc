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

// A client whose work on workers is at most 1/kUnderShareFactor of another
// client's is far below its share: its chunks jump the queues of the
// workers they go to, which give back that other client's queued chunks.
// Not at any imbalance: two busy clients drift a chunk or two apart all the
// time, and shuffling their prefetched chunks back and forth would cost
// round trips for nothing.
constexpr int64_t kUnderShareFactor = 2;
// Clients' use of workers counts for fair shares with this time constant:
// a client that just arrived is far below the share of one that has kept
// the workers busy for seconds, and goes first until their recent uses
// even out; two clients busy all along converge to equal shares.
constexpr double kUsageDecayUs = 5'000'000;

}  // namespace

void Scheduler::Dispatch(int64_t now_us, Outbox* out) {
  DispatchSuspects(now_us, out);
  const uint64_t threads = WorkerThreads();
  // One chunk at a time, to the job whose client has the least load
  // (ClientLoadUs; ties: round-robin from ring_pos_) among those with a
  // chunk, room in their window and a worker able to run them.
  std::vector<std::tuple<int64_t, size_t, BrokerJob*>> candidates;
  absl::flat_hash_map<std::string, int64_t> client_load;
  // Whether a client with `load` is far below another's share.
  auto under_share = [&client_load](const std::string& client, int64_t load) {
    for (const auto& [other, other_load] : client_load) {
      if (other != client && other_load >= kUnderShareFactor * load + 1) {
        return true;
      }
    }
    return false;
  };
  for (;;) {
    const size_t n = job_ring_.size();
    candidates.clear();
    client_load.clear();
    if (n > 1) {
      for (const auto& [id, job] : jobs_) {
        client_load[job->client()] += job->InFlightMicros();
      }
      for (auto& [client, load] : client_load) {
        load = static_cast<int64_t>(ClientLoadUs(client, load, now_us));
      }
    }
    for (size_t k = 0; k < n; ++k) {
      BrokerJob& job = *jobs_.at(job_ring_[(ring_pos_ + k) % n]);
      if (!job.HasChunkToHandOut() || !job.WindowOpen()) continue;
      candidates.emplace_back(n > 1 ? client_load[job.client()] : 0, k, &job);
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const auto& a, const auto& b) {
                       return std::get<0>(a) < std::get<0>(b);
                     });
    bool handed_out = false;
    for (const auto& [load, k, job] : candidates) {
      auto [worker_id, worker] = BestWorkerFor(*job, now_us);
      if (worker == nullptr) continue;
      ring_pos_ = (ring_pos_ + k + 1) % n;
      HandOut(*job, job->TakeChunk(threads), *worker_id, *worker, now_us, out,
              /*alone=*/false,
              /*run_first=*/n > 1 && under_share(job->client(), load));
      handed_out = true;
      break;
    }
    if (!handed_out) break;
  }
  // No worker has room, and the least loaded client waiting is far below
  // another's share: free it a slot on each worker, instead of letting it
  // wait behind the chunks prefetched for that other client.
  if (!candidates.empty()) {
    const auto& [load, k, job] = candidates.front();
    if (under_share(job->client(), load)) {
      ReclaimQueued(job->client(), load, client_load, now_us, out);
    }
  }
  Speculate(now_us, out);
}

double Scheduler::UsageUs(const Peer& peer, int64_t now_us) {
  return peer.usage_us *
         std::exp(-static_cast<double>(now_us - peer.usage_at_us) /
                  kUsageDecayUs);
}

double Scheduler::ClientLoadUs(const std::string& client,
                               int64_t in_flight_us, int64_t now_us) const {
  auto it = peers_.find(client);
  const double usage_us = it == peers_.end() ? 0 : UsageUs(it->second, now_us);
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
}

void Scheduler::ReclaimQueued(
    const std::string& client, int64_t load,
    const absl::flat_hash_map<std::string, int64_t>& client_load,
    int64_t now_us, Outbox* out) {
  // Per worker holding more chunks than it has threads (so some wait in its
  // queue), the newest hand-out of a heavier client not known to have
  // started: the most likely to be still queued. A running one asked for
  // runs on (the worker ignores the request).
  struct Pick {
    int64_t handed_out_us;
    uint64_t job_id;
    uint64_t index;
    uint32_t attempt;
  };
  absl::flat_hash_map<std::string, Pick> picks;
  for (const auto& [job_id, job] : jobs_) {
    if (job->client() == client) continue;
    auto other = client_load.find(job->client());
    if (other == client_load.end() ||
        other->second < kUnderShareFactor * load + 1) {
      continue;
    }
    for (const auto& [index, chunk] : job->chunks()) {
      for (const Holder& holder : chunk.holders) {
        if (holder.started_us >= 0 || holder.return_asked) continue;
        auto peer = peers_.find(holder.worker);
        if (peer == peers_.end() || peer->second.held <= peer->second.threads) {
          continue;
        }
        auto [pick, added] = picks.try_emplace(
            holder.worker,
            Pick{holder.handed_out_us, job_id, index, holder.attempt});
        if (!added && pick->second.handed_out_us < holder.handed_out_us) {
          pick->second = Pick{holder.handed_out_us, job_id, index, holder.attempt};
        }
      }
    }
  }
  for (const auto& [worker, pick] : picks) {
    jobs_.at(pick.job_id)->Find(pick.index)->FindHolder(worker)->return_asked =
        true;
    v1::Envelope env;
    v1::ChunkRef* ref = env.mutable_return_queued()->add_chunks();
    ref->set_job_id(pick.job_id);
    ref->set_chunk_index(pick.index);
    ref->set_attempt(pick.attempt);
    Send(worker, std::move(env), now_us, out);
  }
}

int64_t Scheduler::TurnaroundUs(const Peer& peer, int64_t now_us) {
  if (peer.stall_us == 0) return peer.turnaround_us;
  const double faded =
      static_cast<double>(peer.stall_us) *
      std::exp2(-static_cast<double>(now_us - peer.stall_at_us) /
                static_cast<double>(kStallHalfLifeUs));
  return std::max(peer.turnaround_us, static_cast<int64_t>(faded));
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
  // load). Slow workers only after the others.
  int64_t fastest_us = -1;
  for (const auto& [id, peer] : peers_) {
    const int64_t turnaround_us = TurnaroundUs(peer, now_us);
    if (peer.role == v1::ROLE_WORKER && turnaround_us >= 0 &&
        (fastest_us < 0 || turnaround_us < fastest_us)) {
      fastest_us = turnaround_us;
    }
  }
  // Unknown (no chunk of the job measured yet): no worker is judged by
  // its reports.
  const int64_t median_us = job.MedianRunMicros();
  const std::string* best_id = nullptr;
  Peer* best = nullptr;
  bool best_slow = false;
  for (auto& [id, peer] : peers_) {
    if (peer.role != v1::ROLE_WORKER || peer.draining || peer.credit == 0 ||
        peer.reserved || RunsAlone(peer) || !CanRun(peer, job)) {
      continue;
    }
    if (except != nullptr && except->FindHolder(id) != nullptr) continue;
    // Quiet for half an interval past its heartbeat, or owing reports (it
    // was handed chunks since its last report or held heartbeat) for far
    // longer than this job's chunks take: frozen or cut off, most likely
    // (or busy with a long chunk, which a new one would queue behind). Chunks handed to it would wait for their copies (1 s)
    // or its loss (3 s).
    if (now_us - peer.last_heard_us >
            3 * options_.heartbeat_interval_ms * 1000 / 2 ||
        (peer.owes_report && median_us >= 0 &&
         now_us - peer.owing_since_us >
             std::max(kStragglerFactor * median_us, kQuietFloorUs))) {
      continue;
    }
    // A probe keeps a slow worker's measure fresh (a healed link is seen).
    const bool slow = IsSlow(peer, fastest_us, now_us) &&
                      !(peer.held == 0 &&
                        now_us - peer.last_handout_us >= kSlowProbeEveryUs);
    if (best == nullptr || (best_slow && !slow) ||
        (slow == best_slow &&
         peer.held * std::max<uint64_t>(1, best->threads) <
             best->held * std::max<uint64_t>(1, peer.threads))) {
      best_id = &id;
      best = &peer;
      best_slow = slow;
    }
  }
  return {best_id, best};
}

int64_t Scheduler::NextSpeculationUs() const {
  for (const auto& [id, job] : jobs_) {
    if (job->in_flight() > 0) return last_speculate_us_ + kSpeculateEveryUs;
  }
  return std::numeric_limits<int64_t>::max();
}

void Scheduler::Speculate(int64_t now_us, Outbox* out) {
  if (!speculating_ && now_us - last_speculate_us_ < kSpeculateEveryUs) return;
  last_speculate_us_ = now_us;
  speculating_ = false;
  // Idle: credit left after Dispatch gave out what it could (the window is
  // full, or nothing is queued), so a copy takes no one's place.
  bool idle = false;
  for (const auto& [id, peer] : peers_) {
    idle = idle || (peer.role == v1::ROLE_WORKER && !peer.draining &&
                    peer.credit > 0 && !peer.reserved && !RunsAlone(peer));
  }
  if (!idle) return;
  for (uint64_t job_id : std::vector<uint64_t>(job_ring_)) {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) continue;
    BrokerJob& job = *it->second;
    const int64_t median_us = job.MedianRunMicros();
    if (median_us < 0) continue;  // nothing measured: no straggler yet
    const int64_t threshold_us =
        std::max(kStragglerFactor * median_us, kStragglerFloorUs);
    // Stragglers in item order: the oldest undelivered first.
    std::vector<std::pair<uint64_t, uint64_t>> late;  // (first item, index)
    for (const auto& [index, chunk] : job.chunks()) {
      // Never a suspect: a copy could crash a second worker, and would not
      // run alone.
      if (chunk.holders.size() == 1 && !chunk.history.suspect &&
          now_us - chunk.holders[0].handed_out_us > threshold_us) {
        late.emplace_back(chunk.first_item, index);
      }
    }
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
