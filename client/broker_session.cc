#include "client/broker_session.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/handshake_monitor.h"
#include "common/status_macros.h"
#include "common/zmq_socket.h"

namespace tq {
namespace internal {
namespace {

// Received envelopes are parsed on an arena whose first block is this big
// (a JobResults of ~300 results fits); larger ones take more blocks, which
// each Reset frees.
constexpr size_t kArenaBlockBytes = 32 << 10;

google::protobuf::ArenaOptions ArenaOn(char* block) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = kArenaBlockBytes;
  return options;
}

// While a send is refused (high-water mark), retry this often.
constexpr int64_t kSendRetryMs = 10;
// While a handshake monitor watches, look at its events this often (they
// arrive on the monitor, not on the polled socket).
constexpr int64_t kHandshakeCheckMs = 50;

}  // namespace

struct BrokerSession::Connection {
  zmq::socket_t socket;
  // The first connection's handshakes (not inproc://): a refused or
  // mismatched security set-up is told apart from a silent broker.
  std::unique_ptr<HandshakeMonitor> handshakes;
  bool handshake_failed = false;

  ~Connection() {
    handshakes.reset();  // before the socket it watches
  }
};

BrokerSession::BrokerSession(zmq::context_t& context,
                             std::vector<BrokerEndpoint> endpoints,
                             std::string endpoints_text,
                             std::unique_ptr<ClientSession> session)
    : context_(context),
      endpoints_(std::move(endpoints)),
      endpoints_text_(std::move(endpoints_text)),
      arena_block_(new char[kArenaBlockBytes]),
      arena_(ArenaOn(arena_block_.get())),
      session_(std::move(session)) {}

absl::StatusOr<std::unique_ptr<BrokerSession::Connection>>
BrokerSession::Connect(bool watch_handshakes) {
  const BrokerEndpoint& endpoint = endpoints_[next_endpoint_];
  next_endpoint_ = (next_endpoint_ + 1) % endpoints_.size();
  auto connection = std::make_unique<Connection>();
  connection->socket = zmq::socket_t(context_, zmq::socket_type::dealer);
  zmq::socket_t& socket = connection->socket;
  ConfigureSocket(socket);
  if (endpoint.curve.has_value()) {
    if (absl::Status s = ApplyCurveClient(socket, *endpoint.curve); !s.ok()) {
      socket.set(zmq::sockopt::linger, 0);
      return s;
    }
  }
  if (watch_handshakes && !absl::StartsWith(endpoint.address, "inproc://")) {
    absl::StatusOr<std::unique_ptr<HandshakeMonitor>> attached =
        HandshakeMonitor::Attach(context_, socket, endpoint.address,
                                 endpoint.curve.has_value());
    if (!attached.ok()) return attached.status();
    connection->handshakes = *std::move(attached);
  }
  try {
    socket.connect(endpoint.address);
  } catch (const zmq::error_t& e) {
    socket.set(zmq::sockopt::linger, 0);
    return absl::InvalidArgumentError(absl::StrCat(
        "bad broker address '", endpoint.address, "': ", e.what()));
  }
  return connection;
}

absl::StatusOr<std::unique_ptr<BrokerSession>> BrokerSession::Open(
    zmq::context_t& context, std::vector<BrokerEndpoint> endpoints,
    int64_t connect_timeout_ms, const std::string& name,
    const LivenessOptions& liveness, int64_t resume_timeout_ms) {
  if (endpoints.empty()) {
    return absl::InvalidArgumentError("no broker endpoint given");
  }
  std::string endpoints_text;
  for (const BrokerEndpoint& endpoint : endpoints) {
    absl::StrAppend(&endpoints_text, endpoints_text.empty() ? "" : ",",
                    endpoint.address);
  }
  const bool curve = endpoints.front().curve.has_value();
  ClientSessionOptions options;
  options.endpoint = endpoints_text;
  options.endpoint_count = endpoints.size();
  options.name = name.empty() ? absl::StrCat("tq-client:", getpid()) : name;
  options.connect_timeout_ms = connect_timeout_ms;
  options.liveness = liveness;
  options.resume_timeout_ms = resume_timeout_ms;
  std::unique_ptr<BrokerSession> session(new BrokerSession(
      context, std::move(endpoints), std::move(endpoints_text),
      std::make_unique<ClientSession>(std::move(options), MonotonicNowUs())));
  TQ_ASSIGN_OR_RETURN(session->connection_,
                      session->Connect(/*watch_handshakes=*/true));
  // The first Welcome is waited for here, in the caller's thread; the I/O
  // thread starts once it came.
  while (true) {
    const int64_t wait_ms = session->Step();
    ClientSession::State state;
    {
      std::unique_lock lock(session->mu_);
      state = session->session_->state();
    }
    if (state == ClientSession::State::kConnected) break;
    Connection& connection = *session->connection_;
    if (state == ClientSession::State::kClosed) {
      connection.socket.set(zmq::sockopt::linger, 0);
      absl::Status status = session->session_->closed_status();
      if (connection.handshake_failed || !absl::IsUnavailable(status)) {
        return status;
      }
      // No answer in time: say what the handshakes told us.
      std::string diagnosis;
      if (connection.handshakes != nullptr) {
        connection.handshakes->Poll();
        diagnosis = connection.handshakes->Diagnosis();
      }
      if (diagnosis.empty()) {
        diagnosis = curve
                        ? "is tq-broker running there, and does it accept our "
                          "CURVE key?"
                        : "is tq-broker running there? It may require CURVE "
                          "keys (--curve-key, --curve-server-key)";
        // A broker at its connection limit closes during the handshake,
        // which the handshakes' diagnosis covers; silence is something else.
      }
      return absl::UnavailableError(
          absl::StrCat(status.message(), " (", diagnosis, ")"));
    }
    std::vector<zmq::pollitem_t> items = {
        {static_cast<void*>(connection.socket), 0, ZMQ_POLLIN, 0}};
    PollIgnoringEintr(items, std::chrono::milliseconds(
                                 std::min(wait_ms, kHandshakeCheckMs)));
  }
  session->connection_->handshakes.reset();  // welcomed: nothing to watch
  session->io_thread_ = std::thread([s = session.get()] { s->IoLoop(); });
  return session;
}

BrokerSession::~BrokerSession() {
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
  }
  wakeup_.Notify();
  if (io_thread_.joinable()) io_thread_.join();
}

int64_t BrokerSession::Step() {
  Connection& connection = *connection_;
  const int64_t now = MonotonicNowUs();
  bool reconnect;
  int64_t next_us;
  {
    std::unique_lock lock(mu_);
    // Not past a message that lost the connection: the rest was read from
    // the old one (e.g. a restarted broker's second "send hello first"),
    // and would be taken for the answer to the new Hello.
    while (!session_->reconnect_pending()) {
      std::optional<ReceivedOnArena> received =
          TryReceiveOnArena(connection.socket, false, &arena_);
      if (!received.has_value()) break;
      // A malformed message is dropped; the broker is still alive.
      if (received->status.ok()) {
        session_->OnMessage(*received->envelope, received->payloads, now);
      }
      received.reset();
      arena_.Reset();  // keeps its first block for the next message
    }
    if (connection.handshakes != nullptr && connection.handshakes->Poll()) {
      connection.handshake_failed = true;
      session_->OnHandshakeFailed(connection.handshakes->failure(), now);
    }
    if (stopping_) session_->Close(now);
    session_->OnTick(now);
    reconnect = session_->TakeReconnect();
    // What was not sent on a lost connection dies with it.
    if (reconnect) unsent_.clear();
    for (Outgoing& message : session_->TakeOutgoing()) {
      unsent_.push_back(std::move(message));
    }
    next_us = session_->NextDeadlineUs();
    // Taken: what is queued from now on needs a wake of its own.
    io_wake_pending_ = false;
    io_due_us_ = next_us;
    changed_.notify_all();
  }
  if (reconnect) {
    // Unwatched: the broker at this address already accepted our keys.
    absl::StatusOr<std::unique_ptr<Connection>> fresh =
        Connect(/*watch_handshakes=*/false);
    // A socket that cannot be made now: the attempt times out on the old
    // one and the next attempt tries again.
    if (fresh.ok()) {
      connection_->socket.set(zmq::sockopt::linger, 0);
      connection_ = *std::move(fresh);
    }
  }
  while (!unsent_.empty() &&
         Send(connection_->socket, unsent_.front().envelope,
              unsent_.front().payloads)
             .ok()) {
    unsent_.pop_front();
  }
  int64_t wait_ms =
      next_us == std::numeric_limits<int64_t>::max()
          ? std::numeric_limits<int64_t>::max()
          : std::max<int64_t>(0, (next_us - MonotonicNowUs() + 999) / 1000);
  if (!unsent_.empty()) wait_ms = std::min(wait_ms, kSendRetryMs);
  return wait_ms;
}

void BrokerSession::IoLoop() {
  while (true) {
    const int64_t wait_ms = Step();
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;  // Step said Goodbye; linger sends it
    }
    std::vector<zmq::pollitem_t> items = {
        {static_cast<void*>(connection_->socket), 0, ZMQ_POLLIN, 0},
        {nullptr, wakeup_.fd(), ZMQ_POLLIN, 0}};
    PollIgnoringEintr(items, wait_ms == std::numeric_limits<int64_t>::max()
                                 ? std::chrono::milliseconds(-1)
                                 : std::chrono::milliseconds(wait_ms));
    if (items[1].revents & ZMQ_POLLIN) wakeup_.Drain();
  }
}

template <typename F>
auto BrokerSession::WithSession(F&& step) {
  std::unique_lock lock(mu_);
  if constexpr (std::is_void_v<decltype(step(*session_))>) {
    step(*session_);
    WakeIoIfNeeded();
  } else {
    auto result = step(*session_);
    WakeIoIfNeeded();
    return result;
  }
}

void BrokerSession::WakeIoIfNeeded() {
  // Only what the I/O thread does not know yet: a wake per message queued
  // while it is already woken would cost a system call per result read.
  const int64_t due_us = session_->NextDeadlineUs();
  if ((session_->has_outgoing() && !io_wake_pending_) || due_us < io_due_us_) {
    io_wake_pending_ = true;
    io_due_us_ = std::min(io_due_us_, due_us);
    wakeup_.Notify();
  }
}

v1::Welcome BrokerSession::welcome() {
  return WithSession([](ClientSession& s) { return s.welcome(); });
}

int BrokerSession::reconnects() {
  return WithSession([](ClientSession& s) { return s.reconnects(); });
}

std::optional<std::string> BrokerSession::reconnecting() {
  return WithSession([](ClientSession& s) { return s.reconnecting(); });
}

absl::Status BrokerSession::Submit(v1::SubmitJob submit,
                                   std::vector<Payload> payloads,
                                   const std::shared_ptr<JobState>& job) {
  std::unique_lock lock(mu_);
  TQ_RETURN_IF_ERROR(
      session_->Submit(std::move(submit), std::move(payloads), job, MonotonicNowUs()));
  wakeup_.Notify();  // sent, or held with a deadline the loop must see
  while (!job->answered) changed_.wait(lock);
  return job->submit_status;
}

absl::Status BrokerSession::Adopt(uint64_t job_id, std::string token,
                                  const std::shared_ptr<JobState>& job) {
  std::unique_lock lock(mu_);
  TQ_RETURN_IF_ERROR(
      session_->Adopt(job_id, std::move(token), job, MonotonicNowUs()));
  wakeup_.Notify();
  while (!job->answered) changed_.wait(lock);
  return job->submit_status;
}

absl::StatusOr<JobEvent> BrokerSession::Poll(JobState& job, bool ordered,
                                             bool want_room,
                                             absl::Duration timeout) {
  std::unique_lock lock(mu_);
  const auto deadline =
      timeout == absl::InfiniteDuration()
          ? std::chrono::steady_clock::time_point::max()
          : std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  while (true) {
    std::optional<absl::StatusOr<JobEvent>> event =
        session_->NextEvent(job, ordered, want_room, MonotonicNowUs());
    // Something to send, or an earlier deadline (an ack's batch timer) than
    // the I/O thread sleeps towards: wake it.
    WakeIoIfNeeded();
    if (event.has_value()) return *std::move(event);
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      return JobEvent{JobEvent::Kind::kTimedOut, std::nullopt};
    }
  }
}

size_t BrokerSession::InputRoom(JobState& job) {
  return WithSession([&](ClientSession& s) { return s.InputRoom(job); });
}

absl::Status BrokerSession::Append(JobState& job, InputChunk chunk) {
  return WithSession(
      [&](ClientSession& s) { return s.Append(job, std::move(chunk)); });
}

absl::Status BrokerSession::EndInput(JobState& job) {
  WithSession([&](ClientSession& s) { s.EndInput(job); });
  return absl::OkStatus();
}

void BrokerSession::Acknowledge(JobState& job, std::string mark) {
  WithSession([&](ClientSession& s) { s.Acknowledge(job, std::move(mark)); });
}

std::optional<UserCodeError> BrokerSession::user_code_error(JobState& job) {
  return WithSession([&](ClientSession&) { return job.user_error; });
}

absl::uint128 BrokerSession::ItemsAppended(JobState& job) {
  return WithSession([&](ClientSession&) { return job.items_appended; });
}

JobStats BrokerSession::Stats(JobState& job) {
  return WithSession([&](ClientSession& s) { return s.Stats(job); });
}

absl::StatusOr<v1::StatusReply> BrokerSession::Status() {
  std::unique_lock lock(mu_);
  TQ_ASSIGN_OR_RETURN(const uint64_t request_id, session_->RequestStatus(MonotonicNowUs()));
  wakeup_.Notify();
  while (true) {
    if (std::optional<absl::StatusOr<v1::StatusReply>> reply =
            session_->TakeStatusReply(request_id)) {
      return *std::move(reply);
    }
    changed_.wait(lock);
  }
}

void BrokerSession::Cancel(JobState& job) {
  WithSession([&](ClientSession& s) { s.Cancel(job); });
  changed_.notify_all();  // a Poll waiting on this job returns at once
}

void BrokerSession::Release(JobState& job) {
  WithSession([&](ClientSession& s) { s.Release(job); });
}

}  // namespace internal
}  // namespace tq
