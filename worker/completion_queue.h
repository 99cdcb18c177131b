// Where pool threads leave finished ChunkReports for the worker loop: a
// mutex-guarded list plus a Wakeup whose fd the loop polls. Pool threads never
// touch the socket; the loop takes everything at once and sends it as one
// ChunkReports message.
#ifndef TQ_WORKER_COMPLETION_QUEUE_H_
#define TQ_WORKER_COMPLETION_QUEUE_H_

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/wakeup.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// Thread-safe.
class CompletionQueue {
 public:
  // Adds a report; wakes the loop if the queue was empty (otherwise a wake
  // is already pending).
  void Push(v1::ChunkReport report);
  // Clears the wakeup, then hands over every report queued so far.
  std::vector<v1::ChunkReport> TakeAll();
  // Readable when reports are waiting (poll for POLLIN).
  int fd() const { return wakeup_.fd(); }

 private:
  Wakeup wakeup_;
  absl::Mutex mutex_;
  std::vector<v1::ChunkReport> reports_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace tq

#endif  // TQ_WORKER_COMPLETION_QUEUE_H_
