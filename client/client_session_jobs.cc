// ClientSession's per-job half (client_session.h): results in, credit
// back, streamed input out, and what the user reads of a job.
#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/client_session.h"
#include "common/protocol.h"
#include "common/status_macros.h"

namespace tq {
namespace internal {
namespace {

// A count of items for messages: 2^64 does not fit a uint64.
std::string ItemsText(absl::uint128 items) {
  return absl::Uint128High64(items) > 0 ? std::string("2^64")
                                        : absl::StrCat(absl::Uint128Low64(items));
}

}  // namespace

size_t PayloadBytes(const std::vector<Payload>& payloads) {
  size_t bytes = 0;
  for (const Payload& p : payloads) bytes += p.size();
  return bytes;
}

std::string ClientSession::FailedItemMessage(const JobState& job,
                                             uint64_t item,
                                             const std::string& message) {
  // The item's number, when the client knows it: n = lo + item for a range,
  // the number sent for a list (code jobs' items have none to show).
  std::string n;
  if (!job.streamed) {
    if (item <= job.range_last_index) n = absl::StrCat(job.range_lo + item);
  } else if (!job.is_code) {
    auto found = job.metas.upper_bound(item);
    if (found != job.metas.begin()) {
      --found;
      const ChunkMeta& meta = found->second.meta;
      if (meta.numbers != nullptr && item - found->first < meta.size) {
        n = absl::StrCat((*meta.numbers)[meta.offset + (item - found->first)]);
      }
    }
  }
  const std::string named = absl::StrCat("item ", item);
  const std::string with_n =
      n.empty() ? named : absl::StrCat(named, " (n=", n, ")");
  // The broker's text usually starts "item 777 of job 7 failed 4 times";
  // add the number there, else put the item in front.
  if (absl::StartsWith(message, named + " ")) {
    return absl::StrCat(with_n, message.substr(named.size()));
  }
  return absl::StrCat(with_n, " failed: ", message);
}

void ClientSession::HandleResults(const v1::JobResults& results,
                                  const std::vector<Payload>& payloads) {
  for (const v1::ChunkResult& result : results.results()) {
    auto it = by_job_.find(result.job_id());
    if (it == by_job_.end()) continue;  // cancelled or released job
    JobState& job = *it->second;
    ++job.received;
    if (job.finished) continue;
    if (absl::Status s = HandleResult(job, result, payloads); !s.ok()) {
      FailJob(job, std::move(s));
      v1::Envelope cancel;
      cancel.mutable_cancel_job()->set_job_id(job.job_id);
      Enqueue(std::move(cancel));
    }
  }
}

absl::Status ClientSession::HandleResult(JobState& job,
                                         const v1::ChunkResult& result,
                                         const std::vector<Payload>& payloads) {
  const uint64_t index = result.chunk_index();
  // Which items: the result names them (protocol 3); never derived from the
  // chunk index, since chunk sizes vary and split chunks come in parts.
  const uint64_t first = result.first_item();
  const uint64_t count = result.item_count();
  if (count == 0) {
    return absl::InternalError(absl::StrCat(
        "broker sent a result for chunk ", index, " that names no items"));
  }
  const absl::uint128 total = job.streamed
                                  ? job.items_appended
                                  : absl::uint128(job.range_last_index) + 1;
  if (absl::uint128(first) + count > total) {
    return absl::InternalError(absl::StrCat(
        "broker sent a result for items ", first, "..+", count,
        " of chunk ", index, ", beyond the job's ", ItemsText(total), " items"));
  }
  // A result for items already received: a duplicate, counted and dropped.
  if (!job.coverage.Add(first, count)) {
    ++job.stats.duplicates;
    return absl::OkStatus();
  }
  ChunkMeta meta;
  meta.chunk_index = index;
  meta.first_item = first;
  meta.size = count;
  // An adopted streamed job is a code job: its input is the broker's.
  if (job.streamed && !job.adopted) {
    // The appended chunk holding these items: the whole chunk, or a part
    // of it (the broker splits a chunk that keeps failing; the parts carry
    // indexes of their own).
    auto found = job.metas.upper_bound(first);
    if (found == job.metas.begin()) {
      return absl::InternalError(absl::StrCat(
          "broker sent a result for items ", first, "..+", count,
          ", which are not pending"));
    }
    --found;
    PendingChunk& pending = found->second;
    const uint64_t within = first - found->first;
    if (absl::uint128(within) + count > pending.meta.size) {
      return absl::InternalError(absl::StrCat(
          "broker sent a result for items ", first, "..+", count,
          " as chunk ", index, ", beyond the chunk that holds item ", first));
    }
    meta.numbers = pending.meta.numbers;
    meta.offset = pending.meta.offset + within;
    meta.lo = first;  // code jobs: n(i) is the item's index
    pending.items_left -= count;
    if (pending.items_left == 0) {
      job.index_first.erase(pending.meta.chunk_index);
      job.metas.erase(found);
    }
  } else {
    meta.lo = job.is_code ? first : job.range_lo + first;
  }
  ++job.stats.chunks;
  if (result.has_error()) {
    job.stats.failed_items += count;
    std::string why = result.error().message();
    if (why.empty()) why = "failed on every attempt";
    job.buffer.Insert(ChunkDecoder::Failed(std::move(meta), std::move(why)));
    return absl::OkStatus();
  }
  if (result.payload() >= payloads.size()) {
    return absl::InternalError(absl::StrCat(
        "broker sent chunk ", index, " without its result payload"));
  }
  absl::StatusOr<ChunkResult> decoded =
      job.is_code
          ? ChunkDecoder::Bytes(std::move(meta), payloads[result.payload()],
                                result.run_micros())
          : ChunkDecoder::DecodeTask(std::move(meta), payloads[result.payload()],
                                     result.run_micros());
  if (!decoded.ok()) return decoded.status();
  job.buffer.Insert(*std::move(decoded));
  return absl::OkStatus();
}

void ClientSession::FailJob(JobState& job, absl::Status status) {
  if (job.finished) return;
  job.finished = true;
  job.final_status = std::move(status);
}

void ClientSession::Enqueue(v1::Envelope envelope,
                            std::vector<Payload> payloads) {
  const size_t bytes = PayloadBytes(payloads);
  outbox_.push_back(Outgoing{std::move(envelope), std::move(payloads), bytes});
}

void ClientSession::GrantCredit(JobState& job, uint64_t chunks) {
  // Detached: the attach grants a fresh window instead.
  if (chunks == 0 || job.finished || job.job_id == 0 || job.detached) return;
  v1::Envelope credit;
  credit.mutable_client_credit()->set_job_id(job.job_id);
  credit.mutable_client_credit()->set_chunks(static_cast<uint32_t>(chunks));
  job.granted += chunks;
  Enqueue(std::move(credit));
}

size_t ClientSession::Room(const JobState& job) const {
  if (!job.streamed || job.finished) return 0;
  // Chunks appended and not wholly received (parts of a split chunk count
  // once, as the broker holds them).
  const uint64_t outstanding = job.metas.size();
  return outstanding >= job.window ? 0 : job.window - outstanding;
}

absl::Status ClientSession::EncodeChunk(JobState& job, InputChunk chunk,
                                        v1::ChunkInput* input,
                                        std::vector<Payload>* payloads) {
  ChunkMeta meta;
  meta.chunk_index = job.appended;
  meta.first_item =
      job.items_appended > std::numeric_limits<uint64_t>::max()
          ? std::numeric_limits<uint64_t>::max()
          : static_cast<uint64_t>(job.items_appended);
  if (auto* range = std::get_if<NumberRange>(&chunk)) {
    if (!job.is_code) {
      return absl::InvalidArgumentError(
          "a task's streamed chunks are lists of numbers, not ranges");
    }
    if (range->lo > range->hi || range->hi - range->lo == UINT64_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(
          "chunk range ", range->lo, "..", range->hi,
          " must hold 1 to 2^64-1 items"));
    }
    input->mutable_range()->set_first(range->lo);
    input->mutable_range()->set_last(range->hi);
    meta.size = range->hi - range->lo + 1;
  } else if (auto* numbers = std::get_if<std::vector<uint64_t>>(&chunk)) {
    if (job.is_code) {
      return absl::InvalidArgumentError(
          "a code job's chunks are ranges or encoded items, not numbers");
    }
    if (numbers->empty() || numbers->size() * 8 > kMaxPayloadBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a chunk holds 1 to ", kMaxPayloadBytes / 8, " numbers, not ",
          numbers->size()));
    }
    meta.size = numbers->size();
    std::string bytes(numbers->size() * 8, '\0');
    std::memcpy(bytes.data(), numbers->data(), bytes.size());
    input->set_payload(static_cast<uint32_t>(payloads->size()));
    input->set_item_count(meta.size);
    payloads->push_back(Payload::FromString(std::move(bytes)));
    meta.numbers =
        std::make_shared<const std::vector<uint64_t>>(std::move(*numbers));
  } else {
    auto& encoded = std::get<EncodedItems>(chunk);
    if (!job.is_code) {
      return absl::InvalidArgumentError(
          "a task's streamed chunks are lists of numbers");
    }
    if (encoded.count == 0 || encoded.bytes.empty() ||
        encoded.bytes.size() > kMaxPayloadBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "an encoded chunk holds at least one item in at most ",
          kMaxPayloadBytes, " bytes; this one has ", encoded.count,
          " items in ", encoded.bytes.size(), " bytes"));
    }
    meta.size = encoded.count;
    input->set_payload(static_cast<uint32_t>(payloads->size()));
    input->set_item_count(meta.size);
    payloads->push_back(Payload::FromString(std::move(encoded.bytes)));
  }
  job.items_appended += meta.size;
  job.index_first.emplace(meta.chunk_index, meta.first_item);
  const uint64_t first = meta.first_item;
  const uint64_t size = meta.size;
  // Kept until its results are in, to send again after an attach.
  Payload kept;
  if (input->input_case() == v1::ChunkInput::kPayload) kept = payloads->back();
  job.metas.emplace(first,
                    PendingChunk{std::move(meta), size, *input, std::move(kept)});
  ++job.appended;
  return absl::OkStatus();
}

absl::Status ClientSession::AppendLocked(JobState& job, InputChunk chunk) {
  if (!job.streamed || job.input_complete) {
    return absl::FailedPreconditionError(
        "this job's input is complete; it takes no more chunks");
  }
  if (job.finished) {
    return job.final_status.ok()
               ? absl::FailedPreconditionError("the job has ended")
               : job.final_status;
  }
  if (Room(job) == 0) {
    return absl::FailedPreconditionError(
        "no room for another chunk: wait for results (Job::Poll) first");
  }
  v1::ChunkInput input;
  std::vector<Payload> payloads;
  TQ_RETURN_IF_ERROR(EncodeChunk(job, std::move(chunk), &input, &payloads));
  // Detached: kept in `metas`, sent after the attach (ResendInput).
  if (job.detached) return absl::OkStatus();
  // Merge into a queued AppendInput of this job: a burst of appends goes out
  // as one message.
  if (!outbox_.empty()) {
    Outgoing& last = outbox_.back();
    if (last.envelope.has_append_input() &&
        last.envelope.append_input().job_id() == job.job_id &&
        !last.envelope.append_input().complete() &&
        last.envelope.append_input().chunks_size() < kMaxChunksPerAppend &&
        last.payload_bytes + PayloadBytes(payloads) <= kMaxPayloadBytes) {
      if (input.input_case() == v1::ChunkInput::kPayload) {
        input.set_payload(static_cast<uint32_t>(last.payloads.size()));
      }
      *last.envelope.mutable_append_input()->add_chunks() = std::move(input);
      last.payload_bytes += PayloadBytes(payloads);
      for (Payload& p : payloads) last.payloads.push_back(std::move(p));
      return absl::OkStatus();
    }
  }
  v1::Envelope envelope;
  envelope.mutable_append_input()->set_job_id(job.job_id);
  *envelope.mutable_append_input()->add_chunks() = std::move(input);
  Enqueue(std::move(envelope), std::move(payloads));
  return absl::OkStatus();
}

std::optional<InputChunk> ClientSession::TakePending(JobState& job) {
  if (!job.pending.empty()) {
    InputChunk chunk = std::move(job.pending.front());
    job.pending.pop_front();
    return chunk;
  }
  if (job.list_pos < job.list.size()) {
    const size_t end = std::min<size_t>(job.list.size(), job.list_pos + job.list_chunk);
    std::vector<uint64_t> numbers(job.list.begin() + job.list_pos,
                                  job.list.begin() + end);
    job.list_pos = end;
    if (job.list_pos == job.list.size()) std::vector<uint64_t>().swap(job.list);
    return numbers;
  }
  return std::nullopt;
}

void ClientSession::FeedPending(JobState& job) {
  while (Room(job) > 0 && !job.input_complete) {
    std::optional<InputChunk> chunk = TakePending(job);
    if (!chunk.has_value()) break;
    if (absl::Status s = AppendLocked(job, *std::move(chunk)); !s.ok()) {
      FailJob(job, s);
      return;
    }
  }
  if (job.end_after_pending && !job.input_complete && job.pending.empty() &&
      job.list_pos >= job.list.size()) {
    SendEndInput(job);
  }
}

void ClientSession::SendEndInput(JobState& job) {
  job.input_complete = true;
  job.end_after_pending = false;
  if (job.detached) return;  // sent after the attach (ResendInput)
  if (!outbox_.empty()) {
    Outgoing& last = outbox_.back();
    if (last.envelope.has_append_input() &&
        last.envelope.append_input().job_id() == job.job_id) {
      last.envelope.mutable_append_input()->set_complete(true);
      return;
    }
  }
  v1::Envelope envelope;
  envelope.mutable_append_input()->set_job_id(job.job_id);
  envelope.mutable_append_input()->set_complete(true);
  Enqueue(std::move(envelope));
}


// --- The user's side of a job -------------------------------------------

std::optional<absl::StatusOr<JobEvent>> ClientSession::NextEvent(
    JobState& job, bool ordered, bool want_room, int64_t now_us) {
  if (job.cancelled) return absl::StatusOr<JobEvent>(absl::CancelledError("job cancelled"));
  std::optional<ChunkResult> result =
      ordered ? job.buffer.PopNextInOrder() : job.buffer.PopOldest();
  if (result.has_value()) {
    ++job.delivered;
    const uint64_t batch = std::max<uint64_t>(1, job.window / 2);
    if (++job.ungranted >= batch) {
      GrantCredit(job, job.ungranted);
      job.ungranted = 0;
    }
    Consumed(job, *result, now_us);
    FeedPending(job);
    return absl::StatusOr<JobEvent>(
        JobEvent{JobEvent::Kind::kResult, std::move(result)});
  }
  if (job.finished) {
    if (!job.final_status.ok()) return absl::StatusOr<JobEvent>(job.final_status);
    // Complete only if the results cover every item: never pass partial
    // output off as the whole.
    const absl::uint128 total = job.streamed
                                    ? job.items_appended
                                    : absl::uint128(job.range_last_index) + 1;
    if (job.coverage.covered() != total ||
        (job.streamed && !job.input_complete)) {
      return absl::StatusOr<JobEvent>(absl::DataLossError(absl::StrCat(
          "broker finished job ", job.job_id, " but its results cover ",
          ItemsText(job.coverage.covered()), " of ", ItemsText(total),
          " items (the first missing is item ",
          ItemsText(job.coverage.FirstGap()), "); output is incomplete")));
    }
    FlushAcks(job);
    return absl::StatusOr<JobEvent>(JobEvent{JobEvent::Kind::kDone, std::nullopt});
  }
  FeedPending(job);
  if (want_room && !job.input_complete && !job.end_after_pending &&
      Room(job) > 0) {
    return absl::StatusOr<JobEvent>(
        JobEvent{JobEvent::Kind::kInputRoom, std::nullopt});
  }
  // About to wait: if the broker runs low on credit (less than a batch
  // left), return all consumed credit first, so it is never left holding a
  // finished chunk we are waiting for without credit. While it holds a
  // batch or more it can send, and grants stay batched: a grant per wait
  // would cost a message and wake-ups on both sides every few results
  // whenever the user reads faster than results come.
  const uint64_t batch = std::max<uint64_t>(1, job.window / 2);
  if (job.ungranted > 0 && job.received + batch > job.granted) {
    GrantCredit(job, job.ungranted);
    job.ungranted = 0;
  }
  // Ordered only: every credit is spent on chunks beyond the one we need
  // (they sit in the reorder buffer). One extra credit lets it through;
  // without it both sides would wait forever.
  if (ordered && job.granted == job.received) GrantCredit(job, 1);
  return std::nullopt;
}

size_t ClientSession::InputRoom(JobState& job) {
  if (job.input_complete || job.end_after_pending) return 0;
  FeedPending(job);
  return job.pending.empty() && job.list_pos >= job.list.size() ? Room(job) : 0;
}

absl::Status ClientSession::Append(JobState& job, InputChunk chunk) {
  if (state_ == State::kClosed) return closed_status_;
  if (job.end_after_pending) {
    return absl::FailedPreconditionError("the job's input was ended");
  }
  FeedPending(job);
  if (!job.pending.empty() || job.list_pos < job.list.size()) {
    return absl::FailedPreconditionError(
        "no room for another chunk: wait for results (Job::Poll) first");
  }
  return AppendLocked(job, std::move(chunk));
}

void ClientSession::EndInput(JobState& job) {
  if (!job.streamed || job.input_complete || job.end_after_pending) return;
  job.end_after_pending = true;
  FeedPending(job);
}

JobStats ClientSession::Stats(const JobState& job) const {
  JobStats stats = job.stats;
  // Items with a result here (an adopted job's earlier clients had the
  // acknowledged ones).
  const absl::uint128 covered = job.coverage.covered() - job.acknowledged_before;
  stats.items = absl::Uint128High64(covered) > 0 ? UINT64_MAX
                                                 : absl::Uint128Low64(covered);
  return stats;
}

void ClientSession::Cancel(JobState& job) {
  job.cancelled = true;
  // Detached: the CancelJob follows the attach (HandleAttached).
  if (!job.finished && job.job_id != 0 && !job.detached) {
    v1::Envelope cancel;
    cancel.mutable_cancel_job()->set_job_id(job.job_id);
    Enqueue(std::move(cancel));
  }
}

void ClientSession::Release(JobState& job) {
  if (job.detached && !job.finished) {
    // Cancelled once attached again (the broker keeps it till then).
    job.released = true;
    job.cancelled = true;
    return;
  }
  // A job finished here whose results were not all read and acknowledged
  // is kept by the broker for them (tq.proto, "Durability"): nobody will
  // acknowledge them now, so it is cancelled too.
  const bool unacknowledged =
      job.finished && job.final_status.ok() &&
      (!job.buffer.empty() || job.acks.has_waiting() || job.acks.has_held());
  if (job.job_id != 0 &&
      ((!job.finished && by_job_.erase(job.job_id) > 0) || unacknowledged)) {
    v1::Envelope cancel;
    cancel.mutable_cancel_job()->set_job_id(job.job_id);
    Enqueue(std::move(cancel));
  }
  by_request_.erase(job.request_id);
  submits_.erase(job.request_id);
}

}  // namespace internal
}  // namespace tq
