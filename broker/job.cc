#include "broker/job.h"

#include <algorithm>
#include <limits>

namespace tq {

Job::Job(uint64_t id, std::string client, const JobPlan& plan,
         v1::SubmitJob submit)
    : id_(id),
      client_(std::move(client)),
      task_(plan.task),
      submit_(std::move(submit)),
      chunk_size_(plan.chunk_size),
      chunk_count_(plan.chunk_count),
      credit_(submit_.result_window()) {}

std::pair<uint64_t, ChunkHistory> Job::TakeChunk() {
  if (!requeued_.empty()) {
    auto node = requeued_.extract(requeued_.begin());
    return {node.key(), std::move(node.mapped())};
  }
  return {next_chunk_++, ChunkHistory{}};
}

void Job::PutInFlight(uint64_t index, InFlightChunk chunk) {
  in_flight_[index] = std::move(chunk);
}

const InFlightChunk* Job::FindInFlight(uint64_t index) const {
  auto it = in_flight_.find(index);
  return it == in_flight_.end() ? nullptr : &it->second;
}

bool Job::IsOutstanding(uint64_t index) const {
  return in_flight_.contains(index) || requeued_.contains(index);
}

void Job::Finish(uint64_t index) {
  if (in_flight_.erase(index) + requeued_.erase(index) > 0) {
    ++chunks_done_;
    items_done_ += ChunkItems(index);
  }
}

void Job::Requeue(uint64_t index, ChunkHistory history) {
  in_flight_.erase(index);
  requeued_[index] = std::move(history);
}

uint64_t Job::ChunkItems(uint64_t index) const {
  // index < chunk_count_, so index * chunk_size_ < item_count <= 2^64.
  using u128 = unsigned __int128;
  u128 items = submit_.has_range()
                   ? u128{submit_.range().last() - submit_.range().first()} + 1
                   : static_cast<u128>(submit_.items().values_size());
  u128 start = u128{index} * chunk_size_;
  return static_cast<uint64_t>(std::min<u128>(chunk_size_, items - start));
}

void Job::FillInput(uint64_t index, v1::ChunkInput* input) const {
  const uint64_t start = index * chunk_size_;  // < item count: no overflow
  const uint64_t count = ChunkItems(index);
  if (submit_.has_range()) {
    v1::Range* range = input->mutable_range();
    range->set_first(submit_.range().first() + start);
    range->set_last(submit_.range().first() + start + (count - 1));
  } else {
    const auto& values = submit_.items().values();
    input->mutable_items()->mutable_values()->Add(
        values.begin() + static_cast<int>(start),
        values.begin() + static_cast<int>(start + count));
  }
}

bool Job::WindowOpen(uint64_t max_window) const {
  const uint64_t window = std::min(credit_, max_window);
  return in_flight_.size() + undelivered_.size() < window;
}

void Job::GrantCredit(uint64_t chunks) {
  credit_ = std::min(credit_ + chunks,
                     std::numeric_limits<uint64_t>::max() / 2);
}

void Job::AddResult(v1::ChunkResult result) {
  undelivered_.push_back(std::move(result));
}

std::vector<v1::ChunkResult> Job::TakeDeliverable() {
  std::vector<v1::ChunkResult> out;
  while (credit_ > 0 && !undelivered_.empty()) {
    out.push_back(std::move(undelivered_.front()));
    undelivered_.pop_front();
    --credit_;
    ++delivered_;
  }
  return out;
}

}  // namespace tq
