// Helpers for driving a WorkerSession in tests: its outputs as plain
// envelopes and assignments, and a finished chunk from a bare report.
#ifndef TQ_TESTS_WORKER_SESSION_TEST_UTIL_H_
#define TQ_TESTS_WORKER_SESSION_TEST_UTIL_H_

#include <utility>
#include <vector>

#include "worker/worker_session.h"

namespace tq {

inline std::vector<v1::Envelope> Envelopes(std::vector<WorkerMessage> messages) {
  std::vector<v1::Envelope> envelopes;
  for (WorkerMessage& m : messages) envelopes.push_back(std::move(m.envelope));
  return envelopes;
}

inline std::vector<v1::Assignment> Assignments(std::vector<ChunkWork> work) {
  std::vector<v1::Assignment> assignments;
  for (ChunkWork& w : work) assignments.push_back(std::move(w.assignment));
  return assignments;
}

// A successful chunk (an empty result) unless the report carries an error.
inline ChunkDone Done(v1::ChunkReport report) {
  ChunkDone done;
  done.report = std::move(report);
  return done;
}

}  // namespace tq

#endif  // TQ_TESTS_WORKER_SESSION_TEST_UTIL_H_
