// A standby pair's link, as the broker loop sees it (issue 8 part 4): a
// ROUTER bound at --pair-listen receives the peer broker's messages, a
// DEALER connected to the peer's --pair-listen sends ours
// (proto/tq/v1/pair.proto, one PairMessage per ZeroMQ message). It drives
// the Binary Star state (pair_state.h) with heartbeats, and streams the
// journal (journal_stream.h): while active it sends what the journal
// appends to a passive peer; while passive it mirrors the active's journal
// into its own and acknowledges each batch once synced.
//
// The pair socket accepts only the peer: with CURVE, only the key in
// pair_peer_key_file (the ZAP handler checks it); in plaintext, whoever
// reaches the port (keep it inside the cluster's network, e.g. the
// Kubernetes overlay's NetworkPolicy). A message is at most
// kMaxJournalPayloadBytes + 1 MiB; a snapshot being received is held in
// memory until complete (the size of the active's live journal state).
//
// Not thread-safe: the broker loop's thread owns it.
#ifndef TQ_BROKER_PAIR_PEER_H_
#define TQ_BROKER_PAIR_PEER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/broker_options.h"
#include "broker/job_journal.h"
#include "broker/journal_stream.h"
#include "broker/pair_state.h"
#include "broker/zap_handler.h"
#include "common/curve.h"
#include "zmq.hpp"

namespace tq {

class PairPeer {
 public:
  // Binds options.pair_listen and connects to options.pair_peer. `journal`
  // (opened, not yet serving) must outlive this. With `curve_key`, the link
  // is CURVE (our key pair and the peer's public key). `zap`: a ZAP handler
  // answers in `context` (the pair socket then asks it, kPairZapDomain).
  static absl::StatusOr<std::unique_ptr<PairPeer>> Start(
      zmq::context_t& context, const BrokerOptions& options,
      JobJournal* journal, const std::optional<CurveClientKeys>& curve,
      bool zap, int64_t now_us);
  ~PairPeer();

  PairState& state() { return state_; }
  const PairState& state() const { return state_; }
  zmq::socket_t& socket() { return *router_; }
  std::string bound_endpoint() const;

  // Reads what the peer sent, mirrors or streams the journal, and sends
  // heartbeats. Call every loop turn, before the turn's requests.
  void Service(int64_t now_us);
  // After the turn's journal Commit, while active: sends what the journal
  // appended to a following passive.
  void Replicate();
  // While active: messages queued now wait until acked_seq() reaches
  // required_seq() (0: nothing waits; no passive follows).
  uint64_t required_seq() const { return sender_.required_seq(); }
  uint64_t stream() const { return sender_.stream(); }
  // Active: a passive follows (acknowledged the current stream).
  bool followed() const { return sender_.following() && sender_.acked() > 0; }
  uint64_t acked_seq() const { return sender_.acked(); }
  int64_t NextDeadlineUs() const { return state_.NextDeadlineUs(); }
  // Lines for the log (always printed): state changes, the stream.
  std::vector<std::string> TakeLog();

 private:
  PairPeer(const BrokerOptions& options, JobJournal* journal, int64_t now_us);
  void Send(const v1::PairMessage& message);
  void Log(absl::string_view line);
  void OnMessage(v1::PairMessage message, int64_t now_us);
  void OnRecords(v1::PairRecords records);

  // Constant after construction.
  const int64_t timeout_us_;
  JobJournal* const journal_;

  std::optional<zmq::socket_t> router_;
  std::optional<zmq::socket_t> dealer_;
  PairState state_;
  JournalStreamSender sender_;
  JournalStreamReceiver receiver_;
  // Passive: the records mirrored since the last acknowledgement.
  bool unacked_ = false;
  bool sync_failed_ = false;  // said so once
  int64_t sync_requested_us_ = -1;
  bool peer_was_silent_ = false;
  // Active: since when the passive owes an acknowledgement (-1: it owes
  // none); one owed for the pair timeout stops the stream.
  int64_t ack_owed_since_us_ = -1;
  uint64_t next_stream_ = 0;
  std::vector<std::string> log_;
};

}  // namespace tq

#endif  // TQ_BROKER_PAIR_PEER_H_
