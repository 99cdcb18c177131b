// The one clock of tq's I/O loops: monotonic microseconds. The sans-I/O
// cores (Scheduler, WorkerSession, ClientSession) never read a clock; the
// loop that drives each reads this one and passes the time in, and the
// metrics server's /healthz compares a loop's last iteration against it, so
// every `now_us` a loop hands out is on this clock.
//
// Header-only: tq_metrics_server uses it without linking tq_common.
#ifndef TQ_COMMON_CLOCK_H_
#define TQ_COMMON_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace tq {

// Microseconds since an arbitrary fixed point (std::chrono::steady_clock,
// CLOCK_MONOTONIC on Linux): never jumps with the wall clock, so only
// differences mean anything. Thread-safe.
inline int64_t MonotonicNowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace tq

#endif  // TQ_COMMON_CLOCK_H_
