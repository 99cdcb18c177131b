// Scheduler, part 1: peers (hello, liveness, heartbeats, departures) and
// routing each message to its handler. Jobs and chunks: scheduler_jobs.cc.
#include "broker/scheduler.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/protocol.h"
#include "common/random.h"

namespace tq {
namespace {

std::string NewSessionNonce() { return absl::StrFormat("%016x", RandomU64()); }

// Nonzero (0 means "none" on the wire).
uint64_t NewEpoch() {
  const uint64_t epoch = RandomU64();
  return epoch == 0 ? 1 : epoch;
}

}  // namespace

Scheduler::Scheduler(const SchedulerOptions& options, const TaskRegistry* tasks)
    : options_(options),
      tasks_(tasks),
      session_nonce_(NewSessionNonce()),
      epoch_(NewEpoch()) {}

void Scheduler::Log(absl::string_view line) const {
  if (logger_) logger_(line);
}

std::string Scheduler::PeerName(const std::string& id) const {
  auto it = peers_.find(id);
  if (it == peers_.end() || it->second.name.empty()) return "(unnamed)";
  return it->second.name;
}

uint64_t Scheduler::WorkerThreads() const { return worker_threads_; }

void Scheduler::Send(const std::string& peer, v1::Envelope envelope,
                     int64_t now_us, Outbox* out,
                     std::vector<Payload> payloads) {
  auto it = peers_.find(peer);
  if (it != peers_.end()) it->second.last_sent_us = now_us;
  out->Add(peer, std::move(envelope), std::move(payloads));
}

void Scheduler::SendError(const std::string& peer, const absl::Status& status,
                          int64_t now_us, Outbox* out, uint64_t job_id,
                          uint64_t request_id) {
  v1::Envelope env;
  *env.mutable_error() = ErrorFromStatus(status, job_id, request_id);
  Send(peer, std::move(env), now_us, out);
}

void Scheduler::OnMessage(InboundMessage message, int64_t now_us,
                          Outbox* out) {
  const std::string& id = message.peer;
  const v1::Envelope& envelope = message.envelope;
  if (envelope.body_case() == v1::Envelope::kHello) {
    OnHello(message, now_us, out);
    Dispatch(now_us, out);
    return;
  }
  auto it = peers_.find(id);
  if (it == peers_.end() && envelope.body_case() == v1::Envelope::kChunkReports) {
    OnOrphanReports(id, envelope.chunk_reports(), now_us, out);
    return;
  }
  if (it == peers_.end()) {
    ++stats_.rejected_no_hello;
    SendError(id, absl::FailedPreconditionError("send hello first"), now_us, out);
    return;
  }
  Peer& peer = it->second;
  peer.last_heard_us = now_us;
  switch (envelope.body_case()) {
    case v1::Envelope::kHeartbeat:
      if (peer.role == v1::ROLE_WORKER && envelope.heartbeat().has_held()) {
        OnHeld(id, envelope.heartbeat().held(), now_us, out);
        Dispatch(now_us, out);
      }
      return;
    case v1::Envelope::kGoodbye:
      ForgetPeer(id, /*failed=*/false, "said goodbye", now_us, out);
      Dispatch(now_us, out);
      return;
    case v1::Envelope::kError:
      // Peers report trouble they cannot attribute to a chunk; log only.
      Log(absl::StrCat("peer ", PeerName(id), " reported: ",
                       envelope.error().message()));
      return;
    default:
      break;
  }
  if (peer.role == v1::ROLE_WORKER) {
    OnWorkerMessage(peer, message, now_us, out);
  } else {
    OnClientMessage(peer, message, now_us, out);
  }
  Dispatch(now_us, out);
}

void Scheduler::OnHello(const InboundMessage& message, int64_t now_us,
                        Outbox* out) {
  const std::string& id = message.peer;
  const v1::Hello& hello = message.envelope.hello();
  if (hello.protocol_version() != kProtocolVersion) {
    ++stats_.rejected_bad_version;
    SendError(id,
              absl::FailedPreconditionError(absl::StrCat(
                  "protocol version ", hello.protocol_version(),
                  " not supported; this broker speaks ", kProtocolVersion)),
              now_us, out);
    if (peers_.contains(id)) ForgetPeer(id, true, "bad hello", now_us, out);
    return;
  }
  if (peers_.contains(id)) {
    ++stats_.rejected_bad_hello;
    SendError(id, absl::FailedPreconditionError("already said hello"), now_us,
              out);
    return;
  }
  if (hello.role() != v1::ROLE_CLIENT && hello.role() != v1::ROLE_WORKER) {
    ++stats_.rejected_bad_hello;
    SendError(id,
              absl::InvalidArgumentError(
                  "hello must say role client or worker"),
              now_us, out);
    return;
  }
  Peer& peer = peers_[id];
  LinkSharePeer(id, &peer);
  peer.role = hello.role();
  peer.name = hello.name();
  peer.last_heard_us = now_us;
  // Its Welcome (below) is its last message sent.
  peer.incarnation = next_incarnation_++;
  peer.heartbeat_due_us = now_us + HeartbeatEveryUs(peer);
  silences_.Push(now_us + options_.heartbeat_timeout_ms * 1000,
                 PeerRef{id, peer.incarnation});
  heartbeats_.Push(peer.heartbeat_due_us, PeerRef{id, peer.incarnation});
  if (peer.role == v1::ROLE_WORKER) {
    peer.session = next_worker_session_++;
    peer.threads = hello.threads();
    peer.credit = hello.credit();
    peer.tasks.insert(hello.tasks().begin(), hello.tasks().end());
    peer.runtimes.assign(hello.runtimes().begin(), hello.runtimes().end());
    peer.id = &peers_.find(id)->first;
    AddWorker(peer);
  } else {
    peer.owner = message.user_id.empty()
                     ? absl::StrCat("session:", session_nonce_, "-",
                                    next_client_session_++)
                     : message.user_id;
  }
  std::string runtimes;
  for (const v1::Runtime& runtime : peer.runtimes) {
    absl::StrAppend(&runtimes, ", runs ", runtime.name(), " ", runtime.version());
  }
  Log(absl::StrCat(peer.role == v1::ROLE_WORKER ? "worker " : "client ",
                   PeerName(id), " connected",
                   peer.role == v1::ROLE_WORKER
                       ? absl::StrCat(" (", peer.threads, " threads, credit ",
                                      peer.credit, runtimes, ")")
                       : ""));
  v1::Envelope env;
  v1::Welcome* welcome = env.mutable_welcome();
  welcome->set_protocol_version(kProtocolVersion);
  welcome->set_broker_epoch(epoch_);
  welcome->set_session(peer.session);
  welcome->set_heartbeat_interval_ms(
      static_cast<uint32_t>(options_.heartbeat_interval_ms));
  welcome->set_heartbeat_timeout_ms(
      static_cast<uint32_t>(options_.heartbeat_timeout_ms));
  for (const std::string& name : tasks_->Names()) welcome->add_tasks(name);
  welcome->set_worker_threads(static_cast<uint32_t>(
      std::min<uint64_t>(WorkerThreads(), std::numeric_limits<uint32_t>::max())));
  welcome->set_max_result_window(options_.max_result_window);
  for (const std::string& runtime : options_.allow_code) {
    welcome->add_code_runtimes(runtime);
  }
  Send(id, std::move(env), now_us, out);
}

void Scheduler::OnWorkerMessage(Peer& peer, InboundMessage& message,
                                int64_t now_us, Outbox* out) {
  const std::string& id = message.peer;
  v1::Envelope& env = message.envelope;
  switch (env.body_case()) {
    case v1::Envelope::kChunkReports:
      OnReports(id, peer, env.chunk_reports(), message.payloads, now_us, out);
      return;
    case v1::Envelope::kWorkerCredit:
      peer.credit += env.worker_credit().chunks();
      IndexWorker(peer);
      return;
    case v1::Envelope::kDrain:
      OnDrain(id, peer, env.drain(), now_us, out);
      return;
    default:
      ++stats_.rejected_wrong_role;
      SendError(id,
                absl::FailedPreconditionError(absl::StrCat(
                    "unexpected message '", std::string(BodyName(env)), "' from a worker")),
                now_us, out);
  }
}

void Scheduler::OnClientMessage(Peer& peer, InboundMessage& message,
                                int64_t now_us, Outbox* out) {
  const std::string& id = message.peer;
  v1::Envelope& env = message.envelope;
  switch (env.body_case()) {
    case v1::Envelope::kSubmitJob:
      OnSubmit(id, peer, message, now_us, out);
      return;
    case v1::Envelope::kAppendInput:
      OnAppendInput(id, message, now_us, out);
      return;
    case v1::Envelope::kClientCredit:
      OnClientCredit(id, env.client_credit(), now_us, out);
      return;
    case v1::Envelope::kCancelJob:
      OnCancel(id, env.cancel_job(), now_us, out);
      return;
    case v1::Envelope::kStatusRequest:
      OnStatusRequest(id, env.status_request(), now_us, out);
      return;
    case v1::Envelope::kAckResults:
      OnAckResults(id, env.ack_results(), now_us, out);
      return;
    case v1::Envelope::kAttachJob:
      OnAttachJob(id, peer, message, now_us, out);
      return;
    default:
      ++stats_.rejected_wrong_role;
      SendError(id,
                absl::FailedPreconditionError(absl::StrCat(
                    "unexpected message '", std::string(BodyName(env)), "' from a client")),
                now_us, out);
  }
}

void Scheduler::OnMalformed(const std::string& id, const absl::Status& error,
                            int64_t now_us, Outbox* out) {
  ++stats_.rejected_malformed;
  auto it = peers_.find(id);
  if (it != peers_.end()) it->second.last_heard_us = now_us;
  Log(absl::StrCat("dropped a message from ", PeerName(id), ": ",
                   error.message()));
  SendError(id, error, now_us, out);
}

void Scheduler::OnUnauthorized(const std::string& id, const absl::Status& error,
                               int64_t now_us, Outbox* out,
                               uint64_t request_id) {
  ++stats_.rejected_unauthorized;
  Log(absl::StrCat("refused a message from ", PeerName(id), ": ",
                   error.message()));
  SendError(id, error, now_us, out, 0, request_id);
}

void Scheduler::OnPeerUnreachable(const std::string& id, int64_t now_us,
                                  Outbox* out) {
  if (!peers_.contains(id)) return;
  ForgetPeer(id, /*failed=*/true, "unreachable", now_us, out);
  Dispatch(now_us, out);
}

void Scheduler::ForgetPeer(const std::string& id, bool failed,
                           absl::string_view why, int64_t now_us,
                           Outbox* out) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  const v1::Role role = it->second.role;
  const std::string name = PeerName(id);
  Log(absl::StrCat(role == v1::ROLE_WORKER ? "worker " : "client ", name,
                   " gone: ", why));
  if (role == v1::ROLE_WORKER) {
    // Keep the peer until its chunks are requeued, so the requeue does not
    // hand them straight back to it.
    it->second.draining = true;
    it->second.credit = 0;
    IndexWorker(it->second);
    RequeueWorkerChunks(
        id, failed ? RequeueReason::kWorkerLost : RequeueReason::kDrained,
        absl::UnavailableError(
            absl::StrCat("worker ", name, " lost (", why, ")")),
        now_us, out);
    RemoveWorker(peers_.at(id));
    LinkSharePeer(id, nullptr);
    peers_.erase(id);
    return;
  }
  if (failed) {
    // Lost, not closed: its jobs wait for it (or another) to attach.
    DetachJobs(it->second, name, now_us);
    LinkSharePeer(id, nullptr);
    peers_.erase(id);
    return;
  }
  std::vector<uint64_t> owned(it->second.jobs.begin(), it->second.jobs.end());
  std::sort(owned.begin(), owned.end());
  LinkSharePeer(id, nullptr);
  peers_.erase(id);
  for (uint64_t job_id : owned) {
    auto job = jobs_.find(job_id);
    if (job == jobs_.end()) continue;
    EndJob(*job->second,
           absl::CancelledError(absl::StrCat("client ", name, " gone: ", why)),
           now_us, out);
  }
}

void Scheduler::OnTick(int64_t now_us, Outbox* out, bool backlog) {
  ExpireLeases(now_us, out);
  ExpireJobs(now_us, out);
  ExpireDetached(now_us, out);
  // Silent peers: a peer heard since its entry was pushed goes back with
  // the time it may fall silent now (last_heard_us only grows).
  const int64_t timeout_us = options_.heartbeat_timeout_ms * 1000;
  std::vector<std::string> silent;
  if (!backlog) {
    for (auto& [due_us, ref] : silences_.PopDue(now_us)) {
      const Peer* peer = LivePeer(ref);
      if (peer == nullptr) continue;
      if (now_us - peer->last_heard_us >= timeout_us) {
        silent.push_back(std::move(ref.id));
      } else {
        silences_.Push(peer->last_heard_us + timeout_us, std::move(ref));
      }
    }
  }
  std::sort(silent.begin(), silent.end());
  for (const std::string& id : silent) {
    ForgetPeer(id, /*failed=*/true,
               absl::StrCat("silent for ", options_.heartbeat_timeout_ms, " ms"),
               now_us, out);
  }
  // Heartbeats to quiet peers: anything sent since pushes the entry back.
  // An entry not the peer's live one was superseded (WatchHeartbeat).
  for (auto& [due_us, ref] : heartbeats_.PopDue(now_us)) {
    Peer* peer = LivePeer(ref);
    if (peer == nullptr || due_us != peer->heartbeat_due_us) continue;
    if (now_us - peer->last_sent_us >= HeartbeatEveryUs(*peer)) {
      v1::Envelope env;
      env.mutable_heartbeat();
      peer->last_sent_us = now_us;
      out->Add(ref.id, std::move(env));
    }
    peer->heartbeat_due_us = peer->last_sent_us + HeartbeatEveryUs(*peer);
    heartbeats_.Push(peer->heartbeat_due_us, std::move(ref));
  }
  Dispatch(now_us, out);
}

int64_t Scheduler::NextDeadlineUs() const {
  int64_t next = std::numeric_limits<int64_t>::max();
  if (auto lease = leases_.EarliestUs()) next = *lease;
  next = std::min({next, job_timeouts_.EarliestUs(), NextDetachedExpiryUs(),
                   silences_.EarliestUs(), heartbeats_.EarliestUs()});
  return std::min(next, NextSpeculationUs());
}

Scheduler::Peer* Scheduler::LivePeer(const PeerRef& ref) {
  auto it = peers_.find(ref.id);
  if (it == peers_.end() || it->second.incarnation != ref.incarnation) {
    return nullptr;
  }
  return &it->second;
}

void Scheduler::WatchJob(const BrokerJob& job) {
  if (job.deadline_us() != std::numeric_limits<int64_t>::max()) {
    job_timeouts_.Push(job.deadline_us(), job.id());
  }
  if (!job.attached()) {
    detach_expiries_.Push(
        job.detached_since_us() + options_.client_grace_ms * 1000, job.id());
  }
}

void Scheduler::WatchHeartbeat(const std::string& id, Peer& peer) {
  const int64_t due_us = peer.last_sent_us + HeartbeatEveryUs(peer);
  if (due_us >= peer.heartbeat_due_us) return;
  peer.heartbeat_due_us = due_us;
  heartbeats_.Push(due_us, PeerRef{id, peer.incarnation});
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s = stats_;
  for (const auto& [id, peer] : peers_) {
    if (peer.role == v1::ROLE_WORKER) {
      ++s.connected_workers;
      s.worker_threads += peer.threads;
    } else {
      ++s.connected_clients;
    }
  }
  for (const auto& [id, job] : jobs_) {
    if (!job->finish_sent()) ++s.jobs_active;
    s.chunks_in_flight += job->in_flight();
    s.results_undelivered += job->undelivered();
    const uint64_t queued = job->ChunksQueued();
    s.chunks_queued = queued > std::numeric_limits<uint64_t>::max() - s.chunks_queued
                          ? std::numeric_limits<uint64_t>::max()
                          : s.chunks_queued + queued;
  }
  return s;
}

}  // namespace tq
