// Internal to the client library. BrokerSession: the client's connection to
// one broker. The protocol lives in ClientSession (client_session.h, a pure
// state machine); this is its thin I/O shell. A background I/O thread owns
// the DEALER socket (sockets are never touched from two threads): it feeds
// the session what arrives and the passing time, sends what the session
// queues, and replaces the socket when the session reconnects. User threads
// call the session under a mutex and block on a condition variable until
// what they wait for (an answer, a result) has come.
//
// Thread safety: every public method is thread-safe.
#ifndef TQ_CLIENT_BROKER_SESSION_H_
#define TQ_CLIENT_BROKER_SESSION_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
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
#include "client/client_session.h"
#include "client/job.h"
#include "common/broker_endpoints.h"
#include "common/curve.h"
#include "common/payload.h"
#include "common/wakeup.h"
#include "tq/v1/tq.pb.h"
#include "zmq.hpp"

namespace tq {
namespace internal {

class BrokerSession {
 public:
  // Connects a DEALER on `context` (must outlive the session) to the first
  // of `endpoints` (at least one), sends Hello and waits up to
  // `connect_timeout_ms` for the Welcome; with more than one (a standby
  // pair), each attempt that gets no Welcome, or a standby's refusal, moves
  // to the next, round-robin, and so does every reconnect. No answer:
  // kUnavailable naming the endpoints and what the handshakes told. An
  // Error answer: that error. An endpoint's `curve` makes the DEALER a
  // CURVE client; a refused or mismatched handshake is kUnavailable saying
  // so, at once. `liveness`: heartbeats and reconnect back-off (tests
  // shorten them). `resume_timeout_ms`: see ClientSessionOptions.
  static absl::StatusOr<std::unique_ptr<BrokerSession>> Open(
      zmq::context_t& context, std::vector<BrokerEndpoint> endpoints,
      int64_t connect_timeout_ms, const std::string& name,
      const LivenessOptions& liveness = LivenessOptions(),
      int64_t resume_timeout_ms = ClientSessionOptions().resume_timeout_ms);

  // Says Goodbye (the broker cancels our jobs), stops the I/O thread.
  ~BrokerSession();
  BrokerSession(const BrokerSession&) = delete;
  BrokerSession& operator=(const BrokerSession&) = delete;

  // The latest Welcome (a reconnect brings a new one).
  v1::Welcome welcome();
  // The endpoints as given, comma-separated.
  const std::string& endpoint() const { return endpoints_text_; }
  // Connections welcomed after the first.
  int reconnects();
  // ClientSession::reconnecting().
  std::optional<std::string> reconnecting();

  // Sends the SubmitJob (see ClientSession::Submit) and blocks until the
  // broker accepts it or answers an Error (returned).
  absl::Status Submit(v1::SubmitJob submit, std::vector<Payload> payloads,
                      const std::shared_ptr<JobState>& job);
  // Sends the AttachJob (see ClientSession::Adopt) and blocks likewise.
  absl::Status Adopt(uint64_t job_id, std::string token,
                     const std::shared_ptr<JobState>& job);

  // See Job::Poll. `want_room`: return kInputRoom when input may be
  // appended (the caller has more); else the library feeds pending input.
  absl::StatusOr<JobEvent> Poll(JobState& job, bool ordered, bool want_room,
                                absl::Duration timeout);
  size_t InputRoom(JobState& job);
  absl::Status Append(JobState& job, InputChunk chunk);
  absl::Status EndInput(JobState& job);
  // See Job::Acknowledge.
  void Acknowledge(JobState& job, std::string mark = "");
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
  struct Connection;  // a DEALER and what watches its handshakes

  BrokerSession(zmq::context_t& context, std::vector<BrokerEndpoint> endpoints,
                std::string endpoints_text,
                std::unique_ptr<ClientSession> session);
  // A new socket to endpoints_[next_endpoint_] (which then moves on);
  // `watch_handshakes` attaches a HandshakeMonitor (not for inproc://).
  absl::StatusOr<std::unique_ptr<Connection>> Connect(bool watch_handshakes);
  // One round of the I/O loop: receive, tick, reconnect if the session
  // says so, send. Returns the ms until the next round is due (int64 max:
  // only when something arrives).
  int64_t Step();
  void IoLoop();
  // Runs `step` on the session under the mutex and wakes the I/O thread to
  // send what it queued.
  template <typename F>
  auto WithSession(F&& step);
  // With mu_ held, after a call into the session: wakes the I/O thread if
  // the session queued a message it has not been woken for, or has a
  // deadline earlier than the one it sleeps towards.
  void WakeIoIfNeeded();

  zmq::context_t& context_;
  const std::vector<BrokerEndpoint> endpoints_;
  const std::string endpoints_text_;
  size_t next_endpoint_ = 0;  // I/O thread only (before it starts: Open)

  // Owned by the I/O thread only (before it starts: by Open).
  std::unique_ptr<Connection> connection_;
  // Where each received envelope is parsed, reset after each (see Step).
  std::unique_ptr<char[]> arena_block_;
  google::protobuf::Arena arena_;
  std::deque<Outgoing> unsent_;  // refused by the high-water mark

  Wakeup wakeup_;
  std::thread io_thread_;

  // std::mutex: see worker/thread_pool.h for why not absl::Mutex.
  std::mutex mu_;
  std::condition_variable changed_;  // the session's state changed
  std::unique_ptr<ClientSession> session_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  // The I/O thread was woken and has not yet taken the session's outgoing
  // messages (Step clears it as it takes them).
  bool io_wake_pending_ = false;  // guarded by mu_
  // The session deadline the I/O thread sleeps towards (as of its last
  // Step, or earlier if a wake since brought it forward).
  int64_t io_due_us_ = 0;  // guarded by mu_
};

}  // namespace internal
}  // namespace tq

#endif  // TQ_CLIENT_BROKER_SESSION_H_
