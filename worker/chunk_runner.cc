#include "worker/chunk_runner.h"

#include <chrono>

#include "absl/status/status.h"
#include "common/protocol.h"

namespace tq {

v1::ChunkReport RunChunk(const TaskRegistry& registry,
                         const v1::Assignment& assignment) {
  v1::ChunkReport report;
  report.set_job_id(assignment.job_id());
  report.set_chunk_index(assignment.chunk_index());
  report.set_attempt(assignment.attempt());
  auto start = std::chrono::steady_clock::now();
  absl::Status status;
  absl::StatusOr<const Task*> task = registry.Lookup(assignment.task());
  if (!task.ok()) {
    status = task.status();
  } else {
    status = (*task)->Run(assignment.input(), assignment.params(),
                          assignment.reduction(), report.mutable_output());
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  report.set_run_micros(
      std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  if (!status.ok()) {
    *report.mutable_error() = ErrorFromStatus(status, assignment.job_id());
  }
  return report;
}

}  // namespace tq
