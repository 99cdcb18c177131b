// The job journal (issue 8): what a broker started with --journal=DIR keeps
// on disk so that its jobs outlive it. The Scheduler reports, through the
// JournalSink interface (no I/O of its own), each job accepted, each
// acknowledgement and each job's end; JobJournal turns them into records of
// proto/tq/v1/journal.proto in a JournalWriter (journal_file.h), and at the
// next start gives back every job that had not ended, with what its client
// had acknowledged.
//
// Durability (group commit): a job's record must be on disk before its
// JobAccepted leaves, so the broker loop calls Commit() once per loop turn,
// before it sends that turn's messages; Commit() syncs only if a job was
// accepted since the last sync. Acknowledgements and ends are written with
// the next sync, or within kLazySyncMs: a lost acknowledgement only makes a
// restarted broker compute again results the client then says it holds,
// and a lost end resumes a job nobody attaches to, cancelled after the
// client grace period.
//
// What is resumed: every job. A streamed job's input is journaled as it
// comes (JournalInput, synced like a job record, before any of its results
// can reach the client, which then forgets that input) and kept until its
// items are acknowledged; a code job's blobs go with its job record.
//
// Compaction: the journal holds each live job's record, its merged
// acknowledgements and its input not yet acknowledged; when the file grows
// past twice that (plus 1 MiB), it is rewritten as exactly that, so it
// never grows with history.
//
// Not thread-safe: the broker loop's thread owns it.
#ifndef TQ_BROKER_JOB_JOURNAL_H_
#define TQ_BROKER_JOB_JOURNAL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/journal_file.h"
#include "broker/stream_input.h"
#include "common/item_runs.h"
#include "tq/v1/journal.pb.h"

namespace tq {

// What the Scheduler tells the journal.
class JournalSink {
 public:
  virtual ~JournalSink() = default;
  virtual void JobAccepted(const v1::JournalJob& job) = 0;
  // Chunks a streamed job received, the first being its appended chunk
  // `first_chunk` (0, 1, ...); `complete`: its input ends with them.
  virtual void InputAppended(uint64_t job_id, uint64_t first_chunk,
                             const std::vector<StreamInput>& chunks,
                             bool complete) = 0;
  // `mark`: AckResults.mark (empty: the previous one stands).
  virtual void Acknowledged(uint64_t job_id, const ItemRuns& items,
                            uint64_t count, const std::string& mark) = 0;
  virtual void JobEnded(uint64_t job_id) = 0;
};

// A job the journal resumes.
struct JournaledJob {
  v1::JournalJob job;
  ItemRuns acknowledged;
  uint64_t acknowledged_count = 0;
  std::string mark;  // the latest AckResults.mark
  // Streamed input: the chunks not wholly acknowledged (in order), how
  // many chunks and items had come, and whether the input had ended.
  std::vector<StreamInput> input;
  uint64_t chunks_appended = 0;
  uint64_t items_appended = 0;
  bool input_complete = false;
};

class JobJournal : public JournalSink {
 public:
  static constexpr int64_t kLazySyncMs = 100;

  // Opens (creating) the journal in `dir` and reads it: `recovered` gets
  // every job not ended, in job id order, and `report` what was wrong with a
  // damaged tail, if anything (the intact records before it are used).
  // Errors: the directory cannot be used, or a header is not a tq journal.
  // `epoch` goes into the headers written (0: keep the journal's).
  static absl::StatusOr<std::unique_ptr<JobJournal>> Open(
      const std::string& dir, uint64_t epoch,
      std::vector<JournaledJob>* recovered, std::string* report);

  void JobAccepted(const v1::JournalJob& job) override;
  void InputAppended(uint64_t job_id, uint64_t first_chunk,
                     const std::vector<StreamInput>& chunks,
                     bool complete) override;
  void Acknowledged(uint64_t job_id, const ItemRuns& items, uint64_t count,
                    const std::string& mark) override;
  void JobEnded(uint64_t job_id) override;

  // Writes what was reported; syncs if a job record waits, or if something
  // waited kLazySyncMs. Compacts when the file outgrew the live state.
  absl::Status Commit(int64_t now_us);
  // When Commit should run next although nothing new came (INT64_MAX: no
  // need).
  int64_t NextCommitUs() const;

  // The epoch in the journal's header when it was opened (the writing
  // broker's), and the one written from now on: set_epoch compacts, so the
  // header says it at once.
  uint64_t opened_epoch() const { return opened_epoch_; }
  absl::Status set_epoch(uint64_t epoch);

  // Every job not ended, as Open's `recovered` gives them.
  std::vector<JournaledJob> LiveJobs() const;
  // The live state as records: what compaction writes, and a standby
  // pair's snapshot.
  std::vector<JournalRecord> LiveRecords() const;

  // A standby pair's active: while replicating, every record appended is
  // also kept for TakeReplicated(), which `required` says holds a job or
  // input record (what the passive must hold before the turn's messages
  // leave).
  void set_replicating(bool on) {
    replicating_ = on;
    replicated_.clear();
  }
  std::vector<JournalRecord> TakeReplicated(bool* required);

  // A standby pair's passive: the journal mirrors the active's.
  // ReplaceAll: the live state and the file become `records` (synced).
  absl::Status ReplaceAll(const std::vector<JournalRecord>& records);
  // Mirror: appends the active's records (the next Commit syncs them).
  void Mirror(const std::vector<JournalRecord>& records);

  uint64_t size_bytes() const { return writer_->size_bytes(); }
  uint64_t live_bytes() const;
  uint64_t compactions() const { return compactions_; }

 private:
  struct Live {
    std::string record;  // serialized JournalJob
    ItemRuns acknowledged;
    uint64_t acknowledged_count = 0;
    std::string mark;
    bool streamed = false;
    // Streamed input not wholly acknowledged, by appended chunk number.
    std::map<uint64_t, StreamInput> input;
    uint64_t chunks_appended = 0;
    uint64_t items_appended = 0;
    bool input_complete = false;
  };
  // Updates the live state with one record (false: not understood).
  bool Apply(const JournalRecord& record);
  // Adds a JournalInput record's chunks to `live` (false: malformed).
  static bool AddInput(const v1::JournalInput& record, Live* live);
  // Drops the chunks of `live` whose items are all acknowledged.
  static void DropAcknowledgedInput(Live* live);
  explicit JobJournal(std::unique_ptr<JournalWriter> writer)
      : writer_(std::move(writer)) {}
  absl::Status Append(v1::JournalRecordType type,
                      const google::protobuf::MessageLite& record);
  absl::Status Compact();

  std::unique_ptr<JournalWriter> writer_;
  std::map<uint64_t, Live> live_;
  // A write failed: reported by the next Commit (and every one after).
  absl::Status failed_;
  bool must_sync_ = false;
  // Records written and not yet synced since this time (-1: none).
  int64_t unsynced_since_us_ = -1;
  bool dirty_ = false;
  uint64_t compactions_ = 0;
  uint64_t opened_epoch_ = 0;
  bool replicating_ = false;
  std::vector<JournalRecord> replicated_;
};

}  // namespace tq

#endif  // TQ_BROKER_JOB_JOURNAL_H_
