// BrokerJob, its attachment to clients (job.h, "delivery, acknowledgements,
// attaching again"): detach and attach, acknowledgements, results lost with
// a connection computed again, and resuming from the journal. The ledger of
// chunks and results: job.cc.
#include <algorithm>
#include <limits>
#include <utility>

#include "broker/job.h"
#include "common/status_macros.h"

namespace tq {

using u128 = unsigned __int128;

void BrokerJob::Detach(int64_t now_us) {
  // Its credit stays: the job goes on computing into its window, and the
  // results wait for the next client.
  client_.clear();
  detached_since_us_ = now_us;
}

void BrokerJob::Attach(std::string client, uint64_t credit) {
  client_ = std::move(client);
  awaiting_client_ = false;
  finish_sent_ = false;
  credit_ = std::min<uint64_t>(credit, window_);
}

absl::Status BrokerJob::Acknowledge(const ItemRuns& items, uint64_t count) {
  TQ_RETURN_IF_ERROR(ledger_.Acknowledge(items, count));
  if (ledger_.overflowed()) {
    retained_.clear();
    return absl::OkStatus();
  }
  for (auto it = retained_.begin(); it != retained_.end();) {
    const StreamChunk& chunk = it->second;
    if (ledger_.acknowledged().Contains(chunk.first_item, chunk.items)) {
      retained_.erase(it++);
    } else {
      ++it;
    }
  }
  return absl::OkStatus();
}

void BrokerJob::Restore(const ItemRuns& acknowledged, uint64_t count,
                        uint64_t first_index) {
  ledger_.Restore(acknowledged, count);
  skip_ = acknowledged;
  const absl::uint128 done = acknowledged.size();
  items_done_ = done > std::numeric_limits<uint64_t>::max()
                    ? std::numeric_limits<uint64_t>::max()
                    : static_cast<uint64_t>(done);
  next_index_ = first_index;
  index_base_ = first_index;
  awaiting_client_ = true;
  SkipAcknowledged();
}

void BrokerJob::AddHeld(const ItemRuns& have) {
  if (have.empty()) return;
  ledger_.AddHeld(have);
  if (!streamed_) {
    skip_.Add(have);
    SkipAcknowledged();
    return;
  }
  // A resumed streamed job's queued chunks (nothing else is queued when a
  // client holds results the broker does not know of): the held items are
  // delivered (their input retained), the rest queued as parts.
  std::vector<uint64_t> indexes;
  for (const auto& [first, index] : queued_) indexes.push_back(index);
  for (uint64_t index : indexes) {
    const Chunk& chunk = chunks_.at(index);
    if (!have.Overlaps(chunk.first_item, chunk.items)) continue;
    StreamChunk whole = std::move(stream_.at(index));
    whole.first_item = chunk.first_item;
    whole.items = chunk.items;
    stream_.erase(index);
    Dequeue(index, chunk);
    chunks_.Erase(index);
    uint64_t held = whole.items;
    for (const ItemRuns::Run& run : have.Missing(whole.first_item, whole.items)) {
      QueuePart(whole, run.first, run.count);
      held -= run.count;
    }
    items_done_ = std::min(items_done_ + held, items_total_);
    retained_.emplace(whole.first_item, std::move(whole));
  }
}

void BrokerJob::RestoreStream(const ItemRuns& acknowledged, uint64_t count,
                              uint64_t first_index, uint64_t chunks_appended,
                              uint64_t items_appended, bool complete,
                              std::vector<StreamInput> live) {
  Restore(acknowledged, count, first_index);
  chunks_appended_ = chunks_appended;
  items_total_ = items_appended;
  input_complete_ = complete;
  for (StreamInput& input : live) {
    // Acknowledged items of a chunk (a part was) are not run again.
    for (const ItemRuns::Run& run :
         acknowledged.Missing(input.first_item, input.items)) {
      QueuePart(input, run.first, run.count);
    }
  }
}

void BrokerJob::SkipAcknowledged() {
  while (cut_items_ < range_items_ &&
         skip_.Contains(static_cast<uint64_t>(cut_items_), 1)) {
    // To the end of the acknowledged run holding the next item.
    std::vector<ItemRuns::Run> open = skip_.Missing(
        static_cast<uint64_t>(cut_items_),
        static_cast<uint64_t>(std::min<u128>(range_items_ - cut_items_,
                                             std::numeric_limits<uint64_t>::max())));
    if (open.empty()) {
      cut_items_ = range_items_;
    } else {
      cut_items_ = open.front().first;
    }
  }
}

uint64_t BrokerJob::RecomputeLost(const ItemRuns& have) {
  uint64_t queued = 0;
  for (const DeliveryLedger::Lost& lost : ledger_.TakeLost(have)) {
    items_done_ -= std::min(items_done_, lost.items);
    if (streamed_) {
      // Exactly the lost items, from the input kept until acknowledged
      // (which stays, should they be lost again).
      const StreamChunk* kept = RetainedHolding(lost.first_item);
      if (kept == nullptr ||
          lost.first_item - kept->first_item + lost.items > kept->items) {
        continue;  // not kept: the ledger overflowed (attach refused)
      }
      QueuePart(*kept, lost.first_item, lost.items);
      ++queued;
      continue;
    }
    const uint64_t index = next_index_++;
    Chunk& chunk = chunks_.Add(index);
    chunk.first_item = lost.first_item;
    chunk.items = lost.items;
    Enqueue(index);
    ++queued;
  }
  return queued;
}

}  // namespace tq
