#include "broker/job_journal.h"

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
  std::vector<std::string> problems;
  if (!contents.tail.clean()) problems.push_back(contents.tail.ToString());
  size_t unreadable = 0;
  for (const JournalRecord& record : contents.records) {
    switch (record.type) {
      case v1::JOURNAL_RECORD_JOB: {
        v1::JournalJob job;
        if (!job.ParseFromString(record.payload)) break;
        journal->live_[job.job_id()].record = record.payload;
        continue;
      }
      case v1::JOURNAL_RECORD_ACK: {
        v1::JournalAck ack;
        ItemRuns items;
        if (!ack.ParseFromString(record.payload) ||
            !ItemRuns::FromRanges(ack.items(), &items)) {
          break;
        }
        auto live = journal->live_.find(ack.job_id());
        if (live != journal->live_.end()) {
          live->second.acknowledged.Add(items);
          live->second.acknowledged_count += ack.count();
          if (!ack.mark().empty()) live->second.mark = ack.mark();
        }
        continue;
      }
      case v1::JOURNAL_RECORD_END: {
        v1::JournalEnd end;
        if (!end.ParseFromString(record.payload)) break;
        journal->live_.erase(end.job_id());
        continue;
      }
      default:
        break;
    }
    ++unreadable;  // checksummed, yet not understood: a newer broker's?
  }
  if (unreadable > 0) {
    problems.push_back(
        absl::StrCat(unreadable, " records of an unknown kind skipped"));
  }
  if (report != nullptr) report->clear();
  for (const std::string& problem : problems) {
    if (report != nullptr) absl::StrAppend(report, report->empty() ? "" : "; ", problem);
  }
  for (const auto& [id, live] : journal->live_) {
    JournaledJob job;
    job.job.ParseFromString(live.record);
    job.acknowledged = live.acknowledged;
    job.acknowledged_count = live.acknowledged_count;
    job.mark = live.mark;
    if (recovered != nullptr) recovered->push_back(std::move(job));
  }
  // Start from a compact journal: the live state only.
  TQ_RETURN_IF_ERROR(journal->Compact());
  return journal;
}

absl::Status JobJournal::Append(v1::JournalRecordType type,
                                const google::protobuf::Message& record) {
  if (!failed_.ok()) return failed_;
  absl::Status status =
      writer_->Append(static_cast<uint8_t>(type), record.SerializeAsString());
  if (!status.ok()) failed_ = status;
  dirty_ = true;
  return status;
}

void JobJournal::JobAccepted(const v1::JournalJob& job) {
  Live& live = live_[job.job_id()];
  live.record = job.SerializeAsString();
  Append(v1::JOURNAL_RECORD_JOB, job).IgnoreError();  // kept in failed_
  must_sync_ = true;
}

void JobJournal::Acknowledged(uint64_t job_id, const ItemRuns& items,
                              uint64_t count, const std::string& mark) {
  auto live = live_.find(job_id);
  if (live == live_.end()) return;
  live->second.acknowledged.Add(items);
  live->second.acknowledged_count += count;
  if (!mark.empty()) live->second.mark = mark;
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
  }
  return bytes;
}

absl::Status JobJournal::Compact() {
  std::vector<JournalRecord> records;
  records.reserve(2 * live_.size());
  for (const auto& [id, live] : live_) {
    records.push_back({static_cast<uint8_t>(v1::JOURNAL_RECORD_JOB), live.record});
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
  TQ_RETURN_IF_ERROR(writer_->Rewrite(records));
  ++compactions_;
  dirty_ = false;
  must_sync_ = false;
  unsynced_since_us_ = -1;
  return absl::OkStatus();
}

}  // namespace tq
