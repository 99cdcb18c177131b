#include "broker/pair_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tq {

const char* PairStateText(v1::PairStateName state) {
  switch (state) {
    case v1::PAIR_STATE_PRIMARY:
      return "primary";
    case v1::PAIR_STATE_BACKUP:
      return "backup";
    case v1::PAIR_STATE_ACTIVE:
      return "active";
    case v1::PAIR_STATE_PASSIVE:
      return "passive";
    default:
      return "unknown";
  }
}

std::string PairTransition::ToString() const {
  return absl::StrCat(PairStateText(from), " -> ", PairStateText(to), " (", why,
                      ")");
}

PairState::PairState(PairRole role, int64_t timeout_us, uint64_t known_epoch,
                     int64_t now_us)
    : role_(role),
      timeout_us_(timeout_us),
      state_(role == PairRole::kPrimary ? v1::PAIR_STATE_PRIMARY
                                        : v1::PAIR_STATE_BACKUP),
      epoch_(known_epoch),
      peer_heard_us_(now_us) {}

void PairState::Become(v1::PairStateName to, std::string why) {
  transitions_.push_back({state_, to, std::move(why)});
  state_ = to;
}

void PairState::BecomeActive(std::string why) {
  ++epoch_;
  Become(v1::PAIR_STATE_ACTIVE, absl::StrCat(why, "; epoch ", epoch_));
}

void PairState::Heard(int64_t now_us) { peer_heard_us_ = now_us; }

bool PairState::PeerSilent(int64_t now_us) const {
  return now_us - peer_heard_us_ >= timeout_us_;
}

void PairState::OnHeartbeat(const v1::PairHeartbeat& heartbeat,
                            int64_t now_us) {
  Heard(now_us);
  const v1::PairStateName peer = heartbeat.state();
  peer_state_ = peer;
  peer_stream_ = heartbeat.stream();
  if (!stop_.ok()) return;
  const bool same_start =
      (peer == v1::PAIR_STATE_PRIMARY && role_ == PairRole::kPrimary) ||
      (peer == v1::PAIR_STATE_BACKUP && role_ == PairRole::kBackup);
  if (same_start) {
    stop_ = absl::FailedPreconditionError(absl::StrCat(
        "the pair peer is also started as --pair=",
        role_ == PairRole::kPrimary ? "primary" : "backup",
        "; one broker of a pair is the primary, the other the backup"));
    return;
  }
  // Fencing first: an active peer of higher epoch (at equal epochs, the
  // primary's) wins.
  if (state_ == v1::PAIR_STATE_ACTIVE && peer == v1::PAIR_STATE_ACTIVE) {
    if (heartbeat.epoch() > epoch_ ||
        (heartbeat.epoch() == epoch_ && role_ == PairRole::kBackup)) {
      stop_ = absl::AbortedError(absl::StrCat(
          "fenced: the pair peer is active with epoch ", heartbeat.epoch(),
          ", this broker's is ", epoch_,
          "; stopping (started again, it follows the peer as passive)"));
    }
    return;
  }
  // Active, this broker's epoch stays what it took.
  if (state_ != v1::PAIR_STATE_ACTIVE)
    epoch_ = std::max(epoch_, heartbeat.epoch());
  switch (state_) {
    case v1::PAIR_STATE_PRIMARY:
      if (peer == v1::PAIR_STATE_BACKUP) {
        BecomeActive("peer is backup");
      } else if (peer == v1::PAIR_STATE_ACTIVE) {
        Become(v1::PAIR_STATE_PASSIVE,
               absl::StrCat("peer is active, epoch ", heartbeat.epoch()));
      }
      break;
    case v1::PAIR_STATE_BACKUP:
      if (peer == v1::PAIR_STATE_ACTIVE) {
        Become(v1::PAIR_STATE_PASSIVE,
               absl::StrCat("peer is active, epoch ", heartbeat.epoch()));
      }
      break;
    case v1::PAIR_STATE_PASSIVE:
      if (peer == v1::PAIR_STATE_PRIMARY || peer == v1::PAIR_STATE_BACKUP) {
        BecomeActive(absl::StrCat("peer restarted as ", PairStateText(peer)));
      }
      break;
    default:
      break;
  }
}

bool PairState::OnRequest(int64_t now_us, bool failed_over) {
  if (!stop_.ok()) return false;
  switch (state_) {
    case v1::PAIR_STATE_ACTIVE:
      return true;
    case v1::PAIR_STATE_PRIMARY:
    case v1::PAIR_STATE_PASSIVE:
      if (!failed_over || !PeerSilent(now_us)) return false;
      BecomeActive(absl::StrFormat(
          "peer silent for %.1f s and a client or worker that lost it asked",
          static_cast<double>(now_us - peer_heard_us_) / 1e6));
      return true;
    default:
      return false;  // a backup never passive: its journal may be stale
  }
}

v1::PairHeartbeat PairState::Heartbeat(uint64_t stream) const {
  v1::PairHeartbeat heartbeat;
  heartbeat.set_state(state_);
  heartbeat.set_epoch(epoch_);
  if (active()) heartbeat.set_stream(stream);
  return heartbeat;
}

bool PairState::HeartbeatDue(int64_t now_us) const {
  return heartbeat_sent_us_ < 0 ||
         now_us - heartbeat_sent_us_ >= timeout_us_ / 4;
}

int64_t PairState::NextDeadlineUs() const {
  return heartbeat_sent_us_ < 0 ? 0 : heartbeat_sent_us_ + timeout_us_ / 4;
}

std::vector<PairTransition> PairState::TakeTransitions() {
  return std::exchange(transitions_, {});
}

}  // namespace tq
