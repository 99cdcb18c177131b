// The broker loop: the one thread that owns the ROUTER socket. It translates
// between ZeroMQ messages and Scheduler events and nothing more. Policy per
// wake: read up to kMaxReadsPerWake waiting messages (so a flood cannot starve
// timers), feed them, run what is due, then send everything the Scheduler
// queued; the poll timeout is the time to the Scheduler's next deadline.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/broker.h"
#include "broker/outbox.h"
#include "broker/peer_authorizer.h"
#include "broker/scheduler.h"
#include "broker/zap_handler.h"
#include "common/curve.h"
#include "common/status_macros.h"
#include "common/wakeup.h"
#include "common/zmq_socket.h"

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

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class Broker::Loop {
 public:
  Loop(BrokerOptions options, zmq::context_t* context)
      : options_(std::move(options)),
        scheduler_(options_),
        authorizer_(!options_.curve_code_clients_dir.empty()) {
    if (monitor_ != nullptr) scheduler_.set_observer(monitor_);
    if (context == nullptr) {
      owned_context_.emplace();
      context_ = &*owned_context_;
    } else {
      context_ = context;
    }
    if (options_.verbose) {
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
    std::optional<CurveKeyPair> curve_key;
    if (!options_.curve_key_file.empty()) {
      // The ZAP handler is bound before the ROUTER exists: no peer can slip
      // in unauthenticated, and none at all if this fails.
      absl::StatusOr<CurveKeyPair> key = StartCurve();
      if (!key.ok()) return key.status();
      curve_key = *std::move(key);
    }
    socket_.emplace(*context_, zmq::socket_type::router);
    ConfigureSocket(*socket_);
    if (curve_key.has_value()) {
      if (absl::Status s = ApplyCurveServer(*socket_, *curve_key); !s.ok()) {
        socket_.reset();
        return s;
      }
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
    }
    socket_.reset();
    zap_.reset();  // after the ROUTER: it answers until the ROUTER is gone
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
      const int64_t deadline = scheduler_.NextDeadlineUs();
      const int64_t wait_us = deadline - NowUs();
      // Round up so we never wake just before a deadline and spin.
      const int64_t wait_ms =
          wait_us <= 0 ? 0 : std::min<int64_t>((wait_us + 999) / 1000, 1000);
      std::vector<zmq::pollitem_t> items = {
          {static_cast<void*>(socket), 0, ZMQ_POLLIN, 0},
          {nullptr, wakeup_.fd(), ZMQ_POLLIN, 0}};
      if (zap_ != nullptr) {
        items.push_back({static_cast<void*>(zap_->socket()), 0, ZMQ_POLLIN, 0});
      }
      PollIgnoringEintr(items, std::chrono::milliseconds(wait_ms));
      if (items[1].revents & ZMQ_POLLIN) wakeup_.Drain();
      if (zap_ != nullptr) zap_->AnswerPending(zap_log_);
      if (stop_.load(std::memory_order_relaxed)) break;

      const int64_t now = NowUs();
      for (int i = 0; i < kMaxReadsPerWake; ++i) {
        std::optional<Received> received = TryReceive(socket, true);
        if (!received.has_value()) break;
        if (monitor_ != nullptr) monitor_->AddReceivedBytes(received->bytes);
        if (zap_ != nullptr && received->envelope.ok()) {
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
      scheduler_.OnTick(now, &outbox_);
      Flush(socket, now);
      if (zap_ != nullptr) {
        authorizer_.PruneIfLarge([this](const std::string& peer) {
          return scheduler_.HasPeer(peer);
        });
      }
      if (monitor_ != nullptr) {
        monitor_->OnLoopIteration(now);
        if (now - monitor_updated_us_ >= kMonitorUpdateIntervalUs) {
          monitor_->Update(scheduler_.stats());
          monitor_updated_us_ = now;
        }
      }
    }
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
      zap_log_ = [](absl::string_view line) {
        fprintf(stderr, "tq-broker: %.*s\n", static_cast<int>(line.size()),
                line.data());
      };
    }
    zap_.reset();  // from an earlier Bind() that failed later on
    auto zap = std::make_unique<ZapHandler>(
        std::move(clients), std::move(workers), std::move(code_clients));
    TQ_RETURN_IF_ERROR(zap->Bind(*context_));
    zap_ = std::move(zap);
    return key;
  }

  // Sends everything queued. A failed send means the peer is gone; telling
  // the Scheduler may queue more (RevokeJob, JobFinished), hence the loop.
  void Flush(zmq::socket_t& socket, int64_t now) {
    absl::flat_hash_set<std::string> unreachable;
    while (!outbox_.empty()) {
      for (OutgoingMessage& m : outbox_.Take()) {
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

  const BrokerOptions options_;
  std::optional<zmq::context_t> owned_context_;
  zmq::context_t* context_;
  Scheduler scheduler_;
  Outbox outbox_;
  std::optional<zmq::socket_t> socket_;
  std::vector<std::string> bound_;
  Wakeup wakeup_;
  std::atomic<bool> stop_{false};
  // options_.monitor, if any (the options keep it alive); told by the loop
  // thread only.
  BrokerMonitor* const monitor_ = options_.monitor.get();
  int64_t monitor_updated_us_ = 0;
  // CURVE (when options_.curve_key_file is set): the ZAP handler answering
  // libzmq for the ROUTER, and per-message authorisation by its User-Ids.
  std::unique_ptr<ZapHandler> zap_;
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
