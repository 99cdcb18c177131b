#include "worker/completion_queue.h"

#include <utility>

namespace tq {

void CompletionQueue::Push(ChunkDone done) {
  bool was_empty;
  {
    std::lock_guard lock(mutex_);
    was_empty = reports_.empty();
    reports_.push_back(std::move(done));
  }
  if (was_empty) wakeup_.Notify();
}

std::vector<ChunkDone> CompletionQueue::TakeAll() {
  // Drain before taking: a push after the take sees an empty queue and
  // notifies again, so no report is ever left without a pending wake.
  wakeup_.Drain();
  std::lock_guard lock(mutex_);
  return std::exchange(reports_, {});
}

}  // namespace tq
