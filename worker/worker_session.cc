#include "worker/worker_session.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/protocol.h"

namespace tq {

WorkerSession::WorkerSession(const WorkerSessionOptions& options,
                             WorkerCapabilities capabilities)
    : options_(options),
      capabilities_(std::move(capabilities)),
      adaptive_prefetch_(options.prefetch < 0),
      // Adaptive: the old fixed default until the first chunk is measured.
      capacity_(std::max(1, options.threads) +
                (options.prefetch < 0 ? std::max(1, options.threads / 2)
                                      : options.prefetch)),
      noted_capacity_(capacity_),
      liveness_(LivenessOptions{options.heartbeat_interval_ms,
                                options.heartbeat_timeout_ms,
                                options.reconnect_min_ms,
                                options.reconnect_max_ms}) {}

// ------------------------------------------------------------------ events

void WorkerSession::OnConnected(int64_t now_us) {
  if (state_ == State::kDone || stopping_) return;
  ++epoch_;  // whatever still runs now belongs to a lost session
  state_ = State::kAwaitingWelcome;
  queued_.clear();
  reports_to_send_.clear();
  credit_to_return_ = 0;
  unsent_.clear();  // LoseSession counted them
  send_blocked_since_us_ = -1;
  broker_epoch_ = 0;
  session_id_ = 0;
  // Orphans occupy threads the broker no longer counts: withhold their
  // credit until they finish.
  granted_ = std::max<int64_t>(0, capacity_ - static_cast<int64_t>(running_.size()));
  v1::Envelope envelope;
  v1::Hello* hello = envelope.mutable_hello();
  hello->set_protocol_version(kProtocolVersion);
  hello->set_role(v1::ROLE_WORKER);
  hello->set_name(options_.name);
  hello->set_threads(static_cast<uint32_t>(options_.threads));
  hello->set_credit(static_cast<uint32_t>(granted_));
  for (const std::string& task : capabilities_.tasks) hello->add_tasks(task);
  for (const v1::Runtime& runtime : capabilities_.runtimes) {
    *hello->add_runtimes() = runtime;
  }
  hello->set_failed_over(hello_sent_ && !standby_refused_);
  hello_sent_ = true;
  standby_refused_ = false;
  Emit(std::move(envelope), now_us);
  // No Welcome within the back-off: try again on a new socket, waiting
  // twice as long next time.
  welcome_deadline_us_ = liveness_.Connecting(now_us);
}

void WorkerSession::OnMessage(v1::Envelope envelope,
                              const std::vector<Payload>& payloads,
                              int64_t now_us) {
  if (state_ != State::kAwaitingWelcome && state_ != State::kWelcomed) return;
  liveness_.Heard(now_us);
  switch (envelope.body_case()) {
    case v1::Envelope::kWelcome: {
      const v1::Welcome& welcome = envelope.welcome();
      if (state_ == State::kWelcomed) {
        Violation("second welcome");
        break;
      }
      if (welcome.protocol_version() != kProtocolVersion) {
        state_ = State::kDone;
        status_ = absl::FailedPreconditionError(
            absl::StrCat("broker welcomed with protocol version ",
                         welcome.protocol_version(), "; this worker speaks ",
                         kProtocolVersion));
        return;
      }
      state_ = State::kWelcomed;
      broker_epoch_ = welcome.broker_epoch();
      session_id_ = welcome.session();
      liveness_.Welcomed(welcome, now_us);
      liveness_.Sent(now_us);  // the first held heartbeat one interval on
      notes_.push_back(absl::StrCat("welcomed; credit ", granted_, ", epoch ",
                                    broker_epoch_, ", session ", session_id_));
      break;
    }
    case v1::Envelope::kHeartbeat:
      break;
    case v1::Envelope::kError: {
      absl::Status error = StatusFromError(envelope.error());
      if (error.ok()) {
        error = absl::UnknownError(absl::StrCat(
            "broker sent an error with code 0: ", envelope.error().message()));
      }
      if (state_ == State::kAwaitingWelcome && envelope.error().standby()) {
        // A standby pair's broker that does not serve: the next session
        // goes to the next broker, after the usual wait for a Welcome
        // (back-off), so two standbys are not asked in a loop.
        notes_.push_back(absl::StrCat("broker refused: ", error.message()));
        standby_refused_ = true;
        break;
      }
      if (state_ == State::kAwaitingWelcome) {
        // The broker refused our Hello (e.g. protocol version): retrying
        // would be refused again.
        state_ = State::kDone;
        status_ = error;
        return;
      }
      if (envelope.error().job_id() == 0) {
        // The broker no longer accepts this session (e.g. it restarted and
        // does not know us): start a new one.
        LoseSession(absl::StrCat("broker error: ", error.ToString()));
      } else {
        notes_.push_back(absl::StrCat("broker error: ", error.ToString()));
      }
      break;
    }
    case v1::Envelope::kGoodbye:
      LoseSession("broker said goodbye");
      break;
    case v1::Envelope::kAssignments:
      if (state_ != State::kWelcomed) {
        Violation("assignments before welcome");
        break;
      }
      if (envelope.assignments().broker_epoch() != broker_epoch_ ||
          envelope.assignments().session() != session_id_) {
        // Meant for another session of ours (or another broker): running
        // them would report to nobody; their broker requeues them.
        stale_assignments_ += envelope.assignments().assignments_size();
        notes_.push_back(absl::StrCat(
            "dropped ", envelope.assignments().assignments_size(),
            " assignments of epoch ", envelope.assignments().broker_epoch(),
            " session ", envelope.assignments().session(), " (ours: epoch ",
            broker_epoch_, " session ", session_id_, ")"));
        break;
      }
      for (const v1::CodeBlob& blob : envelope.assignments().code_blobs()) {
        if (blob.payload() >= payloads.size()) {
          Violation("code blob names a payload the message lacks");
          continue;
        }
        code_.Put(blob.sha256(), payloads[blob.payload()]);
      }
      for (v1::Assignment& assignment :
           *envelope.mutable_assignments()->mutable_assignments()) {
        HandleAssignment(assignment, payloads, now_us);
      }
      break;
    case v1::Envelope::kRevokeJob:
      HandleRevoke(envelope.revoke_job(), now_us);
      break;
    case v1::Envelope::kReturnQueued:
      HandleReturnQueued(envelope.return_queued());
      break;
    default:
      Violation(absl::StrCat("unexpected ", std::string(BodyName(envelope))));
      break;
  }
  TopUpCredit();  // re-assigned running chunks and revoked ones freed slots
  StartChunks(now_us);
  MaybeFinishStop(now_us);
  Flush(now_us);
}

void WorkerSession::OnChunksFinished(std::vector<ChunkDone> done,
                                     int64_t now_us) {
  for (ChunkDone& chunk_done : done) {
    v1::ChunkReport& report = chunk_done.report;
    const ChunkKey key{report.job_id(), report.chunk_index()};
    auto it = running_.find(key);
    if (it == running_.end() ||
        (chunk_done.run_id != 0 && it->second.run_id != chunk_done.run_id)) {
      // A cancelled run ending (revoked, or reported at its run limit): its
      // slot's credit came back when it was cancelled.
      auto cancelled = chunk_done.run_id != 0
                           ? cancelled_runs_.find(chunk_done.run_id)
                           : std::find_if(cancelled_runs_.begin(),
                                          cancelled_runs_.end(),
                                          [&key](const auto& entry) {
                                            return entry.second.key == key;
                                          });
      if (cancelled != cancelled_runs_.end()) {
        cancelled_runs_.erase(cancelled);
        ++cancelled_runs_count_;
      } else {
        ++discarded_reports_;  // not something we started: a loop bug
      }
      continue;
    }
    RunningChunk chunk = it->second;
    running_.erase(it);
    ++chunks_finished_;
    // Orphans ran on this machine too: their time counts.
    MeasureRunTime(report.run_micros());
    if (chunk.epoch == epoch_ && state_ == State::kWelcomed) {
      report.set_attempt(chunk.attempt);
      reports_to_send_.push_back(std::move(chunk_done));
    } else {
      ++discarded_reports_;  // its session is gone; the broker requeued it
    }
  }
  AdaptCapacity();
  if (capacity_ != noted_capacity_ &&
      (capacity_ >= 2 * noted_capacity_ || 2 * capacity_ <= noted_capacity_ ||
       capacity_ == options_.threads + 1 ||
       capacity_ == options_.threads + kMaxPrefetch)) {
    notes_.push_back(absl::StrCat("capacity ", noted_capacity_, " -> ", capacity_,
                                  " (average chunk ",
                                  static_cast<int64_t>(average_run_us_), " us)"));
    noted_capacity_ = capacity_;
  }
  // Either way slots came free (an orphan's was withheld from Hello), and
  // the capacity may have moved: grant what fits.
  TopUpCredit();
  StartChunks(now_us);
  MaybeFinishStop(now_us);
  Flush(now_us);
}

void WorkerSession::OnTick(int64_t now_us) {
  EnforceRunLimits(now_us);
  for (const auto& [run_id, run] : cancelled_runs_) {
    if (now_us >= run.deadline_us) {
      Wedge(absl::StrCat("job ", run.key.first, " chunk ", run.key.second,
                         " did not stop within ", kCancelGraceUs / 1000,
                         " ms of its cancellation (a task that ignores it)"),
            now_us);
      break;
    }
  }
  if (!unsent_.empty() && state_ == State::kWelcomed &&
      now_us - send_blocked_since_us_ >= liveness_.timeout_us()) {
    LoseSession(absl::StrCat("could not send to the broker for ",
                             (now_us - send_blocked_since_us_) / 1000, " ms"));
  }
  if (!unsent_.empty() && now_us >= send_retry_us_) {
    // Retry, oldest first, ahead of anything newer.
    for (WorkerMessage& message : outgoing_) unsent_.push_back(std::move(message));
    outgoing_.assign(std::make_move_iterator(unsent_.begin()),
                     std::make_move_iterator(unsent_.end()));
    unsent_.clear();
    retry_pending_ = true;
  }
  if (state_ == State::kAwaitingWelcome && now_us >= welcome_deadline_us_) {
    LoseSession("no welcome");
  } else if (state_ == State::kWelcomed &&
             liveness_.Silent(now_us)) {
    LoseSession(absl::StrCat("broker silent for ",
                             liveness_.silent_ms(now_us), " ms"));
  }
  // Busy or idle: what we hold, so the broker renews its leases.
  if (state_ == State::kWelcomed && liveness_.HeartbeatDue(now_us)) {
    SendHeldHeartbeat(now_us);
  }
  TopUpCredit();  // cancelled runs freed slots
  StartChunks(now_us);
  MaybeFinishStop(now_us);
  Flush(now_us);
}

void WorkerSession::OnSendFailed(std::vector<WorkerMessage> unsent,
                                 const absl::Status& why, bool retryable,
                                 int64_t now_us) {
  if (unsent.empty()) return;
  if (send_blocked_since_us_ < 0) send_blocked_since_us_ = now_us;
  retry_handed_out_ = false;  // it did not go through
  // Ahead of what is already kept? No: TakeOutgoing handed out nothing
  // while messages were kept, so `unsent` is the oldest.
  std::deque<WorkerMessage> kept;
  for (WorkerMessage& message : unsent) {
    // A heartbeat goes stale; a fresh one follows within the interval.
    if (message.envelope.has_heartbeat()) continue;
    kept.push_back(std::move(message));
  }
  for (WorkerMessage& message : unsent_) kept.push_back(std::move(message));
  unsent_ = std::move(kept);
  send_retry_us_ = now_us + kSendRetryUs;
  notes_.push_back(absl::StrCat("send failed (", why.message(), "); ",
                                unsent_.size(), " messages kept for a retry"));
  if (!retryable && (state_ == State::kWelcomed || state_ == State::kAwaitingWelcome)) {
    LoseSession(absl::StrCat("broken socket: ", why.message()));
  }
}

void WorkerSession::OnStopRequested(int64_t now_us) {
  if (stopping_ || state_ == State::kDone) return;
  stopping_ = true;
  // Our queued chunks go back; so does credit the broker still holds
  // (Drain), and nothing new is taken.
  notes_.push_back(absl::StrCat("stopping; finished ", chunks_finished_,
                                " chunks, capacity ", capacity_));
  if (state_ == State::kWelcomed) {
    v1::Envelope envelope;
    v1::Drain* drain = envelope.mutable_drain();
    for (const ChunkWork& work : queued_) {
      v1::ChunkRef* ref = drain->add_returned();
      ref->set_job_id(work.assignment.job_id());
      ref->set_chunk_index(work.assignment.chunk_index());
      ref->set_attempt(work.assignment.attempt());
    }
    Emit(std::move(envelope), now_us);
  }
  queued_.clear();
  reconnect_ = false;
  MaybeFinishStop(now_us);
  Flush(now_us);
}

// ----------------------------------------------------------------- outputs

std::vector<WorkerMessage> WorkerSession::TakeOutgoing() {
  if (!unsent_.empty()) {
    // Sends are failing: newer messages wait behind the kept ones, in order.
    for (WorkerMessage& message : outgoing_) {
      if (!message.envelope.has_heartbeat()) unsent_.push_back(std::move(message));
    }
    outgoing_.clear();
    return {};
  }
  // Nothing was handed back since the last hand-out: if that was a retry,
  // sends go through again.
  if (retry_handed_out_) {
    retry_handed_out_ = false;
    send_blocked_since_us_ = -1;
  }
  retry_handed_out_ = std::exchange(retry_pending_, false);
  return std::exchange(outgoing_, {});
}

std::vector<ChunkWork> WorkerSession::TakeChunksToStart() {
  return std::exchange(to_start_, {});
}

std::vector<uint64_t> WorkerSession::TakeRevokedJobs() {
  return std::exchange(revoked_, {});
}

std::vector<std::pair<uint64_t, uint64_t>> WorkerSession::TakeCancelledCodeChunks() {
  return std::exchange(cancelled_code_chunks_, {});
}

bool WorkerSession::TakeReconnect() { return std::exchange(reconnect_, false); }

std::vector<std::string> WorkerSession::TakeNotes() {
  return std::exchange(notes_, {});
}

int64_t WorkerSession::NextDeadlineUs() const {
  int64_t deadline = kNoDeadline;
  switch (state_) {
    case State::kAwaitingWelcome:
      deadline = welcome_deadline_us_;
      break;
    case State::kWelcomed:
      deadline = liveness_.NextDeadlineUs();
      if (wedged_) deadline = std::min(deadline, wedged_deadline_us_);
      break;
    case State::kDone:
      return kNoDeadline;
    default:
      break;
  }
  if (!unsent_.empty()) deadline = std::min(deadline, send_retry_us_);
  for (const auto& [run_id, run] : cancelled_runs_) {
    deadline = std::min(deadline, run.deadline_us);
  }
  for (const auto& [key, chunk] : running_) {
    if (chunk.run_limit_us > 0) {
      deadline = std::min(deadline, chunk.started_us + chunk.run_limit_us);
    }
  }
  return deadline;
}

// ----------------------------------------------------------------- helpers

void WorkerSession::HandleAssignment(v1::Assignment& assignment,
                                     const std::vector<Payload>& payloads,
                                     int64_t now_us) {
  ChunkKey key{assignment.job_id(), assignment.chunk_index()};
  if (stopping_) {
    // Sent before the broker saw our Drain: hand it straight back.
    v1::Envelope envelope;
    v1::ChunkRef* ref = envelope.mutable_drain()->add_returned();
    ref->set_job_id(key.first);
    ref->set_chunk_index(key.second);
    ref->set_attempt(assignment.attempt());
    Emit(std::move(envelope), now_us);
    return;
  }
  if (granted_ <= 0) {
    Violation(absl::StrCat("assignment of job ", key.first, " chunk ",
                           key.second, " beyond credit; dropped"));
    return;
  }
  --granted_;
  if (auto it = running_.find(key); it != running_.end()) {
    // Re-handed out while it still runs here (e.g. from a lost session):
    // never run it twice at once; report this attempt when it finishes. It
    // takes no new slot, so TopUpCredit gives its credit back.
    // Its run goes on (same run, token and start time) under this
    // hand-out's attempt, session and run limit.
    it->second.attempt = assignment.attempt();
    it->second.epoch = epoch_;
    it->second.run_limit_us =
        static_cast<int64_t>(std::min<uint64_t>(assignment.run_limit_ms(), uint64_t{1} << 40)) * 1000;
    notes_.push_back(absl::StrCat("job ", key.first, " chunk ", key.second,
                                  " re-assigned while running; adopted"));
    return;
  }
  for (ChunkWork& queued : queued_) {
    if (queued.assignment.job_id() == key.first &&
        queued.assignment.chunk_index() == key.second) {
      queued.assignment.set_attempt(assignment.attempt());
      return;
    }
  }
  ChunkWork work;
  if (assignment.input().input_case() == v1::ChunkInput::kPayload) {
    if (assignment.input().payload() >= payloads.size()) {
      RefuseChunk(assignment, v1::FAILURE_RETRYABLE,
                  absl::InvalidArgumentError(
                      "the assignment names a payload its message lacks"));
      return;
    }
    work.input = payloads[assignment.input().payload()];
  }
  if (assignment.has_code()) {
    const v1::CodeSpec& code = assignment.code();
    std::optional<Payload> function = code_.Get(code.function_sha256());
    std::optional<Payload> initializer;
    if (!code.initializer_sha256().empty()) {
      initializer = code_.Get(code.initializer_sha256());
    }
    if (!function.has_value() ||
        (!code.initializer_sha256().empty() && !initializer.has_value())) {
      RefuseChunk(assignment, v1::FAILURE_CODE_MISSING,
                  absl::FailedPreconditionError(
                      "this worker does not hold the chunk's code"));
      return;
    }
    work.function = *std::move(function);
    if (initializer.has_value()) work.initializer = *std::move(initializer);
  }
  const bool run_first = assignment.run_first();
  work.assignment = std::move(assignment);
  // run_first: ahead of the others, behind earlier run_first chunks.
  auto at = queued_.end();
  if (run_first) {
    at = std::find_if(queued_.begin(), queued_.end(), [](const ChunkWork& w) {
      return !w.assignment.run_first();
    });
  }
  queued_.insert(at, std::move(work));
}

void WorkerSession::RefuseChunk(const v1::Assignment& assignment,
                                v1::Failure failure, const absl::Status& why) {
  // Its credit was taken but it holds no slot: TopUpCredit gives it back.
  ChunkDone done;
  done.report.set_job_id(assignment.job_id());
  done.report.set_chunk_index(assignment.chunk_index());
  done.report.set_attempt(assignment.attempt());
  *done.report.mutable_error() = ErrorFromStatus(why, assignment.job_id());
  done.report.set_failure(failure);
  reports_to_send_.push_back(std::move(done));
  notes_.push_back(absl::StrCat("job ", assignment.job_id(), " chunk ",
                                assignment.chunk_index(), " refused: ",
                                why.message()));
}

void WorkerSession::HandleRevoke(const v1::RevokeJob& revoke, int64_t now_us) {
  const uint64_t job_id = revoke.job_id();
  // Empty chunks: the whole job. Chunks are matched by index: the copy this
  // worker holds is the unwanted one, whatever its attempt.
  auto revoked = [&revoke, job_id](const ChunkKey& key) {
    if (key.first != job_id) return false;
    if (revoke.chunks().empty()) return true;
    for (const v1::ChunkRef& ref : revoke.chunks()) {
      if (ref.job_id() == job_id && ref.chunk_index() == key.second) return true;
    }
    return false;
  };
  // The dropped and cancelled chunks' slots come back through TopUpCredit.
  queued_.erase(std::remove_if(queued_.begin(), queued_.end(),
                               [&revoked](const ChunkWork& work) {
                                 return revoked({work.assignment.job_id(),
                                                 work.assignment.chunk_index()});
                               }),
                queued_.end());
  int stopped = 0;
  for (auto it = running_.begin(); it != running_.end();) {
    auto next = std::next(it);
    if (revoked(it->first)) {
      CancelRun(it, now_us);
      ++stopped;
    }
    it = next;
  }
  // Code chunks of the whole job: their runners are killed by job (which
  // also covers one that was just starting).
  if (revoke.chunks().empty()) revoked_.push_back(job_id);
  if (stopped > 0) {
    notes_.push_back(absl::StrCat("job ", job_id, " revoked: stopping ",
                                  stopped, " running chunks"));
  }
}

void WorkerSession::HandleReturnQueued(const v1::ReturnQueued& request) {
  for (const v1::ChunkRef& ref : request.chunks()) {
    auto it = std::find_if(queued_.begin(), queued_.end(),
                           [&ref](const ChunkWork& work) {
                             return work.assignment.job_id() == ref.job_id() &&
                                    work.assignment.chunk_index() ==
                                        ref.chunk_index() &&
                                    work.assignment.attempt() == ref.attempt();
                           });
    if (it == queued_.end()) continue;  // running (or gone): reported as usual
    returned_.push_back(ref);
    queued_.erase(it);  // TopUpCredit gives its slot back
  }
}

void WorkerSession::CancelRun(std::map<ChunkKey, RunningChunk>::iterator it,
                              int64_t now_us) {
  RunningChunk& chunk = it->second;
  if (chunk.cancel != nullptr) chunk.cancel->Cancel();
  if (chunk.code) cancelled_code_chunks_.push_back(it->first);
  cancelled_runs_[chunk.run_id] = {it->first, now_us + kCancelGraceUs};
  running_.erase(it);
}

void WorkerSession::EnforceRunLimits(int64_t now_us) {
  for (auto it = running_.begin(); it != running_.end();) {
    auto next = std::next(it);
    const RunningChunk& chunk = it->second;
    if (chunk.run_limit_us > 0 && now_us - chunk.started_us >= chunk.run_limit_us) {
      const auto [job_id, chunk_index] = it->first;
      ++run_limit_failures_;
      notes_.push_back(absl::StrCat("job ", job_id, " chunk ", chunk_index,
                                    " ran past its run limit of ",
                                    chunk.run_limit_us / 1000, " ms; cancelled"));
      if (chunk.epoch == epoch_ && state_ == State::kWelcomed) {
        ChunkDone done;
        done.report.set_job_id(job_id);
        done.report.set_chunk_index(chunk_index);
        done.report.set_attempt(chunk.attempt);
        done.report.set_run_micros(static_cast<uint64_t>(now_us - chunk.started_us));
        *done.report.mutable_error() = ErrorFromStatus(
            absl::DeadlineExceededError(absl::StrCat(
                "chunk ", chunk_index, " of job ", job_id,
                " ran past its run limit of ", chunk.run_limit_us / 1000, " ms")),
            job_id);
        done.report.set_failure(v1::FAILURE_RUN_LIMIT);
        reports_to_send_.push_back(std::move(done));
      }
      CancelRun(it, now_us);
    }
    it = next;
  }
}

void WorkerSession::Wedge(const std::string& why, int64_t now_us) {
  if (wedged_) return;
  wedged_ = true;
  wedged_status_ = absl::AbortedError(absl::StrCat(
      why, "; a thread cannot be killed, so this worker stops taking work and "
      "exits for its supervisor to restart it"));
  wedged_deadline_us_ = now_us + kWedgedExitGraceUs;
  notes_.push_back(std::string(wedged_status_.message()));
  OnStopRequested(now_us);
}

void WorkerSession::SendHeldHeartbeat(int64_t now_us) {
  v1::Envelope heartbeat;
  v1::WorkerHeld* held = heartbeat.mutable_heartbeat()->mutable_held();
  held->set_session(session_id_);
  for (const auto& [key, chunk] : running_) {
    if (chunk.epoch != epoch_) continue;  // orphans: the broker requeued them
    v1::ChunkRef* ref = held->add_running();
    ref->set_job_id(key.first);
    ref->set_chunk_index(key.second);
    ref->set_attempt(chunk.attempt);
    ref->set_started_ms(static_cast<uint64_t>(std::max<int64_t>(0, now_us - chunk.started_us)) / 1000);
  }
  for (const ChunkWork& work : queued_) {
    v1::ChunkRef* ref = held->add_queued();
    ref->set_job_id(work.assignment.job_id());
    ref->set_chunk_index(work.assignment.chunk_index());
    ref->set_attempt(work.assignment.attempt());
  }
  Emit(std::move(heartbeat), now_us);
  liveness_.Sent(now_us);
}

void WorkerSession::LoseSession(const std::string& why) {
  notes_.push_back(absl::StrCat("session lost (", why, "); queued ",
                                queued_.size(), ", running ", running_.size()));
  // The broker requeues everything it handed us; running chunks become
  // orphans (their epoch is now stale once OnConnected bumps it).
  state_ = State::kLost;
  queued_.clear();
  reports_to_send_.clear();
  returned_.clear();
  for (const WorkerMessage& message : unsent_) {
    if (message.envelope.has_chunk_reports()) {
      undelivered_reports_ += message.envelope.chunk_reports().reports_size();
    }
  }
  if (!unsent_.empty()) {
    notes_.push_back(absl::StrCat(
        unsent_.size(), " messages never sent (",
        undelivered_reports_, " chunk reports undelivered so far); the broker "
        "requeues their chunks"));
  }
  unsent_.clear();
  send_blocked_since_us_ = -1;
  retry_pending_ = false;
  retry_handed_out_ = false;
  credit_to_return_ = 0;
  granted_ = 0;
  ++epoch_;
  if (!stopping_) reconnect_ = true;
}

void WorkerSession::StartChunks(int64_t now_us) {
  if (state_ != State::kWelcomed) return;
  while (!queued_.empty() &&
         running_.size() < static_cast<size_t>(options_.threads * pool_depth_)) {
    ChunkWork work = std::move(queued_.front());
    queued_.pop_front();
    work.cancel = std::make_shared<CancelToken>();
    work.run_id = next_run_id_++;
    running_[{work.assignment.job_id(), work.assignment.chunk_index()}] = {
        work.assignment.attempt(),
        epoch_,
        work.run_id,
        now_us,
        static_cast<int64_t>(std::min<uint64_t>(work.assignment.run_limit_ms(),
                                                uint64_t{1} << 40)) *
            1000,
        work.assignment.has_code(),
        work.cancel};
    to_start_.push_back(std::move(work));
  }
}

void WorkerSession::MeasureRunTime(uint64_t run_micros) {
  // Clamp at an hour: a bogus sample must not make the average meaningless.
  double sample = static_cast<double>(std::min<uint64_t>(run_micros, 3'600'000'000));
  average_run_us_ = average_run_us_ < 0
                        ? sample
                        : average_run_us_ + kRunTimeEwmaWeight * (sample - average_run_us_);
}

void WorkerSession::AdaptCapacity() {
  if (average_run_us_ < 0) return;
  // Tiny chunks: hand the pool a short run per thread, so a pool thread goes
  // from chunk to chunk without a round trip through the loop thread (two
  // context switches per chunk otherwise). Long chunks: one per thread, so
  // Drain and RevokeJob can still hand back everything not yet started.
  pool_depth_ = static_cast<int>(std::clamp(
      std::floor(static_cast<double>(kPoolRunTargetUs) / std::max(average_run_us_, 1.0)),
      1.0, static_cast<double>(kMaxPoolDepth)));
  if (!adaptive_prefetch_) return;
  // Sub-microsecond chunks report 0: count them as 1 us (the cap applies).
  double wanted = std::ceil(options_.threads * static_cast<double>(kQueueTargetUs) /
                            std::max(average_run_us_, 1.0));
  int target = options_.threads +
               static_cast<int>(std::clamp(wanted, 1.0, static_cast<double>(kMaxPrefetch)));
  // Shrink at once (hoarding slow chunks is the expensive mistake); grow at
  // most 2x per batch of reports, so one lucky fast chunk does not open the
  // full window to a job whose chunks turn out slow.
  capacity_ = target < capacity_ ? target : std::min(target, 2 * capacity_);
}

void WorkerSession::TopUpCredit() {
  if (stopping_ || (state_ != State::kAwaitingWelcome && state_ != State::kWelcomed)) {
    return;
  }
  // Everything this worker is committed to: broker-held credit, queued,
  // running (this session's and orphans).
  int64_t held = granted_ + static_cast<int64_t>(queued_.size() + running_.size());
  if (held >= capacity_) return;  // shrinking (or full): withhold
  credit_to_return_ += static_cast<uint32_t>(capacity_ - held);
  granted_ = capacity_ - static_cast<int64_t>(queued_.size() + running_.size());
}

void WorkerSession::MaybeFinishStop(int64_t now_us) {
  if (!stopping_ || state_ == State::kDone) return;
  if (state_ == State::kWelcomed) {
    // Wedged: the others' reports are worth a short wait, not forever.
    if (CurrentRunning() > 0 && !(wedged_ && now_us >= wedged_deadline_us_)) return;
    Flush(now_us);  // the last reports go before the Goodbye
    v1::Envelope goodbye;
    goodbye.mutable_goodbye();
    Emit(std::move(goodbye), now_us);
  }
  // Not connected: nothing can be reported; orphans finish on the pool,
  // which the loop joins before Run() returns (unless wedged).
  state_ = State::kDone;
  status_ = wedged_ ? wedged_status_ : absl::OkStatus();
}

void WorkerSession::Flush(int64_t now_us) {
  if (state_ != State::kWelcomed) return;
  if (!reports_to_send_.empty() || !returned_.empty()) {
    v1::Envelope envelope;
    std::vector<Payload> payloads;
    v1::ChunkReports* reports = envelope.mutable_chunk_reports();
    for (ChunkDone& done : reports_to_send_) {
      v1::ChunkReport* report = reports->add_reports();
      *report = std::move(done.report);
      if (!report->has_error()) {
        report->set_result_payload(static_cast<uint32_t>(payloads.size()));
        payloads.push_back(std::move(done.result));
      } else if (!done.details.empty()) {
        report->set_details_payload(static_cast<uint32_t>(payloads.size()));
        payloads.push_back(std::move(done.details));
      }
    }
    for (v1::ChunkRef& ref : returned_) *reports->add_returned() = std::move(ref);
    reports->set_credit(credit_to_return_);
    reports->set_broker_epoch(broker_epoch_);
    reports->set_session(session_id_);
    reports_to_send_.clear();
    returned_.clear();
    credit_to_return_ = 0;
    Emit(std::move(envelope), now_us, std::move(payloads));
  } else if (credit_to_return_ > 0) {
    v1::Envelope envelope;
    envelope.mutable_worker_credit()->set_chunks(credit_to_return_);
    credit_to_return_ = 0;
    Emit(std::move(envelope), now_us);
  }
}

void WorkerSession::Emit(v1::Envelope envelope, int64_t now_us,
                         std::vector<Payload> payloads) {
  outgoing_.push_back(WorkerMessage{std::move(envelope), std::move(payloads)});
  last_send_us_ = now_us;
}

void WorkerSession::Violation(const std::string& what) {
  ++protocol_violations_;
  notes_.push_back(absl::StrCat("protocol violation: ", what));
}

int WorkerSession::CurrentRunning() const {
  int n = 0;
  for (const auto& [key, chunk] : running_) n += chunk.epoch == epoch_;
  return n;
}

}  // namespace tq
