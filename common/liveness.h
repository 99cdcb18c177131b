// Liveness: the one policy by which a peer of the broker (tq-worker, the
// client library) keeps its connection alive, notices that the broker is
// gone, and reconnects. Pure: the caller passes the time in.
//
//   - Send something at least every interval; a broker silent for the
//     timeout is lost. The Welcome adjusts both: we send at least as often
//     as the broker expects (the smaller interval), and never call a healthy
//     but idle broker lost before two of its heartbeat intervals passed.
//   - Reconnect at once on a new socket, and wait for the Welcome as long as
//     the back-off: it starts at reconnect_min, doubles with every attempt up
//     to reconnect_max, and starts over once a Welcome comes.
//
// Thread safety: not thread-safe; owned by one session.
#ifndef TQ_COMMON_LIVENESS_H_
#define TQ_COMMON_LIVENESS_H_

#include <cstdint>

#include "common/protocol.h"
#include "tq/v1/tq.pb.h"

namespace tq {

struct LivenessOptions {
  int64_t heartbeat_interval_ms = kDefaultHeartbeatIntervalMs;
  int64_t heartbeat_timeout_ms = kDefaultHeartbeatTimeoutMs;
  int64_t reconnect_min_ms = 100;
  int64_t reconnect_max_ms = 5'000;
};

class Liveness {
 public:
  explicit Liveness(const LivenessOptions& options);

  // A connection attempt starts (Hello sent): returns the time by which its
  // Welcome must come, and doubles the back-off for the next attempt.
  int64_t Connecting(int64_t now_us);
  // The broker's Welcome: the back-off starts over; interval and timeout
  // are adjusted to the broker's.
  void Welcomed(const v1::Welcome& welcome, int64_t now_us);

  void Heard(int64_t now_us) { last_heard_us_ = now_us; }
  void Sent(int64_t now_us) { last_sent_us_ = now_us; }

  // Nothing sent for an interval: time for a heartbeat.
  bool HeartbeatDue(int64_t now_us) const {
    return now_us - last_sent_us_ >= interval_us_;
  }
  // Nothing heard for the timeout: the broker is lost.
  bool Silent(int64_t now_us) const {
    return now_us - last_heard_us_ >= timeout_us_;
  }
  int64_t silent_ms(int64_t now_us) const {
    return (now_us - last_heard_us_) / 1000;
  }
  // The earlier of the next heartbeat and the silence deadline.
  int64_t NextDeadlineUs() const;

  int64_t interval_us() const { return interval_us_; }
  int64_t timeout_us() const { return timeout_us_; }
  // What the next attempt will wait for its Welcome.
  int64_t backoff_ms() const { return backoff_ms_; }

 private:
  const LivenessOptions options_;
  int64_t interval_us_;
  int64_t timeout_us_;
  int64_t backoff_ms_;
  int64_t last_heard_us_ = 0;
  int64_t last_sent_us_ = 0;
};

}  // namespace tq

#endif  // TQ_COMMON_LIVENESS_H_
