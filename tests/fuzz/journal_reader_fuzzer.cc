// libFuzzer target: parsing a job-journal segment (broker/journal_format.h),
// which after a crash or disk damage may hold anything. Invariants checked
// here, beyond "no crash, no sanitizer finding": a bad header is an error of
// the documented codes; otherwise the tail report accounts for every byte,
// and the header and the records returned, encoded again, are exactly the
// segment's first valid_bytes (nothing is returned from beyond the first
// bad record, nothing is invented).
//
// Input layout: byte 0 = mode. Even: the rest is a segment, raw (checksums
// are then rarely right, so this mostly explores headers and damage).
// Odd: the rest is a script that builds a valid segment, then damages it,
// so the record paths are explored too:
//   u16 keep (truncate the segment to this many bytes; 0: no truncation),
//   u16 position and u8 mask (xor one byte; mask 0: no flip),
//   then records, each u8 type (0 becomes 1), u16 length, payload bytes
//   (clamped to what is left).
// With no flip, the parse must return exactly the records wholly before
// the cut; with a flip, at least the records wholly before the flipped byte
// (a flipped length could, with odds of 2^-32, frame a record whose
// checksum matches, so no upper bound is claimed).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "broker/journal_format.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

// The invariants that hold for any segment bytes.
void CheckParse(const std::string& bytes,
                const absl::StatusOr<tq::JournalContents>& parsed) {
  if (!parsed.ok()) {
    const absl::StatusCode code = parsed.status().code();
    if (code != absl::StatusCode::kDataLoss &&
        code != absl::StatusCode::kFailedPrecondition) {
      std::abort();
    }
    return;
  }
  const tq::JournalContents& c = *parsed;
  if (c.valid_bytes < tq::kJournalHeaderBytes) std::abort();
  if (c.valid_bytes > bytes.size()) std::abort();
  if (c.tail.offset != c.valid_bytes) std::abort();
  if (c.tail.ignored_bytes != bytes.size() - c.valid_bytes) std::abort();
  if (c.tail.clean() != (c.valid_bytes == bytes.size())) std::abort();
  if (!c.tail.clean() && c.tail.reason.empty()) std::abort();
  std::string encoded = tq::EncodeJournalHeader(c.generation, c.epoch);
  for (const tq::JournalRecord& r : c.records) {
    if (r.type == 0 || r.payload.size() > tq::kMaxJournalPayloadBytes) {
      std::abort();
    }
    tq::AppendJournalRecord(r.type, r.payload, &encoded);
  }
  if (encoded != bytes.substr(0, c.valid_bytes)) std::abort();
}

void RunScript(tq::fuzz::Input& in) {
  const size_t keep = in.U16();
  const size_t position = in.U16();
  const auto mask = static_cast<char>(in.Byte());
  std::string segment = tq::EncodeJournalHeader(1, 7);
  std::vector<size_t> record_ends;  // offsets where each record ends
  std::vector<tq::JournalRecord> records;
  std::string rest = in.Rest();
  size_t pos = 0;
  while (pos < rest.size()) {
    tq::JournalRecord record;
    record.type = static_cast<uint8_t>(rest[pos++]);
    if (record.type == 0) record.type = 1;
    size_t length = 0;
    for (int i = 0; i < 2 && pos < rest.size(); ++i) {
      length |= static_cast<size_t>(static_cast<uint8_t>(rest[pos++]))
                << (8 * i);
    }
    length = std::min(length, rest.size() - pos);
    record.payload = rest.substr(pos, length);
    pos += length;
    tq::AppendJournalRecord(record.type, record.payload, &segment);
    record_ends.push_back(segment.size());
    records.push_back(std::move(record));
  }
  if (keep != 0 && keep < segment.size()) segment.resize(keep);
  const bool flipped = mask != 0 && position < segment.size();
  if (flipped) segment[position] ^= mask;

  const absl::StatusOr<tq::JournalContents> parsed =
      tq::ParseJournalSegment(segment);
  CheckParse(segment, parsed);
  // The first damaged byte: the cut, or the flip if earlier.
  const size_t damage = flipped ? std::min(position, segment.size())
                                : segment.size();
  if (damage < tq::kJournalHeaderBytes) return;  // a header error is fine
  if (!parsed.ok()) std::abort();                // the header is intact
  size_t intact = 0;
  while (intact < records.size() && record_ends[intact] <= damage) ++intact;
  if (parsed->records.size() < intact) std::abort();
  if (!flipped && parsed->records.size() != intact) std::abort();
  for (size_t i = 0; i < intact; ++i) {
    if (parsed->records[i] != records[i]) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tq::fuzz::Input in(data, size);
  if ((in.Byte() & 1) != 0) {
    RunScript(in);
  } else {
    const std::string bytes = in.Rest();
    CheckParse(bytes, tq::ParseJournalSegment(bytes));
  }
  return 0;
}
