#include "client/broker_session.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/handshake_monitor.h"
#include "common/protocol.h"
#include "common/zmq_socket.h"

namespace tq {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// While a send is refused (high-water mark), retry this often.
constexpr int64_t kSendRetryMs = 10;
// While waiting for the Welcome, look at handshake events this often.
constexpr int64_t kHandshakeCheckMs = 50;

}  // namespace

absl::StatusOr<std::unique_ptr<BrokerSession>> BrokerSession::Open(
    zmq::context_t& context, const std::string& endpoint,
    int64_t connect_timeout_ms, const std::string& name,
    const CurveClientKeys* curve) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  ConfigureSocket(socket);
  if (curve != nullptr) {
    if (absl::Status s = ApplyCurveClient(socket, *curve); !s.ok()) {
      socket.set(zmq::sockopt::linger, 0);
      return s;
    }
  }
  // Tells a refused or mismatched handshake apart from a silent broker.
  // inproc (the embedded cluster) has no handshake to watch.
  std::unique_ptr<HandshakeMonitor> handshakes;
  if (!absl::StartsWith(endpoint, "inproc://")) {
    absl::StatusOr<std::unique_ptr<HandshakeMonitor>> attached =
        HandshakeMonitor::Attach(context, socket, endpoint, curve != nullptr);
    if (!attached.ok()) return attached.status();
    handshakes = *std::move(attached);
  }
  try {
    socket.connect(endpoint);
  } catch (const zmq::error_t& e) {
    socket.set(zmq::sockopt::linger, 0);
    return absl::InvalidArgumentError(
        absl::StrCat("bad broker address '", endpoint, "': ", e.what()));
  }
  v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(kProtocolVersion);
  hello.mutable_hello()->set_role(v1::ROLE_CLIENT);
  hello.mutable_hello()->set_name(
      name.empty() ? absl::StrCat("tq-client:", getpid()) : name);
  if (absl::Status sent = Send(socket, hello); !sent.ok()) {
    socket.set(zmq::sockopt::linger, 0);
    return absl::UnavailableError(absl::StrCat(
        "cannot send to broker at ", endpoint, ": ", sent.message()));
  }
  const int64_t deadline = NowMs() + connect_timeout_ms;
  while (true) {
    int64_t remaining = deadline - NowMs();
    if (remaining <= 0) break;
    std::vector<zmq::pollitem_t> items = {
        {static_cast<void*>(socket), 0, ZMQ_POLLIN, 0}};
    // Short polls: handshake events arrive on the monitor, not the socket.
    PollIgnoringEintr(items, std::chrono::milliseconds(
                                 std::min<int64_t>(remaining, kHandshakeCheckMs)));
    if (handshakes != nullptr && handshakes->Poll()) {
      socket.set(zmq::sockopt::linger, 0);
      return absl::UnavailableError(handshakes->failure());
    }
    while (std::optional<Received> received = TryReceive(socket, false)) {
      if (!received->envelope.ok()) continue;  // garbage: keep waiting
      const v1::Envelope& envelope = *received->envelope;
      if (envelope.has_welcome()) {
        return std::unique_ptr<BrokerSession>(
            new BrokerSession(std::move(socket), endpoint, envelope.welcome()));
      }
      if (envelope.has_error()) {
        socket.set(zmq::sockopt::linger, 0);
        absl::Status status = StatusFromError(envelope.error());
        return absl::Status(status.code(),
                            absl::StrCat("broker at ", endpoint,
                                         " refused us: ", status.message()));
      }
    }
  }
  socket.set(zmq::sockopt::linger, 0);
  std::string diagnosis;
  if (handshakes != nullptr) {
    handshakes->Poll();
    diagnosis = handshakes->Diagnosis();
  }
  if (diagnosis.empty()) {
    diagnosis = curve != nullptr
                    ? "is tq-broker running there, and does it accept our "
                      "CURVE key?"
                    : "is tq-broker running there? It may require CURVE keys "
                      "(--curve-key, --curve-server-key)";
  }
  return absl::UnavailableError(absl::StrCat(
      "no answer from broker at ", endpoint, " within ",
      absl::FormatDuration(absl::Milliseconds(connect_timeout_ms)), " (",
      diagnosis, ")"));
}

BrokerSession::BrokerSession(zmq::socket_t socket, std::string endpoint,
                             v1::Welcome welcome)
    : endpoint_(std::move(endpoint)),
      welcome_(std::move(welcome)),
      heartbeat_interval_ms_(welcome_.heartbeat_interval_ms() > 0
                                 ? welcome_.heartbeat_interval_ms()
                                 : kDefaultHeartbeatIntervalMs),
      heartbeat_timeout_ms_(welcome_.heartbeat_timeout_ms() > 0
                                ? welcome_.heartbeat_timeout_ms()
                                : kDefaultHeartbeatTimeoutMs),
      socket_(std::move(socket)) {
  io_thread_ = std::thread([this] { IoLoop(); });
}

BrokerSession::~BrokerSession() {
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
  }
  wakeup_.Notify();
  io_thread_.join();
}

void BrokerSession::IoLoop() {
  int64_t last_sent = NowMs();
  int64_t last_heard = last_sent;
  std::vector<v1::Envelope> unsent;  // refused by the high-water mark
  while (true) {
    int64_t now = NowMs();
    int64_t timeout = std::min(last_sent + heartbeat_interval_ms_,
                               last_heard + heartbeat_timeout_ms_) - now;
    if (!unsent.empty()) timeout = std::min(timeout, kSendRetryMs);
    std::vector<zmq::pollitem_t> items = {
        {static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0},
        {nullptr, wakeup_.fd(), ZMQ_POLLIN, 0}};
    PollIgnoringEintr(items, std::chrono::milliseconds(std::max<int64_t>(timeout, 0)));
    if (items[1].revents & ZMQ_POLLIN) wakeup_.Drain();
    now = NowMs();

    bool stopping;
    {
      std::unique_lock lock(mu_);
      while (std::optional<Received> received = TryReceive(socket_, false)) {
        last_heard = now;
        // A malformed message is dropped; the broker is still alive.
        if (received->envelope.ok()) HandleMessage(*received->envelope);
      }
      for (v1::Envelope& envelope : outbox_) unsent.push_back(std::move(envelope));
      outbox_.clear();
      stopping = stopping_;
    }

    size_t sent = 0;
    while (sent < unsent.size() && Send(socket_, unsent[sent]).ok()) ++sent;
    unsent.erase(unsent.begin(), unsent.begin() + sent);
    if (sent > 0) last_sent = now;

    if (stopping) {
      v1::Envelope goodbye;
      goodbye.mutable_goodbye();
      (void)Send(socket_, goodbye);
      return;
    }
    if (now - last_sent >= heartbeat_interval_ms_) {
      v1::Envelope heartbeat;
      heartbeat.mutable_heartbeat();
      if (Send(socket_, heartbeat).ok()) last_sent = now;
    }
    if (now - last_heard > heartbeat_timeout_ms_) {
      std::unique_lock lock(mu_);
      FailEverything(absl::UnavailableError(absl::StrCat(
          "lost contact with broker at ", endpoint_, ": silent for ",
          absl::FormatDuration(absl::Milliseconds(now - last_heard)))));
      socket_.set(zmq::sockopt::linger, 0);
      return;
    }
  }
}

void BrokerSession::HandleMessage(const v1::Envelope& envelope) {
  switch (envelope.body_case()) {
    case v1::Envelope::kJobAccepted: {
      const v1::JobAccepted& accepted = envelope.job_accepted();
      auto it = by_request_.find(accepted.request_id());
      if (it == by_request_.end()) return;
      std::shared_ptr<JobState> job = it->second;
      by_request_.erase(it);
      job->answered = true;
      job->job_id = accepted.job_id();
      job->chunk_size = accepted.chunk_size();
      job->chunk_count = accepted.chunk_count();
      uint64_t last = job->input->last_index();
      if (job->chunk_size == 0 ||
          job->chunk_count != last / job->chunk_size + 1) {
        job->submit_status = absl::InternalError(absl::StrCat(
            "broker accepted the job with chunk_size ", job->chunk_size,
            " and chunk_count ", job->chunk_count,
            ", which do not fit its input"));
        v1::Envelope cancel;
        cancel.mutable_cancel_job()->set_job_id(job->job_id);
        Enqueue(std::move(cancel));
      } else {
        by_job_[job->job_id] = job;
      }
      break;
    }
    case v1::Envelope::kError: {
      const v1::Error& error = envelope.error();
      if (auto st = status_requests_.find(error.request_id());
          error.request_id() != 0 && st != status_requests_.end()) {
        st->second = StatusFromError(error);
      } else if (auto it = by_request_.find(error.request_id());
          error.request_id() != 0 && it != by_request_.end()) {
        it->second->answered = true;
        it->second->submit_status = StatusFromError(error);
        by_request_.erase(it);
      } else if (auto jt = by_job_.find(error.job_id());
                 error.job_id() != 0 && jt != by_job_.end()) {
        FailJob(*jt->second, StatusFromError(error));
      } else if (error.job_id() == 0 && error.request_id() == 0) {
        // About the session itself (e.g. the broker forgot us): fatal.
        absl::Status status = StatusFromError(error);
        FailEverything(absl::Status(
            status.code(),
            absl::StrCat("broker at ", endpoint_, ": ", status.message())));
      }
      break;
    }
    case v1::Envelope::kJobResults:
      HandleResults(envelope.job_results());
      break;
    case v1::Envelope::kJobFinished: {
      const v1::JobFinished& finished = envelope.job_finished();
      auto it = by_job_.find(finished.job_id());
      if (it == by_job_.end()) return;
      if (finished.code() == 0) {
        it->second->finished = true;
      } else {
        FailJob(*it->second, StatusFromCode(finished.code(), finished.message()));
      }
      by_job_.erase(it);
      break;
    }
    case v1::Envelope::kStatusReply: {
      auto it = status_requests_.find(envelope.status_reply().request_id());
      if (it != status_requests_.end()) it->second = envelope.status_reply();
      break;
    }
    case v1::Envelope::kGoodbye:
      FailEverything(absl::UnavailableError(
          absl::StrCat("broker at ", endpoint_, " is shutting down")));
      break;
    default:
      break;  // heartbeats only prove liveness; anything else is ignored
  }
  changed_.notify_all();
}

void BrokerSession::HandleResults(const v1::JobResults& results) {
  for (const v1::ChunkResult& result : results.results()) {
    auto it = by_job_.find(result.job_id());
    if (it == by_job_.end()) continue;  // cancelled or released job
    JobState& job = *it->second;
    ++job.received;
    if (job.finished) continue;
    absl::StatusOr<ChunkResult> decoded = ChunkResult::Decode(
        job.input, job.chunk_size, result.chunk_index(), result.output());
    if (!decoded.ok()) {
      FailJob(job, decoded.status());
      v1::Envelope cancel;
      cancel.mutable_cancel_job()->set_job_id(job.job_id);
      Enqueue(std::move(cancel));
      continue;
    }
    job.buffer.Insert(*std::move(decoded));
  }
}

void BrokerSession::FailJob(JobState& job, absl::Status status) {
  if (job.finished) return;
  job.finished = true;
  job.final_status = std::move(status);
}

void BrokerSession::FailEverything(absl::Status status) {
  lost_ = status;
  for (auto& [id, job] : by_request_) {
    job->answered = true;
    job->submit_status = status;
  }
  for (auto& [id, job] : by_job_) FailJob(*job, status);
  by_request_.clear();
  by_job_.clear();
  changed_.notify_all();
}

void BrokerSession::Enqueue(v1::Envelope envelope) {
  outbox_.push_back(std::move(envelope));
  wakeup_.Notify();
}

void BrokerSession::GrantCredit(JobState& job, uint64_t chunks) {
  if (chunks == 0 || job.finished || job.job_id == 0) return;
  v1::Envelope credit;
  credit.mutable_client_credit()->set_job_id(job.job_id);
  credit.mutable_client_credit()->set_chunks(static_cast<uint32_t>(chunks));
  job.granted += chunks;
  Enqueue(std::move(credit));
}

absl::StatusOr<std::shared_ptr<JobState>> BrokerSession::Submit(
    v1::SubmitJob submit, std::shared_ptr<const JobInput> input,
    uint32_t window) {
  std::unique_lock lock(mu_);
  if (!lost_.ok()) return lost_;
  auto job = std::make_shared<JobState>();
  job->request_id = next_request_id_++;
  job->input = std::move(input);
  job->window = window;
  job->granted = window;
  submit.set_request_id(job->request_id);
  submit.set_result_window(window);
  by_request_[job->request_id] = job;
  v1::Envelope envelope;
  *envelope.mutable_submit_job() = std::move(submit);
  Enqueue(std::move(envelope));
  while (!job->answered) changed_.wait(lock);
  if (!job->submit_status.ok()) return job->submit_status;
  return job;
}

absl::StatusOr<std::optional<ChunkResult>> BrokerSession::Next(JobState& job,
                                                               bool ordered) {
  std::unique_lock lock(mu_);
  const uint64_t batch = std::max<uint64_t>(1, job.window / 2);
  while (true) {
    if (job.cancelled) return absl::CancelledError("job cancelled");
    std::optional<ChunkResult> result =
        ordered ? job.buffer.PopNextInOrder() : job.buffer.PopOldest();
    if (result.has_value()) {
      ++job.delivered;
      if (++job.ungranted >= batch) {
        GrantCredit(job, job.ungranted);
        job.ungranted = 0;
      }
      return result;
    }
    if (job.finished) {
      if (!job.final_status.ok()) return job.final_status;
      if (job.delivered < job.chunk_count) {
        return absl::InternalError(absl::StrCat(
            "broker finished job ", job.job_id, " after delivering ",
            job.delivered, " of ", job.chunk_count, " chunks"));
      }
      return std::nullopt;
    }
    // About to wait: return all consumed credit first, so the broker is never
    // left holding a finished chunk we are waiting for without credit.
    if (job.ungranted > 0) {
      GrantCredit(job, job.ungranted);
      job.ungranted = 0;
    }
    // Ordered only: every credit is spent on chunks beyond the one we need
    // (they sit in the reorder buffer). One extra credit lets it through;
    // without it both sides would wait forever.
    if (ordered && job.granted == job.received) GrantCredit(job, 1);
    changed_.wait(lock);
  }
}

absl::StatusOr<v1::StatusReply> BrokerSession::Status() {
  std::unique_lock lock(mu_);
  if (!lost_.ok()) return lost_;
  const uint64_t request_id = next_request_id_++;
  status_requests_[request_id] = std::nullopt;
  v1::Envelope envelope;
  envelope.mutable_status_request()->set_request_id(request_id);
  Enqueue(std::move(envelope));
  auto it = status_requests_.find(request_id);
  while (!it->second.has_value() && lost_.ok()) changed_.wait(lock);
  absl::StatusOr<v1::StatusReply> reply =
      it->second.has_value() ? *std::move(it->second)
                             : absl::StatusOr<v1::StatusReply>(lost_);
  status_requests_.erase(it);
  return reply;
}

void BrokerSession::Cancel(JobState& job) {
  std::unique_lock lock(mu_);
  job.cancelled = true;
  if (!job.finished && job.job_id != 0) {
    v1::Envelope cancel;
    cancel.mutable_cancel_job()->set_job_id(job.job_id);
    Enqueue(std::move(cancel));
  }
  changed_.notify_all();
}

void BrokerSession::Release(JobState& job) {
  std::unique_lock lock(mu_);
  if (!job.finished && job.job_id != 0 && by_job_.erase(job.job_id) > 0) {
    v1::Envelope cancel;
    cancel.mutable_cancel_job()->set_job_id(job.job_id);
    Enqueue(std::move(cancel));
  }
  by_request_.erase(job.request_id);
}

}  // namespace tq
