// The byte format of a job-journal segment (issue 8), without files: encode
// a header and records, parse a whole segment. broker/journal_file.h keeps
// segments on disk; tests and the fuzzer use this directly. Records are
// opaque here: a type byte and a payload.
//
// A segment, all integers little-endian:
//
//   header (28 bytes)  "TQJ1"  magic
//                      u32     format version (kJournalFormatVersion = 1)
//                      u64     generation G (the N of its file journal.N)
//                      u64     epoch of the broker that created the segment
//                      u32     CRC-32C of the 24 bytes above
//   record (9 + L)     u32     payload length L (<= kMaxJournalPayloadBytes)
//                      u32     CRC-32C of the type byte and the payload
//                      u8      type (1..255; 0 is reserved, so that a run of
//                              zero bytes, as a crash can leave, never
//                              parses as a record)
//                      L bytes payload
//   record ...
//
// Parsing stops at the first record that is incomplete (torn: the segment
// ends inside it), has an impossible length or type, or fails its checksum:
// that record and everything after it are reported, never returned, because
// a record after a damaged one cannot be trusted to belong after the ones
// before it. A damaged header is an error, not a tail: the segment is
// unusable (segments are renamed into place only when complete, see
// journal_file.h, so this is real damage, not a crash).
//
// Thread-safe: pure functions.
#ifndef TQ_BROKER_JOURNAL_FORMAT_H_
#define TQ_BROKER_JOURNAL_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tq {

inline constexpr char kJournalMagic[] = "TQJ1";  // 4 bytes on disk, no NUL
inline constexpr uint32_t kJournalFormatVersion = 1;
inline constexpr size_t kJournalHeaderBytes = 28;
inline constexpr size_t kJournalRecordHeaderBytes = 9;
// Larger payloads are refused on append and read as corruption: a damaged
// length field must not make the reader allocate gigabytes.
inline constexpr size_t kMaxJournalPayloadBytes = size_t{64} << 20;

struct JournalRecord {
  uint8_t type = 0;
  std::string payload;

  friend bool operator==(const JournalRecord& a, const JournalRecord& b) {
    return a.type == b.type && a.payload == b.payload;
  }
  friend bool operator!=(const JournalRecord& a, const JournalRecord& b) {
    return !(a == b);
  }
};

// What was wrong with the end of a segment, if anything.
struct JournalTail {
  enum class Kind {
    kClean,    // the segment ends exactly after its last record
    kTorn,     // it ends inside a record (a crash mid-write, or a damaged
               // length pointing past the end: the two look alike)
    kCorrupt,  // checksum mismatch, impossible length or reserved type
  };
  Kind kind = Kind::kClean;
  uint64_t offset = 0;         // where the first bad record starts
  uint64_t ignored_bytes = 0;  // from `offset` to the end of the segment
  std::string reason;          // e.g. "checksum mismatch (...)"

  bool clean() const { return kind == Kind::kClean; }
  // "N bytes after offset X ignored: <reason>", or "clean".
  std::string ToString() const;
};

// A journal as read back: one segment's header fields, intact records and
// tail report (ParseJournalSegment), plus where it came from (ReadJournal).
struct JournalContents {
  uint64_t generation = 0;  // 0: the directory holds no journal yet
  uint64_t epoch = 0;       // from the segment's header
  std::vector<JournalRecord> records;  // every intact record, in order
  uint64_t valid_bytes = 0;  // header + intact records: where appends go
  JournalTail tail;

  // Filled by ReadJournal only:
  std::string path;  // the segment read; empty when there is none
  // Leftovers ReadJournal skipped (crashed compactions' .tmp files, older
  // generations), full paths; JournalWriter::Open deletes them.
  std::vector<std::string> stale_files;
};

// The 28-byte segment header.
std::string EncodeJournalHeader(uint64_t generation, uint64_t epoch);

// Appends one encoded record to *out. The caller keeps to the limits
// (type != 0, payload <= kMaxJournalPayloadBytes); JournalWriter checks them.
void AppendJournalRecord(uint8_t type, absl::string_view payload,
                         std::string* out);

// Parses a whole segment. Errors: kDataLoss for a short or damaged header
// (wrong magic, header checksum), kFailedPrecondition for a format version
// this build does not read. A damaged tail is not an error: see `tail`.
absl::StatusOr<JournalContents> ParseJournalSegment(absl::string_view bytes);

}  // namespace tq

#endif  // TQ_BROKER_JOURNAL_FORMAT_H_
