// Runs one chunk of a built-in task and turns the outcome into a ChunkDone:
// the input decoded (a range, or 8-byte numbers from the chunk's payload,
// limited to the assignment's offset/count), the task run, its ChunkOutput
// serialized as the result payload; or the error (unknown task, bad input,
// task failure), and the wall time spent. Called on pool threads.
#ifndef TQ_WORKER_CHUNK_RUNNER_H_
#define TQ_WORKER_CHUNK_RUNNER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "tasks/task.h"
#include "worker/chunk_work.h"

namespace tq {

// Thread-safe (tasks are). Never fails: problems become the report's error.
// work.cancel (if set) is handed to the task. A test-only task (crash) runs
// only if `allow_test_tasks` (--enable-test-tasks); otherwise it fails.
ChunkDone RunTaskChunk(const TaskRegistry& registry, const ChunkWork& work,
                       bool allow_test_tasks = false);

// The numbers of a U64LE payload input: items [offset, offset + count) of
// the `item_count` the payload holds (count 0: to the end). kInvalidArgument
// if the payload's size or the bounds do not fit.
absl::StatusOr<std::vector<uint64_t>> DecodeNumbers(const Payload& payload,
                                                    const v1::ChunkInput& input);

}  // namespace tq

#endif  // TQ_WORKER_CHUNK_RUNNER_H_
