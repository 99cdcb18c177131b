#include "client/cli_run.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "client/interrupt_watcher.h"
#include "common/cli.h"

namespace tq {
namespace {

// Failed items named one by one on stderr (formats that cannot show them).
constexpr uint64_t kMaxFailedItemLines = 100;

// After a quiet second (or while `*said_lost`): tells the user when the
// broker was lost and is being reconnected to, rather than wait silently for
// up to --resume-timeout, and when it is back.
void SayIfReconnecting(const Pool& pool, ProgressBar& progress,
                       bool* said_lost) {
  std::optional<std::string> lost = pool.reconnecting();
  if (lost.has_value() == *said_lost) return;
  progress.Clear();
  if (lost.has_value()) {
    fprintf(stderr,
            "tq-client: lost the broker (%s); reconnecting to resume the job "
            "(giving up after --resume-timeout)\n",
            lost->c_str());
  } else {
    fprintf(stderr, "tq-client: reconnected to the broker; the job goes on\n");
  }
  *said_lost = lost.has_value();
}

// Names on stderr the items of a failed chunk (--skip-failed) that the
// output format cannot show.
void ReportFailed(const ChunkResult& chunk, const OutputWriter& writer,
                  ProgressBar& progress, RunReport* report) {
  report->failed_items += chunk.size();
  if (writer.ShowsFailures()) return;
  progress.Clear();
  for (uint64_t i = 0; i < chunk.size(); ++i) {
    if (report->failed_lines++ == kMaxFailedItemLines) {
      fprintf(stderr, "tq-client: (more failed items not listed)\n");
    }
    if (report->failed_lines > kMaxFailedItemLines) break;
    fprintf(stderr, "tq-client: item %llu (n=%llu) failed: %s\n",
            static_cast<unsigned long long>(chunk.first_item() + i),
            static_cast<unsigned long long>(chunk.n(i)), chunk.error().c_str());
  }
}

}  // namespace

int ExitCodeFor(const absl::Status& status) {
  if (IsRetryable(status)) return kExitBusy;
  if (IsJobFailure(status)) return kExitJobFailed;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kPermissionDenied:  // the broker refused our key
      return kExitUnavailable;
    default:
      return kExitJobFailed;
  }
}

int RunJob(Pool& pool, Job& job, OutputWriter& writer, ProgressBar& progress,
           bool ordered, RunReport* report, InputFeed feed,
           OutputFile* durable) {
  InterruptWatcher& watcher = InterruptWatcher::Install();
  watcher.Watch(&job);
  int code = kExitOk;
  auto last_flush = std::chrono::steady_clock::now();
  bool said_lost = false;  // told the user we are reconnecting
  // --output=FILE: results written since the last sync, unacknowledged;
  // synced every half window of them, and at least every second.
  uint64_t unsynced = 0;
  const uint64_t sync_every = std::max<uint64_t>(1, job.window() / 2);
  auto last_sync = std::chrono::steady_clock::now();
  auto sync = [&]() -> bool {
    unsynced = 0;
    last_sync = std::chrono::steady_clock::now();
    absl::StatusOr<std::string> mark = durable->Sync(writer);
    if (!mark.ok()) {
      job.Cancel();
      progress.Clear();
      fprintf(stderr, "tq-client: %s; output is incomplete\n",
              std::string(mark.status().message()).c_str());
      code = kExitJobFailed;
      return false;
    }
    job.Acknowledge(*std::move(mark));
    return true;
  };
  while (true) {
    absl::StatusOr<JobEvent> event = job.Poll(ordered, absl::Seconds(1));
    const bool quiet = event.ok() && event->kind == JobEvent::Kind::kTimedOut;
    if (quiet || said_lost) SayIfReconnecting(pool, progress, &said_lost);
    if (quiet) {
      // A pause: what was written since the last flush goes out now, not
      // with the next result.
      last_flush = std::chrono::steady_clock::now();
      if (durable != nullptr && unsynced > 0) {
        if (!sync()) break;
      } else {
        (void)writer.Flush();  // a failure shows again at Finish()
      }
      continue;
    }
    if (event.ok() && event->kind == JobEvent::Kind::kInputRoom) {
      std::vector<uint64_t> numbers;
      absl::StatusOr<size_t> read = feed.reader->Read(feed.chunk, &numbers);
      absl::Status fed = !read.ok()  ? read.status()
                         : *read > 0 ? job.Append(std::move(numbers))
                                     : job.EndInput();
      if (!fed.ok()) {
        // Bad input found mid-stream: whatever was printed is not the whole.
        job.Cancel();
        progress.Clear();
        fprintf(stderr, "tq-client: %s%s\n", std::string(fed.message()).c_str(),
                feed.reader->count() > 0 ? "; output is incomplete" : "");
        code = ExitCodeFor(fed);
        break;
      }
      continue;
    }
    absl::StatusOr<std::optional<ChunkResult>> chunk =
        event.ok() ? absl::StatusOr<std::optional<ChunkResult>>(
                         std::move(event->result))
                   : event.status();
    if (!chunk.ok()) {
      progress.Clear();
      if (watcher.interrupted()) {
        fprintf(stderr, "tq-client: interrupted; output is incomplete\n");
        code = kExitInterrupted;
      } else {
        fprintf(stderr, "tq-client: job failed: %s; output is incomplete\n",
                std::string(chunk.status().message()).c_str());
        // The broker's verdict on the job (lost workers included) is 2;
        // losing the broker itself is 3; busy is 4.
        code = IsRetryable(chunk.status()) ? kExitBusy
               : !IsJobFailure(chunk.status()) &&
                       chunk.status().code() == absl::StatusCode::kUnavailable
                   ? kExitUnavailable
                   : kExitJobFailed;
      }
      break;
    }
    if (!chunk->has_value()) break;
    if ((*chunk)->failed()) ReportFailed(**chunk, writer, progress, report);
    if (absl::Status written = writer.Write(**chunk); !written.ok()) {
      job.Cancel();
      progress.Clear();
      fprintf(stderr, "tq-client: %s; output is incomplete\n",
              std::string(written.message()).c_str());
      code = kExitJobFailed;
      break;
    }
    progress.Advance((*chunk)->size());
    auto now = std::chrono::steady_clock::now();
    if (durable != nullptr &&
        (++unsynced >= sync_every || now - last_sync >= std::chrono::seconds(1))) {
      if (!sync()) break;
      continue;
    }
    // Slow jobs stream: push output out at least every 100 ms. Fast ones
    // still write in large blocks, since the buffer fills first.
    if (now - last_flush >= std::chrono::milliseconds(100)) {
      last_flush = now;
      (void)writer.Flush();  // a failure shows again at Finish()
    }
  }
  watcher.Watch(nullptr);
  report->stats = job.stats();
  return code;
}

}  // namespace tq
