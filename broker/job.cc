#include "broker/job.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/protocol.h"

namespace tq {
namespace {

using u128 = unsigned __int128;

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a
             ? std::numeric_limits<uint64_t>::max()
             : a + b;
}

}  // namespace

namespace {

ChunkSizerOptions SizerOptions(const JobPlan& plan) {
  ChunkSizerOptions options;
  options.target_micros = kTargetChunkMicros;
  options.initial_items = std::max<uint64_t>(1, plan.min_chunk_items);
  options.max_items = std::max<uint64_t>(1, plan.max_chunk_items);
  // Range chunks carry no input bytes; results are bounded by the task's
  // sizing. Half a payload leaves room for any result encoding.
  options.max_bytes = kMaxPayloadBytes / 2;
  return options;
}

}  // namespace

BrokerJob::BrokerJob(uint64_t id, std::string client, std::string owner,
                     const JobPlan& plan, v1::SubmitJob submit,
                     std::vector<Payload> code_payloads)
    : id_(id),
      credit_(submit.result_window()),
      max_concurrency_(submit.max_concurrency()),
      max_window_(plan.max_window),
      streamed_(plan.streamed),
      bool_results_(plan.task != nullptr &&
                    plan.task->shape() == ResultShape::kBool),
      input_complete_(!plan.streamed),
      fixed_chunk_size_(plan.streamed ? 0 : submit.chunk_size()),
      range_items_(plan.item_count),
      client_(std::move(client)),
      // Twice the window: a client acknowledges what it consumed within
      // half a window or a fraction of a second, so only one that does not
      // acknowledge at all reaches this.
      ledger_(2 * static_cast<size_t>(plan.window) + 16),
      sizer_(SizerOptions(plan)),
      submit_(std::move(submit)),
      owner_(std::move(owner)),
      task_(plan.task),
      code_payloads_(std::move(code_payloads)),
      fixed_chunk_count_(plan.streamed ? 0 : plan.chunk_count),
      max_chunk_items_(plan.max_chunk_items),
      min_chunk_items_(plan.min_chunk_items),
      window_(plan.window),
      encoding_(plan.encoding),
      items_total_(plan.item_count > std::numeric_limits<uint64_t>::max()
                       ? std::numeric_limits<uint64_t>::max()
                       : static_cast<uint64_t>(plan.item_count)) {}

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
  const uint64_t held = stream_.size() + undelivered_.size() + chunks.size();
  if (held > window_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "job ", id_, " would hold ", held,
        " undelivered chunks; its window is ", window_));
  }
  std::vector<std::pair<StreamChunk, uint64_t>> accepted;  // (input, items)
  accepted.reserve(chunks.size());
  for (const v1::ChunkInput& chunk : chunks) {
    const uint64_t index = next_index_ + accepted.size();
    StreamChunk stream;
    uint64_t stream_items = 0;
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
        stream_items = items > std::numeric_limits<uint64_t>::max()
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
        stream_items = chunk.item_count();
        if (stream_items == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("chunk ", index, " holds no items"));
        }
        if (encoding_ == v1::ITEM_ENCODING_U64LE &&
            stream.payload.size() != u128{stream_items} * 8) {
          return absl::InvalidArgumentError(absl::StrCat(
              "chunk ", index, " claims ", stream_items, " numbers in ",
              stream.payload.size(), " bytes; each takes 8"));
        }
        break;
      }
      case v1::ChunkInput::INPUT_NOT_SET:
        return absl::InvalidArgumentError(
            absl::StrCat("chunk ", index, " has no input"));
    }
    if (stream_items > max_chunk_items_) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", index, " holds ", stream_items,
                       " items; a chunk of this job holds at most ",
                       max_chunk_items_));
    }
    stream.input = chunk;
    stream.input.set_item_count(stream_items);
    stream.input.set_encoding(encoding_);
    stream.input.clear_offset();
    stream.input.clear_count();
    accepted.emplace_back(std::move(stream), stream_items);
  }
  for (auto& [stream, items] : accepted) {
    const uint64_t index = next_index_++;
    Chunk& chunk = chunks_.Add(index);
    chunk.first_item = items_total_;
    chunk.items = items;
    items_total_ = SaturatingAdd(items_total_, items);
    stream_.emplace(index, std::move(stream));
    ++chunks_appended_;
    Enqueue(index);
  }
  input_complete_ = complete;
  return absl::OkStatus();
}

uint64_t BrokerJob::ChunksQueued() const {
  u128 queued = queued_.size() + suspects_.size();
  if (HasInputToCut()) {
    const uint64_t size =
        fixed_chunk_size_ != 0
            ? fixed_chunk_size_
            : std::max<uint64_t>(1, sizer_.Next(ChunkSizer::kUnknownRemaining));
    queued += (range_items_ - cut_items_ + size - 1) / size;
  }
  return queued > std::numeric_limits<uint64_t>::max()
             ? std::numeric_limits<uint64_t>::max()
             : static_cast<uint64_t>(queued);
}

uint64_t BrokerJob::NextCutItems(uint64_t parallelism) const {
  const u128 left = range_items_ - cut_items_;
  uint64_t remaining = left > std::numeric_limits<uint64_t>::max() - 1
                           ? std::numeric_limits<uint64_t>::max() - 1
                           : static_cast<uint64_t>(left);
  if (!skip_.empty()) {
    // A chunk ends where items acknowledged before a restart begin.
    std::vector<ItemRuns::Run> open =
        skip_.Missing(static_cast<uint64_t>(cut_items_), remaining);
    if (!open.empty()) remaining = open.front().count;
  }
  if (fixed_chunk_size_ != 0) return std::min(fixed_chunk_size_, remaining);
  uint64_t items = sizer_.Next(
      remaining, static_cast<uint32_t>(std::min<uint64_t>(
                     std::max<uint64_t>(1, parallelism),
                     std::numeric_limits<uint32_t>::max())));
  items = std::max(items, std::min(min_chunk_items_, remaining));
  // Boolean results pack 8 items per byte: whole bytes per chunk keep the
  // client's bitmap output a plain concatenation.
  if (bool_results_ && items < remaining) {
    items = std::min(remaining, (items + 7) / 8 * 8);
  }
  return std::max<uint64_t>(1, items);
}

void BrokerJob::Enqueue(uint64_t index) {
  const Chunk& chunk = chunks_.at(index);
  (chunk.history.suspect ? suspects_ : queued_)
      .emplace(chunk.first_item, index);
}

void BrokerJob::Dequeue(uint64_t index, const Chunk& chunk) {
  queued_.erase({chunk.first_item, index});
  suspects_.erase({chunk.first_item, index});
}

uint64_t BrokerJob::TakeSuspect() {
  const uint64_t index = suspects_.begin()->second;
  suspects_.erase(suspects_.begin());
  return index;
}

void BrokerJob::MarkSuspect(uint64_t index) {
  Chunk& chunk = chunks_.at(index);
  if (chunk.history.suspect) return;
  const bool queued = queued_.erase({chunk.first_item, index}) > 0;
  chunk.history.suspect = true;
  if (queued) Enqueue(index);
}

uint64_t BrokerJob::TakeChunk(uint64_t parallelism) {
  if (!queued_.empty()) {
    const uint64_t index = queued_.begin()->second;
    queued_.erase(queued_.begin());
    return index;
  }
  const uint64_t items = NextCutItems(parallelism);
  const uint64_t index = next_index_++;
  Chunk& chunk = chunks_.Add(index);
  chunk.first_item = static_cast<uint64_t>(cut_items_);
  chunk.items = items;
  cut_items_ += items;
  SkipAcknowledged();
  return index;
}

Chunk* BrokerJob::Find(uint64_t index) { return chunks_.Find(index); }

const Chunk* BrokerJob::Find(uint64_t index) const {
  return chunks_.Find(index);
}

void BrokerJob::AddHolder(uint64_t index, Holder holder) {
  Chunk& chunk = chunks_.at(index);
  if (chunk.holders.empty()) {
    ++in_flight_;
    Dequeue(index, chunk);
  }
  chunk.holders.push_back(std::move(holder));
}

void BrokerJob::RemoveHolder(uint64_t index, const std::string& worker) {
  Chunk* found = chunks_.Find(index);
  if (found == nullptr) return;
  Chunk& chunk = *found;
  auto holder = std::find_if(
      chunk.holders.begin(), chunk.holders.end(),
      [&](const Holder& h) { return h.worker == worker; });
  if (holder == chunk.holders.end()) return;
  chunk.holders.erase(holder);
  if (chunk.holders.empty()) {
    --in_flight_;
    Enqueue(index);
  }
}

void BrokerJob::Finish(uint64_t index) {
  Chunk* chunk = chunks_.Find(index);
  if (chunk == nullptr) return;
  if (chunk->holders.empty()) {
    Dequeue(index, *chunk);
  } else {
    --in_flight_;
  }
  ++chunks_done_;
  items_done_ = SaturatingAdd(items_done_, chunk->items);
  // Range input has none (its map is not touched: issue 9).
  if (streamed_) {
    if (auto stream = stream_.find(index); stream != stream_.end()) {
      // Kept until acknowledged, while the ledger can say when that is (a
      // part computed again is held by the chunk retained already).
      if (!ledger_.overflowed() &&
          RetainedHolding(chunk->first_item) == nullptr) {
        stream->second.first_item = chunk->first_item;
        stream->second.items = chunk->items;
        retained_.emplace(chunk->first_item, std::move(stream->second));
      }
      stream_.erase(stream);
    }
  }
  chunks_.Erase(index);
}

bool BrokerJob::CanSplit(uint64_t index) const {
  const Chunk* chunk = Find(index);
  return chunk != nullptr && chunk->holders.empty() && chunk->items >= 2;
}

void BrokerJob::Split(uint64_t index) {
  Chunk whole = std::move(chunks_.at(index));
  Dequeue(index, whole);
  chunks_.Erase(index);
  // A streamed chunk's halves share its input: a range is cut, a payload
  // (numbers, or a code job's pickled list, which the broker cannot decode)
  // is handed out whole with the items to run (ChunkInput offset, count).
  std::optional<StreamChunk> whole_input;
  if (auto stream = streamed_ ? stream_.find(index) : stream_.end();
      stream != stream_.end()) {
    whole_input = std::move(stream->second);
    stream_.erase(stream);
  }
  uint64_t left = whole.items / 2;
  if (bool_results_ && whole.items > 8) left = std::max<uint64_t>(8, left / 8 * 8);
  const uint64_t parts[2][2] = {{whole.first_item, left},
                                {whole.first_item + left, whole.items - left}};
  for (const auto& [first, items] : parts) {
    const uint64_t part = next_index_++;
    Chunk& chunk = chunks_.Add(part);
    chunk.first_item = first;
    chunk.items = items;
    chunk.history = whole.history;
    chunk.history.last_attempt = 0;
    if (whole_input.has_value()) {
      whole_input->first_item = whole.first_item;
      whole_input->items = whole.items;
      stream_.emplace(part, PartOf(*whole_input, first, items));
    }
    Enqueue(part);
  }
}

BrokerJob::StreamChunk BrokerJob::PartOf(const StreamChunk& whole,
                                         uint64_t first, uint64_t items) {
  StreamChunk part = whole;
  part.first_item = first;
  part.items = items;
  const uint64_t skip = first - whole.first_item;
  if (part.input.has_range()) {
    v1::Range* range = part.input.mutable_range();
    range->set_first(range->first() + skip);
    range->set_last(range->first() + (items - 1));
  } else {
    part.input.set_offset(part.input.offset() + skip);
    part.input.set_count(items);
  }
  return part;
}

const BrokerJob::StreamChunk* BrokerJob::RetainedHolding(uint64_t item) const {
  auto it = retained_.upper_bound(item);
  if (it == retained_.begin()) return nullptr;
  --it;
  return item - it->second.first_item < it->second.items ? &it->second
                                                          : nullptr;
}

void BrokerJob::QueuePart(const StreamChunk& whole, uint64_t first,
                          uint64_t items) {
  const uint64_t index = next_index_++;
  Chunk& chunk = chunks_.Add(index);
  chunk.first_item = first;
  chunk.items = items;
  stream_.emplace(index, PartOf(whole, first, items));
  Enqueue(index);
}

std::vector<StreamInput> BrokerJob::LastAppended(size_t n) const {
  std::vector<StreamInput> out;
  out.reserve(n);
  for (uint64_t index = next_index_ - n; index < next_index_; ++index) {
    StreamInput input = stream_.at(index);
    const Chunk& chunk = chunks_.at(index);
    input.first_item = chunk.first_item;
    input.items = chunk.items;
    out.push_back(std::move(input));
  }
  return out;
}

void BrokerJob::FillInput(uint64_t index, v1::ChunkInput* input,
                          std::vector<Payload>* payloads) const {
  const Chunk& chunk = chunks_.at(index);
  if (streamed_) {
    const StreamChunk& stream = stream_.at(index);
    *input = stream.input;
    if (input->input_case() == v1::ChunkInput::kPayload) {
      input->set_payload(static_cast<uint32_t>(payloads->size()));
      payloads->push_back(stream.payload);
    }
    return;
  }
  v1::Range* range = input->mutable_range();
  range->set_first(submit_.range().first() + chunk.first_item);
  range->set_last(submit_.range().first() + chunk.first_item +
                  (chunk.items - 1));
}

uint64_t BrokerJob::ItemNumber(uint64_t item) const {
  return streamed_ ? item : submit_.range().first() + item;
}

void BrokerJob::ObserveRun(uint64_t items, uint64_t run_micros,
                           uint64_t result_bytes) {
  sizer_.ObserveResult(items, run_micros, result_bytes);
  if (recent_runs_.size() < kRecentRuns) {
    recent_runs_.push_back(run_micros);
  } else {
    recent_runs_[recent_pos_] = run_micros;
    recent_pos_ = (recent_pos_ + 1) % kRecentRuns;
  }
  median_stale_ = true;
  const int64_t run_us = static_cast<int64_t>(
      std::min<uint64_t>(run_micros, uint64_t{1} << 40));
  average_run_us_ = average_run_us_ < 0 ? run_us
                                        : (3 * average_run_us_ + run_us) / 4;
}

int64_t BrokerJob::InFlightMicros() const {
  // Unmeasured: the sizer cuts a job's first chunks small (one item, then
  // growing by its growth factor), so a fraction of the target.
  const int64_t per_chunk =
      average_run_us_ >= 0
          ? std::max<int64_t>(1, average_run_us_)
          : static_cast<int64_t>(sizer_.options().target_micros /
                                 std::max<uint64_t>(1, sizer_.options().growth));
  return static_cast<int64_t>(std::min<uint64_t>(in_flight_, 1u << 20)) *
         per_chunk;
}

int64_t BrokerJob::MedianRunMicros() const {
  if (recent_runs_.empty()) return -1;
  if (median_stale_) {
    // Selected on a copy: the ring keeps its order.
    std::array<uint64_t, kRecentRuns> runs;
    const size_t n = std::min(recent_runs_.size(), runs.size());
    std::copy_n(recent_runs_.begin(), n, runs.begin());
    std::nth_element(runs.begin(), runs.begin() + n / 2, runs.begin() + n);
    median_us_ = static_cast<int64_t>(std::min<uint64_t>(
        runs[n / 2], std::numeric_limits<int64_t>::max()));
    median_stale_ = false;
  }
  return median_us_;
}

bool BrokerJob::HasRoom(uint64_t reserved) const {
  const uint64_t window = std::min<uint64_t>(credit_, max_window_);
  const uint64_t busy = in_flight_ + reserved;
  if (max_concurrency_ != 0 && busy >= max_concurrency_) {
    return false;
  }
  return busy + undelivered_.size() < window;
}

uint64_t BrokerJob::Room() const {
  const uint64_t window = std::min<uint64_t>(credit_, max_window_);
  const uint64_t busy = in_flight_ + suspects_.size();
  const uint64_t taken = busy + undelivered_.size();
  uint64_t room = taken < window ? window - taken : 0;
  if (const uint64_t most = max_concurrency_; most != 0) {
    room = std::min<uint64_t>(room, busy < most ? most - busy : 0);
  }
  return room;
}

void BrokerJob::GrantCredit(uint64_t chunks) {
  credit_ = std::min(credit_ + chunks,
                     std::numeric_limits<uint64_t>::max() / 2);
}

void BrokerJob::AddResult(PendingResult result) {
  undelivered_.push_back(std::move(result));
}

std::vector<PendingResult> BrokerJob::AddAndTakeDeliverable(
    PendingResult result) {
  if (!undelivered_.empty() || !attached() || credit_ == 0) {
    AddResult(std::move(result));
    return TakeDeliverable();
  }
  std::vector<PendingResult> out;
  ledger_.OnDelivered(result.chunk_index, result.first_item, result.items);
  out.push_back(std::move(result));
  --credit_;
  if (ledger_.overflowed()) retained_.clear();
  return out;
}

std::vector<PendingResult> BrokerJob::TakeDeliverable() {
  std::vector<PendingResult> out;
  if (!attached()) return out;
  while (credit_ > 0 && !undelivered_.empty()) {
    PendingResult& result = undelivered_.front();
    ledger_.OnDelivered(result.chunk_index, result.first_item, result.items);
    out.push_back(std::move(result));
    undelivered_.pop_front();
    --credit_;
  }
  if (ledger_.overflowed()) retained_.clear();
  return out;
}

}  // namespace tq
