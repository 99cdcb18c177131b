// `spin`: burns `us` microseconds of CPU per item, then returns the item. A
// synthetic load with a known cost, for scheduling and scaling tests and
// benchmarks. Parameter "us": integer 0..10000000, default 100.
#include <time.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "tasks/item_input.h"
#include "tasks/task.h"

namespace tq {
namespace {

constexpr uint64_t kDefaultMicros = 100;
constexpr uint64_t kMaxMicros = 10000000;

// Per-item cost spans 0..10 s, so only a small maximum keeps a chunk's run
// time sane; the broker picks sizes inside these bounds.
constexpr ChunkSizing kSizing = {1, uint64_t{1} << 16};

// The "us" parameter: decimal digits only (no sign, spaces or exponent), at
// most kMaxMicros.
absl::StatusOr<uint64_t> ParseMicros(const TaskParams& params) {
  uint64_t micros = kDefaultMicros;
  for (const auto& [key, value] : params) {
    if (key != "us") {
      return absl::InvalidArgumentError(absl::StrCat(
          "task 'spin' has no parameter '", key, "' (it takes 'us')"));
    }
    bool digits = !value.empty() && value.size() <= 8;
    uint64_t parsed = 0;
    for (char c : value) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      parsed = parsed * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!digits || parsed > kMaxMicros) {
      return absl::InvalidArgumentError(
          absl::StrCat("task 'spin' parameter 'us' must be an integer 0..",
                       kMaxMicros, ", got '", value, "'"));
    }
    micros = parsed;
  }
  return micros;
}

int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Spends `micros` of this thread's CPU time on arithmetic. The clock is read
// between short bursts of work, so nearly all the time is spent computing
// rather than in the clock call, and a descheduled thread keeps spinning
// until it really got its CPU time. An item may take up to 10 s, so the
// cancellation flag is polled with the clock: false if it was set.
bool BurnCpu(uint64_t micros, uint64_t seed, const CancelToken& cancel) {
  const int64_t deadline =
      ThreadCpuNanos() + static_cast<int64_t>(micros) * 1000;
  uint64_t x = seed | 1;
  bool cancelled = false;
  while (ThreadCpuNanos() < deadline) {
    if (cancel.cancelled()) {
      cancelled = true;
      break;
    }
    for (int i = 0; i < 256; ++i)
      x = x * 6364136223846793005u + 1442695040888963407u;
  }
  // Keeps the loop from being optimised away.
  asm volatile("" : : "r"(x));
  return !cancelled;
}

class SpinTask : public Task {
 public:
  absl::string_view name() const override { return "spin"; }
  absl::string_view description() const override {
    return "burns 'us' microseconds of CPU per item (default 100), returns "
           "the item";
  }
  ResultShape shape() const override { return ResultShape::kValue; }
  ChunkSizing sizing(v1::Reduction) const override { return kSizing; }
  absl::Status ValidateParams(const TaskParams& params) const override {
    return ParseMicros(params).status();
  }

  absl::Status Compute(const TaskInput& input, uint64_t,
                       const TaskParams& params, v1::Reduction,
                       const CancelToken& cancel,
                       v1::ChunkOutput* output) const override {
    const uint64_t micros = *ParseMicros(params);  // Run validated params
    auto* values = output->mutable_values()->mutable_values();
    bool cancelled = false;
    // us=0 items cost nanoseconds: poll every 4096 of them.
    const bool finished = ForEachItemUnlessCancelled(
        input, cancel, micros > 0 ? 1 : 4096, [&](uint64_t n) {
          if (cancelled) return;
          if (micros > 0 && !BurnCpu(micros, n, cancel)) cancelled = true;
          values->Add(n);
        });
    if (!finished || cancelled) return CancelledStatus();
    return absl::OkStatus();
  }
};

TQ_REGISTER_TASK(SpinTask);

}  // namespace
}  // namespace tq
