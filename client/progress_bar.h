// ProgressBar: "items done / total, rate, ETA" on one stderr line, redrawn at
// most ~10 times a second and cleared at the end. tq-client shows it only
// when stderr is a terminal (or --progress=always), so pipes and logs stay
// clean. Thread safety: used by one thread.
#ifndef TQ_CLIENT_PROGRESS_BAR_H_
#define TQ_CLIENT_PROGRESS_BAR_H_

#include <chrono>
#include <cstdio>
#include <string>

#include "absl/numeric/int128.h"

namespace tq {

class ProgressBar {
 public:
  // Disabled bars do nothing. `total` is the job's item count; 0 when it is
  // not known (streamed input): the bar shows no total and no ETA.
  ProgressBar(FILE* out, bool enabled, absl::uint128 total);
  ~ProgressBar();  // clears the line

  // Adds `items` to the done count; redraws if 100 ms have passed.
  void Advance(uint64_t items);
  void Clear();

  // The line as drawn, for tests: "1234 / 100000 items  1.2M/s  ETA 3s".
  static std::string Format(absl::uint128 done, absl::uint128 total,
                            double seconds);

 private:
  FILE* const out_;
  const bool enabled_;
  const absl::uint128 total_;
  absl::uint128 done_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace tq

#endif  // TQ_CLIENT_PROGRESS_BAR_H_
