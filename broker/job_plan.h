// Validating a SubmitJob and choosing its chunking: which task (or shipped
// code), how many items, how many items per chunk, how many chunks, the
// result window. Pure functions, so the rules (automatic chunk size, limits,
// 2^64-item ranges) are tested alone. What depends on the broker's state
// (which runtimes it allows, which workers are connected, the code blobs'
// digests) is the Scheduler's to check.
#ifndef TQ_BROKER_JOB_PLAN_H_
#define TQ_BROKER_JOB_PLAN_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "tasks/task.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// Number lists travel as 8-byte items in a chunk's payload, so a chunk of
// them is bounded regardless of what the task allows (8 MiB of input).
inline constexpr uint64_t kMaxListChunkItems = uint64_t{1} << 20;

struct JobPlan {
  // nullptr for a code job.
  const Task* task = nullptr;
  // Range input: items in the job (a range over all of uint64 has 2^64,
  // hence 128 bits); with SubmitJob.chunk_size, that size and the chunks it
  // makes, else 0 and 0 (sized as the job runs). Streamed input: 0.
  unsigned __int128 item_count = 0;
  uint64_t chunk_size = 0;
  uint64_t chunk_count = 0;
  bool streamed = false;
  // Streamed input: how payload chunks encode their items.
  v1::ItemEncoding encoding = v1::ITEM_ENCODING_UNSPECIFIED;
  // The fewest items an automatically sized chunk holds (the task's
  // sizing), and the most any chunk may hold.
  uint64_t min_chunk_items = 1;
  uint64_t max_chunk_items = 0;
  // min(SubmitJob.result_window, the broker's max_result_window), and that
  // maximum: the client's credit may open the window up to it.
  uint32_t window = 0;
  uint32_t max_window = 0;
};

// Checks `submit` against `registry` (task exists, parameters, input,
// reduction, chunk size, result window; a code job's spec) and states its
// chunking. kNotFound for an unknown task (the message lists the tasks
// offered), kInvalidArgument for anything else wrong.
absl::StatusOr<JobPlan> PlanJob(const v1::SubmitJob& submit,
                                const TaskRegistry& registry,
                                uint32_t max_result_window);

// The client's chunk size for input it cuts itself (a stream of numbers): ceil(items / (4 * max(1, threads))) clamped to
// the task's sizing, rounded up to a multiple of 8 for boolean tasks (so
// results pack into whole bytes).
uint64_t AutoChunkSize(unsigned __int128 item_count, uint64_t worker_threads,
                       const ChunkSizing& sizing, ResultShape shape);

}  // namespace tq

#endif  // TQ_BROKER_JOB_PLAN_H_
