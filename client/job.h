// Job: the handle of one submitted job. Its results stream in chunk by
// chunk; read them in input order (Next) or as they complete
// (NextCompleted), not both. Memory stays bounded however large the job:
// the broker sends a chunk only when reading has made room for it.
//
// Thread safety: Next/NextCompleted from one thread at a time; Cancel() from
// any thread (e.g. a signal-watching one). Destroy every Job before its Pool.
#ifndef TQ_CLIENT_JOB_H_
#define TQ_CLIENT_JOB_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "client/broker_session.h"
#include "client/chunk_result.h"

namespace tq {

class Job {
 public:
  Job(BrokerSession* session, std::shared_ptr<JobState> state);
  // Cancels the job if it is still running.
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  uint64_t id() const;
  // As the broker chose them at submit time.
  uint64_t chunk_size() const;
  uint64_t chunk_count() const;
  // Items in the job (0..2^64-1 holds 2^64 of them).
  absl::uint128 item_count() const;

  // The next chunk in input order; nullopt after the last. A job that failed
  // returns its error once the chunks received before the failure are read;
  // kCancelled after Cancel(); kUnavailable if the broker was lost.
  absl::StatusOr<std::optional<ChunkResult>> Next();
  // Same, in completion order.
  absl::StatusOr<std::optional<ChunkResult>> NextCompleted();

  // Stops the job; the iterators return kCancelled at once.
  void Cancel();

 private:
  BrokerSession* const session_;
  const std::shared_ptr<JobState> state_;
};

}  // namespace tq

#endif  // TQ_CLIENT_JOB_H_
