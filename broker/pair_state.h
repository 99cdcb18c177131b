// The Binary Star state machine of a standby pair (zguide chapter 4; issue
// 8 part 4): which of two brokers, a primary and a backup sharing nothing
// but a link, serves clients and workers. Pure logic with an injected
// clock; broker/pair_peer.h carries its heartbeats.
//
// The rules (Binary Star's, with its residual risk):
// - A broker starts as primary or backup. The primary becomes active when it
//   hears the backup; hearing an active peer, either becomes passive.
// - A passive broker becomes active when its peer has been silent for the
//   pair timeout AND a client or worker that could not reach the peer asks
//   it for service: losing the link alone changes nothing, since the peers
//   that matter still reach the active (and one that merely tried this
//   broker first is sent on). It also becomes active when its peer restarts
//   (heard as primary or backup): the survivor keeps the jobs, the restarted
//   broker follows.
// - The primary, started, serves a request only if it has heard nothing of
//   its peer for the pair timeout (the backup may be active), and only one
//   that could not reach the peer. The backup never serves before it was
//   passive: its journal may be stale.
// - A broker that becomes active takes an epoch above every epoch it heard
//   of. Two actives (a partition healed after both served) fence the one of
//   lower epoch (at equal epochs, the backup): it must stop serving.
// Residual risk: if the link between the brokers fails while some clients
// or workers reach only the backup, both serve (split brain) until the link
// is back; then the fenced broker's jobs accepted in between are lost.
//
// Not thread-safe: the broker loop's thread owns it.
#ifndef TQ_BROKER_PAIR_STATE_H_
#define TQ_BROKER_PAIR_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tq/v1/pair.pb.h"

namespace tq {

enum class PairRole { kPrimary, kBackup };

// "primary", "backup", "active", "passive".
const char* PairStateText(v1::PairStateName state);

struct PairTransition {
  v1::PairStateName from;
  v1::PairStateName to;
  std::string why;
  // "primary -> active (peer is backup)".
  std::string ToString() const;
};

class PairState {
 public:
  // `known_epoch`: the highest epoch this broker knows of (its journal's).
  PairState(PairRole role, int64_t timeout_us, uint64_t known_epoch,
            int64_t now_us);

  v1::PairStateName state() const { return state_; }
  bool active() const { return state_ == v1::PAIR_STATE_ACTIVE; }
  bool passive() const { return state_ == v1::PAIR_STATE_PASSIVE; }
  // The highest epoch known; this broker's own while active.
  uint64_t epoch() const { return epoch_; }
  v1::PairStateName peer_state() const { return peer_state_; }
  uint64_t peer_stream() const { return peer_stream_; }
  // Set when this broker must stop: fenced by an active peer of higher
  // epoch, or the pair is misconfigured (both primary, both backup).
  const absl::Status& stop() const { return stop_; }

  // The peer's heartbeat. Any other message from the peer: Heard().
  void OnHeartbeat(const v1::PairHeartbeat& heartbeat, int64_t now_us);
  void Heard(int64_t now_us);
  // A client or worker asks for service: whether to serve it (the state is
  // then active, perhaps from now on) or refuse it as a standby.
  // `failed_over`: it asks because the other broker stopped answering it
  // (Hello.failed_over); only such a request makes this broker take over.
  bool OnRequest(int64_t now_us, bool failed_over);
  // The peer not heard for the pair timeout.
  bool PeerSilent(int64_t now_us) const;

  // Heartbeats: what to send, and when.
  v1::PairHeartbeat Heartbeat(uint64_t stream) const;
  bool HeartbeatDue(int64_t now_us) const;
  void HeartbeatSent(int64_t now_us) { heartbeat_sent_us_ = now_us; }
  int64_t NextDeadlineUs() const;

  std::vector<PairTransition> TakeTransitions();

 private:
  void Become(v1::PairStateName to, std::string why);
  void BecomeActive(std::string why);

  const PairRole role_;
  const int64_t timeout_us_;
  v1::PairStateName state_;
  uint64_t epoch_;
  v1::PairStateName peer_state_ = v1::PAIR_STATE_UNSPECIFIED;
  uint64_t peer_stream_ = 0;
  int64_t peer_heard_us_;  // the start, until the peer is heard
  int64_t heartbeat_sent_us_ = -1;
  absl::Status stop_;
  std::vector<PairTransition> transitions_;
};

}  // namespace tq

#endif  // TQ_BROKER_PAIR_STATE_H_
