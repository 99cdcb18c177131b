// JobJournal over real files, and the Scheduler resuming what it kept:
// accepted jobs come back with what their clients acknowledged, ended ones
// do not, the file stays within twice the live state, a damaged tail is
// reported and the rest used; a resumed job cuts only the items never
// acknowledged.
#include "broker/job_journal.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/broker/journal_test_util.h"
#include "tests/broker/scheduler_test_util.h"

namespace tq::testing {
namespace {

v1::JournalJob RangeJobRecord(uint64_t id, uint64_t last, uint64_t chunk_size) {
  v1::JournalJob job;
  job.set_job_id(id);
  *job.mutable_submit() =
      SchedulerHarness::RangeJob(1, last, chunk_size).submit_job();
  job.set_token(std::string(16, 't'));
  return job;
}

// A streamed job's record (numbers, "noop"), without its chunks.
v1::JournalJob StreamJobRecord(uint64_t id) {
  v1::JournalJob job;
  job.set_job_id(id);
  v1::SubmitJob* submit = job.mutable_submit();
  *submit = SchedulerHarness::NumbersJob({}).first.submit_job();
  submit->mutable_stream()->clear_chunks();
  submit->mutable_stream()->clear_complete();
  job.set_token(std::string(16, 't'));
  return job;
}

// A chunk of `numbers` as the job holds it, its first item `first`.
StreamInput NumbersChunk(uint64_t first, const std::vector<uint64_t>& numbers) {
  StreamInput input;
  input.input.set_payload(0);
  input.input.set_item_count(numbers.size());
  input.input.set_encoding(v1::ITEM_ENCODING_U64LE);
  input.payload = SchedulerHarness::Numbers(numbers);
  input.first_item = first;
  input.items = numbers.size();
  return input;
}

ItemRuns Runs(std::initializer_list<std::pair<uint64_t, uint64_t>> runs) {
  ItemRuns out;
  for (const auto& [first, count] : runs) out.Add(first, count);
  return out;
}

class JobJournalTest : public JournalDirTest {
 protected:
  std::unique_ptr<JobJournal> Open(std::vector<JournaledJob>* recovered,
                                   std::string* report = nullptr) {
    std::string ignored;
    absl::StatusOr<std::unique_ptr<JobJournal>> journal =
        JobJournal::Open(dir_, 7, recovered, report ? report : &ignored);
    EXPECT_TRUE(journal.ok()) << journal.status();
    return journal.ok() ? *std::move(journal) : nullptr;
  }
};

TEST_F(JobJournalTest, LiveJobsComeBackWithTheirAcknowledgements) {
  {
    std::vector<JournaledJob> none;
    auto journal = Open(&none);
    ASSERT_NE(journal, nullptr);
    EXPECT_TRUE(none.empty());
    journal->JobAccepted(RangeJobRecord(1, 100, 10));
    journal->JobAccepted(RangeJobRecord(2, 50, 5));
    journal->JobAccepted(RangeJobRecord(3, 10, 1));
    journal->Acknowledged(1, Runs({{0, 20}}), 4, "at 20");
    journal->Acknowledged(1, Runs({{30, 10}}), 2, "");  // keeps "at 20"
    journal->Acknowledged(3, Runs({}), 0, "mark only");
    journal->JobEnded(2);
    ASSERT_TRUE(journal->Commit(1'000'000).ok());
  }
  std::vector<JournaledJob> recovered;
  std::string report;
  auto journal = Open(&recovered, &report);
  EXPECT_EQ(report, "");
  ASSERT_EQ(recovered.size(), 2u);
  EXPECT_EQ(recovered[0].job.job_id(), 1u);
  EXPECT_EQ(recovered[0].job.submit().range().last(), 100u);
  EXPECT_EQ(recovered[0].job.token(), std::string(16, 't'));
  EXPECT_EQ(recovered[0].acknowledged.Runs(),
            (std::vector<ItemRuns::Run>{{0, 20}, {30, 10}}));
  EXPECT_EQ(recovered[0].acknowledged_count, 6u);
  EXPECT_EQ(recovered[0].mark, "at 20");
  EXPECT_EQ(recovered[1].job.job_id(), 3u);
  EXPECT_TRUE(recovered[1].acknowledged.empty());
  EXPECT_EQ(recovered[1].mark, "mark only");
}

// A streamed job's input comes back as the client appended it, minus the
// chunks whose items were all acknowledged; the counts of chunks and items
// appended and the end of the input survive compaction.
TEST_F(JobJournalTest, StreamedInputComesBackUntilAcknowledged) {
  {
    std::vector<JournaledJob> none;
    auto journal = Open(&none);
    journal->JobAccepted(StreamJobRecord(1));
    journal->InputAppended(1, 0, {NumbersChunk(0, {2, 3, 4}), NumbersChunk(3, {5, 6})},
                           false);
    journal->InputAppended(1, 2, {NumbersChunk(5, {7, 8, 9, 10, 11})}, true);
    journal->Acknowledged(1, Runs({{0, 3}, {5, 2}}), 0, "");
    ASSERT_TRUE(journal->Commit(1'000'000).ok());
  }
  for (int reopen = 0; reopen < 2; ++reopen) {  // the second: compacted
    std::vector<JournaledJob> recovered;
    auto journal = Open(&recovered);
    ASSERT_EQ(recovered.size(), 1u);
    const JournaledJob& job = recovered[0];
    EXPECT_EQ(job.chunks_appended, 3u);
    EXPECT_EQ(job.items_appended, 10u);
    EXPECT_TRUE(job.input_complete);
    ASSERT_EQ(job.input.size(), 2u);
    EXPECT_EQ(job.input[0].first_item, 3u);
    EXPECT_EQ(job.input[0].items, 2u);
    EXPECT_EQ(job.input[0].payload.ToString(),
              SchedulerHarness::Numbers({5, 6}).ToString());
    EXPECT_EQ(job.input[1].first_item, 5u);
    EXPECT_EQ(job.input[1].payload.ToString(),
              SchedulerHarness::Numbers({7, 8, 9, 10, 11}).ToString());
    EXPECT_EQ(job.acknowledged.Runs(),
              (std::vector<ItemRuns::Run>{{0, 3}, {5, 2}}));
  }
}

// A job record is synced before Commit returns: nothing else waits for it.
// Acknowledgements alone wait up to kLazySyncMs.
TEST_F(JobJournalTest, JobRecordsSyncAtOnceAcknowledgementsLazily) {
  std::vector<JournaledJob> none;
  auto journal = Open(&none);
  journal->JobAccepted(RangeJobRecord(1, 100, 10));
  EXPECT_EQ(journal->NextCommitUs(), 0);
  ASSERT_TRUE(journal->Commit(1'000'000).ok());
  EXPECT_EQ(journal->NextCommitUs(), std::numeric_limits<int64_t>::max());
  journal->Acknowledged(1, Runs({{0, 10}}), 0, "");
  ASSERT_TRUE(journal->Commit(2'000'000).ok());
  EXPECT_EQ(journal->NextCommitUs(), 2'000'000 + JobJournal::kLazySyncMs * 1000);
  ASSERT_TRUE(journal->Commit(2'000'000 + JobJournal::kLazySyncMs * 1000).ok());
  EXPECT_EQ(journal->NextCommitUs(), std::numeric_limits<int64_t>::max());
}

// However many jobs come and go, the file stays within twice the live
// state plus 1 MiB.
TEST_F(JobJournalTest, CompactionKeepsTheFileNearTheLiveState) {
  std::vector<JournaledJob> none;
  auto journal = Open(&none);
  journal->JobAccepted(RangeJobRecord(1, 1'000'000, 10));  // stays live
  int64_t now = 1'000'000;
  uint64_t largest = 0;
  for (uint64_t id = 2; id < 5'000; ++id) {
    v1::JournalJob job = RangeJobRecord(id, 100, 10);
    job.mutable_submit()->mutable_params()->insert({"pad", std::string(800, 'p')});
    journal->JobAccepted(job);
    journal->Acknowledged(1, Runs({{id * 10, 10}}), 1, "");
    journal->JobEnded(id);
    now += 1000;
    ASSERT_TRUE(journal->Commit(now).ok());
    largest = std::max(largest, journal->size_bytes());
  }
  EXPECT_GT(journal->compactions(), 1u);
  EXPECT_LE(largest, 2 * journal->live_bytes() + (uint64_t{1} << 20) + 4096);
  journal.reset();
  std::vector<JournaledJob> recovered;
  Open(&recovered);
  ASSERT_EQ(recovered.size(), 1u);
  // Job 1's acknowledgements merged into one run: 20..49,999.
  EXPECT_EQ(recovered[0].acknowledged.Runs(),
            (std::vector<ItemRuns::Run>{{20, 49'980}}));
  EXPECT_EQ(recovered[0].acknowledged_count, 4'998u);
}

TEST_F(JobJournalTest, ATornLastRecordIsReportedAndTheRestResumed) {
  {
    std::vector<JournaledJob> none;
    auto journal = Open(&none);
    journal->JobAccepted(RangeJobRecord(1, 100, 10));
    ASSERT_TRUE(journal->Commit(1).ok());
    journal->JobAccepted(RangeJobRecord(2, 100, 10));
    ASSERT_TRUE(journal->Commit(2).ok());
  }
  // The last record loses its last 3 bytes, as if the machine died while
  // writing it.
  std::string path;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    path = entry.path();
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  std::vector<JournaledJob> recovered;
  std::string report;
  auto journal = Open(&recovered, &report);
  ASSERT_NE(journal, nullptr);
  EXPECT_NE(report.find("ignored"), std::string::npos) << report;
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0].job.job_id(), 1u);
}

TEST_F(JobJournalTest, AFlippedByteStopsTheReadThereWithAReport) {
  {
    std::vector<JournaledJob> none;
    auto journal = Open(&none);
    journal->JobAccepted(RangeJobRecord(1, 100, 10));
    journal->JobAccepted(RangeJobRecord(2, 100, 10));
    journal->JobAccepted(RangeJobRecord(3, 100, 10));
    ASSERT_TRUE(journal->Commit(1).ok());
  }
  std::string path;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    path = entry.path();
  }
  std::string bytes = ReadFile(path);
  // Somewhere in the middle record (the header is 28 bytes, each record a
  // few dozen).
  bytes[bytes.size() / 2] ^= 0x40;
  WriteFile(path, bytes);
  std::vector<JournaledJob> recovered;
  std::string report;
  auto journal = Open(&recovered, &report);
  ASSERT_NE(journal, nullptr);
  EXPECT_NE(report.find("ignored"), std::string::npos) << report;
  ASSERT_GE(recovered.size(), 1u);
  EXPECT_LE(recovered.size(), 2u);
  EXPECT_EQ(recovered[0].job.job_id(), 1u);
}

// The Scheduler's side: a resumed job waits detached, takes its client back
// by token, and computes only what was never acknowledged, under chunk
// indexes above the given base.
TEST(SchedulerRestoreTest, AResumedJobCutsOnlyWhatWasNotAcknowledged) {
  SchedulerHarness h;
  JournaledJob kept;
  kept.job = RangeJobRecord(5, 100, 10);
  kept.acknowledged = Runs({{0, 30}, {50, 10}});
  kept.acknowledged_count = 0;
  constexpr uint64_t kBase = uint64_t{1} << 40;
  ASSERT_EQ(h.scheduler().RestoreJobs({kept}, kBase, h.now()), 1u);
  EXPECT_EQ(h.scheduler().stats().jobs_restored, 1u);
  // It waits for its client before cutting anything: the client may hold
  // items of chunks whose bounds this broker does not know.
  std::vector<v1::Assignment> work = AssignmentsTo(h.HelloWorker("w", 1, 100), "w");
  EXPECT_TRUE(work.empty());
  h.HelloClient("c");
  v1::Envelope attach;
  attach.mutable_attach_job()->set_request_id(3);
  attach.mutable_attach_job()->set_job_id(5);
  attach.mutable_attach_job()->set_job_token(std::string(16, 't'));
  attach.mutable_attach_job()->set_result_window(100);
  // The client held items 30..39 (delivered before the restart, their
  // acknowledgement lost with the broker): not cut again, and its ack of
  // them accepted.
  const ItemRuns have = Runs({{30, 10}});
  have.ToRanges(attach.mutable_attach_job()->mutable_have());
  Sent sent = h.Deliver("c", attach);
  auto accepted = BodiesTo(sent, "c", v1::Envelope::kJobAccepted);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].job_accepted().acknowledged_size(), 2);
  EXPECT_EQ(accepted[0].job_accepted().chunk_size(), 10u);
  EXPECT_EQ(accepted[0].job_accepted().chunk_count(), 10u);
  for (const v1::Assignment& more : AssignmentsTo(sent, "w")) work.push_back(more);
  v1::Envelope ack;
  ack.mutable_ack_results()->set_job_id(5);
  have.ToRanges(ack.mutable_ack_results()->mutable_items());
  EXPECT_TRUE(BodiesTo(h.Deliver("c", ack), "c", v1::Envelope::kError).empty());
  ItemRuns covered = kept.acknowledged;
  covered.Add(have);
  bool finished = false;
  while (!work.empty()) {
    v1::Assignment a = work.front();
    work.erase(work.begin());
    EXPECT_GE(a.chunk_index(), kBase);
    Sent out = h.Report("w", a);
    for (const v1::ChunkResult& r : ResultsTo(out, "c")) {
      EXPECT_FALSE(covered.Overlaps(r.first_item(), r.item_count()))
          << r.first_item();
      covered.Add(r.first_item(), r.item_count());
    }
    finished |= !BodiesTo(out, "c", v1::Envelope::kJobFinished).empty();
    for (const v1::Assignment& more : AssignmentsTo(out, "w")) work.push_back(more);
  }
  EXPECT_TRUE(finished);
  EXPECT_EQ(covered.Runs(), (std::vector<ItemRuns::Run>{{0, 100}}));
  // A new job gets an id above the resumed one.
  EXPECT_EQ(h.Submit("c", SchedulerHarness::RangeJob(1, 10, 10)), 6u);
}

// A resumed streamed job runs its journaled chunks once its client
// attached, except the items the client says it holds (a chunk partly held
// runs as a part of the same input), and tells it how many chunks it has.
TEST(SchedulerRestoreTest, AResumedStreamedJobRunsWhatItsClientLacks) {
  SchedulerHarness h;
  JournaledJob kept;
  kept.job = StreamJobRecord(5);
  // Chunks {2,3} (acknowledged), {4,5,6}, {7,8}; the input ended.
  kept.input = {NumbersChunk(2, {4, 5, 6}), NumbersChunk(5, {7, 8})};
  kept.acknowledged = Runs({{0, 2}});
  kept.chunks_appended = 3;
  kept.items_appended = 7;
  kept.input_complete = true;
  constexpr uint64_t kBase = uint64_t{1} << 40;
  ASSERT_EQ(h.scheduler().RestoreJobs({kept}, kBase, h.now()), 1u);
  std::vector<v1::Assignment> work = AssignmentsTo(h.HelloWorker("w", 1, 100), "w");
  EXPECT_TRUE(work.empty());
  h.HelloClient("c");
  v1::Envelope attach;
  attach.mutable_attach_job()->set_request_id(3);
  attach.mutable_attach_job()->set_job_id(5);
  attach.mutable_attach_job()->set_job_token(std::string(16, 't'));
  attach.mutable_attach_job()->set_result_window(100);
  // The client holds item 2 (n=4): a result of a part, delivered before.
  Runs({{2, 1}}).ToRanges(attach.mutable_attach_job()->mutable_have());
  Sent sent = h.Deliver("c", attach);
  auto accepted = BodiesTo(sent, "c", v1::Envelope::kJobAccepted);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].job_accepted().chunks_received(), 3u);
  EXPECT_TRUE(accepted[0].job_accepted().input_complete());
  work = AssignmentsTo(sent, "w");
  ASSERT_EQ(work.size(), 2u);
  ItemRuns covered = Runs({{0, 3}});
  bool finished = false;
  for (const v1::Assignment& a : work) {
    EXPECT_GE(a.chunk_index(), kBase);
    Sent out = h.Report("w", a);
    for (const v1::ChunkResult& r : ResultsTo(out, "c")) {
      EXPECT_FALSE(covered.Overlaps(r.first_item(), r.item_count()))
          << r.first_item();
      covered.Add(r.first_item(), r.item_count());
    }
    finished |= !BodiesTo(out, "c", v1::Envelope::kJobFinished).empty();
  }
  // Items 3..4 ran as a part of {4,5,6} (offset 1, count 2).
  EXPECT_EQ(work[0].input().offset() + work[1].input().offset(), 1u);
  EXPECT_TRUE(finished);
  EXPECT_EQ(covered.Runs(), (std::vector<ItemRuns::Run>{{0, 7}}));
}

}  // namespace
}  // namespace tq::testing

namespace tq::testing {
namespace {

// A standby pair: the active's records, tapped as appended, replayed into
// another directory (snapshot, then the stream) give the same jobs back.
TEST_F(JobJournalTest, AMirrorOfTheStreamResumesTheSameJobs) {
  std::vector<JournaledJob> none;
  auto active = Open(&none);
  ASSERT_NE(active, nullptr);
  active->JobAccepted(RangeJobRecord(1, 100, 10));
  active->set_replicating(true);
  const std::vector<JournalRecord> snapshot = active->LiveRecords();
  active->JobAccepted(RangeJobRecord(2, 50, 5));
  active->Acknowledged(1, Runs({{0, 20}}), 2, "mark");
  active->JobAccepted(RangeJobRecord(3, 10, 1));
  active->JobEnded(3);
  bool required = false;
  const std::vector<JournalRecord> stream = active->TakeReplicated(&required);
  EXPECT_TRUE(required) << "a job record is among them";
  EXPECT_EQ(stream.size(), 4u);
  active->Acknowledged(2, Runs({{0, 5}}), 1, "");
  EXPECT_FALSE((active->TakeReplicated(&required), required));

  const std::string mirror_dir = root_ + "/mirror";
  {
    std::string report;
    absl::StatusOr<std::unique_ptr<JobJournal>> mirror =
        JobJournal::Open(mirror_dir, 0, nullptr, &report);
    ASSERT_TRUE(mirror.ok()) << mirror.status();
    ASSERT_TRUE((*mirror)->ReplaceAll(snapshot).ok());
    (*mirror)->Mirror(stream);
    ASSERT_TRUE((*mirror)->Commit(0).ok());
    ASSERT_TRUE((*mirror)->set_epoch(9).ok());
  }
  std::vector<JournaledJob> recovered;
  std::string report;
  absl::StatusOr<std::unique_ptr<JobJournal>> reopened =
      JobJournal::Open(mirror_dir, 0, &recovered, &report);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->opened_epoch(), 9u);
  ASSERT_EQ(recovered.size(), 2u);
  EXPECT_EQ(recovered[0].job.job_id(), 1u);
  EXPECT_EQ(recovered[0].acknowledged.Runs(), Runs({{0, 20}}).Runs());
  EXPECT_EQ(recovered[0].mark, "mark");
  EXPECT_EQ(recovered[1].job.job_id(), 2u);
  EXPECT_TRUE(recovered[1].acknowledged.empty());
}

}  // namespace
}  // namespace tq::testing
