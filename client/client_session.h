// Internal to the client library. ClientSession: the client's side of the
// protocol with one broker, as a pure state machine (sans-I/O, like
// WorkerSession): messages in, messages out, the time passed in. It owns
// every submitted job's state, the result credit, acknowledgements,
// streamed input, the connection's liveness and reconnection. BrokerSession
// (broker_session.h) drives it from a thin I/O thread and lets user threads
// block on it.
//
// Connection: a Hello goes out at construction. The first connection must
// be welcomed within connect_timeout_ms, or the session closes for good
// (Open reports why). Once welcomed, a broker that falls silent for the
// liveness timeout, says Goodbye, or forgets us is lost, and the session
// reconnects on a new socket with back-off (common/liveness.h, the policy
// the worker follows too). Jobs outlive the connection (protocol 5): after
// the next Welcome each accepted, unfinished job is attached again
// (AttachJob: the items it holds beyond the acks the broker confirmed,
// fresh credit of its window; acks the broker lacks are sent again), streamed input the broker lacks is sent again, and a submit that
// was not answered goes again with the same idempotency key (never a second
// job). A broker that does not know the job any more (NOT_FOUND: it keeps no
// journal, or the job ended) fails it kUnavailable; so does a reconnect that
// takes longer than resume_timeout_ms (tq-client exits 3 for both). Status
// requests in flight fail at once. Requests made while reconnecting wait up
// to connect_timeout_ms for a Welcome, then fail kUnavailable. A broker that
// speaks another protocol version, or refuses our Hello for good, closes the
// session.
//
// Result credit: a job starts with `window` credits; more are granted only
// as the user consumes chunks, batched per half window, so at most `window`
// chunks of a job are ever in flight or buffered on either side (an attach
// grants a fresh window). Streamed input: a chunk is appended only while
// fewer than `window` chunks were appended and their results not yet
// received (the broker holds no more); the client keeps those chunks' input
// to send again after an attach. List input is cut and appended by the
// session itself as room opens.
//
// Acknowledgements (AckLedger): items whose results the user consumed are
// acknowledged in batches: once half the window's results wait, at most
// kAckDelayMs after the first waiting one, and at once when the job's last
// result was consumed. A manual_ack job acknowledges only on Acknowledge().
//
// Thread safety: not thread-safe; BrokerSession serialises every call.
#ifndef TQ_CLIENT_CLIENT_SESSION_H_
#define TQ_CLIENT_CLIENT_SESSION_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/ack_ledger.h"
#include "client/chunk_decoder.h"
#include "client/chunk_result.h"
#include "client/item_coverage.h"
#include "client/job.h"
#include "client/reorder_buffer.h"
#include "common/liveness.h"
#include "common/payload.h"
#include "tq/v1/tq.pb.h"

namespace tq {
namespace internal {

// Status payload type URLs marking why a job's error happened (see
// IsJobFailure, IsRetryable in client/job.h).
inline constexpr char kJobFailurePayload[] = "tq.dev/job-failure";
inline constexpr char kRetryablePayload[] = "tq.dev/retryable";

// The status an Error from the broker stands for, marked retryable if the
// broker said so (busy).
absl::Status StatusFromBrokerError(const v1::Error& error);
// "1.5s", "10m": a duration for messages.
std::string DurationText(int64_t ms);

// A streamed chunk appended and not yet wholly received.
struct PendingChunk {
  ChunkMeta meta;
  uint64_t items_left = 0;  // its items with no result yet (parts arrive)
  // What was sent, to send it again after an attach if the broker lacks it
  // (input.payload indexes `payload`'s place in the carrying message).
  v1::ChunkInput input;
  Payload payload;
};

// Acknowledgements wait at most this long for a batch to fill.
inline constexpr int64_t kAckDelayMs = 200;
// Most chunks one AppendInput carries (its envelope stays far below a frame).
inline constexpr int kMaxChunksPerAppend = 1024;

// One submitted job's state, owned by the session (every field is changed
// only through it) except those marked constant, set before the submit.
struct JobState {
  // Constant after the submit.
  uint64_t request_id = 0;
  uint64_t job_id = 0;
  bool is_code = false;
  bool streamed = false;
  // Range input: item i is the number range_lo + i.
  uint64_t range_lo = 0;
  uint64_t range_last_index = 0;
  // Results are acknowledged only when the user calls Acknowledge() (e.g.
  // once an output file holding them is synced); else as they are consumed.
  bool manual_ack = false;
  // Set by Submit: REDUCTION_COUNT (acks carry counts), and the 16 random
  // bytes that make a retried submit the same job.
  bool count_reduction = false;
  std::string idempotency_key;
  // JobAccepted's; 0 when the broker sizes chunks as the job runs.
  uint64_t chunk_size = 0;
  uint64_t chunk_count = 0;
  uint32_t window = 0;
  std::string job_token;  // lets any connection attach to the job
  // Attached with Adopt (Pool::Attach), not submitted here: the fields above
  // came with the attach's answer. Its earlier clients acknowledged
  // `acknowledged_before` items (their results never come here; count
  // jobs: `acknowledged_count_before` true ones), the latest with `mark`.
  bool adopted = false;
  std::string task;  // adopted jobs: the task (empty for code)
  absl::uint128 acknowledged_before = 0;
  uint64_t acknowledged_count_before = 0;
  std::string mark;

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

  AckLedger acks;
  int64_t ack_due_us = 0;  // acks waiting go out by then (0: none waits)

  // The connection was lost: not attached (or, unanswered, submitted) again
  // yet. Nothing about the job is sent meanwhile (appends are kept).
  bool detached = false;
  bool resubmit = false;            // its SubmitJob goes again on Welcome
  uint64_t attach_request_id = 0;   // the AttachJob sent, not yet answered
  int64_t resume_deadline_us = 0;   // fails kUnavailable then (0: none)
  bool released = false;            // Release()d while detached

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

// A message for the broker, with its payload frames.
struct Outgoing {
  v1::Envelope envelope;
  std::vector<Payload> payloads;
  size_t payload_bytes = 0;
};
size_t PayloadBytes(const std::vector<Payload>& payloads);

struct ClientSessionOptions {
  std::string endpoint;  // for messages only (a list: comma-separated)
  // How many brokers the caller rotates through (a standby pair: 2): with
  // more than one, an attempt that gets no Welcome within the reconnect
  // back-off (at least 1 s), or a standby's refusal, moves to
  // the next (TakeReconnect), until connect_timeout_ms.
  size_t endpoint_count = 1;
  std::string name;      // Hello.name
  // The first Welcome must come within this; a request made while
  // reconnecting waits this long for one.
  int64_t connect_timeout_ms = 5'000;
  // A job (or an unanswered submit) whose connection was lost waits this
  // long to be attached again on a new one, then fails kUnavailable.
  // Default: 10 minutes, the broker's grace period for a lost client's jobs
  // (--client-grace-ms): waiting longer finds nothing.
  int64_t resume_timeout_ms = 600'000;
  LivenessOptions liveness;
};

class ClientSession {
 public:
  enum class State {
    kConnecting,  // Hello sent on a fresh socket; no Welcome yet
    kConnected,   // welcomed
    kClosed,      // for good; closed_status() says why
  };

  // Queues the first Hello.
  ClientSession(ClientSessionOptions options, int64_t now_us);

  // --- The I/O side.
  void OnMessage(const v1::Envelope& envelope,
                 const std::vector<Payload>& payloads, int64_t now_us);
  // Heartbeats, liveness, reconnection, requests that waited too long.
  void OnTick(int64_t now_us);
  // The socket's handshake was refused (`why`: the monitor's words). The
  // first connection closes the session; later ones retry with back-off.
  void OnHandshakeFailed(const std::string& why, int64_t now_us);
  // The user is done: queues a Goodbye (the broker cancels our jobs) and
  // closes the session.
  void Close(int64_t now_us);
  // What to send, in order.
  std::vector<Outgoing> TakeOutgoing();
  bool has_outgoing() const { return !outbox_.empty(); }
  // True once per new connection attempt: the I/O loop replaces its socket
  // before it sends what TakeOutgoing() returns next (the new Hello).
  bool TakeReconnect();
  // Whether TakeReconnect() would say so: what the old socket still holds
  // is the old connection's, and must not reach the new one's session.
  bool reconnect_pending() const { return reconnect_; }
  // When OnTick must run next (absolute, microseconds).
  int64_t NextDeadlineUs() const;

  State state() const { return state_; }
  const absl::Status& closed_status() const { return closed_status_; }
  // The latest Welcome (empty before the first).
  const v1::Welcome& welcome() const { return welcome_; }
  // Connections welcomed after the first.
  int reconnects() const { return reconnects_; }
  // While a lost connection is being replaced: why it was lost.
  std::optional<std::string> reconnecting() const {
    if (state_ != State::kConnecting || !ever_welcomed_) return std::nullopt;
    return lost_why_;
  }

  // --- The user side.
  // Registers `job` and queues its SubmitJob (request_id, result_window and
  // the first streamed chunks are filled here). The answer arrives later:
  // `job->answered`. An error here (closed session, bad chunk) is final.
  absl::Status Submit(v1::SubmitJob submit, std::vector<Payload> payloads,
                      const std::shared_ptr<JobState>& job, int64_t now_us);
  // Registers `job` and queues an AttachJob for job `job_id` (`token`: its
  // token, empty under CURVE for the key that submitted it). The answer
  // arrives later: `job->answered`, with the job's constants filled from
  // it (JobState::adopted). `job->window` and `job->manual_ack` are the
  // caller's.
  absl::Status Adopt(uint64_t job_id, std::string token,
                     const std::shared_ptr<JobState>& job, int64_t now_us);
  // Queues a StatusRequest; its answer: TakeStatusReply(id).
  absl::StatusOr<uint64_t> RequestStatus(int64_t now_us);
  // The answer to RequestStatus `id` once it came (then forgotten).
  std::optional<absl::StatusOr<v1::StatusReply>> TakeStatusReply(uint64_t id);

  // The job's next event (see Job::Poll), or nullopt when there is none
  // yet: wait for a change. Grants credit, acknowledges and feeds pending
  // input as the user consumes results.
  std::optional<absl::StatusOr<JobEvent>> NextEvent(JobState& job, bool ordered,
                                                    bool want_room,
                                                    int64_t now_us);
  // Acknowledges every result of the job consumed so far (sent now, or
  // once the job is attached again after a reconnect). The only way a
  // manual_ack job acknowledges.
  // `mark`: AckResults.mark, where the user's output stands with every
  // result consumed so far in it (empty: none).
  void Acknowledge(JobState& job, std::string mark = "");
  size_t InputRoom(JobState& job);
  absl::Status Append(JobState& job, InputChunk chunk);
  void EndInput(JobState& job);
  JobStats Stats(const JobState& job) const;
  // Asks the broker to stop the job; NextEvent reports kCancelled at once.
  void Cancel(JobState& job);
  // The handle is gone: cancel the job if still running and forget it.
  void Release(JobState& job);

 private:
  void SendHello(int64_t now_us);
  void OnWelcome(const v1::Welcome& welcome, int64_t now_us);
  // The connection is gone: detaches the jobs (status requests fail);
  // reconnects (or, before the first Welcome, closes the session).
  void Lose(absl::Status why, int64_t now_us);
  // --- Jobs across connections (client_session_resume.cc).
  // Marks every job and sent submit to be taken up again on the next
  // connection, within resume_timeout_ms of now.
  void DetachJobs(int64_t now_us);
  // Welcomed again: resubmits, and attaches every detached job.
  void ResumeJobs();
  void SendAttach(const std::shared_ptr<JobState>& job);
  // The JobAccepted answering an attach.
  void HandleAttached(JobState& job, const v1::JobAccepted& accepted);
  // The Error answering an attach.
  void HandleAttachError(JobState& job, const v1::Error& error);
  // Sends the streamed input from chunk `from` on again (and its end).
  absl::Status ResendInput(JobState& job, uint64_t from, bool broker_complete);
  // Fails the jobs and submits whose resume deadline passed.
  void ExpireResumes(int64_t now_us);
  // The user took `result`: record it for acknowledgement, send a batch if
  // one is due.
  void Consumed(JobState& job, const ChunkResult& result, int64_t now_us);
  // Sends the job's waiting acks (if attached and connected).
  void FlushAcks(JobState& job);
  // Every item's result is in (the last one may still be unread).
  static bool AllResultsIn(const JobState& job);
  // Fails the job for a broker's mistake and asks the broker to stop it.
  void FailAndCancel(JobState& job, absl::Status status);
  static absl::uint128 TotalItems(const JobState& job);

  void CloseWith(absl::Status why);
  // Fails every job and request in flight with `status`.
  void FailInFlight(const absl::Status& status);
  // A new request (submit, status): sent now if connected, else held until
  // the next Welcome, at most connect_timeout_ms.
  void Request(v1::Envelope envelope, std::vector<Payload> payloads,
               int64_t now_us);
  // Fails held requests whose wait is over (all of them with `force`).
  void ExpireHeld(int64_t now_us, bool force, const absl::Status& why);
  void FailRequest(uint64_t request_id, const absl::Status& status);

  void HandleAccepted(const v1::JobAccepted& accepted);
  // The JobAccepted answering Adopt: fills the job from it, or fails it.
  absl::Status HandleAdopted(JobState& job, const v1::JobAccepted& accepted);
  void HandleError(const v1::Error& error, int64_t now_us);
  void HandleFinished(const v1::JobFinished& finished,
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

  const ClientSessionOptions options_;
  Liveness liveness_;
  State state_ = State::kConnecting;
  absl::Status closed_status_;
  bool ever_welcomed_ = false;
  int reconnects_ = 0;
  int64_t welcome_deadline_us_ = 0;
  // The first connection: no Welcome by then closes the session.
  int64_t connect_deadline_us_ = 0;
  bool reconnect_ = false;
  // Hello.failed_over of the next Hello: a Hello went out before, and no
  // standby refused it (the broker asked did not answer, or was lost).
  bool hello_sent_ = false;
  bool standby_refused_ = false;
  v1::Welcome welcome_;

  std::vector<Outgoing> outbox_;
  // Requests made while not connected: sent after the next Welcome, failed
  // at their deadline.
  struct Held {
    uint64_t request_id = 0;
    int64_t deadline_us = 0;
    Outgoing message;
  };
  std::deque<Held> held_;

  uint64_t next_request_id_ = 1;
  std::map<uint64_t, std::shared_ptr<JobState>> by_request_;
  std::map<uint64_t, std::shared_ptr<JobState>> by_job_;
  // Every SubmitJob not answered yet, by request id, to send again after a
  // reconnect.
  std::map<uint64_t, Outgoing> submits_;
  // AttachJobs sent and not answered, by request id.
  std::map<uint64_t, std::shared_ptr<JobState>> attaches_;
  // Why the last connection was lost (for jobs that never resume).
  std::string lost_why_;
  // StatusRequests sent, by request id: nullopt until answered.
  std::map<uint64_t, std::optional<absl::StatusOr<v1::StatusReply>>>
      status_requests_;
};

}  // namespace internal
}  // namespace tq

#endif  // TQ_CLIENT_CLIENT_SESSION_H_
