// tq-client's job loop: one submitted or attached job's results, read to
// the end into an OutputWriter, with streamed input fed from a file, the
// progress bar, what the user is told while the broker is being
// reconnected to, and with --output=FILE the acknowledgements that wait for
// the file to be synced. Part of the tq-client binary (main.cc parses the
// commands).
#ifndef TQ_CLIENT_CLI_RUN_H_
#define TQ_CLIENT_CLI_RUN_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "client/job.h"
#include "client/number_parse.h"
#include "client/output_file.h"
#include "client/output_writer.h"
#include "client/pool.h"
#include "client/progress_bar.h"

namespace tq {

// Exit codes of tq-client beyond common/cli.h's.
inline constexpr int kExitBusy = 4;         // the broker said: busy, retry later
inline constexpr int kExitItemsFailed = 5;  // --skip-failed: complete, some failed

// The exit code for an error, chosen by what the user does next.
int ExitCodeFor(const absl::Status& status);

// Where a streamed job's numbers come from (--input), read a chunk at a time.
struct InputFeed {
  NumberReader* reader = nullptr;
  size_t chunk = 0;  // numbers per chunk
};

// What a job's run leaves for the end-of-job report.
struct RunReport {
  uint64_t failed_items = 0;  // --skip-failed: items reported failed
  uint64_t failed_lines = 0;  // of those, named on stderr
  std::optional<JobStats> stats;
};

// Reads `job` to the end through `writer` (in input order if `ordered`),
// feeding it from `feed` if its input is streamed. With `durable`
// (--output=FILE, a job of manual acknowledgements) the results written are
// acknowledged after each sync of the file: once half the job's window of
// results waits, at least every second; the caller syncs and
// acknowledges the last ones after Finish(). Returns the exit code.
int RunJob(Pool& pool, Job& job, OutputWriter& writer, ProgressBar& progress,
           bool ordered, RunReport* report, InputFeed feed = {},
           OutputFile* durable = nullptr);

}  // namespace tq

#endif  // TQ_CLIENT_CLI_RUN_H_
