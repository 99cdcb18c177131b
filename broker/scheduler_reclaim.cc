// Scheduler, part 6: chunks given back for a client far below its share
// (ReclaimQueued). Dispatch hands a waiting client's chunks out first; when
// no worker has room, this asks workers whose queues hold another, much
// heavier client's chunks to give one back unstarted (ReturnQueued), so the
// waiting client's chunk takes its place instead of queueing behind it.
//
// Cost: the hand-outs are kept in the order made (HandOut appends, entries
// whose hand-out ended or started are skipped and compacted away), so a
// round looks at the newest few, not at every chunk in flight; and it asks
// for no more than the waiting job can take, minus what was asked already.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "broker/scheduler.h"

namespace tq {
namespace {

// A round looks at no more than this many hand-outs per chunk wanted (plus
// kReclaimScanFloor): the newest are the likeliest to be queued, and a
// round that finds too few leaves the rest to the next (a millisecond on).
constexpr size_t kReclaimScanPerWant = 4;
constexpr size_t kReclaimScanFloor = 64;

}  // namespace

Holder* Scheduler::FindHandOut(const HandOutRef& ref) {
  auto job = jobs_.find(ref.job_id);
  if (job == jobs_.end()) return nullptr;
  Chunk* chunk = job->second->Find(ref.index);
  return chunk == nullptr ? nullptr : chunk->FindAttempt(ref.attempt);
}

void Scheduler::RecordHandOut(uint64_t job_id, uint64_t index,
                              uint32_t attempt, HandOutTicket ticket) {
  handouts_.push_back(HandOutRef{job_id, index, attempt, ticket});
  if (handouts_.size() < compact_handouts_at_) return;
  // Keep those still out, unstarted and not asked back, in order:
  // amortized O(1) a hand-out, as the next compaction waits for twice as
  // many; each judged by its ticket, without its job and chunk.
  handouts_.erase(std::remove_if(handouts_.begin(), handouts_.end(),
                                 [this](const HandOutRef& ref) {
                                   return !handout_table_.IsOutUnsettled(
                                       ref.ticket);
                                 }),
                  handouts_.end());
  compact_handouts_at_ = std::max<size_t>(1024, 2 * handouts_.size());
}

void Scheduler::ReclaimQueued(const ClientShare& share, uint64_t want,
                              int64_t now_us, Outbox* out) {
  // Returns asked and still pending count against `want`: the slots they
  // free go to the waiting client as they come back.
  returns_asked_.erase(
      std::remove_if(returns_asked_.begin(), returns_asked_.end(),
                     [this](const HandOutRef& ref) {
                       const Holder* h = FindHandOut(ref);
                       return h == nullptr || h->started_us >= 0;
                     }),
      returns_asked_.end());
  if (want <= returns_asked_.size()) return;
  want -= returns_asked_.size();
  // Per worker holding more chunks than it has threads (so some wait in
  // its queue), the newest hand-out of a heavier client not known to have
  // started: the most likely to be still queued. A running one asked for
  // runs on (the worker ignores the request).
  const int64_t heavier_than = kUnderShareFactor * share.load + 1;
  absl::flat_hash_set<std::string> asked;
  size_t budget = kReclaimScanFloor + kReclaimScanPerWant * want;
  for (auto it = handouts_.rbegin();
       it != handouts_.rend() && budget > 0 && asked.size() < want;
       ++it, --budget) {
    const HandOutRef& ref = *it;
    // Ended, started or asked back already: known by its ticket.
    if (!handout_table_.IsOutUnsettled(ref.ticket)) continue;
    auto job = jobs_.find(ref.job_id);
    if (job == jobs_.end() || job->second->client() == share.client) continue;
    Chunk* chunk = job->second->Find(ref.index);
    Holder* holder = chunk == nullptr ? nullptr : chunk->FindAttempt(ref.attempt);
    if (holder == nullptr) continue;
    const std::string worker = holder->worker;
    if (asked.contains(worker)) continue;
    auto peer = peers_.find(worker);
    if (peer == peers_.end() || peer->second.held <= peer->second.threads) {
      continue;
    }
    auto other = shares_.find(job->second->client());
    if (other == shares_.end() || other->second.load < heavier_than) continue;
    holder->return_asked = true;
    handout_table_.Settle(holder->ticket);
    asked.insert(worker);
    returns_asked_.push_back(ref);
    v1::Envelope env;
    v1::ChunkRef* chunk_ref = env.mutable_return_queued()->add_chunks();
    chunk_ref->set_job_id(ref.job_id);
    chunk_ref->set_chunk_index(ref.index);
    chunk_ref->set_attempt(ref.attempt);
    Send(worker, std::move(env), now_us, out);
  }
}

}  // namespace tq
