// The worker's side of the tq protocol as a sans-I/O state machine: events in
// (connected, message, chunks finished, tick, stop), outputs out (envelopes to
// send, chunks to start on the pool, "reconnect now", done). It owns no socket
// and never reads a clock: every event carries now_us, so tests drive it with
// fake time. The worker loop (worker.cc) translates between it and ZeroMQ.
//
// Credit accounting. Let C = threads + prefetch (the capacity), G the credit
// the broker holds from this session, H the chunks of this session queued or
// running, and O the chunks still running from lost sessions ("orphans": they
// occupy a thread but the broker no longer counts them). The session keeps
//   G + H + O == C
// (until Stop): Hello grants C - O; each accepted Assignment moves one from G
// to H; each finished chunk (current or orphan) gives one back to G, sent in
// ChunkReports.credit or a WorkerCredit; an Assignment for a chunk that is
// already held or running only refreshes its attempt and gives its credit back
// at once. An Assignment arriving when G == 0 is a protocol violation and is
// dropped (the broker's lease requeues it).
//
// Adaptive prefetch (nsq's RDY adaptation). Unless the prefetch is pinned
// (WorkerOptions::prefetch >= 0), C follows the measured chunk run time: an
// EWMA of ChunkReport.run_micros gives
//   prefetch = clamp(ceil(threads * kQueueTargetUs / avg_run_us), 1, kMaxPrefetch)
// so each thread has about kQueueTargetUs of work queued behind it: tiny
// chunks get a deep queue (few, large Assignments messages and few wake-ups),
// long chunks a shallow one (no worker hoards work another could run). Before
// the first measurement prefetch is max(1, threads / 2). C shrinks at once
// but grows at most 2x per batch of reports (slow start). C is therefore an
// upper bound rather than an identity: G + H + O <= C. Whenever a slot frees
// or C grows, the session tops G up to C - H - O (sent with the next
// ChunkReports or a WorkerCredit); when C shrinks it simply withholds
// returned credit until G + H + O fits the new C. Credit is never taken back
// from the broker (the protocol has no way to), so G never goes negative.
//
// Sessions (protocol 3 on). Welcome gives the broker's epoch and this
// registration's session number; every ChunkReports echoes both and
// Assignments of another epoch or session are dropped (counted). At least
// every heartbeat interval, busy or not, a Heartbeat lists what the session
// holds (WorkerHeld: running chunks with how long they have run, queued
// chunks): it renews their leases at the broker.
//
// Queue order. Chunks start in arrival order, except that an Assignment
// marked run_first goes ahead of the queued ones not so marked: the broker
// marks the chunks of a client with less work on workers than another, so
// they do not wait behind chunks prefetched for that other client. A
// ReturnQueued gives the named chunks back if they are still queued (listed
// in the next ChunkReports.returned, with their credit), so that their
// slots can go to that client too.
//
// Cancellation. A RevokeJob (the whole job, or only the chunks it names)
// drops the queued chunks and cancels the running ones: their CancelToken is
// set (kernels poll it), code chunks' runners are killed, and their slots'
// credit comes back at once; their reports, when they come, are dropped. A
// chunk running past its Assignment.run_limit_ms is cancelled the same way
// and reported at once as FAILURE_RUN_LIMIT. A cancelled chunk whose run
// does not end within kCancelGraceUs has wedged its thread (a kernel that
// ignores cancellation; a thread cannot be killed): the session stops taking
// work (Drain), reports what it can, says Goodbye and ends with kAborted
// (wedged()), so that tq-worker exits for its supervisor to restart it.
//
// Failed sends. The loop hands back what the socket refused
// (OnSendFailed); the session keeps it, in order, ahead of anything newer,
// and retries every kSendRetryUs. A session that cannot send for its
// heartbeat timeout is lost (what it kept is counted as undelivered and
// noted; the broker requeues those chunks).
#ifndef TQ_WORKER_WORKER_SESSION_H_
#define TQ_WORKER_WORKER_SESSION_H_

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/liveness.h"
#include "common/payload.h"
#include "tq/v1/tq.pb.h"
#include "worker/chunk_work.h"
#include "worker/code_cache.h"
#include "worker/worker_session_options.h"

namespace tq {

// What a worker tells the broker it runs (Hello.tasks, Hello.runtimes).
struct WorkerCapabilities {
  std::vector<std::string> tasks;
  std::vector<v1::Runtime> runtimes;
};

// A message for the broker: an envelope and the payloads it carries.
struct WorkerMessage {
  v1::Envelope envelope;
  std::vector<Payload> payloads;
};

// Queued work the adaptive prefetch aims to keep behind each thread. 3 ms
// covers a LAN round trip (0.1-0.5 ms) plus a busy broker's loop latency with
// margin, so a thread never idles waiting for the network; it is also the
// most work per thread a worker can hold back from an idle peer at the end
// of a job, so larger only costs tail latency.
inline constexpr int64_t kQueueTargetUs = 3'000;
// Upper bound on the adaptive prefetch, so that tiny chunks cannot make one
// worker hold thousands: more only grows memory per worker and the work it
// holds back from its peers. A worker's own bound, not the broker's result
// window cap (kDefaultMaxResultWindow), though both are 256.
inline constexpr int kMaxPrefetch = 256;
// Weight of the newest run_micros sample in the running average: about the
// last ten chunks count, so a change of job adapts within a few reports.
inline constexpr double kRunTimeEwmaWeight = 0.1;
// Work handed to the pool at once per thread, beyond which chunks wait in
// the session's queue (where Drain and RevokeJob can still return them):
// about 200 us, at most 64 chunks. Holds for pinned prefetch too: it moves
// no credit, only where held chunks wait.
inline constexpr int64_t kPoolRunTargetUs = 200;
inline constexpr int kMaxPoolDepth = 64;
// A cancelled run must end within this (the protocol promises running work
// stops within 1 s of a RevokeJob); one that does not has wedged its thread.
inline constexpr int64_t kCancelGraceUs = 1'000'000;
// A wedged session waits at most this long for its other running chunks to
// finish and be reported before its Goodbye (the broker then requeues what
// it still holds without charging an attempt).
inline constexpr int64_t kWedgedExitGraceUs = 2'000'000;
// A message the socket refused (its queue to the broker full) is retried
// after this.
inline constexpr int64_t kSendRetryUs = 20'000;

// Not thread-safe: owned and driven by the one loop thread.
class WorkerSession {
 public:
  static constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

  // `options` must be valid and resolved (ResolveWorkerOptions: threads >= 1);
  // prefetch >= 0 pins the prefetch, -1 makes it adaptive. `capabilities`
  // go in every Hello.
  explicit WorkerSession(const WorkerSessionOptions& options,
                         WorkerCapabilities capabilities = {});

  // ---- events
  // A fresh socket is connected (or connecting): says Hello.
  void OnConnected(int64_t now_us);
  // One message from the broker, with the payloads it carried. Taken by
  // value: the session moves the Assignments it keeps out of it (pass an
  // rvalue to avoid a copy).
  void OnMessage(v1::Envelope envelope, const std::vector<Payload>& payloads,
                 int64_t now_us);
  void OnMessage(v1::Envelope envelope, int64_t now_us) {
    OnMessage(std::move(envelope), {}, now_us);
  }
  // Chunks the pool finished, sent back together in one ChunkReports.
  void OnChunksFinished(std::vector<ChunkDone> done, int64_t now_us);
  // Time passed: heartbeats, broker silence, Welcome timeout.
  void OnTick(int64_t now_us);
  // Stop taking work: Drain, finish running chunks, Goodbye, done.
  void OnStopRequested(int64_t now_us);
  // The socket refused `unsent` (taken from TakeOutgoing, in order; the
  // first is the one that failed). Kept and retried; with `retryable` false
  // (the socket is broken, e.g. a message cut off half-way) the session is
  // dropped at once instead.
  void OnSendFailed(std::vector<WorkerMessage> unsent, const absl::Status& why,
                    bool retryable, int64_t now_us);

  // ---- outputs (each Take* hands over and clears)
  std::vector<WorkerMessage> TakeOutgoing();
  // Chunks to run on the pool now (one per thread, more when chunks are
  // tiny; see kPoolRunTargetUs); each must come back through
  // OnChunksFinished with the same (job_id, chunk_index).
  std::vector<ChunkWork> TakeChunksToStart();
  // Jobs the broker revoked: whatever of theirs still runs is to be stopped
  // (code chunks' runners killed); their reports are dropped.
  std::vector<uint64_t> TakeRevokedJobs();
  // Code chunks cancelled one by one (RevokeJob naming chunks, run limit):
  // their runners are to be killed. (job_id, chunk_index) pairs.
  std::vector<std::pair<uint64_t, uint64_t>> TakeCancelledCodeChunks();
  // True once after the session decided to drop the socket: the loop closes
  // it, opens a new one and calls OnConnected.
  bool TakeReconnect();
  // Human-readable lines about notable events, for --verbose logs.
  std::vector<std::string> TakeNotes();
  // When OnTick must next be called; kNoDeadline if nothing is timed.
  int64_t NextDeadlineUs() const;
  // Run() may return: after a clean stop (status OK), a fatal error, or a
  // wedged thread (status kAborted, wedged()).
  bool done() const { return state_ == State::kDone; }
  // A cancelled chunk did not stop: its thread may never come back, so the
  // pool cannot be joined and the process should exit and be restarted.
  bool wedged() const { return wedged_; }
  const absl::Status& status() const { return status_; }

  // ---- introspection (tests, logs)
  bool welcomed() const { return state_ == State::kWelcomed; }
  // threads + prefetch: the most chunks granted, queued and running at once.
  int capacity() const { return capacity_; }
  bool adaptive_prefetch() const { return adaptive_prefetch_; }
  // EWMA of the chunks' run_micros; negative before the first report.
  double average_run_us() const { return average_run_us_; }
  int64_t granted_credit() const { return granted_; }
  int64_t chunks_finished() const { return chunks_finished_; }
  size_t queued_chunks() const { return queued_.size(); }
  // Handed to the pool: running or waiting there.
  size_t running_chunks() const { return running_.size(); }
  // Chunks per thread the pool may hold.
  int pool_depth() const { return pool_depth_; }
  // The back-off the next Welcome wait will use.
  int64_t reconnect_backoff_ms() const { return liveness_.backoff_ms(); }
  int64_t protocol_violations() const { return protocol_violations_; }
  int64_t discarded_reports() const { return discarded_reports_; }
  // Assignments dropped for naming another broker epoch or session.
  int64_t stale_assignments() const { return stale_assignments_; }
  // Runs cancelled (revoked or past their run limit) and whose late reports
  // were dropped.
  int64_t cancelled_runs() const { return cancelled_runs_count_; }
  int64_t run_limit_failures() const { return run_limit_failures_; }
  // Chunk reports kept after a failed send that a lost session never got.
  int64_t undelivered_reports() const { return undelivered_reports_; }
  // Messages waiting for a retry after a failed send.
  size_t unsent_messages() const { return unsent_.size(); }
  uint64_t broker_epoch() const { return broker_epoch_; }
  uint64_t session_id() const { return session_id_; }

 private:
  enum class State { kIdle, kAwaitingWelcome, kWelcomed, kLost, kDone };
  using ChunkKey = std::pair<uint64_t, uint64_t>;  // (job_id, chunk_index)
  struct RunningChunk {
    uint32_t attempt;  // the attempt to report (the latest hand-out)
    uint64_t epoch;    // the session that owns the report
    uint64_t run_id;   // ChunkWork.run_id
    int64_t started_us;    // handed to the pool
    int64_t run_limit_us;  // 0: none
    bool code;             // a code chunk (runs in a runner process)
    std::shared_ptr<CancelToken> cancel;
  };
  // A run cancelled but not yet ended (its thread still busy).
  struct CancelledRun {
    ChunkKey key;
    int64_t deadline_us;  // wedged if it has not ended by then
  };

  // Keeps `assignment` (moved from) if it queues the chunk.
  void HandleAssignment(v1::Assignment& assignment,
                        const std::vector<Payload>& payloads, int64_t now_us);
  // Fails a chunk at once (never run), e.g. for want of its code blob.
  void RefuseChunk(const v1::Assignment& assignment, v1::Failure failure,
                   const absl::Status& why);
  void HandleRevoke(const v1::RevokeJob& revoke, int64_t now_us);
  void HandleReturnQueued(const v1::ReturnQueued& request);
  // Cancels running_[it]: sets its token, asks the loop to kill its runner
  // if it is a code chunk, and waits for its end (CancelledRun).
  void CancelRun(std::map<ChunkKey, RunningChunk>::iterator it, int64_t now_us);
  void EnforceRunLimits(int64_t now_us);
  void Wedge(const std::string& why, int64_t now_us);
  void SendHeldHeartbeat(int64_t now_us);
  void LoseSession(const std::string& why);
  void StartChunks(int64_t now_us);
  void MeasureRunTime(uint64_t run_micros);
  void AdaptCapacity();
  void TopUpCredit();
  void MaybeFinishStop(int64_t now_us);
  void Flush(int64_t now_us);
  void Emit(v1::Envelope envelope, int64_t now_us,
            std::vector<Payload> payloads = {});
  void Violation(const std::string& what);
  int CurrentRunning() const;

  // Constant after construction.
  const WorkerSessionOptions options_;
  const WorkerCapabilities capabilities_;
  const bool adaptive_prefetch_;

  int capacity_;
  int noted_capacity_;  // the capacity last written to the notes
  double average_run_us_ = -1;
  int pool_depth_ = 1;  // 1 until chunks are measured
  State state_ = State::kIdle;
  absl::Status status_;
  bool stopping_ = false;
  uint64_t epoch_ = 0;  // bumped per Hello
  int64_t granted_ = 0;
  uint32_t credit_to_return_ = 0;
  std::deque<ChunkWork> queued_;
  std::map<ChunkKey, RunningChunk> running_;
  std::vector<ChunkDone> reports_to_send_;
  // Given back unstarted (ReturnQueued), for the next ChunkReports.
  std::vector<v1::ChunkRef> returned_;
  CodeCache code_;
  std::vector<uint64_t> revoked_;
  std::vector<std::pair<uint64_t, uint64_t>> cancelled_code_chunks_;
  std::map<uint64_t, CancelledRun> cancelled_runs_;  // by run_id
  uint64_t next_run_id_ = 1;
  uint64_t broker_epoch_ = 0;  // Welcome.broker_epoch of this session
  uint64_t session_id_ = 0;    // Welcome.session
  bool wedged_ = false;
  int64_t wedged_deadline_us_ = 0;
  absl::Status wedged_status_;
  // Messages the socket refused, oldest first, and when to retry them.
  std::deque<WorkerMessage> unsent_;
  int64_t send_retry_us_ = 0;
  int64_t send_blocked_since_us_ = -1;  // -1: sends go through
  // The kept messages are in outgoing_ for a retry / were handed out by the
  // last TakeOutgoing (the next one learns they went through).
  bool retry_pending_ = false;
  bool retry_handed_out_ = false;

  // Heartbeats (sent: the last held heartbeat), silence, back-off.
  Liveness liveness_;
  int64_t welcome_deadline_us_ = 0;
  // Hello.failed_over of the next Hello: a Hello went out before, and no
  // standby refused it (the broker asked did not answer, or was lost).
  bool hello_sent_ = false;
  bool standby_refused_ = false;
  int64_t last_send_us_ = 0;

  std::vector<WorkerMessage> outgoing_;
  std::vector<ChunkWork> to_start_;
  bool reconnect_ = false;
  std::vector<std::string> notes_;

  int64_t protocol_violations_ = 0;
  int64_t discarded_reports_ = 0;
  int64_t chunks_finished_ = 0;
  int64_t stale_assignments_ = 0;
  int64_t cancelled_runs_count_ = 0;
  int64_t run_limit_failures_ = 0;
  int64_t undelivered_reports_ = 0;
};

}  // namespace tq

#endif  // TQ_WORKER_WORKER_SESSION_H_
