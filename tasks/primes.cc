// `primes`: is each item prime? Exact for every uint64. Ranges go through a
// segmented sieve (prime_wheel.h for results, prime_range.h for counts),
// lists through Miller-Rabin (miller_rabin.h). Output: for a range,
// ChunkOutput.prime_wheel (8 bits per 30 numbers, tasks/prime_wheel.h); for
// a list, ChunkOutput.bits, item i at bit i % 8 of byte i / 8; with
// REDUCTION_COUNT, ChunkOutput.count.
#include <string>

#include "absl/strings/str_cat.h"
#include "tasks/item_input.h"
#include "tasks/miller_rabin.h"
#include "tasks/prime_range.h"
#include "tasks/prime_wheel.h"
#include "tasks/task.h"

namespace tq {
namespace {

// Chunk bounds.
// REDUCTION_NONE: a chunk's answer is at most one bit per item (a range's
// wheel is 8 bits per 30), so 2^24 items make at most a 2 MiB message (far
// below kMaxMessageBytes) and take ~20 ms to sieve near 10^9: big enough to hide per-chunk overhead, small enough to balance load
// and to requeue cheaply. Below 2^16 items (8 KiB) the sieve's setup and the
// round trip dominate.
constexpr ChunkSizing kBitmapSizing = {uint64_t{1} << 16, uint64_t{1} << 24};
// REDUCTION_COUNT: the answer is one number, so only compute time bounds a
// chunk; 2^32 items count in ~0.3 s near 10^10, and 2^20 is the smallest
// size at which counting is still cheaper than the chunk's round trip.
constexpr ChunkSizing kCountSizing = {uint64_t{1} << 20, uint64_t{1} << 32};
// Cancellation polls. A counted range is sieved in blocks of 2^26 items
// (~5-20 ms each; the sieve's set-up per block is small next to that); a
// bitmap chunk (at most 2^24 items, ~20 ms) is sieved whole; lists are
// tested item by item (microseconds each), polled every 1024.
constexpr uint64_t kCountBlockItems = uint64_t{1} << 26;
constexpr uint64_t kListPollStride = 1024;

class PrimesTask : public Task {
 public:
  absl::string_view name() const override { return "primes"; }
  absl::string_view description() const override {
    return "is n prime? (exact for all uint64; supports --format=count)";
  }
  ResultShape shape() const override { return ResultShape::kBool; }
  ChunkSizing sizing(v1::Reduction reduction) const override {
    return reduction == v1::REDUCTION_COUNT ? kCountSizing : kBitmapSizing;
  }
  absl::Status ValidateParams(const TaskParams& params) const override {
    return RequireNoParams(name(), params);
  }

  absl::Status Compute(const TaskInput& input, uint64_t items,
                       const TaskParams&, v1::Reduction reduction,
                       const CancelToken& cancel,
                       v1::ChunkOutput* output) const override {
    if (cancel.cancelled()) return CancelledStatus();
    if (reduction == v1::REDUCTION_COUNT) {
      uint64_t primes = 0;
      if (input.is_range()) {
        for (uint64_t first = input.first();; first += kCountBlockItems) {
          if (cancel.cancelled()) return CancelledStatus();
          const uint64_t last = input.last() - first < kCountBlockItems
                                    ? input.last()
                                    : first + (kCountBlockItems - 1);
          absl::StatusOr<uint64_t> n = CountPrimesInRange(first, last);
          if (!n.ok()) return n.status();
          primes += *n;
          if (last == input.last()) break;  // before +=: last may be 2^64-1
        }
      } else if (!ForEachItemUnlessCancelled(
                     input, cancel, kListPollStride,
                     [&](uint64_t n) { primes += IsPrime(n); })) {
        return CancelledStatus();
      }
      output->set_count(primes);
      return absl::OkStatus();
    }

    if (input.is_range()) {
      // The compact form; the worker's runner expands it for a client that
      // did not ask for it (worker/chunk_runner.cc).
      std::string* wheel = output->mutable_prime_wheel();
      wheel->resize(WheelBytes(input.first(), input.last()));
      return MarkPrimeWheel(input.first(), input.last(),
                            reinterpret_cast<uint8_t*>(wheel->data()));
    }
    std::string* bits = output->mutable_bits();
    bits->assign((items + 7) / 8, '\0');
    auto* data = reinterpret_cast<uint8_t*>(bits->data());
    uint64_t i = 0;
    if (!ForEachItemUnlessCancelled(input, cancel, kListPollStride,
                                    [&](uint64_t n) {
                                      if (IsPrime(n)) {
                                        data[i >> 3] |=
                                            static_cast<uint8_t>(1u << (i & 7));
                                      }
                                      ++i;
                                    })) {
      return CancelledStatus();
    }
    return absl::OkStatus();
  }
};

TQ_REGISTER_TASK(PrimesTask);

}  // namespace
}  // namespace tq
