// JournalWriter and ReadJournal on real files: round trips, reopening,
// sync policies, compaction and its crash leftovers, locking. Damaged
// journals are in journal_damage_test.cc.
#include "broker/journal_file.h"

#include <signal.h>
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/journal_test_util.h"

namespace tq {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::FileSize;
using testing::ReadFile;
using testing::TestRecords;
using testing::WriteFile;

class JournalWriterTest : public testing::JournalDirTest {
 protected:
  std::unique_ptr<JournalWriter> OpenWriter(
      const JournalOptions& options = {}, JournalContents* recovered = nullptr,
      const std::string& dir = "") {
    absl::StatusOr<std::unique_ptr<JournalWriter>> writer =
        JournalWriter::Open(dir.empty() ? dir_ : dir, options, recovered);
    EXPECT_TRUE(writer.ok()) << writer.status();
    return writer.ok() ? std::move(writer).value() : nullptr;
  }

  void AppendAll(JournalWriter& writer,
                 const std::vector<JournalRecord>& records) {
    for (const JournalRecord& r : records) {
      ASSERT_TRUE(writer.Append(r.type, r.payload).ok());
    }
  }

  JournalContents Read(const std::string& dir = "") {
    absl::StatusOr<JournalContents> contents =
        ReadJournal(dir.empty() ? dir_ : dir);
    EXPECT_TRUE(contents.ok()) << contents.status();
    return contents.ok() ? std::move(contents).value() : JournalContents();
  }

  bool Exists(const std::string& name) const {
    return std::filesystem::exists(dir_ + "/" + name);
  }
};

TEST_F(JournalWriterTest, RecordsRoundTrip) {
  JournalContents recovered;
  JournalOptions options;
  options.epoch = 7;
  auto writer = OpenWriter(options, &recovered);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(recovered.generation, 0u);  // nothing there before
  EXPECT_THAT(recovered.records, IsEmpty());
  const std::vector<JournalRecord> records = {
      {1, "job 1 accepted"}, {2, ""}, {255, std::string("\0\xff\n", 3)}};
  AppendAll(*writer, records);
  ASSERT_TRUE(writer->Sync().ok());
  EXPECT_EQ(writer->size_bytes(), FileSize(dir_ + "/journal.1"));

  JournalContents contents = Read();
  EXPECT_EQ(contents.records, records);
  EXPECT_EQ(contents.generation, 1u);
  EXPECT_EQ(contents.epoch, 7u);
  EXPECT_TRUE(contents.tail.clean()) << contents.tail.ToString();
  EXPECT_EQ(contents.path, dir_ + "/journal.1");
  EXPECT_EQ(contents.valid_bytes, writer->size_bytes());
}

TEST_F(JournalWriterTest, ManyRecordsRoundTripThroughASmallBuffer) {
  JournalOptions options;
  options.buffer_bytes = 4096;  // many automatic writes
  auto writer = OpenWriter(options);
  ASSERT_NE(writer, nullptr);
  const std::vector<JournalRecord> records = TestRecords(0, 5000);
  AppendAll(*writer, records);
  ASSERT_TRUE(writer->Sync().ok());
  JournalContents contents = Read();
  ASSERT_EQ(contents.records.size(), records.size());
  EXPECT_TRUE(contents.records == records);
  EXPECT_TRUE(contents.tail.clean()) << contents.tail.ToString();
}

TEST_F(JournalWriterTest, ReopeningReturnsTheRecordsAndAppendsAfterThem) {
  {
    auto writer = OpenWriter();
    ASSERT_NE(writer, nullptr);
    AppendAll(*writer, TestRecords(0, 2));
    ASSERT_TRUE(writer->Sync().ok());
  }
  JournalContents recovered;
  auto writer = OpenWriter({}, &recovered);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(recovered.records, TestRecords(0, 2));
  EXPECT_EQ(writer->generation(), 1u);
  EXPECT_EQ(writer->size_bytes(), recovered.valid_bytes);
  AppendAll(*writer, TestRecords(2, 2));
  ASSERT_TRUE(writer->Sync().ok());
  EXPECT_EQ(Read().records, TestRecords(0, 4));
}

TEST_F(JournalWriterTest, SizeAndBytesWrittenFollowTheRecords) {
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(writer->size_bytes(), kJournalHeaderBytes);
  EXPECT_EQ(writer->bytes_written(), kJournalHeaderBytes);
  ASSERT_TRUE(writer->Append(1, std::string(100, 'x')).ok());
  // Buffered: counted in the size, not yet written.
  EXPECT_EQ(writer->size_bytes(), kJournalHeaderBytes + 109);
  EXPECT_EQ(writer->bytes_written(), kJournalHeaderBytes);
  ASSERT_TRUE(writer->Flush().ok());
  EXPECT_EQ(writer->bytes_written(), kJournalHeaderBytes + 109);
  EXPECT_EQ(FileSize(writer->path()), kJournalHeaderBytes + 109);
}

TEST_F(JournalWriterTest, EverySyncPolicyProducesAReadableJournal) {
  for (JournalSyncPolicy policy :
       {JournalSyncPolicy::kEveryAppend, JournalSyncPolicy::kExplicitSync,
        JournalSyncPolicy::kNever}) {
    const std::string dir = SubDir("policy" + std::to_string(int(policy)));
    JournalOptions options;
    options.sync_policy = policy;
    auto writer = OpenWriter(options, nullptr, dir);
    ASSERT_NE(writer, nullptr);
    const uint64_t syncs_at_open = writer->syncs();
    AppendAll(*writer, TestRecords(0, 10));
    const uint64_t syncs_after_appends = writer->syncs();
    ASSERT_TRUE(writer->Sync().ok());
    const uint64_t syncs_after_sync = writer->syncs();
    writer.reset();
    EXPECT_EQ(Read(dir).records, TestRecords(0, 10));
    switch (policy) {
      case JournalSyncPolicy::kEveryAppend:
        EXPECT_EQ(syncs_after_appends, syncs_at_open + 10);
        EXPECT_EQ(syncs_after_sync, syncs_after_appends);  // nothing new
        break;
      case JournalSyncPolicy::kExplicitSync:
        EXPECT_EQ(syncs_after_appends, syncs_at_open);
        EXPECT_EQ(syncs_after_sync, syncs_at_open + 1);
        break;
      case JournalSyncPolicy::kNever:
        EXPECT_EQ(syncs_after_sync, syncs_at_open);
        break;
    }
  }
}

TEST_F(JournalWriterTest, SyncWithNothingNewDoesNotSyncAgain) {
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Append(1, "a").ok());
  ASSERT_TRUE(writer->Sync().ok());
  const uint64_t syncs = writer->syncs();
  ASSERT_TRUE(writer->Sync().ok());
  EXPECT_EQ(writer->syncs(), syncs);
}

TEST_F(JournalWriterTest, DestroyingTheWriterWritesWhatIsBuffered) {
  JournalOptions options;
  options.sync_policy = JournalSyncPolicy::kNever;
  auto writer = OpenWriter(options);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Append(3, "buffered").ok());
  writer.reset();
  EXPECT_THAT(Read().records, ElementsAre(JournalRecord{3, "buffered"}));
}

TEST_F(JournalWriterTest, AppendRefusesTheReservedTypeAndOversizedPayloads) {
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(writer->Append(0, "x").code(), absl::StatusCode::kInvalidArgument);
  const std::string too_big(kMaxJournalPayloadBytes + 1, 'x');
  EXPECT_EQ(writer->Append(1, too_big).code(),
            absl::StatusCode::kInvalidArgument);
  // Refusals are not sticky errors, and appended nothing.
  EXPECT_EQ(writer->size_bytes(), kJournalHeaderBytes);
  ASSERT_TRUE(writer->Append(1, "fine").ok());
  ASSERT_TRUE(writer->Sync().ok());
  EXPECT_THAT(Read().records, ElementsAre(JournalRecord{1, "fine"}));
}

TEST_F(JournalWriterTest, ASecondWriterOnTheSameDirectoryIsRefused) {
  auto first = OpenWriter();
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<JournalWriter>> second =
      JournalWriter::Open(dir_, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr(dir_));
  first.reset();
  EXPECT_TRUE(JournalWriter::Open(dir_, {}).ok());
}

TEST_F(JournalWriterTest, ErrorsNameTheDirectoryAndTheOsError) {
  const std::string missing = root_ + "/no/such/dir";
  absl::StatusOr<std::unique_ptr<JournalWriter>> writer =
      JournalWriter::Open(missing, {});
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(writer.status().message(), HasSubstr(missing));
  EXPECT_THAT(writer.status().message(), HasSubstr("No such file"));
  EXPECT_EQ(ReadJournal(missing).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JournalWriterTest, AnEmptyDirectoryHoldsNoJournal) {
  std::filesystem::create_directory(dir_);
  JournalContents contents = Read();
  EXPECT_EQ(contents.generation, 0u);
  EXPECT_THAT(contents.records, IsEmpty());
  EXPECT_TRUE(contents.path.empty());
}

TEST_F(JournalWriterTest, RewriteReplacesTheContentAndRemovesTheOldSegment) {
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  AppendAll(*writer, TestRecords(0, 100));
  ASSERT_TRUE(writer->Sync().ok());
  const uint64_t size_before = writer->size_bytes();

  const std::vector<JournalRecord> live = TestRecords(500, 3);
  ASSERT_TRUE(writer->Rewrite(live).ok());
  EXPECT_EQ(writer->generation(), 2u);
  EXPECT_FALSE(Exists("journal.1"));
  EXPECT_TRUE(Exists("journal.2"));
  EXPECT_FALSE(Exists("journal.2.tmp"));
  EXPECT_LT(writer->size_bytes(), size_before);
  EXPECT_EQ(writer->size_bytes(), FileSize(dir_ + "/journal.2"));

  AppendAll(*writer, TestRecords(600, 1));
  ASSERT_TRUE(writer->Sync().ok());
  std::vector<JournalRecord> expected = live;
  expected.push_back(testing::TestRecord(600));
  JournalContents contents = Read();
  EXPECT_EQ(contents.generation, 2u);
  EXPECT_EQ(contents.records, expected);
  EXPECT_THAT(contents.stale_files, IsEmpty());

  writer.reset();  // and a reopened writer continues the new segment
  writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(writer->generation(), 2u);
  AppendAll(*writer, TestRecords(700, 1));
  ASSERT_TRUE(writer->Sync().ok());
  expected.push_back(testing::TestRecord(700));
  EXPECT_EQ(Read().records, expected);
}

TEST_F(JournalWriterTest, RewriteDropsRecordsNotYetWritten) {
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Append(1, "superseded").ok());  // only buffered
  ASSERT_TRUE(writer->Rewrite({{2, "live"}}).ok());
  ASSERT_TRUE(writer->Sync().ok());
  EXPECT_THAT(Read().records, ElementsAre(JournalRecord{2, "live"}));
}

TEST_F(JournalWriterTest, RewriteWithNoRecordsLeavesAnEmptyJournal) {
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  AppendAll(*writer, TestRecords(0, 10));
  ASSERT_TRUE(writer->Rewrite({}).ok());
  EXPECT_EQ(writer->size_bytes(), kJournalHeaderBytes);
  JournalContents contents = Read();
  EXPECT_THAT(contents.records, IsEmpty());
  EXPECT_EQ(contents.generation, 2u);
}

TEST_F(JournalWriterTest, RewriteRefusingARecordChangesNothing) {
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  AppendAll(*writer, TestRecords(0, 3));
  ASSERT_TRUE(writer->Sync().ok());
  EXPECT_EQ(writer->Rewrite({{1, "ok"}, {0, "reserved type"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer->generation(), 1u);
  EXPECT_FALSE(Exists("journal.2.tmp"));
  EXPECT_FALSE(Exists("journal.2"));
  EXPECT_EQ(Read().records, TestRecords(0, 3));
}

// A compaction that crashed before its rename leaves journal.<G+1>.tmp,
// possibly half written: readers ignore it, Open deletes it.
TEST_F(JournalWriterTest, ALeftoverTmpFromACrashedCompactionIsIgnoredAndCleaned) {
  {
    auto writer = OpenWriter();
    ASSERT_NE(writer, nullptr);
    AppendAll(*writer, TestRecords(0, 5));
    ASSERT_TRUE(writer->Sync().ok());
  }
  std::string partial = EncodeJournalHeader(2, 0);
  AppendJournalRecord(1, "half of the live state", &partial);
  partial.resize(partial.size() - 5);
  const std::string tmp = dir_ + "/journal.2.tmp";
  WriteFile(tmp, partial);

  JournalContents contents = Read();
  EXPECT_EQ(contents.generation, 1u);
  EXPECT_EQ(contents.records, TestRecords(0, 5));
  EXPECT_TRUE(contents.tail.clean());
  EXPECT_THAT(contents.stale_files, ElementsAre(tmp));

  JournalContents recovered;
  auto writer = OpenWriter({}, &recovered);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(recovered.records, TestRecords(0, 5));
  EXPECT_FALSE(Exists("journal.2.tmp"));
  EXPECT_EQ(writer->generation(), 1u);
  EXPECT_THAT(Read().stale_files, IsEmpty());
}

// A compaction that crashed after its rename, before deleting the old
// segment: the new one is the journal, the old one a leftover.
TEST_F(JournalWriterTest, AfterACrashBetweenRenameAndDeleteTheNewSegmentWins) {
  {
    auto writer = OpenWriter();
    ASSERT_NE(writer, nullptr);
    AppendAll(*writer, TestRecords(0, 5));
    ASSERT_TRUE(writer->Sync().ok());
  }
  std::string compacted = EncodeJournalHeader(2, 0);
  AppendJournalRecord(9, "live state", &compacted);
  WriteFile(dir_ + "/journal.2", compacted);

  JournalContents contents = Read();
  EXPECT_EQ(contents.generation, 2u);
  EXPECT_THAT(contents.records, ElementsAre(JournalRecord{9, "live state"}));
  EXPECT_THAT(contents.stale_files, ElementsAre(dir_ + "/journal.1"));
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  EXPECT_FALSE(Exists("journal.1"));
  EXPECT_EQ(writer->generation(), 2u);
}

TEST_F(JournalWriterTest, FilesThatAreNotSegmentsAreLeftAlone) {
  std::filesystem::create_directories(dir_ + "/lost+found");
  for (const char* name : {"journal.txt", "journal.01", "journal.", "notes"}) {
    WriteFile(dir_ + "/" + name, "not a segment");
  }
  JournalContents contents = Read();
  EXPECT_EQ(contents.generation, 0u);
  EXPECT_THAT(contents.stale_files, IsEmpty());
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  EXPECT_TRUE(Exists("lost+found"));
  EXPECT_TRUE(Exists("journal.01"));
  EXPECT_EQ(ReadFile(dir_ + "/journal.txt"), "not a segment");
}

// A write that fails (here: over RLIMIT_FSIZE, EFBIG) may leave part of a
// record in the file, so the writer refuses everything after it with the
// same error, naming the file and the OS error, until a Rewrite() starts a
// clean segment. Run in a child process: the limit is per process.
using JournalWriterDeathTest = JournalWriterTest;

TEST_F(JournalWriterDeathTest, AFailedWriteIsStickyUntilARewrite) {
  auto child = [this] {
    signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of death by signal
    absl::StatusOr<std::unique_ptr<JournalWriter>> opened =
        JournalWriter::Open(dir_, {});
    if (!opened.ok()) std::exit(1);
    JournalWriter& writer = **opened;
    rlimit saved;
    if (getrlimit(RLIMIT_FSIZE, &saved) != 0) std::exit(2);
    rlimit small = saved;
    small.rlim_cur = 4096;
    if (setrlimit(RLIMIT_FSIZE, &small) != 0) std::exit(3);
    absl::Status failed;
    for (int i = 0; i < 100 && failed.ok(); ++i) {
      failed = writer.Append(1, std::string(100, 'x'));
      if (failed.ok()) failed = writer.Flush();
    }
    if (failed.ok()) std::exit(4);
    if (!absl::StrContains(failed.message(), "File too large") ||
        !absl::StrContains(failed.message(), writer.path())) {
      std::exit(5);
    }
    if (writer.Append(1, "later") != failed || writer.Sync() != failed) {
      std::exit(6);
    }
    if (setrlimit(RLIMIT_FSIZE, &saved) != 0) std::exit(7);
    if (!writer.Rewrite({{1, "fresh"}}).ok()) std::exit(8);
    if (!writer.Append(2, "after").ok() || !writer.Sync().ok()) std::exit(9);
    absl::StatusOr<JournalContents> contents = ReadJournal(dir_);
    if (!contents.ok() ||
        contents->records !=
            std::vector<JournalRecord>{{1, "fresh"}, {2, "after"}}) {
      std::exit(10);
    }
    std::exit(0);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace tq
