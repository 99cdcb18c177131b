// The broker loop: the one thread that owns the ROUTER socket. It translates
// between ZeroMQ messages and Scheduler events and nothing more. Policy per
// wake: read up to kMaxReadsPerWake waiting messages (so a flood cannot starve
// timers), feed them, run what is due, then send everything the Scheduler
// queued; the poll timeout is the time to the Scheduler's next deadline.
#include <atomic>
#include <chrono>
#include <deque>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/broker.h"
#include "broker/connection_events.h"
#include "broker/connection_limiter.h"
#include "broker/job_journal.h"
#include "broker/outbox.h"
#include "broker/pair_peer.h"
#include "broker/peer_authorizer.h"
#include "broker/scheduler.h"
#include "broker/zap_handler.h"
#include "common/clock.h"
#include "common/curve.h"
#include "common/status_macros.h"
#include "common/wakeup.h"
#include "common/zmq_socket.h"

// Draft in zmq.h 4.3.4, implemented by the library (common/curve.cc too).
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

namespace tq {
namespace {

constexpr int kMaxReadsPerWake = 1000;
// Deep per-peer send queues: credits already bound what we queue, and a
// full queue would be mistaken for a vanished peer (ROUTER_MANDATORY).
constexpr int kSendHighWaterMark = 100'000;
// The monitor's statistics are brought up to date at most this often:
// Scheduler::stats() walks every peer and job, and a metrics scrape every few
// seconds needs no fresher data. The poll timeout (at most 1 s) bounds how
// stale they get.
constexpr int64_t kMonitorUpdateIntervalUs = 10'000;

// Whether a listen endpoint is not inproc:// (ZAP and the connection caps
// apply to connections over a network transport only).
bool ListensBeyondInproc(const BrokerOptions& options) {
  for (const std::string& endpoint : options.listen) {
    if (endpoint.rfind("inproc://", 0) != 0) return true;
  }
  return false;
}

// A plaintext connection whose handshake (greeting, READY, the ZAP answer)
// has not finished in this time is dropped, as with CURVE: a peer that
// connects and says nothing holds its slot only this long.
constexpr int kPlaintextHandshakeIvlMs = 5000;

// Makes a plaintext ROUTER ask the ZAP handler about every peer (mechanism
// NULL), and refuse every peer if no handler answers.
absl::Status ApplyPlaintextZap(zmq::socket_t& socket) {
  const int enforce = 1;
  if (zmq_setsockopt(socket.handle(), ZMQ_ZAP_DOMAIN, kCurveZapDomain,
                     strlen(kCurveZapDomain)) != 0 ||
      zmq_setsockopt(socket.handle(), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce,
                     sizeof enforce) != 0 ||
      zmq_setsockopt(socket.handle(), ZMQ_HANDSHAKE_IVL,
                     &kPlaintextHandshakeIvlMs,
                     sizeof kPlaintextHandshakeIvlMs) != 0) {
    return absl::InternalError(absl::StrCat("cannot set up ZAP: ",
                                            zmq_strerror(zmq_errno())));
  }
  return absl::OkStatus();
}

}  // namespace

class Broker::Loop {
 public:
  Loop(BrokerOptions options, zmq::context_t* context)
      : options_(std::move(options)),
        scheduler_(options_),
        limiter_(options_.max_connections, options_.max_connections_per_address),
        authorizer_(!options_.curve_code_clients_dir.empty()) {
    if (monitor_ != nullptr) scheduler_.set_observer(monitor_);
    if (context == nullptr) {
      owned_context_.emplace();
      context_ = &*owned_context_;
    } else {
      context_ = context;
    }
    if (options_.verbose) {
      zap_log_ = [](absl::string_view line) {
        fprintf(stderr, "tq-broker: %.*s\n", static_cast<int>(line.size()),
                line.data());
      };
      scheduler_.set_logger([](absl::string_view line) {
        fprintf(stderr, "tq-broker: %.*s\n", static_cast<int>(line.size()),
                line.data());
      });
    }
  }

  absl::Status Bind() {
    if (socket_.has_value()) {
      return absl::FailedPreconditionError("broker already bound");
    }
    TQ_RETURN_IF_ERROR(ValidateBrokerOptions(options_));
    if (!options_.journal_dir.empty() && journal_ == nullptr) {
      TQ_RETURN_IF_ERROR(OpenJournal());
      // Alone, the broker serves its journal's jobs at once; in a pair,
      // once it is active (StartServing).
      if (!options_.pair.has_value()) StartServing(MonotonicNowUs());
    }
    std::optional<CurveKeyPair> curve_key;
    zap_.reset();  // from an earlier Bind() that failed later on
    if (!options_.curve_key_file.empty()) {
      // The ZAP handler is bound before the ROUTER exists: no peer can slip
      // in unauthenticated, and none at all if this fails.
      absl::StatusOr<CurveKeyPair> key = StartCurve();
      if (!key.ok()) return key.status();
      curve_key = *std::move(key);
    } else if (ListensBeyondInproc(options_) || options_.pair.has_value()) {
      // Plaintext: a ZAP handler all the same, for the connection caps.
      auto zap = ZapHandler::Plaintext();
      TQ_RETURN_IF_ERROR(zap->Bind(*context_));
      zap_ = std::move(zap);
    }
    socket_.emplace(*context_, zmq::socket_type::router);
    ConfigureSocket(*socket_);
    if (curve_key.has_value()) {
      if (absl::Status s = ApplyCurveServer(*socket_, *curve_key); !s.ok()) {
        socket_.reset();
        return s;
      }
    } else if (zap_ != nullptr) {
      if (absl::Status s = ApplyPlaintextZap(*socket_); !s.ok()) {
        socket_.reset();
        return s;
      }
    }
    if (zap_ != nullptr) {
      absl::StatusOr<std::unique_ptr<ConnectionEvents>> events =
          ConnectionEvents::Attach(*context_, *socket_);
      if (!events.ok()) {
        socket_.reset();
        return events.status();
      }
      connection_events_ = *std::move(events);
      zap_->set_admission([this](const std::string& address) {
        return limiter_.Admit(address);
      });
    }
    socket_->set(zmq::sockopt::sndhwm, kSendHighWaterMark);
    socket_->set(zmq::sockopt::rcvhwm, kSendHighWaterMark);
    for (const std::string& endpoint : options_.listen) {
      try {
        socket_->bind(endpoint);
      } catch (const zmq::error_t& e) {
        socket_.reset();
        bound_.clear();
        return absl::UnavailableError(
            absl::StrCat("cannot listen on ", endpoint, ": ", e.what()));
      }
      bound_.push_back(LastEndpoint(*socket_));
    }
    if (options_.pair.has_value() && pair_ == nullptr) {
      if (absl::Status s = StartPair(curve_key); !s.ok()) {
        socket_.reset();
        bound_.clear();
        return s;
      }
    }
    if (!options_.allow_code.empty() && options_.allow_code_insecure) {
      fprintf(stderr,
              "tq-broker: WARNING: --allow-code-insecure: any client that "
              "reaches %s may run code on the workers\n",
              absl::StrJoin(bound_, ", ").c_str());
    }
    if (monitor_ != nullptr) monitor_->OnReady();  // ready once bound
    return absl::OkStatus();
  }

  std::vector<std::string> bound_endpoints() const { return bound_; }

  absl::Status Run() {
    if (!socket_.has_value()) {
      TQ_RETURN_IF_ERROR(Bind());
    }
    absl::Status result = absl::OkStatus();
    try {
      Serve();
    } catch (const zmq::error_t& e) {
      result = absl::InternalError(absl::StrCat("broker loop: ", e.what()));
    } catch (const PairStop& stop) {
      result = stop.status;
    } catch (const JournalFailure& failure) {
      // No durability promise can be kept: stop rather than accept jobs
      // that would not survive a restart.
      result = absl::Status(failure.status.code(),
                            absl::StrCat("journal: ", failure.status.message()));
    }
    socket_.reset();
    pair_.reset();
    zap_.reset();  // after the ROUTERs: it answers until they are gone
    connection_events_.reset();
    return result;
  }

  void Stop() {
    stop_.store(true, std::memory_order_relaxed);
    wakeup_.Notify();
  }

 private:
  void Serve() {
    zmq::socket_t& socket = *socket_;
    while (!stop_.load(std::memory_order_relaxed)) {
      int64_t deadline = scheduler_.NextDeadlineUs();
      if (journal_ != nullptr) deadline = std::min(deadline, journal_->NextCommitUs());
      if (pair_ != nullptr) deadline = std::min(deadline, pair_->NextDeadlineUs());
      const int64_t wait_us = deadline - MonotonicNowUs();
      // Round up so we never wake just before a deadline and spin.
      const int64_t wait_ms =
          wait_us <= 0 ? 0 : std::min<int64_t>((wait_us + 999) / 1000, 1000);
      std::vector<zmq::pollitem_t> items = {
          {static_cast<void*>(socket), 0, ZMQ_POLLIN, 0},
          {nullptr, wakeup_.fd(), ZMQ_POLLIN, 0}};
      if (zap_ != nullptr) {
        items.push_back({static_cast<void*>(zap_->socket()), 0, ZMQ_POLLIN, 0});
      }
      if (connection_events_ != nullptr) {
        items.push_back({static_cast<void*>(connection_events_->socket()), 0,
                         ZMQ_POLLIN, 0});
      }
      if (pair_ != nullptr) {
        items.push_back({static_cast<void*>(pair_->socket()), 0, ZMQ_POLLIN, 0});
      }
      PollIgnoringEintr(items, std::chrono::milliseconds(wait_ms));
      if (items[1].revents & ZMQ_POLLIN) wakeup_.Drain();
      // Connections are counted before ZAP decides on them.
      if (connection_events_ != nullptr) connection_events_->Drain(limiter_);
      if (zap_ != nullptr) zap_->AnswerPending(zap_log_);
      if (stop_.load(std::memory_order_relaxed)) break;

      const int64_t now = MonotonicNowUs();
      if (pair_ != nullptr) ServicePair(now);
      bool backlog = true;  // until a read finds the socket empty
      for (int i = 0; i < kMaxReadsPerWake; ++i) {
        std::optional<Received> received = TryReceive(socket, true);
        if (!received.has_value()) {
          backlog = false;
          break;
        }
        if (monitor_ != nullptr) monitor_->AddReceivedBytes(received->bytes);
        if (!serving_) {
          // A standby pair's broker not active: a Hello from a peer that
          // lost the other broker may make it take over (Binary Star),
          // anything else is told to try the next.
          const bool failed_over = received->envelope.ok() &&
                                   received->envelope->has_hello() &&
                                   received->envelope->hello().failed_over();
          if (!pair_->state().OnRequest(now, failed_over)) {
            RefuseAsStandby(socket, received->routing_id);
            continue;
          }
          ServicePair(now);  // log the change, start serving
        }
        if (curve_ && received->envelope.ok()) {
          // Authorise by the connection's ZAP User-Id, not the payload.
          absl::Status allowed = authorizer_.Check(
              received->routing_id, received->user_id, *received->envelope);
          if (!allowed.ok()) {
            const v1::Envelope& refused = *received->envelope;
            scheduler_.OnUnauthorized(
                received->routing_id, allowed, now, &outbox_,
                refused.has_submit_job() ? refused.submit_job().request_id()
                                         : 0);
            continue;
          }
        }
        if (received->envelope.ok()) {
          scheduler_.OnMessage(
              InboundMessage{std::move(received->routing_id),
                             *std::move(received->envelope),
                             std::move(received->payloads),
                             std::move(received->user_id)},
              now, &outbox_);
        } else if (!received->routing_id.empty()) {
          scheduler_.OnMalformed(received->routing_id,
                                 received->envelope.status(), now, &outbox_);
        }
      }
      scheduler_.OnTick(now, &outbox_, backlog);
      // Group commit: what this turn's messages promise (an accepted job)
      // is on disk before they leave, and with a passive peer, on its disk
      // too (Flush holds them until it says so).
      if (journal_ != nullptr) {
        if (absl::Status committed = journal_->Commit(now); !committed.ok()) {
          throw JournalFailure{committed};
        }
      }
      if (pair_ != nullptr && serving_) pair_->Replicate();
      Flush(socket, now);
      if (curve_) {
        authorizer_.PruneIfLarge([this](const std::string& peer) {
          return scheduler_.HasPeer(peer);
        });
      }
      if (monitor_ != nullptr) {
        monitor_->OnLoopIteration(now);
        if (now - monitor_updated_us_ >= kMonitorUpdateIntervalUs) {
          monitor_->Update(scheduler_.stats());
          monitor_->UpdateConnections(limiter_.refusals());
          monitor_updated_us_ = now;
        }
      }
    }
  }

  struct JournalFailure {
    absl::Status status;
  };

  // Opens --journal's directory (its jobs resume in StartServing). In a
  // pair, its header keeps the pair's epoch until this broker takes one.
  absl::Status OpenJournal() {
    std::string report;
    absl::StatusOr<std::unique_ptr<JobJournal>> journal = JobJournal::Open(
        options_.journal_dir, options_.pair.has_value() ? 0 : scheduler_.epoch(),
        nullptr, &report);
    if (!journal.ok()) {
      return absl::Status(journal.status().code(),
                          absl::StrCat("journal ", options_.journal_dir, ": ",
                                       journal.status().message()));
    }
    journal_ = *std::move(journal);
    scheduler_.set_journal(journal_.get());
    if (!report.empty()) {
      fprintf(stderr, "tq-broker: journal %s: %s\n",
              options_.journal_dir.c_str(), report.c_str());
    }
    return absl::OkStatus();
  }

  // Serves from now on: resumes the journal's jobs (a standby pair's
  // broker: those its journal holds as it becomes active).
  void StartServing(int64_t now) {
    serving_ = true;
    if (journal_ == nullptr) return;
    if (pair_ != nullptr) {
      // The epoch that fences the peer, in the journal's header.
      if (absl::Status s = journal_->set_epoch(pair_->state().epoch()); !s.ok()) {
        throw JournalFailure{s};
      }
    }
    // Chunk indexes of resumed jobs start above any used before the
    // restart: the wall clock in ms, shifted past a million chunks per ms.
    const uint64_t first_index =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count())
        << 20;
    const size_t resumed =
        scheduler_.RestoreJobs(journal_->LiveJobs(), first_index, now);
    if (resumed > 0 || options_.verbose) {
      fprintf(stderr, "tq-broker: journal %s: resumed %zu jobs\n",
              options_.journal_dir.c_str(), resumed);
    }
  }

  struct PairStop {
    absl::Status status;
  };

  // Starts the standby pair's link (after the ZAP handler, if any).
  absl::Status StartPair(const std::optional<CurveKeyPair>& curve_key) {
    std::optional<CurveClientKeys> keys;
    if (curve_key.has_value()) {
      absl::StatusOr<std::string> peer_key =
          LoadCurvePublicKey(options_.pair_peer_key_file);
      if (!peer_key.ok()) return peer_key.status();
      keys = CurveClientKeys{*curve_key, *peer_key};
      zap_->set_pair_peer_key(*peer_key);
    }
    absl::StatusOr<std::unique_ptr<PairPeer>> pair = PairPeer::Start(
        *context_, options_, journal_.get(), keys, zap_ != nullptr, MonotonicNowUs());
    if (!pair.ok()) return pair.status();
    pair_ = *std::move(pair);
    for (const std::string& line : pair_->TakeLog()) {
      fprintf(stderr, "tq-broker: %s\n", line.c_str());
    }
    return absl::OkStatus();
  }

  // The pair link's turn: its messages, its log, and what its state means
  // for this broker (serve from now on, or stop).
  void ServicePair(int64_t now) {
    pair_->Service(now);
    for (const std::string& line : pair_->TakeLog()) {
      fprintf(stderr, "tq-broker: %s\n", line.c_str());
    }
    if (!pair_->state().stop().ok()) throw PairStop{pair_->state().stop()};
    if (pair_->state().active() && !serving_) StartServing(now);
    if (monitor_ != nullptr) {
      const PairReport report{pair_->state().state(), pair_->state().epoch(),
                              pair_->followed()};
      if (report != pair_reported_) {
        monitor_->OnPairState(report.state, report.epoch, report.followed);
        pair_reported_ = report;
      }
    }
  }

  // What the monitor was last told of the pair.
  struct PairReport {
    v1::PairStateName state = v1::PAIR_STATE_UNSPECIFIED;
    uint64_t epoch = 0;
    bool followed = false;
    friend bool operator==(const PairReport&, const PairReport&) = default;
  };

  // Answers a request to a standby pair's broker that does not serve.
  void RefuseAsStandby(zmq::socket_t& socket, const std::string& peer) {
    v1::Envelope envelope;
    v1::Error* error = envelope.mutable_error();
    error->set_code(static_cast<int32_t>(absl::StatusCode::kUnavailable));
    error->set_message(absl::StrCat(
        "this broker is the standby of a pair (", PairStateText(pair_->state().state()),
        "): connect to the other one"));
    error->set_retryable(true);
    error->set_standby(true);
    (void)SendTo(socket, peer, envelope);
  }

  // Loads the keys and allowlists and binds the ZAP handler; returns the
  // broker's own key pair for the ROUTER.
  absl::StatusOr<CurveKeyPair> StartCurve() {
    std::string warning;
    absl::StatusOr<CurveKeyPair> key =
        LoadCurveSecretKey(options_.curve_key_file, &warning);
    if (!key.ok()) return key.status();
    if (!warning.empty()) fprintf(stderr, "tq-broker: %s\n", warning.c_str());
    CurveAllowlist clients, workers, code_clients;
    if (!options_.curve_clients_dir.empty()) {
      absl::StatusOr<CurveAllowlist> loaded =
          LoadCurveAllowlist(options_.curve_clients_dir);
      if (!loaded.ok()) return loaded.status();
      clients = *std::move(loaded);
    }
    if (!options_.curve_workers_dir.empty()) {
      absl::StatusOr<CurveAllowlist> loaded =
          LoadCurveAllowlist(options_.curve_workers_dir);
      if (!loaded.ok()) return loaded.status();
      workers = *std::move(loaded);
    }
    if (!options_.curve_code_clients_dir.empty()) {
      absl::StatusOr<CurveAllowlist> loaded =
          LoadCurveAllowlist(options_.curve_code_clients_dir);
      if (!loaded.ok()) return loaded.status();
      code_clients = *std::move(loaded);
    }
    for (const auto& [public_key, name] : code_clients) {
      if (workers.contains(public_key)) {
        return absl::InvalidArgumentError(
            absl::StrCat("CURVE key '", name,
                         "' is allowed both as a code client and as a "
                         "worker; a key has one role"));
      }
    }
    for (const auto& [public_key, name] : clients) {
      if (workers.contains(public_key)) {
        return absl::InvalidArgumentError(
            absl::StrCat("CURVE key '", name,
                         "' is allowed both as a client and as a "
                         "worker; a key has one role"));
      }
    }
    if (options_.verbose) {
      fprintf(stderr,
              "tq-broker: CURVE on: %zu client key(s), %zu code client "
              "key(s), %zu worker key(s)\n",
              clients.size(), code_clients.size(), workers.size());
    }
    auto zap = std::make_unique<ZapHandler>(
        std::move(clients), std::move(workers), std::move(code_clients));
    TQ_RETURN_IF_ERROR(zap->Bind(*context_));
    zap_ = std::move(zap);
    curve_ = true;
    return key;
  }

  // Sends everything queued. A failed send means the peer is gone; telling
  // the Scheduler may queue more (RevokeJob, JobFinished), hence the loop.
  void Flush(zmq::socket_t& socket, int64_t now) {
    absl::flat_hash_set<std::string> unreachable;
    while (true) {
      std::vector<OutgoingMessage> messages =
          pair_ != nullptr ? ReleaseForPassive() : outbox_.Take();
      if (messages.empty()) break;
      for (OutgoingMessage& m : messages) {
        if (unreachable.contains(m.peer)) continue;
        absl::StatusOr<size_t> sent =
            SendTo(socket, m.peer, m.envelope, m.payloads);
        if (!sent.ok()) {
          unreachable.insert(m.peer);
          scheduler_.OnPeerUnreachable(m.peer, now, &outbox_);
        } else if (monitor_ != nullptr) {
          monitor_->AddSentBytes(*sent);
        }
      }
    }
  }

  // A standby pair's active: the queued messages that may leave now. A
  // turn's messages wait while the passive has not acknowledged the
  // journal records they promise (PairPeer::required_seq); held ones go
  // first, in order. With no passive following, nothing waits.
  std::vector<OutgoingMessage> ReleaseForPassive() {
    const uint64_t stream = pair_->stream();
    const uint64_t required = pair_->required_seq();
    const uint64_t acked = pair_->acked_seq();
    if (held_.empty() && required <= acked) return outbox_.Take();
    for (HeldMessage& held : held_) {
      // A new stream's snapshot holds every record the old one numbered.
      if (held.stream != stream) held = {stream, required, std::move(held.message)};
    }
    for (OutgoingMessage& m : outbox_.Take()) {
      held_.push_back({stream, required, std::move(m)});
    }
    std::vector<OutgoingMessage> release;
    while (!held_.empty() && (required == 0 || held_.front().seq <= acked)) {
      release.push_back(std::move(held_.front().message));
      held_.pop_front();
    }
    return release;
  }

  struct HeldMessage {
    // The journal stream and record (PairPeer's numbering) it waits for.
    uint64_t stream;
    uint64_t seq;
    OutgoingMessage message;
  };

  const BrokerOptions options_;
  std::optional<zmq::context_t> owned_context_;
  zmq::context_t* context_;
  Scheduler scheduler_;
  // --journal: opened by Bind(), before any peer can connect.
  std::unique_ptr<JobJournal> journal_;
  // Whether the Scheduler serves: at once alone, once active in a pair.
  bool serving_ = !options_.pair.has_value();
  // --pair: the link to the other broker of a standby pair.
  std::unique_ptr<PairPeer> pair_;
  std::deque<HeldMessage> held_;
  PairReport pair_reported_;
  Outbox outbox_;
  std::optional<zmq::socket_t> socket_;
  std::vector<std::string> bound_;
  Wakeup wakeup_;
  std::atomic<bool> stop_{false};
  // options_.monitor, if any (the options keep it alive); told by the loop
  // thread only.
  BrokerMonitor* const monitor_ = options_.monitor.get();
  int64_t monitor_updated_us_ = 0;
  // The ZAP handler answering libzmq for the ROUTER (when it listens beyond
  // inproc): with CURVE (options_.curve_key_file set, curve_) it checks keys
  // and the loop authorises every message by their User-Ids; with or
  // without, it caps connections by what ConnectionEvents tells limiter_.
  std::unique_ptr<ZapHandler> zap_;
  bool curve_ = false;
  std::unique_ptr<ConnectionEvents> connection_events_;
  ConnectionLimiter limiter_;
  std::function<void(absl::string_view)> zap_log_;
  PeerAuthorizer authorizer_;
};

Broker::Broker(BrokerOptions options, zmq::context_t* context)
    : loop_(std::make_unique<Loop>(std::move(options), context)) {}

Broker::~Broker() = default;

absl::Status Broker::Bind() { return loop_->Bind(); }

std::vector<std::string> Broker::bound_endpoints() const {
  return loop_->bound_endpoints();
}

absl::Status Broker::Run() { return loop_->Run(); }

void Broker::Stop() { loop_->Stop(); }

}  // namespace tq
