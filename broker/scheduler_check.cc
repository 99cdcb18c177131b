// Scheduler, for tests: the dispatch indexes (scheduler_index.cc) checked
// against a full scan of peers and jobs. An index update missed somewhere
// shows here as a disagreement, or as a worker idling beside a job it could
// serve; tests/broker/scheduler_index_test.cc drives random sequences of
// events through the Scheduler and calls this after each.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "broker/scheduler.h"

namespace tq {

std::string Scheduler::CheckIndexes(int64_t now_us, bool dispatched) const {
  // Workers: their ready flag, class and place in the class's ready set.
  size_t ready = 0;
  uint64_t threads = 0;
  bool any_reserved = false;
  decltype(turnarounds_) turnarounds;
  size_t stalled = 0;
  for (const auto& [id, peer] : peers_) {
    if (peer.role != v1::ROLE_WORKER) continue;
    const std::string who = absl::StrCat("worker ", id, ": ");
    if (peer.worker_class == nullptr) return who + "no class";
    if (peer.id != &id) return who + "id does not point at its key";
    if (peer.worker_class->sample.tasks != peer.tasks) {
      return who + "its class offers other tasks";
    }
    threads += peer.threads;
    any_reserved |= peer.reserved;
    const bool should_be_ready =
        !peer.draining && peer.credit > 0 && !peer.reserved && !RunsAlone(peer);
    if (peer.ready != should_be_ready) {
      return absl::StrCat(who, "ready is ", peer.ready, ", should be ",
                          should_be_ready, " (credit ", peer.credit, ", held ",
                          peer.held, ")");
    }
    const auto& set = peer.worker_class->ready;
    const bool in_set = std::find(set.begin(), set.end(), &peer) != set.end();
    if (in_set != peer.ready) return who + "ready flag and ready set disagree";
    if (peer.ready) {
      ++ready;
      if (peer.ready_held != peer.held) {
        return absl::StrCat(who, "indexed with ", peer.ready_held,
                            " held, holds ", peer.held);
      }
    }
    if (peer.stalled) {
      ++stalled;
      if (!stalled_.contains(const_cast<Peer*>(&peer))) {
        return who + "stalled but not among the stalled";
      }
    } else {
      if (peer.stall_us != 0 && FadedStallUs(peer, now_us) > 0) {
        return who + "a stall that counts, not indexed";
      }
      const int64_t key = peer.stall_us != 0
                              ? std::max<int64_t>(peer.turnaround_us, 0)
                              : peer.turnaround_us;
      if (peer.turnaround_indexed != (key >= 0) ||
          (key >= 0 && peer.turnaround_key != key)) {
        return absl::StrCat(who, "turnaround ", key, " indexed as ",
                            peer.turnaround_indexed ? peer.turnaround_key : -1);
      }
    }
    if (peer.turnaround_indexed) turnarounds.insert(peer.turnaround_key);
  }
  if (ready != ready_workers_) {
    return absl::StrCat(ready, " workers ready, ready_workers_ ",
                        ready_workers_);
  }
  size_t in_sets = 0;
  for (const auto& worker_class : worker_classes_) {
    in_sets += worker_class->ready.size();
    if (!std::is_sorted(worker_class->ready.begin(), worker_class->ready.end(),
                        LighterWorker())) {
      return "a class's ready set is out of order";
    }
  }
  if (in_sets != ready_workers_) return "a class's ready set has a stranger";
  if (threads != worker_threads_) {
    return absl::StrCat(threads, " worker threads, worker_threads_ ",
                        worker_threads_);
  }
  if (turnarounds != turnarounds_) return "turnarounds_ disagrees";
  if (stalled != stalled_.size()) return "stalled_ holds a stranger";
  if (any_reserved && !maybe_reserved_) return "a worker reserved unnoticed";

  // The tick's deadlines: every peer and job has an entry no later than
  // what it stands for.
  absl::flat_hash_map<std::string, int64_t> silence_due, heartbeat_due;
  for (const auto& [due_us, ref] : silences_.entries()) {
    if (peers_.contains(ref.id) &&
        peers_.at(ref.id).incarnation == ref.incarnation) {
      auto [it, added] = silence_due.try_emplace(ref.id, due_us);
      it->second = std::min(it->second, due_us);
    }
  }
  for (const auto& [due_us, ref] : heartbeats_.entries()) {
    if (peers_.contains(ref.id) &&
        peers_.at(ref.id).incarnation == ref.incarnation &&
        peers_.at(ref.id).heartbeat_due_us == due_us) {
      heartbeat_due[ref.id] = due_us;
    }
  }
  for (const auto& [id, peer] : peers_) {
    auto silence = silence_due.find(id);
    if (silence == silence_due.end() ||
        silence->second >
            peer.last_heard_us + options_.heartbeat_timeout_ms * 1000) {
      return absl::StrCat("peer ", id, ": its silence would be noticed late");
    }
    auto heartbeat = heartbeat_due.find(id);
    if (heartbeat == heartbeat_due.end() ||
        heartbeat->second > peer.last_sent_us + HeartbeatEveryUs(peer)) {
      return absl::StrCat("peer ", id, ": its heartbeat would be sent late");
    }
  }
  absl::flat_hash_map<uint64_t, int64_t> timeout_due, detach_due;
  for (const auto& [due_us, id] : job_timeouts_.entries()) {
    auto [it, added] = timeout_due.try_emplace(id, due_us);
    it->second = std::min(it->second, due_us);
  }
  for (const auto& [due_us, id] : detach_expiries_.entries()) {
    auto [it, added] = detach_due.try_emplace(id, due_us);
    it->second = std::min(it->second, due_us);
  }
  for (const auto& [job_id, job] : jobs_) {
    if (job->deadline_us() != std::numeric_limits<int64_t>::max() &&
        (!timeout_due.contains(job_id) ||
         timeout_due.at(job_id) > job->deadline_us())) {
      return absl::StrCat("job ", job_id, ": its timeout would be late");
    }
    if (!job->attached() &&
        (!detach_due.contains(job_id) ||
         detach_due.at(job_id) > job->detached_since_us() +
                                     options_.client_grace_ms * 1000)) {
      return absl::StrCat("job ", job_id, ": its grace would end late");
    }
  }

  // Hand-outs: each holder's ticket is out, settled once started or asked
  // back, and no other ticket is (a hand-out that ended without closing
  // its ticket would keep stale lease and hand-out entries alive).
  size_t holders = 0;
  std::string ticket_error;
  absl::flat_hash_map<uint32_t, uint64_t> ticket_slots;
  for (const auto& [job_id, job] : jobs_) {
    job->chunks().ForEach([&, id = job_id](uint64_t index, const Chunk& chunk) {
      for (const Holder& h : chunk.holders) {
        ++holders;
        const std::string what = absl::StrCat("job ", id, " chunk ", index,
                                              " on ", h.worker, ": ");
        if (!handout_table_.IsOut(h.ticket)) {
          ticket_error = what + "its ticket is closed";
        } else if (handout_table_.IsSettled(h.ticket) !=
                   (h.started_us >= 0 || h.return_asked)) {
          ticket_error = what + "its ticket's settled flag is wrong";
        } else if (!ticket_slots.emplace(h.ticket.slot, index).second) {
          ticket_error = what + "shares its ticket";
        }
      }
    });
    if (!ticket_error.empty()) return ticket_error;
  }
  if (holders != handout_table_.open()) {
    return absl::StrCat(handout_table_.open(), " tickets out for ", holders,
                        " hand-outs");
  }

  // Jobs: their shares, in-flight sums and turns.
  std::map<const ClientShare*, std::pair<size_t, int64_t>> sums;
  uint64_t in_flight = 0;
  for (const auto& [job_id, job] : jobs_) {
    const std::string what = absl::StrCat("job ", job_id, ": ");
    const JobShare& js = job->share_entry;
    if (js.share == nullptr) return what + "no share";
    auto share = shares_.find(job->client());
    if (share == shares_.end() || js.share != &share->second) {
      return what + "not in its client's share";
    }
    if (js.in_flight != job->in_flight() ||
        js.in_flight_us != job->InFlightMicros()) {
      return absl::StrCat(what, "indexed with ", js.in_flight, " in flight (",
                          js.in_flight_us, " us), has ", job->in_flight(), " (",
                          job->InFlightMicros(), " us)");
    }
    in_flight += job->in_flight();
    auto& sum = sums[js.share];
    ++sum.first;
    sum.second += js.in_flight_us;
    size_t turns = 0;
    for (const auto& [id, generation] : js.share->turns) {
      if (id == job_id && generation == js.generation) ++turns;
    }
    if (turns != (js.in_turns ? 1u : 0u)) {
      return absl::StrCat(what, turns, " turns, in_turns ", js.in_turns);
    }
    if (job->HasChunkToHandOut() && job->WindowOpen() &&
        (!js.in_turns || !js.share->in_ready)) {
      return what + "has a chunk to hand out and no turn";
    }
    const BrokerJob::RunsOnMemo& memo = job->runs_on_memo();
    for (const auto& worker_class : worker_classes_) {
      if (memo.key == worker_class.get() &&
          memo.can_run != CanRun(worker_class->sample, *job)) {
        return what + "remembers the wrong answer for a worker class";
      }
    }
    if (job->HasSuspectToHandOut() && !maybe_suspects_) {
      return what + "a suspect unnoticed";
    }
  }
  if (in_flight != total_in_flight_) {
    return absl::StrCat(in_flight, " in flight, total_in_flight_ ",
                        total_in_flight_);
  }
  for (const auto& [client, share] : shares_) {
    const std::string what = absl::StrCat("share of '", client, "': ");
    const auto sum = sums[&share];
    if (share.jobs != sum.first || share.in_flight_us != sum.second) {
      return absl::StrCat(what, share.jobs, " jobs and ", share.in_flight_us,
                          " us, should be ", sum.first, " and ", sum.second);
    }
    if (share.jobs == 0) return what + "no job";
    auto peer = peers_.find(share.client);
    if (share.peer != (peer == peers_.end() ? nullptr : &peer->second)) {
      return what + "linked to the wrong peer";
    }
    if (share.load != ShareLoad(share)) {
      return absl::StrCat(what, "load ", share.load, ", should be ",
                          ShareLoad(share));
    }
    if (!shares_by_load_.contains(const_cast<ClientShare*>(&share))) {
      return what + "not in shares_by_load_";
    }
    if (share.in_ready !=
        ready_shares_.contains(const_cast<ClientShare*>(&share))) {
      return what + "in_ready and ready_shares_ disagree";
    }
  }
  if (shares_by_load_.size() != shares_.size() ||
      ready_shares_.size() > shares_.size()) {
    return "a share index holds a stranger";
  }
  if (!std::is_sorted(shares_by_load_.begin(), shares_by_load_.end(),
                      LighterShare()) ||
      !std::is_sorted(ready_shares_.begin(), ready_shares_.end(),
                      LighterShare())) {
    return "a share index is out of order";
  }

  // No worker able to take a chunk idles beside a job it can run that has
  // one to hand out (Dispatch would have handed it out).
  if (!dispatched) return "";
  for (const auto& [job_id, job] : jobs_) {
    if (!job->HasChunkToHandOut() || !job->WindowOpen()) continue;
    const int64_t median_us = job->MedianRunMicros();
    for (const auto& [id, peer] : peers_) {
      if (peer.role == v1::ROLE_WORKER && peer.ready && CanRun(peer, *job) &&
          !Quiet(peer, median_us, now_us)) {
        return absl::StrCat("worker ", id, " (credit ", peer.credit, ", held ",
                            peer.held, ") idles beside job ", job_id,
                            ", which has a chunk for it");
      }
    }
  }
  return "";
}

}  // namespace tq
