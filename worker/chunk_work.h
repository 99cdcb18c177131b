// A chunk on its way through the worker: what the session hands the pool to
// run (the Assignment with its payloads resolved), and what the pool hands
// back (the report with its payloads). Payloads are shared, never copied.
#ifndef TQ_WORKER_CHUNK_WORK_H_
#define TQ_WORKER_CHUNK_WORK_H_

#include <cstdint>
#include <memory>

#include "common/payload.h"
#include "tasks/task.h"
#include "tq/v1/tq.pb.h"

namespace tq {

struct ChunkWork {
  // As the broker sent it; assignment.input().payload() is an index into a
  // message that is gone: use `input`.
  v1::Assignment assignment;
  // A payload input: the chunk's encoded items.
  Payload input;
  // A code job: the blobs its CodeSpec names (initializer empty if none).
  Payload function;
  Payload initializer;
  // Set by the session when the chunk is no longer wanted (revoked, or past
  // its run limit); the task polls it. Shared with the session.
  std::shared_ptr<CancelToken> cancel;
  // This run of the chunk, unique within the session object (>= 1): tells a
  // cancelled run's late report from a newer run of the same chunk.
  uint64_t run_id = 0;
};

struct ChunkDone {
  // result_payload / details_payload are set when the report is sent.
  v1::ChunkReport report;
  // Success: the result bytes (a serialized ChunkOutput for built-in tasks).
  Payload result;
  // FAILURE_USER_CODE: the runtime's details (e.g. a pickled exception).
  Payload details;
  // ChunkWork.run_id of the run; 0 means "the current run of this chunk"
  // (tests that play the pool).
  uint64_t run_id = 0;
};

}  // namespace tq

#endif  // TQ_WORKER_CHUNK_WORK_H_
