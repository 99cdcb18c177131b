#include "broker/job.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tq {
namespace {

using u128 = unsigned __int128;

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a
             ? std::numeric_limits<uint64_t>::max()
             : a + b;
}

}  // namespace

BrokerJob::BrokerJob(uint64_t id, std::string client, std::string owner,
         const JobPlan& plan, v1::SubmitJob submit,
         std::vector<Payload> code_payloads)
    : id_(id),
      client_(std::move(client)),
      owner_(std::move(owner)),
      task_(plan.task),
      submit_(std::move(submit)),
      code_payloads_(std::move(code_payloads)),
      streamed_(plan.streamed),
      chunk_size_(plan.chunk_size),
      window_(plan.window),
      max_window_(plan.max_window),
      encoding_(plan.encoding),
      max_chunk_items_(plan.max_chunk_items),
      chunk_count_(plan.chunk_count),
      items_total_(plan.item_count > std::numeric_limits<uint64_t>::max()
                       ? std::numeric_limits<uint64_t>::max()
                       : static_cast<uint64_t>(plan.item_count)),
      input_complete_(!plan.streamed),
      credit_(submit_.result_window()) {}

void BrokerJob::set_submitted_us(int64_t now_us) {
  submitted_us_ = now_us;
  const uint64_t timeout_ms = submit_.timeout_ms();
  if (timeout_ms == 0) return;
  const uint64_t room = static_cast<uint64_t>(
      std::numeric_limits<int64_t>::max() - std::max<int64_t>(now_us, 0));
  deadline_us_ = timeout_ms >= room / 1000
                     ? std::numeric_limits<int64_t>::max()
                     : now_us + static_cast<int64_t>(timeout_ms * 1000);
}

absl::Status BrokerJob::AppendInput(
    const google::protobuf::RepeatedPtrField<v1::ChunkInput>& chunks,
    bool complete, const std::vector<Payload>& payloads) {
  if (input_complete_) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id_, "'s input has already ended"));
  }
  if (chunk_count_ + chunks.size() - delivered_ > window_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "job ", id_, " would hold ", chunk_count_ + chunks.size() - delivered_,
        " undelivered chunks; its window is ", window_));
  }
  std::vector<StreamChunk> accepted;
  accepted.reserve(chunks.size());
  for (const v1::ChunkInput& chunk : chunks) {
    const uint64_t index = chunk_count_ + accepted.size();
    StreamChunk stream;
    switch (chunk.input_case()) {
      case v1::ChunkInput::kRange: {
        const v1::Range& r = chunk.range();
        if (r.first() > r.last()) {
          return absl::InvalidArgumentError(
              absl::StrCat("chunk ", index, ": range ", r.first(), "..",
                           r.last(), " is reversed"));
        }
        if (encoding_ != v1::ITEM_ENCODING_PICKLE) {
          return absl::InvalidArgumentError(absl::StrCat(
              "chunk ", index, ": a task's streamed chunks carry numbers, not ranges"));
        }
        const u128 items = u128{r.last() - r.first()} + 1;
        stream.items = items > std::numeric_limits<uint64_t>::max()
                           ? std::numeric_limits<uint64_t>::max()
                           : static_cast<uint64_t>(items);
        break;
      }
      case v1::ChunkInput::kPayload: {
        if (chunk.payload() >= payloads.size()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "chunk ", index, " names payload ", chunk.payload(),
              " of a message carrying ", payloads.size()));
        }
        stream.payload = payloads[chunk.payload()];
        stream.items = chunk.item_count();
        if (stream.items == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("chunk ", index, " holds no items"));
        }
        if (encoding_ == v1::ITEM_ENCODING_U64LE &&
            stream.payload.size() != u128{stream.items} * 8) {
          return absl::InvalidArgumentError(absl::StrCat(
              "chunk ", index, " claims ", stream.items, " numbers in ",
              stream.payload.size(), " bytes; each takes 8"));
        }
        break;
      }
      case v1::ChunkInput::INPUT_NOT_SET:
        return absl::InvalidArgumentError(
            absl::StrCat("chunk ", index, " has no input"));
    }
    if (stream.items > max_chunk_items_) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", index, " holds ", stream.items,
                       " items; a chunk of this job holds at most ",
                       max_chunk_items_));
    }
    stream.input = chunk;
    stream.input.set_item_count(stream.items);
    stream.input.set_encoding(encoding_);
    stream.input.clear_offset();
    stream.input.clear_count();
    accepted.push_back(std::move(stream));
  }
  for (StreamChunk& stream : accepted) {
    items_total_ = SaturatingAdd(items_total_, stream.items);
    stream_.emplace(chunk_count_++, std::move(stream));
  }
  input_complete_ = complete;
  return absl::OkStatus();
}

std::pair<uint64_t, ChunkHistory> BrokerJob::TakeChunk() {
  if (!requeued_.empty()) {
    auto node = requeued_.extract(requeued_.begin());
    return {node.key(), std::move(node.mapped())};
  }
  return {next_chunk_++, ChunkHistory{}};
}

void BrokerJob::PutInFlight(uint64_t index, InFlightChunk chunk) {
  in_flight_[index] = std::move(chunk);
}

const InFlightChunk* BrokerJob::FindInFlight(uint64_t index) const {
  auto it = in_flight_.find(index);
  return it == in_flight_.end() ? nullptr : &it->second;
}

bool BrokerJob::IsOutstanding(uint64_t index) const {
  return in_flight_.contains(index) || requeued_.contains(index);
}

void BrokerJob::Finish(uint64_t index) {
  if (in_flight_.erase(index) + requeued_.erase(index) > 0) {
    ++chunks_done_;
    items_done_ = SaturatingAdd(items_done_, ChunkItems(index));
    stream_.erase(index);
  }
}

void BrokerJob::Requeue(uint64_t index, ChunkHistory history) {
  in_flight_.erase(index);
  requeued_[index] = std::move(history);
}

uint64_t BrokerJob::ChunkItems(uint64_t index) const {
  if (streamed_) {
    auto it = stream_.find(index);
    return it == stream_.end() ? 0 : it->second.items;
  }
  // index < chunk_count_, so index * chunk_size_ < item_count <= 2^64.
  const u128 items = u128{submit_.range().last() - submit_.range().first()} + 1;
  const u128 start = u128{index} * chunk_size_;
  return static_cast<uint64_t>(std::min<u128>(chunk_size_, items - start));
}

void BrokerJob::FillInput(uint64_t index, v1::ChunkInput* input,
                    std::vector<Payload>* payloads) const {
  if (streamed_) {
    const StreamChunk& stream = stream_.at(index);
    *input = stream.input;
    if (input->input_case() == v1::ChunkInput::kPayload) {
      input->set_payload(static_cast<uint32_t>(payloads->size()));
      payloads->push_back(stream.payload);
    }
    return;
  }
  const uint64_t start = index * chunk_size_;  // < item count: no overflow
  const uint64_t count = ChunkItems(index);
  v1::Range* range = input->mutable_range();
  range->set_first(submit_.range().first() + start);
  range->set_last(submit_.range().first() + start + (count - 1));
}

bool BrokerJob::WindowOpen() const {
  const uint64_t window = std::min<uint64_t>(credit_, max_window_);
  if (submit_.max_concurrency() != 0 &&
      in_flight_.size() >= submit_.max_concurrency()) {
    return false;
  }
  return in_flight_.size() + undelivered_.size() < window;
}

void BrokerJob::GrantCredit(uint64_t chunks) {
  credit_ = std::min(credit_ + chunks,
                     std::numeric_limits<uint64_t>::max() / 2);
}

void BrokerJob::AddResult(PendingResult result) {
  undelivered_.push_back(std::move(result));
}

std::vector<PendingResult> BrokerJob::TakeDeliverable() {
  std::vector<PendingResult> out;
  while (credit_ > 0 && !undelivered_.empty()) {
    out.push_back(std::move(undelivered_.front()));
    undelivered_.pop_front();
    --credit_;
    ++delivered_;
  }
  return out;
}

}  // namespace tq
