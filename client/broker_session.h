// BrokerSession: the client's one connection to a broker. A background I/O
// thread owns the DEALER socket (sockets are never touched from two threads):
// it sends what user threads queue (SubmitJob, ClientCredit, CancelJob),
// heartbeats every Welcome.heartbeat_interval_ms even while the user is slow,
// files incoming results into per-job buffers, and declares the broker lost
// after heartbeat_timeout_ms of silence. User threads talk to it through the
// mutex-guarded state below plus a Wakeup in the I/O thread's poll set.
//
// Result credit: a job starts with `window` credits; the user thread grants
// more only as it consumes chunks, batched per half window, so at most
// `window` chunks of a job are ever in flight or buffered on either side.
//
// Thread safety: every public method is thread-safe.
#ifndef TQ_CLIENT_BROKER_SESSION_H_
#define TQ_CLIENT_BROKER_SESSION_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/chunk_result.h"
#include "client/reorder_buffer.h"
#include "common/curve.h"
#include "common/wakeup.h"
#include "tq/v1/tq.pb.h"
#include "zmq.hpp"

namespace tq {

// One submitted job's state; every field is guarded by the session mutex.
struct JobState {
  uint64_t request_id = 0;
  bool answered = false;         // JobAccepted or Error came back
  absl::Status submit_status;    // the Error, if any
  uint64_t job_id = 0;
  uint64_t chunk_size = 0;
  uint64_t chunk_count = 0;
  std::shared_ptr<const JobInput> input;
  ReorderBuffer buffer;
  uint32_t window = 0;
  uint64_t received = 0;        // ChunkResults that came in
  uint64_t delivered = 0;       // chunks handed to the user
  uint64_t granted = 0;         // credit granted in total, window included
  uint64_t ungranted = 0;       // consumed, credit not yet sent back
  bool finished = false;        // JobFinished, failure, or broker lost
  absl::Status final_status;
  bool cancelled = false;       // Cancel() called here
};

class BrokerSession {
 public:
  // Connects a DEALER on `context` (must outlive the session) to `endpoint`,
  // sends Hello and waits up to `connect_timeout_ms` for the Welcome. No
  // answer: kUnavailable naming the endpoint. An Error answer: that error.
  // `curve` (nullptr: plaintext) makes the DEALER a CURVE client; a
  // refused or mismatched handshake is kUnavailable saying so, at once.
  static absl::StatusOr<std::unique_ptr<BrokerSession>> Open(
      zmq::context_t& context, const std::string& endpoint,
      int64_t connect_timeout_ms, const std::string& name,
      const CurveClientKeys* curve = nullptr);

  // Says Goodbye (the broker cancels our jobs), stops the I/O thread.
  ~BrokerSession();
  BrokerSession(const BrokerSession&) = delete;
  BrokerSession& operator=(const BrokerSession&) = delete;

  const v1::Welcome& welcome() const { return welcome_; }
  const std::string& endpoint() const { return endpoint_; }

  // Sends the SubmitJob (request_id and result_window are filled here) and
  // blocks until the broker accepts it or answers an Error (returned).
  absl::StatusOr<std::shared_ptr<JobState>> Submit(
      v1::SubmitJob submit, std::shared_ptr<const JobInput> input,
      uint32_t window);

  // Blocks for the job's next chunk: in chunk order if `ordered`, else in
  // arrival order. nullopt once every chunk was handed out; the job's error
  // (after the chunks already received) if it failed; kCancelled after
  // Cancel(); kUnavailable if the broker was lost.
  absl::StatusOr<std::optional<ChunkResult>> Next(JobState& job, bool ordered);

  // Asks the broker for its StatusReply (workers, totals, running jobs) and
  // blocks until it comes; the broker's Error, or kUnavailable if the broker
  // is lost, otherwise.
  absl::StatusOr<v1::StatusReply> Status();

  // Asks the broker to stop the job; Next() returns kCancelled at once.
  void Cancel(JobState& job);
  // The handle is gone: cancel the job if still running and forget it.
  void Release(JobState& job);

 private:
  BrokerSession(zmq::socket_t socket, std::string endpoint, v1::Welcome welcome);
  void IoLoop();
  // These require mu_ held.
  void HandleMessage(const v1::Envelope& envelope);
  void HandleResults(const v1::JobResults& results);
  void FailJob(JobState& job, absl::Status status);
  void FailEverything(absl::Status status);
  void GrantCredit(JobState& job, uint64_t chunks);
  void Enqueue(v1::Envelope envelope);

  // Constant after construction.
  const std::string endpoint_;
  const v1::Welcome welcome_;
  const int64_t heartbeat_interval_ms_;
  const int64_t heartbeat_timeout_ms_;

  // Owned by the I/O thread only (after construction).
  zmq::socket_t socket_;

  Wakeup wakeup_;
  std::thread io_thread_;

  // State below is protected by mu_.
  // std::mutex: see worker/thread_pool.h for why not absl::Mutex.
  std::mutex mu_;
  std::condition_variable changed_;  // any job or connection state changed
  std::vector<v1::Envelope> outbox_;
  bool stopping_ = false;
  absl::Status lost_;  // not OK once the broker is gone
  uint64_t next_request_id_ = 1;
  std::map<uint64_t, std::shared_ptr<JobState>> by_request_;
  std::map<uint64_t, std::shared_ptr<JobState>> by_job_;
  // StatusRequests sent, by request id: nullopt until answered.
  std::map<uint64_t, std::optional<absl::StatusOr<v1::StatusReply>>>
      status_requests_;
};

}  // namespace tq

#endif  // TQ_CLIENT_BROKER_SESSION_H_
