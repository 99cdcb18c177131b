#include "worker/chunk_runner.h"

#include <chrono>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/protocol.h"

namespace tq {
namespace {

// The task's view of a chunk's numbers: the one place the worker reads their
// wire form. That form is about to change (lists as raw little-endian uint64
// frames instead of a repeated protobuf field); only this function should
// have to follow. A list is a view into `input`, which must outlive the
// result. A chunk with neither form becomes an empty list, which Task::Run
// refuses.
TaskInput TaskInputOf(const v1::ChunkInput& input) {
  if (input.has_range()) {
    return TaskInput::Range(input.range().first(), input.range().last());
  }
  const google::protobuf::RepeatedField<uint64_t>& items =
      input.items().values();
  return TaskInput::List(absl::MakeConstSpan(items.data(), items.size()));
}

}  // namespace

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
    status = (*task)->Run(TaskInputOf(assignment.input()), assignment.params(),
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
