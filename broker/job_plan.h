// Validating a SubmitJob and choosing its chunking: which task, how many
// items, how many items per chunk, how many chunks. Pure functions, so the
// rules (automatic chunk size, limits, 2^64-item ranges) are tested alone.
#ifndef TQ_BROKER_JOB_PLAN_H_
#define TQ_BROKER_JOB_PLAN_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "tasks/task.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// List inputs are carried in Assignments, so a chunk of them is bounded
// regardless of what the task allows.
inline constexpr uint64_t kMaxListChunkItems = uint64_t{1} << 20;

struct JobPlan {
  const Task* task = nullptr;
  // Items in the job; a range over all of uint64 has 2^64, hence 128 bits.
  unsigned __int128 item_count = 0;
  uint64_t chunk_size = 0;
  uint64_t chunk_count = 0;
};

// Checks `submit` against `registry` (task exists, parameters, input,
// reduction, chunk size, result window) and sizes its chunks.
// `worker_threads` (threads connected now) guides the automatic chunk size.
// kNotFound for an unknown task (the message lists the tasks offered),
// kInvalidArgument for anything else wrong.
absl::StatusOr<JobPlan> PlanJob(const v1::SubmitJob& submit,
                                const TaskRegistry& registry,
                                uint64_t worker_threads);

// The automatic chunk size: ceil(items / (4 * max(1, threads))) clamped to
// the task's sizing, rounded up to a multiple of 8 for boolean tasks (so
// results pack into whole bytes).
uint64_t AutoChunkSize(unsigned __int128 item_count, uint64_t worker_threads,
                       const ChunkSizing& sizing, ResultShape shape);

}  // namespace tq

#endif  // TQ_BROKER_JOB_PLAN_H_
