// Pool: the client library's entry point, like Python's
// multiprocessing.Pool but across machines. Connect to a broker (or, with no
// address, to an embedded in-process cluster), Submit jobs and stream their
// results, or Map one into a vector.
//
//   tq::ClientOptions options;                 // no broker: embedded cluster
//   auto pool = tq::Pool::Connect(options);    // StatusOr<unique_ptr<Pool>>
//   tq::JobSpec spec;
//   spec.task = "primes";
//   spec.input = tq::NumberRange{1, 100};
//   auto job = (*pool)->Submit(spec);          // StatusOr<unique_ptr<Job>>
//   while (true) {
//     auto chunk = (*job)->Next();             // in input order
//     if (!chunk.ok()) return chunk.status();  // the job failed
//     if (!chunk->has_value()) break;          // every chunk read
//     for (uint64_t i = 0; i < (*chunk)->size(); ++i)
//       if ((*chunk)->bit(i)) printf("%lu\n", (*chunk)->n(i));
//   }
//
// This header, job.h, job_spec.h, chunk_result.h and options.h are the
// library's public API: they expose no protocol, socket or cluster types
// (the Python binding builds on them alone).
//
// Thread safety: Submit/Map/Status may be called from several threads; a
// Pool must outlive its Jobs.
#ifndef TQ_CLIENT_POOL_H_
#define TQ_CLIENT_POOL_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/chunk_result.h"
#include "client/job.h"
#include "client/job_spec.h"
#include "client/options.h"

namespace tq {

namespace v1 {
class StatusReply;  // proto/tq/v1/tq.proto
}  // namespace v1

class Pool {
 public:
  // Checks the options first (kInvalidArgument from ValidateClientOptions,
  // nothing started). Remote: sends Hello and waits up to
  // options.connect_timeout_ms for the Welcome (kUnavailable naming the
  // address if none comes; the broker's Error if it refuses). Embedded
  // (options.broker empty): starts the in-process cluster first.
  static absl::StatusOr<std::unique_ptr<Pool>> Connect(ClientOptions options);

  // Says Goodbye to the broker (cancelling unfinished jobs), stops the
  // embedded cluster if any.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // The tasks the cluster offers, from the Welcome.
  std::vector<std::string> tasks() const;
  // The runtimes the broker accepts code jobs for (--allow-code).
  std::vector<std::string> code_runtimes() const;
  // The broker's address ("inproc://tq-embedded-..." when embedded).
  const std::string& endpoint() const;
  bool embedded() const;
  // Worker threads connected when we said Hello (embedded: its worker's).
  int worker_threads() const;
  // While the connection to the broker is lost and being made again (jobs
  // in flight wait to be resumed, for ClientOptions::resume_timeout_ms):
  // why it was lost. nullopt while connected.
  std::optional<std::string> reconnecting() const;

  // Submits a job and waits for the broker to accept it. kInvalidArgument
  // for a bad spec (lo > hi, an empty list, both or neither of task and
  // code, a payload over 16 MiB); the broker's error for an unknown task
  // (listing the offered ones), bad parameters or chunk size, or code it
  // does not run (kPermissionDenied, kFailedPrecondition naming versions).
  absl::StatusOr<std::unique_ptr<Job>> Submit(const JobSpec& spec);

  // Reads a job another client submitted (tq-client attach; e.g. that
  // client died): every result its clients did not acknowledge comes here
  // from now on, and Job::acknowledged_items_before() and mark() say what
  // they did. Range jobs and code jobs (a list job's numbers are only its
  // submitter's: kFailedPrecondition). kNotFound if the broker does not hold
  // the job (it ended, or a broker without --journal restarted),
  // kPermissionDenied for a wrong token, kFailedPrecondition with an
  // embedded cluster (its jobs die with their client). A client attached
  // to the job before loses it (its job ends kAborted).
  absl::StatusOr<std::unique_ptr<Job>> Attach(const AttachSpec& spec);

  // Submits and collects every chunk, in input order.
  absl::StatusOr<std::vector<ChunkResult>> Map(const JobSpec& spec);

  // The broker's operator's view: connected workers and their load, queue
  // and in-flight totals, running jobs with progress. Embedded: the
  // in-process broker's view. kUnavailable if the broker is lost.
  absl::Status Status(v1::StatusReply* reply);
  // The same as one line of JSON (proto3 JSON of tq.v1.StatusReply).
  absl::StatusOr<std::string> StatusJson();

 private:
  struct Impl;
  explicit Pool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tq

#endif  // TQ_CLIENT_POOL_H_
