// The job journal's storage layer (issue 8): an append-only file of opaque,
// checksummed records on the broker's local disk (`--journal=DIR`), read
// back after a restart, and compacted by rewriting the live state. What the
// records mean (jobs, chunks, acknowledgements) is the caller's business:
// here a record is a type byte and a payload.
//
// On disk. DIR holds one active segment, DIR/journal.<G> (G = generation, a
// decimal number without leading zeros, starting at 1), in the format of
// broker/journal_format.h: a header (magic "TQJ1", format version,
// generation, the writing broker's epoch, header CRC-32C), then records
// (u32 length, u32 CRC-32C of type + payload, u8 type, payload), all
// little-endian, at most kMaxJournalPayloadBytes (64 MiB) of payload each.
// Reading stops at the first torn or damaged record and reports the rest.
//
// Segments are born complete. A new segment (the first one, and each
// compaction) is written as DIR/journal.<G>.tmp, fsynced, renamed to
// DIR/journal.<G> and the directory fsynced; only then is the previous
// segment deleted. Readers take the highest generation named without
// ".tmp", so a crash at any point leaves either the old segment or the new
// one readable, never a half-written one: before the rename the .tmp is
// ignored, after it the new segment has every byte. Leftovers (.tmp files,
// older generations) are ignored by ReadJournal and deleted by
// JournalWriter::Open. Other files in DIR (e.g. lost+found) are ignored.
#ifndef TQ_BROKER_JOURNAL_FILE_H_
#define TQ_BROKER_JOURNAL_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "broker/journal_format.h"

namespace tq {

// Reads the active segment of `dir` (see above) and everything intact in it.
// Read-only: repairs and deletes nothing. Holds the file and the records in
// memory together (about twice the segment's size). Errors name the file:
// kNotFound if `dir` does not exist; I/O errors as errno maps them (with
// strerror); the header errors of ParseJournalSegment, and kDataLoss if the
// header's generation differs from the file name's. An empty `dir` gives
// generation 0 and no records.
absl::StatusOr<JournalContents> ReadJournal(const std::string& dir);

// When appended records reach the disk. The cost is one fdatasync per
// commit, whatever it holds: 0.3-3.4 ms on the shared development VM's
// virtio disk (more on a network volume), so syncing every append caps a
// broker at ~300-3,000 records/s, while group commit (a Sync() per 64
// appends) reached 17,000-250,000 100-byte records/s there and never
// syncing 7-10 M/s (bench/journal_bench.cc; run it on the target disk).
enum class JournalSyncPolicy {
  // Append() writes and fdatasyncs before it returns: every append survives
  // a machine crash once it returns; one sync per record (the slowest).
  kEveryAppend,
  // Append() buffers (writing to the OS when the buffer fills); Sync()
  // writes and fdatasyncs. The caller groups commits: append a batch,
  // Sync() once, then acknowledge the whole batch (e.g. once per event-loop
  // turn). Survives a machine crash for every
  // record appended before a successful Sync().
  kExplicitSync,
  // Nothing is ever fdatasynced by appends; Sync() only writes the buffer
  // to the OS. Survives a broker crash (after Flush/Sync), not a machine
  // or kernel crash: the OS writes back when it likes (~30 s on Linux).
  kNever,
};

struct JournalOptions {
  JournalSyncPolicy sync_policy = JournalSyncPolicy::kExplicitSync;
  // Written into the header of every segment this writer creates (the
  // broker's epoch, so a standby can tell which primary wrote a journal).
  uint64_t epoch = 0;
  // Append() writes to the OS whenever this many bytes are buffered.
  size_t buffer_bytes = size_t{1} << 20;
};

// Appends records to the active segment of one directory, and compacts it.
// Not thread-safe: one owner (the broker's loop thread) calls everything.
// The writer holds an exclusive flock on DIR, so a second writer (another
// broker process on the same volume) is refused instead of interleaving.
//
// Errors are sticky: after a failed write or sync the file may end in a
// partial record, or the kernel may have dropped dirty pages it could not
// write (so a later fsync would wrongly succeed), so every later
// Append/Flush/Sync returns the first error. A successful Rewrite() clears
// it, since it starts a fresh segment from the caller's state; so does
// reopening, which truncates the damaged tail.
class JournalWriter {
 public:
  // Opens the journal in `dir` (created, mode 0700, if missing; its parent
  // must exist), reading what is there first: if `recovered` is not null it
  // receives ReadJournal's result, tail report included. A damaged tail is
  // then truncated (and the truncation synced) so appends continue right
  // after the last intact record; leftovers are deleted. An empty directory
  // gets segment 1. Refuses (and changes nothing) if ReadJournal fails;
  // kFailedPrecondition if another writer holds `dir`.
  static absl::StatusOr<std::unique_ptr<JournalWriter>> Open(
      const std::string& dir, const JournalOptions& options,
      JournalContents* recovered = nullptr);

  // Writes what is buffered (errors ignored: Flush() or Sync() first to see
  // them); syncs nothing.
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Adds one record. kInvalidArgument (and nothing appended) for type 0 or
  // a payload over kMaxJournalPayloadBytes. Durability: see the policy.
  absl::Status Append(uint8_t type, absl::string_view payload);
  // Writes the buffered records to the OS (survives this process dying).
  absl::Status Flush();
  // Flush(), then fdatasync unless the policy is kNever (or nothing was
  // written since the last one: calling it every loop turn is cheap). When
  // it returns OK, every record appended so far survives a machine crash.
  absl::Status Sync();

  // Compaction: replaces the whole journal with `records` (the caller's live
  // state) in a new segment of the next generation, synced and made active
  // as described at the top of this file, whatever the policy; then deletes
  // the old segment. Records appended but not yet written are dropped (the
  // caller's state includes them). Later appends go to the new segment.
  // On failure before the new segment is active nothing changes (the .tmp is
  // removed); kInvalidArgument if a record breaks the Append limits. If
  // the directory cannot be synced after the rename, the new segment is
  // active but the old one is kept (a crash may undo the rename) and the
  // error is sticky. If only deleting the old segment fails, the new one is
  // active and an error is returned (Open deletes the old one next time).
  absl::Status Rewrite(absl::Span<const JournalRecord> records);

  // Bytes of the active segment, including buffered records: compare with
  // the size of the live state to decide when to Rewrite().
  uint64_t size_bytes() const { return file_bytes_ + buffer_.size(); }
  // Bytes this writer has written to files since Open (all segments).
  uint64_t bytes_written() const { return bytes_written_; }
  // fdatasync/fsync calls since Open, for metrics.
  uint64_t syncs() const { return syncs_; }
  uint64_t generation() const { return generation_; }
  const std::string& path() const { return path_; }
  // The epoch written into segments created from now on (the next
  // Rewrite()); JournalOptions.epoch until set.
  void set_epoch(uint64_t epoch) { epoch_ = epoch; }

 private:
  JournalWriter(std::string dir, const JournalOptions& options, int dir_fd);

  // Writes `generation`'s segment holding `records` as a .tmp file, fsyncs
  // it and renames it into place (the caller fsyncs the directory); returns
  // the new segment's fd, open for writing.
  absl::StatusOr<int> CreateSegment(uint64_t generation,
                                    absl::Span<const JournalRecord> records,
                                    uint64_t* segment_bytes);
  absl::Status WriteBuffer();
  absl::Status SyncDir();

  // Constant after construction.
  const std::string dir_;
  const JournalOptions options_;
  const int dir_fd_;  // holds the flock; fsynced after renames and deletes

  uint64_t epoch_;

  int fd_ = -1;  // the active segment, opened for writing
  std::string path_;
  uint64_t generation_ = 0;
  uint64_t file_bytes_ = 0;  // bytes of the active segment in the file
  std::string buffer_;       // encoded records not yet written
  bool unsynced_ = false;    // written since the last fdatasync
  uint64_t bytes_written_ = 0;
  uint64_t syncs_ = 0;
  absl::Status error_;  // sticky, see the class comment
};

}  // namespace tq

#endif  // TQ_BROKER_JOURNAL_FILE_H_
