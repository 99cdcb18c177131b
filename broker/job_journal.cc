#include "broker/job_journal.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tq {

absl::StatusOr<std::unique_ptr<JobJournal>> JobJournal::Open(
    const std::string& dir, uint64_t epoch,
    std::vector<JournaledJob>* recovered, std::string* report) {
  JournalOptions options;
  options.sync_policy = JournalSyncPolicy::kExplicitSync;
  options.epoch = epoch;
  JournalContents contents;
  TQ_ASSIGN_OR_RETURN(std::unique_ptr<JournalWriter> writer,
                      JournalWriter::Open(dir, options, &contents));
  std::unique_ptr<JobJournal> journal(new JobJournal(std::move(writer)));
  journal->opened_epoch_ = contents.epoch;
  if (epoch == 0) journal->writer_->set_epoch(contents.epoch);
  std::vector<std::string> problems;
  if (!contents.tail.clean()) problems.push_back(contents.tail.ToString());
  size_t unreadable = 0;
  for (const JournalRecord& record : contents.records) {
    // Checksummed, yet not understood: a newer broker's?
    if (!journal->Apply(record)) ++unreadable;
  }
  if (unreadable > 0) {
    problems.push_back(
        absl::StrCat(unreadable, " records of an unknown kind skipped"));
  }
  if (report != nullptr) report->clear();
  for (const std::string& problem : problems) {
    if (report != nullptr) absl::StrAppend(report, report->empty() ? "" : "; ", problem);
  }
  if (recovered != nullptr) *recovered = journal->LiveJobs();
  // Start from a compact journal: the live state only.
  TQ_RETURN_IF_ERROR(journal->Compact());
  return journal;
}

bool JobJournal::Apply(const JournalRecord& record) {
  switch (record.type) {
    case v1::JOURNAL_RECORD_JOB: {
      v1::JournalJob job;
      if (!job.ParseFromString(record.payload)) return false;
      Live& live = live_[job.job_id()];
      live.record = record.payload;
      live.streamed = job.submit().has_stream();
      return true;
    }
    case v1::JOURNAL_RECORD_INPUT: {
      v1::JournalInput input;
      if (!input.ParseFromString(record.payload)) return false;
      auto live = live_.find(input.job_id());
      return live == live_.end() || AddInput(input, &live->second);
    }
    case v1::JOURNAL_RECORD_ACK: {
      v1::JournalAck ack;
      ItemRuns items;
      if (!ack.ParseFromString(record.payload) ||
          !ItemRuns::FromRanges(ack.items(), &items)) {
        return false;
      }
      auto live = live_.find(ack.job_id());
      if (live != live_.end()) {
        live->second.acknowledged.Add(items);
        live->second.acknowledged_count += ack.count();
        if (!ack.mark().empty()) live->second.mark = ack.mark();
        DropAcknowledgedInput(&live->second);
      }
      return true;
    }
    case v1::JOURNAL_RECORD_END: {
      v1::JournalEnd end;
      if (!end.ParseFromString(record.payload)) return false;
      live_.erase(end.job_id());
      return true;
    }
    default:
      return false;
  }
}

std::vector<JournaledJob> JobJournal::LiveJobs() const {
  std::vector<JournaledJob> jobs;
  for (const auto& [id, live] : live_) {
    JournaledJob job;
    job.job.ParseFromString(live.record);
    job.acknowledged = live.acknowledged;
    job.acknowledged_count = live.acknowledged_count;
    job.mark = live.mark;
    for (const auto& [number, input] : live.input) job.input.push_back(input);
    job.chunks_appended = live.chunks_appended;
    job.items_appended = live.items_appended;
    job.input_complete = live.input_complete;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

absl::Status JobJournal::Append(v1::JournalRecordType type,
                                const google::protobuf::MessageLite& record) {
  if (!failed_.ok()) return failed_;
  std::string payload = record.SerializeAsString();
  absl::Status status = writer_->Append(static_cast<uint8_t>(type), payload);
  if (!status.ok()) failed_ = status;
  dirty_ = true;
  if (replicating_) {
    replicated_.push_back({static_cast<uint8_t>(type), std::move(payload)});
  }
  return status;
}

void JobJournal::JobAccepted(const v1::JournalJob& job) {
  Live& live = live_[job.job_id()];
  live.record = job.SerializeAsString();
  live.streamed = job.submit().has_stream();
  Append(v1::JOURNAL_RECORD_JOB, job).IgnoreError();  // kept in failed_
  must_sync_ = true;
}

namespace {

// The JournalInput record of `chunks`, the first being appended chunk
// `first_chunk`.
v1::JournalInput InputRecord(uint64_t job_id, uint64_t first_chunk,
                             uint64_t first_item,
                             const std::vector<const StreamInput*>& chunks,
                             bool complete) {
  v1::JournalInput record;
  record.set_job_id(job_id);
  record.set_first_chunk(first_chunk);
  record.set_first_item(first_item);
  for (const StreamInput* chunk : chunks) {
    v1::ChunkInput* input = record.add_chunks();
    *input = chunk->input;
    if (input->input_case() == v1::ChunkInput::kPayload) {
      input->set_payload(static_cast<uint32_t>(record.payloads_size()));
      record.add_payloads(chunk->payload.ToString());
    }
  }
  record.set_complete(complete);
  return record;
}

}  // namespace

bool JobJournal::AddInput(const v1::JournalInput& record, Live* live) {
  uint64_t item = record.first_item();
  for (int i = 0; i < record.chunks_size(); ++i) {
    const v1::ChunkInput& chunk = record.chunks(i);
    StreamInput input;
    input.input = chunk;
    if (chunk.input_case() == v1::ChunkInput::kPayload) {
      if (chunk.payload() >= static_cast<uint32_t>(record.payloads_size())) {
        return false;
      }
      input.payload = Payload::FromString(record.payloads(chunk.payload()));
    }
    input.first_item = item;
    input.items = chunk.count() != 0 ? chunk.count() : chunk.item_count();
    if (input.items == 0) return false;
    item += input.items;
    live->input[record.first_chunk() + i] = std::move(input);
  }
  live->chunks_appended = std::max<uint64_t>(
      live->chunks_appended, record.first_chunk() + record.chunks_size());
  live->items_appended = std::max(live->items_appended, item);
  live->input_complete = live->input_complete || record.complete();
  DropAcknowledgedInput(live);
  return true;
}

void JobJournal::DropAcknowledgedInput(Live* live) {
  for (auto it = live->input.begin(); it != live->input.end();) {
    if (live->acknowledged.Contains(it->second.first_item, it->second.items)) {
      it = live->input.erase(it);
    } else {
      ++it;
    }
  }
}

void JobJournal::InputAppended(uint64_t job_id, uint64_t first_chunk,
                               const std::vector<StreamInput>& chunks,
                               bool complete) {
  auto live = live_.find(job_id);
  if (live == live_.end()) return;
  std::vector<const StreamInput*> pointers;
  for (const StreamInput& chunk : chunks) pointers.push_back(&chunk);
  const v1::JournalInput record =
      InputRecord(job_id, first_chunk,
                  chunks.empty() ? live->second.items_appended
                                 : chunks.front().first_item,
                  pointers, complete);
  for (size_t i = 0; i < chunks.size(); ++i) {
    live->second.input[first_chunk + i] = chunks[i];
  }
  live->second.chunks_appended = first_chunk + chunks.size();
  if (!chunks.empty()) {
    live->second.items_appended = chunks.back().first_item + chunks.back().items;
  }
  live->second.input_complete = live->second.input_complete || complete;
  Append(v1::JOURNAL_RECORD_INPUT, record).IgnoreError();  // kept in failed_
  must_sync_ = true;
}

void JobJournal::Acknowledged(uint64_t job_id, const ItemRuns& items,
                              uint64_t count, const std::string& mark) {
  auto live = live_.find(job_id);
  if (live == live_.end()) return;
  live->second.acknowledged.Add(items);
  live->second.acknowledged_count += count;
  if (!mark.empty()) live->second.mark = mark;
  DropAcknowledgedInput(&live->second);
  v1::JournalAck ack;
  ack.set_job_id(job_id);
  items.ToRanges(ack.mutable_items());
  ack.set_count(count);
  ack.set_mark(mark);
  Append(v1::JOURNAL_RECORD_ACK, ack).IgnoreError();
}

void JobJournal::JobEnded(uint64_t job_id) {
  if (live_.erase(job_id) == 0) return;
  v1::JournalEnd end;
  end.set_job_id(job_id);
  Append(v1::JOURNAL_RECORD_END, end).IgnoreError();
}

absl::Status JobJournal::Commit(int64_t now_us) {
  if (!failed_.ok()) return failed_;
  if (dirty_ && unsynced_since_us_ < 0) unsynced_since_us_ = now_us;
  const bool due = dirty_ && (must_sync_ || now_us - unsynced_since_us_ >=
                                                 kLazySyncMs * 1000);
  if (due) {
    if (absl::Status synced = writer_->Sync(); !synced.ok()) {
      failed_ = synced;
      return failed_;
    }
    dirty_ = false;
    must_sync_ = false;
    unsynced_since_us_ = -1;
  }
  if (!dirty_ && writer_->size_bytes() > 2 * live_bytes() + (uint64_t{1} << 20)) {
    if (absl::Status compacted = Compact(); !compacted.ok()) {
      failed_ = compacted;
      return failed_;
    }
  }
  return absl::OkStatus();
}

int64_t JobJournal::NextCommitUs() const {
  if (!dirty_ || unsynced_since_us_ < 0) {
    return dirty_ ? 0 : std::numeric_limits<int64_t>::max();
  }
  return unsynced_since_us_ + kLazySyncMs * 1000;
}

uint64_t JobJournal::live_bytes() const {
  uint64_t bytes = 0;
  for (const auto& [id, live] : live_) {
    // The job record and one merged acknowledgement: a few bytes per run.
    bytes += live.record.size() + 24 * live.acknowledged.runs() +
             live.mark.size() + 32;
    for (const auto& [number, input] : live.input) {
      bytes += input.payload.size() + 64;
    }
  }
  return bytes;
}

std::vector<JournalRecord> JobJournal::LiveRecords() const {
  std::vector<JournalRecord> records;
  records.reserve(2 * live_.size());
  for (const auto& [id, live] : live_) {
    records.push_back({static_cast<uint8_t>(v1::JOURNAL_RECORD_JOB), live.record});
    if (live.streamed) {
      // Each chunk not wholly acknowledged, then how many came and whether
      // the input ended.
      for (const auto& [number, input] : live.input) {
        records.push_back(
            {static_cast<uint8_t>(v1::JOURNAL_RECORD_INPUT),
             InputRecord(id, number, input.first_item, {&input}, false)
                 .SerializeAsString()});
      }
      records.push_back({static_cast<uint8_t>(v1::JOURNAL_RECORD_INPUT),
                         InputRecord(id, live.chunks_appended,
                                     live.items_appended, {},
                                     live.input_complete)
                             .SerializeAsString()});
    }
    if (live.acknowledged.empty() && live.acknowledged_count == 0 &&
        live.mark.empty()) {
      continue;
    }
    v1::JournalAck ack;
    ack.set_job_id(id);
    live.acknowledged.ToRanges(ack.mutable_items());
    ack.set_count(live.acknowledged_count);
    ack.set_mark(live.mark);
    records.push_back({static_cast<uint8_t>(v1::JOURNAL_RECORD_ACK),
                       ack.SerializeAsString()});
  }
  return records;
}

absl::Status JobJournal::set_epoch(uint64_t epoch) {
  writer_->set_epoch(epoch);
  if (absl::Status compacted = Compact(); !compacted.ok()) failed_ = compacted;
  return failed_;
}

std::vector<JournalRecord> JobJournal::TakeReplicated(bool* required) {
  *required = false;
  for (const JournalRecord& record : replicated_) {
    if (record.type == v1::JOURNAL_RECORD_JOB ||
        record.type == v1::JOURNAL_RECORD_INPUT) {
      *required = true;
    }
  }
  return std::exchange(replicated_, {});
}

absl::Status JobJournal::ReplaceAll(const std::vector<JournalRecord>& records) {
  live_.clear();
  for (const JournalRecord& record : records) Apply(record);
  if (absl::Status compacted = Compact(); !compacted.ok()) failed_ = compacted;
  return failed_;
}

void JobJournal::Mirror(const std::vector<JournalRecord>& records) {
  for (const JournalRecord& record : records) {
    Apply(record);
    if (!failed_.ok()) continue;
    if (absl::Status s = writer_->Append(record.type, record.payload); !s.ok()) {
      failed_ = s;
    }
  }
  dirty_ = true;
  must_sync_ = true;
}

absl::Status JobJournal::Compact() {
  const std::vector<JournalRecord> records = LiveRecords();
  TQ_RETURN_IF_ERROR(writer_->Rewrite(records));
  ++compactions_;
  dirty_ = false;
  must_sync_ = false;
  unsynced_since_us_ = -1;
  return absl::OkStatus();
}

}  // namespace tq
