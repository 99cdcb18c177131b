#include "broker/journal_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"

namespace tq {
namespace {

constexpr size_t kMagicBytes = 4;

void PutLe32(uint32_t v, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutLe64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t GetLe32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}
uint64_t GetLe64(const char* p) {
  return GetLe32(p) | (static_cast<uint64_t>(GetLe32(p + 4)) << 32);
}

uint32_t RecordCrc(uint8_t type, absl::string_view payload) {
  const char type_byte = static_cast<char>(type);
  return Crc32cExtend(Crc32c(absl::string_view(&type_byte, 1)), payload);
}

}  // namespace

std::string JournalTail::ToString() const {
  if (clean()) return "clean";
  return absl::StrCat(ignored_bytes, " bytes after offset ", offset,
                      " ignored: ", reason);
}

std::string EncodeJournalHeader(uint64_t generation, uint64_t epoch) {
  std::string header(kJournalMagic, kMagicBytes);
  PutLe32(kJournalFormatVersion, &header);
  PutLe64(generation, &header);
  PutLe64(epoch, &header);
  PutLe32(Crc32c(header), &header);
  return header;
}

void AppendJournalRecord(uint8_t type, absl::string_view payload,
                         std::string* out) {
  PutLe32(static_cast<uint32_t>(payload.size()), out);
  PutLe32(RecordCrc(type, payload), out);
  out->push_back(static_cast<char>(type));
  out->append(payload.data(), payload.size());
}

absl::StatusOr<JournalContents> ParseJournalSegment(absl::string_view bytes) {
  if (bytes.size() < kJournalHeaderBytes) {
    return absl::DataLossError(absl::StrCat("journal header too short (",
                                            bytes.size(), " of ",
                                            kJournalHeaderBytes, " bytes)"));
  }
  const char* p = bytes.data();
  if (bytes.substr(0, kMagicBytes) !=
      absl::string_view(kJournalMagic, kMagicBytes)) {
    return absl::DataLossError("not a tq journal (no \"TQJ1\" magic)");
  }
  // The version before the header checksum: a later format may lay its
  // header out differently, and should be named as such, not as damage.
  const uint32_t version = GetLe32(p + 4);
  if (version != kJournalFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "journal format version ", version, " (this build reads version ",
        kJournalFormatVersion, "): written by a newer tq, or damaged"));
  }
  const uint32_t stored_header_crc = GetLe32(p + 24);
  if (Crc32c(bytes.substr(0, 24)) != stored_header_crc) {
    return absl::DataLossError("journal header checksum mismatch");
  }
  JournalContents contents;
  contents.generation = GetLe64(p + 8);
  contents.epoch = GetLe64(p + 16);

  // Each record is checked in full before the next is looked at: the first
  // bad one ends the segment (see the header comment for why).
  uint64_t pos = kJournalHeaderBytes;
  const uint64_t size = bytes.size();
  while (pos < size) {
    JournalTail& tail = contents.tail;
    const uint64_t remaining = size - pos;
    if (remaining < kJournalRecordHeaderBytes) {
      tail.kind = JournalTail::Kind::kTorn;
      tail.reason = absl::StrCat("torn record header (", remaining, " of ",
                                 kJournalRecordHeaderBytes, " bytes)");
      break;
    }
    const uint32_t length = GetLe32(p + pos);
    const uint32_t stored_crc = GetLe32(p + pos + 4);
    const auto type = static_cast<uint8_t>(p[pos + 8]);
    if (length > kMaxJournalPayloadBytes) {
      tail.kind = JournalTail::Kind::kCorrupt;
      tail.reason = absl::StrCat("impossible record length ", length,
                                 " (limit ", kMaxJournalPayloadBytes, ")");
      break;
    }
    const uint64_t present = remaining - kJournalRecordHeaderBytes;
    if (length > present) {
      tail.kind = JournalTail::Kind::kTorn;
      tail.reason = absl::StrCat("torn record (", length, "-byte payload, ",
                                 present, " bytes present)");
      break;
    }
    const absl::string_view payload =
        bytes.substr(pos + kJournalRecordHeaderBytes, length);
    const uint32_t computed_crc = RecordCrc(type, payload);
    if (computed_crc != stored_crc) {
      tail.kind = JournalTail::Kind::kCorrupt;
      tail.reason = absl::StrFormat(
          "checksum mismatch (stored 0x%08x, computed 0x%08x)", stored_crc,
          computed_crc);
      break;
    }
    if (type == 0) {
      tail.kind = JournalTail::Kind::kCorrupt;
      tail.reason = "record type 0 is reserved";
      break;
    }
    contents.records.push_back(JournalRecord{type, std::string(payload)});
    pos += kJournalRecordHeaderBytes + length;
  }
  contents.valid_bytes = pos;
  contents.tail.offset = pos;
  contents.tail.ignored_bytes = size - pos;
  return contents;
}

}  // namespace tq
