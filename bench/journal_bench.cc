// The job journal's cost (issue 8): appends/s and MiB/s of 100-byte and
// 4 KiB records under each sync policy, on the file system of the temporary
// directory (TMPDIR, else /tmp; point it at the broker's volume to measure
// that), against a bare write + fdatasync of the same bytes (the machine's
// yardstick: compare ratios, a shared VM's disk is noisy), plus the CRC-32C
// and the read-back (restart) speed. Wall time
// (UseRealTime): an fdatasync waits for the disk, not the CPU.
//
//   build/bench/journal_bench [--benchmark_filter=Append]
//
// policy: 0 = sync every append, 1 = group commit (Sync() every 64 appends,
// as a loop turn would), 2 = never sync (write(2) per 1 MiB buffer only).
// The segment is compacted to empty, untimed, whenever it passes 256 MiB, so
// long runs do not fill the disk.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "broker/journal_file.h"
#include "common/crc32c.h"

namespace {

// A fresh directory under TMPDIR for one benchmark run, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tq_journal_bench_XXXXXX")
            .string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string Journal() const { return path_ + "/journal"; }

 private:
  std::string path_;
};

constexpr uint64_t kCompactAbove = uint64_t{256} << 20;
constexpr int64_t kGroupSize = 64;

const char* PolicyName(int64_t policy) {
  switch (policy) {
    case 0:
      return "every_append";
    case 1:
      return "group_commit_64";
    default:
      return "never";
  }
}

void BM_JournalAppend(benchmark::State& state) {
  const auto payload_bytes = static_cast<size_t>(state.range(0));
  const int64_t policy = state.range(1);
  TempDir dir;
  tq::JournalOptions options;
  options.sync_policy = policy == 0   ? tq::JournalSyncPolicy::kEveryAppend
                        : policy == 1 ? tq::JournalSyncPolicy::kExplicitSync
                                      : tq::JournalSyncPolicy::kNever;
  auto writer = tq::JournalWriter::Open(dir.Journal(), options);
  if (!writer.ok()) {
    state.SkipWithError(std::string(writer.status().message()).c_str());
    return;
  }
  tq::JournalWriter& journal = **writer;
  const std::string payload(payload_bytes, 'p');
  const uint64_t syncs_before = journal.syncs();
  int64_t appended = 0;
  for (auto _ : state) {
    if (!journal.Append(1, payload).ok()) {
      state.SkipWithError("append failed");
      break;
    }
    ++appended;
    if (policy == 1 && appended % kGroupSize == 0 && !journal.Sync().ok()) {
      state.SkipWithError("sync failed");
      break;
    }
    if (journal.size_bytes() > kCompactAbove) {
      state.PauseTiming();
      if (!journal.Rewrite({}).ok()) state.SkipWithError("rewrite failed");
      state.ResumeTiming();
    }
  }
  if (!journal.Sync().ok()) state.SkipWithError("final sync failed");
  state.SetLabel(PolicyName(policy));
  state.SetItemsProcessed(appended);
  state.SetBytesProcessed(appended * static_cast<int64_t>(payload_bytes));
  state.counters["syncs"] = static_cast<double>(journal.syncs() - syncs_before);
}
BENCHMARK(BM_JournalAppend)
    ->ArgNames({"bytes", "policy"})
    ->ArgsProduct({{100, 4096}, {0, 1, 2}})
    ->UseRealTime();

// The yardstick for policy 0: a bare write(2) + fdatasync of the same bytes
// to a plain file, no journal code at all.
void BM_RawWriteFdatasync(benchmark::State& state) {
  const std::string payload(static_cast<size_t>(state.range(0)), 'p');
  TempDir dir;
  const std::string path = dir.Journal();
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) {
    state.SkipWithError("open failed");
    return;
  }
  for (auto _ : state) {
    if (write(fd, payload.data(), payload.size()) !=
            static_cast<ssize_t>(payload.size()) ||
        fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
  }
  close(fd);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RawWriteFdatasync)->Arg(100)->Arg(4096)->UseRealTime();

void BM_Crc32c(benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'c');
  for (auto _ : state) {
    benchmark::DoNotOptimize(tq::Crc32c(data));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(100)->Arg(4096);

// What a restart pays: ReadJournal of about 16 MiB of `bytes`-byte records
// (at most 100,000).
void BM_ReadJournal(benchmark::State& state) {
  const auto payload_bytes = static_cast<size_t>(state.range(0));
  const int records = static_cast<int>(
      std::min<size_t>(100000, (size_t{16} << 20) / payload_bytes));
  TempDir dir;
  {
    tq::JournalOptions options;
    options.sync_policy = tq::JournalSyncPolicy::kNever;
    auto writer = tq::JournalWriter::Open(dir.Journal(), options);
    if (!writer.ok()) {
      state.SkipWithError("open failed");
      return;
    }
    const std::string payload(payload_bytes, 'r');
    for (int i = 0; i < records; ++i) {
      if (!(*writer)->Append(1, payload).ok()) std::abort();
    }
    if (!(*writer)->Flush().ok()) std::abort();
  }
  for (auto _ : state) {
    auto contents = tq::ReadJournal(dir.Journal());
    if (!contents.ok() ||
        contents->records.size() != static_cast<size_t>(records)) {
      state.SkipWithError("read failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * records);
  state.SetBytesProcessed(state.iterations() * records *
                          static_cast<int64_t>(payload_bytes));
}
BENCHMARK(BM_ReadJournal)->Arg(100)->Arg(4096)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
