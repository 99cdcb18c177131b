#include "broker/pair_peer.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/journal_format.h"
#include "common/random.h"
#include "common/zmq_socket.h"

// Draft in zmq.h 4.3.4, implemented by the library (broker_loop.cc too).
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

namespace tq {
namespace {

// One pair message: a record of the largest size plus the message's own.
constexpr int64_t kMaxPairMessageBytes =
    static_cast<int64_t>(kMaxJournalPayloadBytes) + (int64_t{1} << 20);
// Messages queued to the peer at most: a snapshot's parts and a few turns
// of records. Beyond it the stream breaks and the passive asks again.
constexpr int kPairHighWaterMark = 10'000;
// At most this many peer messages per Service(): timers still run under a
// flood.
constexpr int kMaxReadsPerService = 1000;

absl::Status SetZapDomain(zmq::socket_t& socket) {
  const int enforce = 1;
  if (zmq_setsockopt(socket.handle(), ZMQ_ZAP_DOMAIN, kPairZapDomain,
                     strlen(kPairZapDomain)) != 0 ||
      zmq_setsockopt(socket.handle(), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce,
                     sizeof enforce) != 0) {
    return absl::InternalError(absl::StrCat(
        "cannot set up the pair link's ZAP: ", zmq_strerror(zmq_errno())));
  }
  return absl::OkStatus();
}

}  // namespace

PairPeer::PairPeer(const BrokerOptions& options, JobJournal* journal,
                   int64_t now_us)
    : timeout_us_(options.pair_timeout_ms * 1000),
      journal_(journal),
      state_(*options.pair, options.pair_timeout_ms * 1000,
             journal->opened_epoch(), now_us) {
  next_stream_ = RandomU64();
}

PairPeer::~PairPeer() {
  if (dealer_.has_value()) dealer_->set(zmq::sockopt::linger, 0);
  if (router_.has_value()) router_->set(zmq::sockopt::linger, 0);
}

absl::StatusOr<std::unique_ptr<PairPeer>> PairPeer::Start(
    zmq::context_t& context, const BrokerOptions& options, JobJournal* journal,
    const std::optional<CurveClientKeys>& curve, bool zap, int64_t now_us) {
  std::unique_ptr<PairPeer> peer(new PairPeer(options, journal, now_us));
  zmq::socket_t& router =
      peer->router_.emplace(context, zmq::socket_type::router);
  ConfigureSocket(router);
  router.set(zmq::sockopt::maxmsgsize, kMaxPairMessageBytes);
  router.set(zmq::sockopt::rcvhwm, kPairHighWaterMark);
  if (curve.has_value()) {
    if (absl::Status s = ApplyCurveServer(router, curve->own); !s.ok())
      return s;
  }
  if (zap) {
    if (absl::Status s = SetZapDomain(router); !s.ok()) return s;
  }
  try {
    router.bind(options.pair_listen);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for the pair peer on ", options.pair_listen,
                     ": ", e.what()));
  }
  zmq::socket_t& dealer =
      peer->dealer_.emplace(context, zmq::socket_type::dealer);
  ConfigureSocket(dealer);
  // Nothing queues for a peer not connected: stale heartbeats and records
  // must not arrive when the link comes back.
  dealer.set(zmq::sockopt::immediate, true);
  dealer.set(zmq::sockopt::sndhwm, kPairHighWaterMark);
  if (curve.has_value()) {
    if (absl::Status s = ApplyCurveClient(dealer, *curve); !s.ok()) return s;
  }
  try {
    dealer.connect(options.pair_peer);
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad pair peer address '", options.pair_peer, "': ", e.what()));
  }
  peer->Log(absl::StrCat("pair: ", PairStateText(peer->state_.state()), " on ",
                         LastEndpoint(router), ", peer ", options.pair_peer,
                         ", epoch ", peer->state_.epoch()));
  return peer;
}

std::string PairPeer::bound_endpoint() const { return LastEndpoint(*router_); }

void PairPeer::Send(const v1::PairMessage& message) {
  const std::string bytes = message.SerializeAsString();
  zmq::send_result_t sent;
  try {
    sent = dealer_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    sent = std::nullopt;
  }
  if (!sent.has_value() && sender_.following() &&
      message.body_case() == v1::PairMessage::kRecords) {
    // A record lost on the way: the passive would find the gap; stop now
    // and let it ask for a snapshot.
    Log("pair: the journal stream to the passive broke (queue "
        "full or link down); serving alone until it follows again");
    sender_.Stop();
    journal_->set_replicating(false);
  }
}

void PairPeer::Service(int64_t now_us) {
  for (int i = 0; i < kMaxReadsPerService; ++i) {
    zmq::message_t routing, body;
    if (!router_->recv(routing, zmq::recv_flags::dontwait)) break;
    bool complete = routing.more() && router_->recv(body).has_value();
    while (router_->get(zmq::sockopt::rcvmore)) {
      zmq::message_t extra;
      (void)router_->recv(extra);
      complete = false;
    }
    v1::PairMessage message;
    if (!complete || !message.ParseFromArray(body.data(), body.size()))
      continue;
    OnMessage(std::move(message), now_us);
  }
  // Passive: acknowledge what was mirrored, once on disk.
  if (unacked_) {
    if (absl::Status synced = journal_->Commit(now_us); synced.ok()) {
      v1::PairMessage ack;
      ack.mutable_ack()->set_stream(receiver_.stream());
      ack.mutable_ack()->set_seq(receiver_.seq());
      Send(ack);
      unacked_ = false;
    } else if (!sync_failed_) {
      // Unacknowledged, the active goes on alone after the pair timeout.
      Log(absl::StrCat("pair: cannot keep the active's journal: ",
                       synced.ToString()));
      sync_failed_ = true;
    }
  }
  const bool silent = state_.PeerSilent(now_us);
  if (silent && !peer_was_silent_) {
    Log(absl::StrCat("pair: peer silent for ", timeout_us_ / 1000, " ms"));
    if (sender_.following()) {
      Log("pair: the passive is gone; serving alone");
      sender_.Stop();
      journal_->set_replicating(false);
    }
  }
  peer_was_silent_ = silent;
  if (sender_.required_seq() > sender_.acked()) {
    if (ack_owed_since_us_ < 0) ack_owed_since_us_ = now_us;
    if (now_us - ack_owed_since_us_ >= timeout_us_) {
      Log(absl::StrCat("pair: the passive acknowledged nothing for ",
                       timeout_us_ / 1000,
                       " ms; serving alone until it follows again"));
      sender_.Stop();
      journal_->set_replicating(false);
    }
  } else {
    ack_owed_since_us_ = -1;
  }
  // Passive and not following the active's current stream (nor receiving
  // its snapshot): ask for it, again every pair timeout until it comes.
  const uint64_t peer_stream = state_.peer_stream();
  if (state_.passive() && state_.peer_state() == v1::PAIR_STATE_ACTIVE &&
      !silent && (peer_stream == 0 || peer_stream != receiver_.stream()) &&
      (peer_stream == 0 || peer_stream != receiver_.snapshot_stream()) &&
      (sync_requested_us_ < 0 || now_us - sync_requested_us_ >= timeout_us_)) {
    v1::PairMessage request;
    request.mutable_sync_request();
    Send(request);
    sync_requested_us_ = now_us;
  }
  if (state_.HeartbeatDue(now_us)) {
    v1::PairMessage heartbeat;
    *heartbeat.mutable_heartbeat() = state_.Heartbeat(sender_.stream());
    Send(heartbeat);
    state_.HeartbeatSent(now_us);
  }
}

void PairPeer::OnMessage(v1::PairMessage message, int64_t now_us) {
  switch (message.body_case()) {
    case v1::PairMessage::kHeartbeat:
      state_.OnHeartbeat(message.heartbeat(), now_us);
      break;
    case v1::PairMessage::kSyncRequest:
      state_.Heard(now_us);
      if (state_.active()) {
        journal_->set_replicating(true);  // what follows the snapshot
        std::vector<v1::PairRecords> snapshot =
            sender_.Start(++next_stream_, journal_->LiveRecords());
        Log(absl::StrCat("pair: the passive asked to follow; sending ",
                         journal_->live_bytes(), " bytes of live journal"));
        for (v1::PairRecords& part : snapshot) {
          v1::PairMessage out;
          *out.mutable_records() = std::move(part);
          Send(out);
        }
      }
      break;
    case v1::PairMessage::kRecords:
      state_.Heard(now_us);
      if (state_.passive()) OnRecords(std::move(*message.mutable_records()));
      break;
    case v1::PairMessage::kAck:
      state_.Heard(now_us);
      sender_.OnAck(message.ack());
      break;
    default:
      break;
  }
}

void PairPeer::OnRecords(v1::PairRecords records) {
  switch (receiver_.OnRecords(std::move(records))) {
    case JournalStreamReceiver::Action::kNone:
      break;
    case JournalStreamReceiver::Action::kReplace: {
      const std::vector<JournalRecord> snapshot = receiver_.TakeRecords();
      if (journal_->ReplaceAll(snapshot).ok()) {
        Log(absl::StrCat("pair: following the active's journal (",
                         snapshot.size(), " records, ",
                         journal_->LiveJobs().size(), " jobs)"));
        unacked_ = true;
      }
      break;
    }
    case JournalStreamReceiver::Action::kAppend:
      journal_->Mirror(receiver_.TakeRecords());
      unacked_ = true;
      break;
    case JournalStreamReceiver::Action::kResync:
      receiver_.Reset();
      sync_requested_us_ = -1;  // ask at once
      break;
  }
}

void PairPeer::Replicate() {
  if (!state_.active()) return;
  bool required = false;
  std::vector<JournalRecord> records = journal_->TakeReplicated(&required);
  for (v1::PairRecords& part : sender_.Append(std::move(records), required)) {
    v1::PairMessage out;
    *out.mutable_records() = std::move(part);
    Send(out);
  }
}

void PairPeer::Log(absl::string_view line) { log_.emplace_back(line); }

std::vector<std::string> PairPeer::TakeLog() {
  for (const PairTransition& transition : state_.TakeTransitions()) {
    log_.push_back(absl::StrCat("pair: ", transition.ToString()));
  }
  return std::exchange(log_, {});
}

}  // namespace tq
