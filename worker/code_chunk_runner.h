// Runs one chunk of a code job (Assignment.code) in the worker's Python
// runner processes and turns the outcome into a ChunkDone: the runtime's
// result bytes as the result payload; an exception raised by the user's code
// as FAILURE_USER_CODE with the runtime's details (the broker fails the job
// at once); a runner that died as a retryable failure (retried elsewhere).
// Called on pool threads; CancelJob from the loop thread when the broker
// revokes a job.
#ifndef TQ_WORKER_CODE_CHUNK_RUNNER_H_
#define TQ_WORKER_CODE_CHUNK_RUNNER_H_

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "worker/chunk_work.h"
#include "worker/runners/python_runners.h"

namespace tq {

// Thread-safe.
class CodeChunkRunner {
 public:
  // `runners` must outlive this.
  explicit CodeChunkRunner(PythonRunners* runners) : runners_(runners) {}

  // Blocks while the chunk runs. Never fails: problems are in the report.
  ChunkDone Run(const ChunkWork& work);
  // Kills the runners running chunks of `job_id` (their reports are moot).
  void CancelJob(uint64_t job_id) { runners_->CancelJob(job_id); }
  // Kills the runner running that one chunk, if any.
  void CancelChunk(uint64_t job_id, uint64_t chunk_index) {
    runners_->CancelChunk(job_id, chunk_index);
  }

 private:
  // A code blob's bytes in one piece, as runners take them, kept for the
  // next chunks of the same code (the session holds the framed original).
  std::shared_ptr<const std::string> Flatten(const std::string& sha256,
                                             const Payload& blob);

  PythonRunners* const runners_;
  std::mutex mutex_;
  // Recently used flattened blobs, most recent first; guarded by mutex_.
  std::list<std::pair<std::string, std::shared_ptr<const std::string>>> flat_;
};

}  // namespace tq

#endif  // TQ_WORKER_CODE_CHUNK_RUNNER_H_
