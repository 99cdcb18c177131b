// Damaged journals: a torn last record at every cut, a flipped byte at every
// position of a middle record, impossible lengths, zero-filled tails, and
// damaged headers. The reader returns what precedes the damage and reports
// the rest; a writer opened on it truncates the damage and appends after
// the last intact record; a damaged header is an error and nothing is
// changed.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/journal_file.h"
#include "common/crc32c.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/journal_test_util.h"

namespace tq {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::EncodedSize;
using testing::FileSize;
using testing::ReadFile;
using testing::WriteFile;
using Kind = JournalTail::Kind;

std::string Le32(uint32_t v) {
  std::string out;
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
  return out;
}
std::string Le64(uint64_t v) { return Le32(uint32_t(v)) + Le32(v >> 32); }

class JournalDamageTest : public testing::JournalDirTest {
 protected:
  // Writes `records` as a fresh journal in `dir`; returns the segment's path.
  std::string WriteJournal(const std::string& dir,
                           const std::vector<JournalRecord>& records) {
    absl::StatusOr<std::unique_ptr<JournalWriter>> writer =
        JournalWriter::Open(dir, {});
    EXPECT_TRUE(writer.ok()) << writer.status();
    if (!writer.ok()) return "";
    for (const JournalRecord& r : records) {
      EXPECT_TRUE((*writer)->Append(r.type, r.payload).ok());
    }
    EXPECT_TRUE((*writer)->Sync().ok());
    return (*writer)->path();
  }

  // Opens a writer on the damaged journal in `dir`, checks it reports
  // `kind`, truncates to `valid_bytes`, and that an append then follows
  // `intact` in the journal.
  void ExpectRepairedOnOpen(const std::string& dir, const std::string& path,
                            Kind kind, uint64_t valid_bytes,
                            std::vector<JournalRecord> intact) {
    JournalContents recovered;
    absl::StatusOr<std::unique_ptr<JournalWriter>> writer =
        JournalWriter::Open(dir, {}, &recovered);
    ASSERT_TRUE(writer.ok()) << writer.status();
    EXPECT_EQ(recovered.tail.kind, kind);  // the caller gets the report
    EXPECT_EQ(recovered.records, intact);
    EXPECT_EQ(FileSize(path), valid_bytes);  // damage truncated
    ASSERT_TRUE((*writer)->Append(200, "after the repair").ok());
    ASSERT_TRUE((*writer)->Sync().ok());
    writer->reset();
    absl::StatusOr<JournalContents> contents = ReadJournal(dir);
    ASSERT_TRUE(contents.ok()) << contents.status();
    intact.push_back({200, "after the repair"});
    EXPECT_EQ(contents->records, intact);
    EXPECT_TRUE(contents->tail.clean()) << contents->tail.ToString();
  }
};

const std::vector<JournalRecord> kThree = {
    {1, "first"}, {2, std::string(40, 'b')}, {3, std::string(20, 'c')}};

TEST_F(JournalDamageTest, ATornLastRecordIsReportedAtEveryCut) {
  const uint64_t last_size = EncodedSize(kThree[2]);
  for (uint64_t cut = 1; cut < last_size; ++cut) {
    SCOPED_TRACE(absl::StrCat("last record cut short by ", cut, " bytes"));
    const std::string dir = SubDir(absl::StrCat("cut", cut));
    const std::string path = WriteJournal(dir, kThree);
    const uint64_t full = FileSize(path);
    const uint64_t last_offset = full - last_size;
    std::filesystem::resize_file(path, full - cut);

    absl::StatusOr<JournalContents> contents = ReadJournal(dir);
    ASSERT_TRUE(contents.ok()) << contents.status();
    EXPECT_THAT(contents->records, ElementsAre(kThree[0], kThree[1]));
    EXPECT_EQ(contents->tail.kind, Kind::kTorn);
    EXPECT_EQ(contents->tail.offset, last_offset);
    EXPECT_EQ(contents->valid_bytes, last_offset);
    EXPECT_EQ(contents->tail.ignored_bytes, last_size - cut);
    EXPECT_THAT(contents->tail.ToString(),
                HasSubstr(absl::StrCat(last_size - cut, " bytes after offset ",
                                       last_offset, " ignored: torn")));
    ExpectRepairedOnOpen(dir, path, Kind::kTorn, last_offset,
                         {kThree[0], kThree[1]});
  }
}

TEST_F(JournalDamageTest, AFlippedByteInAMiddleRecordHidesItAndTheRest) {
  const uint64_t middle_size = EncodedSize(kThree[1]);
  for (uint64_t i = 0; i < middle_size; ++i) {
    for (char mask : {'\x01', '\xff'}) {
      SCOPED_TRACE(absl::StrCat("byte ", i, " of the middle record ^ ",
                                int{static_cast<unsigned char>(mask)}));
      const std::string dir =
          SubDir(absl::StrCat("flip", i, "_", int{mask != '\x01'}));
      const std::string path = WriteJournal(dir, kThree);
      const uint64_t middle_offset =
          kJournalHeaderBytes + EncodedSize(kThree[0]);
      std::string bytes = ReadFile(path);
      bytes[middle_offset + i] ^= mask;
      WriteFile(path, bytes);

      absl::StatusOr<JournalContents> contents = ReadJournal(dir);
      ASSERT_TRUE(contents.ok()) << contents.status();
      EXPECT_THAT(contents->records, ElementsAre(kThree[0]));
      EXPECT_FALSE(contents->tail.clean());
      EXPECT_EQ(contents->tail.offset, middle_offset);
      EXPECT_EQ(contents->tail.ignored_bytes, bytes.size() - middle_offset);
      ExpectRepairedOnOpen(dir, path, contents->tail.kind, middle_offset,
                           {kThree[0]});
    }
  }
}

TEST_F(JournalDamageTest, AnImpossibleLengthIsCorruption) {
  for (uint32_t length :
       {static_cast<uint32_t>(kMaxJournalPayloadBytes + 1), 0xffffffffu}) {
    SCOPED_TRACE(length);
    const std::string dir = SubDir(absl::StrCat("length", length));
    const std::string path = WriteJournal(dir, {{1, "kept"}});
    const uint64_t good = FileSize(path);
    WriteFile(path, ReadFile(path) + Le32(length) + Le32(0) + "\x01" +
                        std::string(100, 'x'));
    absl::StatusOr<JournalContents> contents = ReadJournal(dir);
    ASSERT_TRUE(contents.ok()) << contents.status();
    EXPECT_THAT(contents->records, ElementsAre(JournalRecord{1, "kept"}));
    EXPECT_EQ(contents->tail.kind, Kind::kCorrupt);
    EXPECT_EQ(contents->tail.offset, good);
    EXPECT_THAT(contents->tail.reason, HasSubstr("impossible record length"));
    ExpectRepairedOnOpen(dir, path, Kind::kCorrupt, good, {{1, "kept"}});
  }
}

// What a crash can leave on file systems that extend a file before its
// data is written: zeros. Type 0 is reserved, and the checksum fails.
TEST_F(JournalDamageTest, AZeroFilledTailIsCorruption) {
  const std::string path = WriteJournal(dir_, {{1, "kept"}});
  const uint64_t good = FileSize(path);
  WriteFile(path, ReadFile(path) + std::string(4096, '\0'));
  absl::StatusOr<JournalContents> contents = ReadJournal(dir_);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_THAT(contents->records, ElementsAre(JournalRecord{1, "kept"}));
  EXPECT_EQ(contents->tail.kind, Kind::kCorrupt);
  EXPECT_THAT(contents->tail.ToString(),
              HasSubstr(absl::StrCat("4096 bytes after offset ", good,
                                     " ignored: checksum mismatch")));
}

TEST_F(JournalDamageTest, ARecordOfTheReservedTypeIsCorruption) {
  const std::string path = WriteJournal(dir_, {{1, "kept"}});
  std::string bytes = ReadFile(path);
  AppendJournalRecord(0, "checksummed but reserved", &bytes);
  WriteFile(path, bytes);
  absl::StatusOr<JournalContents> contents = ReadJournal(dir_);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_THAT(contents->records, ElementsAre(JournalRecord{1, "kept"}));
  EXPECT_EQ(contents->tail.kind, Kind::kCorrupt);
  EXPECT_THAT(contents->tail.reason, HasSubstr("type 0"));
}

// A damaged header: ReadJournal and Open fail, naming the file and what is
// wrong, and Open changes nothing (the file may be worth a person's look).
class JournalHeaderTest : public testing::JournalDirTest {
 protected:
  void ExpectRefused(const std::string& segment, absl::StatusCode code,
                     const std::string& what) {
    std::filesystem::create_directory(dir_);
    const std::string path = dir_ + "/journal.1";
    WriteFile(path, segment);
    absl::StatusOr<JournalContents> contents = ReadJournal(dir_);
    EXPECT_EQ(contents.status().code(), code) << contents.status();
    EXPECT_THAT(contents.status().message(), HasSubstr(path));
    EXPECT_THAT(contents.status().message(), HasSubstr(what));
    absl::StatusOr<std::unique_ptr<JournalWriter>> writer =
        JournalWriter::Open(dir_, {});
    EXPECT_EQ(writer.status().code(), code) << writer.status();
    EXPECT_EQ(ReadFile(path), segment);
  }

  std::string Header(uint32_t version, uint64_t generation) {
    std::string header = std::string("TQJ1") + Le32(version) +
                         Le64(generation) + Le64(0);
    return header + Le32(Crc32c(header));
  }
};

TEST_F(JournalHeaderTest, AValidHeaderAloneIsAnEmptyJournal) {
  std::string segment = Header(kJournalFormatVersion, 1);
  EXPECT_EQ(segment, EncodeJournalHeader(1, 0));
  absl::StatusOr<JournalContents> parsed = ParseJournalSegment(segment);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->records.empty());
  EXPECT_TRUE(parsed->tail.clean());
  EXPECT_EQ(parsed->valid_bytes, kJournalHeaderBytes);
}

TEST_F(JournalHeaderTest, WrongMagicIsAnError) {
  std::string segment = EncodeJournalHeader(1, 0);
  segment.replace(0, 4, "SQLi");
  AppendJournalRecord(1, "x", &segment);
  ExpectRefused(segment, absl::StatusCode::kDataLoss, "magic");
}

TEST_F(JournalHeaderTest, AnUnknownVersionIsAnError) {
  ExpectRefused(Header(2, 1), absl::StatusCode::kFailedPrecondition,
                "format version 2");
}

TEST_F(JournalHeaderTest, AHeaderChecksumMismatchIsAnError) {
  std::string segment = EncodeJournalHeader(1, 0);
  segment[16] ^= 1;  // the epoch
  ExpectRefused(segment, absl::StatusCode::kDataLoss, "header checksum");
}

TEST_F(JournalHeaderTest, AShortHeaderIsAnError) {
  ExpectRefused(EncodeJournalHeader(1, 0).substr(0, 10),
                absl::StatusCode::kDataLoss, "too short");
}

TEST_F(JournalHeaderTest, AGenerationOtherThanTheFileNamesIsAnError) {
  ExpectRefused(EncodeJournalHeader(5, 0), absl::StatusCode::kDataLoss,
                "generation 5");
}

}  // namespace
}  // namespace tq
