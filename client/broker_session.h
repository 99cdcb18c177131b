// Internal to the client library. BrokerSession: the client's one connection
// to a broker. A background I/O thread owns the DEALER socket (sockets are
// never touched from two threads): it sends what user threads queue
// (SubmitJob, AppendInput, ClientCredit, CancelJob), heartbeats every
// Welcome.heartbeat_interval_ms even while the user is slow, files incoming
// results into per-job buffers, and declares the broker lost after
// heartbeat_timeout_ms of silence. User threads talk to it through the
// mutex-guarded state below plus a Wakeup in the I/O thread's poll set.
//
// Result credit: a job starts with `window` credits; the user thread grants
// more only as it consumes chunks, batched per half window, so at most
// `window` chunks of a job are ever in flight or buffered on either side.
// Streamed input: a chunk is appended only while fewer than `window` chunks
// were appended and their results not yet received (the broker holds no
// more); list input is cut and appended by the library itself as room opens.
//
// Thread safety: every public method is thread-safe.
#ifndef TQ_CLIENT_BROKER_SESSION_H_
#define TQ_CLIENT_BROKER_SESSION_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/chunk_decoder.h"
#include "client/chunk_result.h"
#include "client/item_coverage.h"
#include "client/job.h"
#include "client/reorder_buffer.h"
#include "common/curve.h"
#include "common/payload.h"
#include "common/wakeup.h"
#include "tq/v1/tq.pb.h"
#include "zmq.hpp"

namespace tq {
namespace internal {

// Status payload type URLs marking why a job's error happened (see
// IsJobFailure, IsRetryable in client/job.h).
inline constexpr char kJobFailurePayload[] = "tq.dev/job-failure";
inline constexpr char kRetryablePayload[] = "tq.dev/retryable";

// The status an Error from the broker stands for, marked retryable if the
// broker said so (busy).
absl::Status StatusFromBrokerError(const v1::Error& error);

// A streamed chunk appended and not yet wholly received.
struct PendingChunk {
  ChunkMeta meta;
  uint64_t items_left = 0;  // its items with no result yet (parts arrive)
};

// One submitted job's state; every field is guarded by the session mutex
// except those marked constant, written before Submit() returns.
struct JobState {
  // Constant after Submit().
  uint64_t request_id = 0;
  uint64_t job_id = 0;
  bool is_code = false;
  bool streamed = false;
  // Range input: item i is the number range_lo + i.
  uint64_t range_lo = 0;
  uint64_t range_last_index = 0;
  // JobAccepted's; 0 when the broker sizes chunks as the job runs.
  uint64_t chunk_size = 0;
  uint64_t chunk_count = 0;
  uint32_t window = 0;

  bool answered = false;       // JobAccepted or Error came back
  absl::Status submit_status;  // the Error, if any
  ReorderBuffer buffer;
  ItemCoverage coverage;       // items with a result (duplicates dropped)
  uint64_t received = 0;       // ChunkResults that came in (credit spent)
  uint64_t delivered = 0;      // results handed to the user
  uint64_t granted = 0;        // credit granted in total, window included
  uint64_t ungranted = 0;      // consumed, credit not yet sent back
  JobStats stats;
  bool finished = false;       // JobFinished, failure, or broker lost
  absl::Status final_status;
  bool cancelled = false;      // Cancel() called here
  std::optional<UserCodeError> user_error;

  // Streamed input.
  bool input_complete = true;
  uint64_t appended = 0;        // chunks sent (their indexes are 0..appended)
  absl::uint128 items_appended = 0;  // (absl::uint128: 2^64 items fit)
  // Appended and not wholly received, by first item.
  std::map<uint64_t, PendingChunk> metas;
  // Chunk index -> first item, for every chunk in `metas` (results and
  // errors that name only a chunk index).
  std::map<uint64_t, uint64_t> index_first;
  // Chunks waiting for room: the rest of StreamedInput.first_chunks, then
  // list input still to cut (list[list_pos..] in chunks of list_chunk).
  std::deque<InputChunk> pending;
  std::vector<uint64_t> list;
  size_t list_pos = 0;
  uint64_t list_chunk = 0;
  bool end_after_pending = false;  // EndInput once `pending` and `list` are sent
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

  // Sends the SubmitJob (request_id, result_window and the first streamed
  // chunks are filled here from `job`) and blocks until the broker accepts
  // it or answers an Error (returned). `job` says the input: range fields,
  // or streamed with `pending`/`list` to send.
  absl::Status Submit(v1::SubmitJob submit, std::vector<Payload> payloads,
                      const std::shared_ptr<JobState>& job);

  // See Job::Poll. `want_room`: return kInputRoom when input may be
  // appended (the caller has more); else the library feeds pending input.
  absl::StatusOr<JobEvent> Poll(JobState& job, bool ordered, bool want_room,
                                absl::Duration timeout);
  size_t InputRoom(JobState& job);
  absl::Status Append(JobState& job, InputChunk chunk);
  absl::Status EndInput(JobState& job);
  std::optional<UserCodeError> user_code_error(JobState& job);
  absl::uint128 ItemsAppended(JobState& job);
  JobStats Stats(JobState& job);

  // Asks the broker for its StatusReply (workers, totals, running jobs) and
  // blocks until it comes; the broker's Error, or kUnavailable if the broker
  // is lost, otherwise.
  absl::StatusOr<v1::StatusReply> Status();

  // Asks the broker to stop the job; Poll() returns kCancelled at once.
  void Cancel(JobState& job);
  // The handle is gone: cancel the job if still running and forget it.
  void Release(JobState& job);

 private:
  struct Outgoing {
    v1::Envelope envelope;
    std::vector<Payload> payloads;
    size_t payload_bytes = 0;
  };

  BrokerSession(zmq::socket_t socket, std::string endpoint, v1::Welcome welcome);
  void IoLoop();
  // These require mu_ held.
  void HandleMessage(const v1::Envelope& envelope,
                     const std::vector<Payload>& payloads);
  void HandleResults(const v1::JobResults& results,
                     const std::vector<Payload>& payloads);
  // One result of `job`: checked, counted, buffered (or dropped as a
  // duplicate); a bad one fails the job.
  absl::Status HandleResult(JobState& job, const v1::ChunkResult& result,
                            const std::vector<Payload>& payloads);
  void FailJob(JobState& job, absl::Status status);
  // The broker's message for a job that failed on `item`, naming the item
  // and its number.
  static std::string FailedItemMessage(const JobState& job, uint64_t item,
                                       const std::string& message);
  void FailEverything(absl::Status status);
  void GrantCredit(JobState& job, uint64_t chunks);
  void Enqueue(v1::Envelope envelope, std::vector<Payload> payloads = {});
  size_t Room(const JobState& job) const;
  // Encodes `chunk` as the job's next chunk: its ChunkInput (payload index
  // into `payloads`) and what the client keeps to decode its result.
  absl::Status EncodeChunk(JobState& job, InputChunk chunk,
                           v1::ChunkInput* input,
                           std::vector<Payload>* payloads);
  // Appends `chunk` and sends it (merged into a queued AppendInput of the
  // same job when there is one).
  absl::Status AppendLocked(JobState& job, InputChunk chunk);
  // Sends pending input while there is room (and EndInput after it).
  void FeedPending(JobState& job);
  std::optional<InputChunk> TakePending(JobState& job);
  void SendEndInput(JobState& job);

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
  std::vector<Outgoing> outbox_;
  bool stopping_ = false;
  absl::Status lost_;  // not OK once the broker is gone
  uint64_t next_request_id_ = 1;
  std::map<uint64_t, std::shared_ptr<JobState>> by_request_;
  std::map<uint64_t, std::shared_ptr<JobState>> by_job_;
  // StatusRequests sent, by request id: nullopt until answered.
  std::map<uint64_t, std::optional<absl::StatusOr<v1::StatusReply>>>
      status_requests_;
};

}  // namespace internal
}  // namespace tq

#endif  // TQ_CLIENT_BROKER_SESSION_H_
