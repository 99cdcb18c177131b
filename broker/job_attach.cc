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
  if (streamed_) return;
  skip_.Add(have);
  SkipAcknowledged();
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
      // The whole chunk again, under its index: its input was kept.
      auto kept = retained_.find(lost.chunk_index);
      if (kept == retained_.end() || chunks_.contains(lost.chunk_index)) continue;
      Chunk& chunk = chunks_[lost.chunk_index];
      chunk.first_item = kept->second.first_item;
      chunk.items = kept->second.items;
      stream_.emplace(lost.chunk_index, std::move(kept->second));
      retained_.erase(kept);
      Enqueue(lost.chunk_index);
      ++queued;
      continue;
    }
    const uint64_t index = next_index_++;
    Chunk& chunk = chunks_[index];
    chunk.first_item = lost.first_item;
    chunk.items = lost.items;
    Enqueue(index);
    ++queued;
  }
  return queued;
}

}  // namespace tq
