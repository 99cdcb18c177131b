// Job: the handle of one submitted job. Its results stream in chunk by
// chunk; read them in input order (Next) or as they complete
// (NextCompleted), not both. Memory stays bounded however large the job:
// the broker sends a chunk only when reading has made room for it.
//
// Streamed input (JobSpec::input = StreamedInput): Append chunks while
// InputRoom() > 0, then EndInput(). Poll() waits for a result or for room,
// so one thread can feed and read without ever blocking on itself.
//
// Part of the client library's public API. Thread safety: reading and
// appending from one thread at a time; Cancel() from any thread (e.g. a
// signal-watching one). Destroy every Job before its Pool.
#ifndef TQ_CLIENT_JOB_H_
#define TQ_CLIENT_JOB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/chunk_result.h"
#include "client/job_spec.h"

namespace tq {

namespace internal {
class BrokerSession;
struct JobState;
}  // namespace internal

// What Job::Poll saw.
struct JobEvent {
  enum class Kind {
    kResult,     // `result` holds the next chunk
    kDone,       // every chunk was read
    kInputRoom,  // streamed input: Append may take a chunk now
    kTimedOut,   // nothing within the timeout; the job goes on
  };
  Kind kind = Kind::kTimedOut;
  std::optional<ChunkResult> result;
};

// When a job's shipped code raised (Job's error is then kAborted): what the
// runtime reported, to rebuild the error in the caller's language.
struct UserCodeError {
  uint64_t chunk_index = 0;
  uint64_t first_item = 0;  // the chunk's first item's index in the job
  std::string details;      // Python: a pickled dict (tq/runner.py)
};

// What a job's results looked like so far (tq-client --stats).
struct JobStats {
  // Results accepted (a chunk the broker split counts once per part).
  uint64_t chunks = 0;
  // Items with a result, failed ones included (saturates at 2^64-1); for a
  // job from Pool::Attach, those that came here.
  uint64_t items = 0;
  // Results dropped because their items had already come: the broker
  // delivered a re-run twice. Never output.
  uint64_t duplicates = 0;
  // Items that failed on every attempt (JobSpec::skip_failed).
  uint64_t failed_items = 0;
};

// Why a job's error happened, for what the caller does next (tq-client's
// exit codes). The broker said the job failed in the cluster (an item
// failed on every attempt, workers were lost, its timeout passed): retrying
// the same job is unlikely to help.
bool IsJobFailure(const absl::Status& status);
// The broker was busy (a limit on queued jobs, connections or chunks in
// flight): the same request may succeed later. (Defined with the wire
// mapping in common/protocol.cc, which marks such statuses.)
bool IsRetryable(const absl::Status& status);

class Job {
 public:
  Job(internal::BrokerSession* session,
      std::shared_ptr<internal::JobState> state);
  // Cancels the job if it is still running.
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  uint64_t id() const;
  // Range input with JobSpec::chunk_size: that size and the chunks it
  // makes. Else 0: the broker sizes chunks as the job runs, and each result
  // names its items (ChunkResult::first_item, size).
  uint64_t chunk_size() const;
  uint64_t chunk_count() const;
  // Range and list input: items in the job (0..2^64-1 holds 2^64 of them).
  // Streamed input: the items appended so far.
  absl::uint128 item_count() const;
  // The result window the broker granted.
  uint32_t window() const;
  // The secret (16 bytes) that lets another client attach to the job
  // (AttachSpec::token).
  const std::string& token() const;
  // The built-in task ("" for code) and whether results are counts.
  const std::string& task() const;
  Reduction reduction() const;
  // A job from Pool::Attach: what its earlier clients acknowledged, whose
  // results never come here (count jobs: the true items among them), and
  // the mark of their latest acknowledgement (Acknowledge(mark)); 0, 0 and
  // empty for a job submitted here.
  absl::uint128 acknowledged_items_before() const;
  uint64_t acknowledged_count_before() const;
  const std::string& mark() const;

  // The next chunk in input order; nullopt after the last. A job that failed
  // returns its error once the chunks received before the failure are read;
  // kCancelled after Cancel(); kUnavailable if the broker was lost.
  absl::StatusOr<std::optional<ChunkResult>> Next();
  // Same, in completion order.
  absl::StatusOr<std::optional<ChunkResult>> NextCompleted();
  // Waits up to `timeout` for the next chunk (in input order if `ordered`),
  // returning early with kInputRoom while streamed input is open and may
  // take a chunk. Errors as for Next().
  absl::StatusOr<JobEvent> Poll(bool ordered, absl::Duration timeout);

  // Streamed input: chunks Append may take now.
  size_t InputRoom() const;
  // Appends one chunk (sent at once). kFailedPrecondition without room or
  // after EndInput; kInvalidArgument if it does not fit the job (numbers for
  // a code job, a payload over 16 MiB, an empty chunk).
  absl::Status Append(InputChunk chunk);
  // No more input: the job ends once the chunks appended are done.
  absl::Status EndInput();

  // The shipped code's error, once Next/Poll returned kAborted for it.
  std::optional<UserCodeError> user_code_error() const;

  // Counts of the results received so far.
  JobStats stats() const;

  // Tells the broker that every result read so far (Next, NextCompleted,
  // Poll; failed items included) was handled for good: it never sends or
  // recomputes them again, also after a reconnect or its restart. Results
  // are acknowledged by themselves as they are read, in batches; with
  // JobSpec::manual_ack only by this call (e.g. once an output file holding
  // them is synced). Sent at once, or once the job is attached again if the
  // connection is being re-established.
  void Acknowledge();
  // The same, saying where the caller's output stands with every result
  // read so far in it (at most 256 bytes, e.g. a synced file's size): a
  // client that attaches later gets it back (mark()) to continue from.
  void Acknowledge(std::string mark);

  // Stops the job; the iterators return kCancelled at once.
  void Cancel();

 private:
  internal::BrokerSession* const session_;
  const std::shared_ptr<internal::JobState> state_;
};

}  // namespace tq

#endif  // TQ_CLIENT_JOB_H_
