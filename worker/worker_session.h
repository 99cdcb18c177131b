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
#ifndef TQ_WORKER_WORKER_SESSION_H_
#define TQ_WORKER_WORKER_SESSION_H_

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "tq/v1/tq.pb.h"
#include "worker/worker.h"

namespace tq {

// `options` with the automatic values filled in: threads 0 -> usable CPUs,
// prefetch -1 -> max(1, threads / 2), empty name -> "hostname:pid".
WorkerOptions ResolveWorkerOptions(WorkerOptions options);

// Not thread-safe: owned and driven by the one loop thread.
class WorkerSession {
 public:
  static constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

  // `options` must be resolved (threads >= 1, prefetch >= 0).
  explicit WorkerSession(const WorkerOptions& options);

  // ---- events
  // A fresh socket is connected (or connecting): says Hello.
  void OnConnected(int64_t now_us);
  // One envelope from the broker.
  void OnMessage(const v1::Envelope& envelope, int64_t now_us);
  // Chunks the pool finished, sent back together in one ChunkReports.
  void OnChunksFinished(std::vector<v1::ChunkReport> reports, int64_t now_us);
  // Time passed: heartbeats, broker silence, Welcome timeout.
  void OnTick(int64_t now_us);
  // Stop taking work: Drain, finish running chunks, Goodbye, done.
  void OnStopRequested(int64_t now_us);

  // ---- outputs (each Take* hands over and clears)
  std::vector<v1::Envelope> TakeOutgoing();
  // Assignments to run on the pool now; each must come back through
  // OnChunksFinished with the same (job_id, chunk_index).
  std::vector<v1::Assignment> TakeChunksToStart();
  // True once after the session decided to drop the socket: the loop closes
  // it, opens a new one and calls OnConnected.
  bool TakeReconnect();
  // Human-readable lines about notable events, for --verbose logs.
  std::vector<std::string> TakeNotes();
  // When OnTick must next be called; kNoDeadline if nothing is timed.
  int64_t NextDeadlineUs() const;
  // Run() may return: after a clean stop (status OK) or a fatal error.
  bool done() const { return state_ == State::kDone; }
  const absl::Status& status() const { return status_; }

  // ---- introspection (tests, logs)
  bool welcomed() const { return state_ == State::kWelcomed; }
  int capacity() const { return capacity_; }
  int64_t granted_credit() const { return granted_; }
  size_t queued_chunks() const { return queued_.size(); }
  size_t running_chunks() const { return running_.size(); }
  // The back-off the next Welcome wait will use.
  int64_t reconnect_backoff_ms() const { return backoff_ms_; }
  int64_t protocol_violations() const { return protocol_violations_; }
  int64_t discarded_reports() const { return discarded_reports_; }

 private:
  enum class State { kIdle, kAwaitingWelcome, kWelcomed, kLost, kDone };
  using ChunkKey = std::pair<uint64_t, uint64_t>;  // (job_id, chunk_index)
  struct RunningChunk {
    uint32_t attempt;  // the attempt to report (the latest hand-out)
    uint64_t epoch;    // the session that owns the report
  };

  void HandleAssignment(const v1::Assignment& assignment);
  void HandleRevoke(uint64_t job_id);
  void LoseSession(const std::string& why);
  void StartChunks();
  void MaybeFinishStop(int64_t now_us);
  void Flush(int64_t now_us);
  void Emit(v1::Envelope envelope, int64_t now_us);
  void Violation(const std::string& what);
  int CurrentRunning() const;

  // Constant after construction.
  const WorkerOptions options_;
  const int capacity_;

  State state_ = State::kIdle;
  absl::Status status_;
  bool stopping_ = false;
  uint64_t epoch_ = 0;  // bumped per Hello
  int64_t granted_ = 0;
  uint32_t credit_to_return_ = 0;
  std::deque<v1::Assignment> queued_;
  std::map<ChunkKey, RunningChunk> running_;
  std::vector<v1::ChunkReport> reports_to_send_;

  int64_t backoff_ms_;
  int64_t heartbeat_interval_us_;  // min(ours, the broker's)
  int64_t heartbeat_timeout_us_;   // max(ours, 2 x the broker's interval)
  int64_t welcome_deadline_us_ = 0;
  int64_t last_send_us_ = 0;
  int64_t last_receive_us_ = 0;

  std::vector<v1::Envelope> outgoing_;
  std::vector<v1::Assignment> to_start_;
  bool reconnect_ = false;
  std::vector<std::string> notes_;

  int64_t protocol_violations_ = 0;
  int64_t discarded_reports_ = 0;
};

}  // namespace tq

#endif  // TQ_WORKER_WORKER_SESSION_H_
