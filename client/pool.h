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
// Thread safety: Submit/Map may be called from several threads; a Pool must
// outlive its Jobs.
#ifndef TQ_CLIENT_POOL_H_
#define TQ_CLIENT_POOL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/broker_session.h"
#include "client/chunk_result.h"
#include "client/embedded_cluster.h"
#include "client/job.h"
#include "client/job_spec.h"
#include "client/options.h"
#include "zmq.hpp"

namespace tq {

class Pool {
 public:
  // Remote: sends Hello and waits up to options.connect_timeout_ms for the
  // Welcome (kUnavailable naming the address if none comes; the broker's
  // Error if it refuses). Embedded (options.broker empty): starts the
  // in-process cluster first.
  static absl::StatusOr<std::unique_ptr<Pool>> Connect(ClientOptions options);

  // Says Goodbye to the broker (cancelling unfinished jobs), stops the
  // embedded cluster if any.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // The tasks the cluster offers, from the Welcome.
  std::vector<std::string> tasks() const;
  // The broker's address ("inproc://tq-embedded-..." when embedded).
  const std::string& endpoint() const;
  // Worker threads connected when we said Hello.
  int worker_threads() const;

  // Submits a job and waits for the broker to accept it. kInvalidArgument
  // for a bad spec (list empty or over kMaxListItemsPerJob, lo > hi); the
  // broker's error for an unknown task (listing the offered ones), bad
  // parameters or chunk size.
  absl::StatusOr<std::unique_ptr<Job>> Submit(const JobSpec& spec);

  // Submits and collects every chunk, in input order.
  absl::StatusOr<std::vector<ChunkResult>> Map(const JobSpec& spec);

  // The broker's operator's view: connected workers and their load, queue
  // and in-flight totals, running jobs with progress. Embedded: the
  // in-process broker's view. kUnavailable if the broker is lost.
  absl::StatusOr<v1::StatusReply> Status();

 private:
  Pool() = default;

  ClientOptions options_;
  // Destroyed in reverse order: session, then cluster, then own context.
  std::unique_ptr<zmq::context_t> own_context_;  // remote mode only
  std::unique_ptr<EmbeddedCluster> cluster_;     // embedded mode only
  std::unique_ptr<BrokerSession> session_;
};

}  // namespace tq

#endif  // TQ_CLIENT_POOL_H_
