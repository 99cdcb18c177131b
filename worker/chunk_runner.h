// Runs one assigned chunk with its task and turns the outcome into a
// ChunkReport: output or error (unknown task, task failure), and the wall
// time spent. Called on pool threads.
#ifndef TQ_WORKER_CHUNK_RUNNER_H_
#define TQ_WORKER_CHUNK_RUNNER_H_

#include "tasks/task.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// Thread-safe (tasks are). Never fails: problems become the report's error.
v1::ChunkReport RunChunk(const TaskRegistry& registry,
                         const v1::Assignment& assignment);

}  // namespace tq

#endif  // TQ_WORKER_CHUNK_RUNNER_H_
