// Where pool threads leave finished chunks (ChunkDone) for the worker loop: a
// mutex-guarded list plus a Wakeup whose fd the loop polls. Pool threads never
// touch the socket; the loop takes everything at once and sends it as one
// ChunkReports message.
#ifndef TQ_WORKER_COMPLETION_QUEUE_H_
#define TQ_WORKER_COMPLETION_QUEUE_H_

#include <mutex>
#include <vector>

#include "common/wakeup.h"
#include "worker/chunk_work.h"

namespace tq {

// Thread-safe. (std::mutex: see thread_pool.h for why not absl::Mutex.)
class CompletionQueue {
 public:
  // Adds a report; wakes the loop if the queue was empty (otherwise a wake
  // is already pending).
  void Push(ChunkDone done);
  // Clears the wakeup, then hands over every report queued so far.
  std::vector<ChunkDone> TakeAll();
  // Readable when reports are waiting (poll for POLLIN).
  int fd() const { return wakeup_.fd(); }

 private:
  Wakeup wakeup_;
  std::mutex mutex_;
  std::vector<ChunkDone> reports_;  // guarded by mutex_
};

}  // namespace tq

#endif  // TQ_WORKER_COMPLETION_QUEUE_H_
