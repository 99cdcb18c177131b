#include "common/liveness.h"

#include <algorithm>

namespace tq {

Liveness::Liveness(const LivenessOptions& options)
    : options_(options),
      interval_us_(options.heartbeat_interval_ms * 1000),
      timeout_us_(options.heartbeat_timeout_ms * 1000),
      backoff_ms_(options.reconnect_min_ms) {}

int64_t Liveness::Connecting(int64_t now_us) {
  const int64_t deadline = now_us + backoff_ms_ * 1000;
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.reconnect_max_ms);
  last_heard_us_ = now_us;
  last_sent_us_ = now_us;
  return deadline;
}

void Liveness::Welcomed(const v1::Welcome& welcome, int64_t now_us) {
  backoff_ms_ = options_.reconnect_min_ms;
  int64_t interval_ms = options_.heartbeat_interval_ms;
  if (welcome.heartbeat_interval_ms() > 0) {
    interval_ms = std::min<int64_t>(interval_ms, welcome.heartbeat_interval_ms());
  }
  interval_us_ = interval_ms * 1000;
  timeout_us_ = std::max<int64_t>(options_.heartbeat_timeout_ms,
                                  2 * int64_t{welcome.heartbeat_interval_ms()}) *
                1000;
  last_heard_us_ = now_us;
}

int64_t Liveness::NextDeadlineUs() const {
  return std::min(last_sent_us_ + interval_us_, last_heard_us_ + timeout_us_);
}

}  // namespace tq
