// ChunkSizer: how many items the next chunk of a job should hold, learned
// from the job's own chunks, for items whose cost nobody knows up front (a
// user's Python function; later, built-in tasks too).
//
// The rule. Until a chunk has been measured, chunks hold `initial_items`
// (one: a function that takes a minute per item must not start with a
// chunk of thousands). Measured chunks give the time per item: their rates
// averaged with weights by run time (a long chunk counts far more than a
// short one, whose time is mostly fixed overhead, so a slowdown shows at
// once), the history halving per chunk so a drifting cost is followed. The
// next chunk aims at `target_micros` at that rate.
// rate. Growth is capped: a chunk holds at most
// `growth` times the items of the largest chunk measured so far, so sizes
// climb 1, 4, 16, ... one round trip at a time and a wrong guess costs at
// most one step. Then three bounds: `max_items`; `max_bytes` at the bytes
// per item seen so far (encoded input or results, whichever is larger); and
// near the end of an input of known length, an even share of what remains
// per worker, so the last chunks shrink and the tail balances (guided
// self-scheduling).
//
// Pure: no clock, no I/O; times come from the workers' reports
// (ChunkResult::run_micros). Thread safety: none; one job's feeder owns it.
#ifndef TQ_COMMON_CHUNK_SIZER_H_
#define TQ_COMMON_CHUNK_SIZER_H_

#include <cstdint>
#include <limits>

namespace tq {

struct ChunkSizerOptions {
  // Wall time a chunk should take on a worker. Default: 50 ms (measured on
  // Python jobs: below ~20 ms per-chunk overhead shows, above ~100 ms the
  // tail of a job waits on its last chunks; see README "Chunk sizing").
  uint64_t target_micros = 50'000;
  // Items per chunk until a chunk was measured. Default: 1.
  uint64_t initial_items = 1;
  // A chunk holds at most this many times the items of the largest chunk
  // measured so far. Default: 4.
  uint64_t growth = 4;
  // Upper bound on items per chunk. Default: 2^20.
  uint64_t max_items = uint64_t{1} << 20;
  // Upper bound on a chunk's encoded input or results, at the bytes per
  // item seen so far. Default: 1 MiB.
  uint64_t max_bytes = uint64_t{1} << 20;
};

class ChunkSizer {
 public:
  // Items of an input whose length is not known (a stream).
  static constexpr uint64_t kUnknownRemaining =
      std::numeric_limits<uint64_t>::max();

  explicit ChunkSizer(ChunkSizerOptions options = {});

  // Items for the next chunk: at least 1, at most `remaining` (items left
  // in the input; kUnknownRemaining for a stream) unless that is 0.
  // `parallelism`: workers sharing the job (worker threads, or the job's
  // concurrency cap); 0 counts as 1.
  uint64_t Next(uint64_t remaining = kUnknownRemaining,
                uint32_t parallelism = 1) const;

  // A chunk of `items` was cut and its input encoded in `bytes` (0 for
  // input that travels as a range).
  void ObserveInput(uint64_t items, uint64_t bytes);
  // A chunk of `items` ran for `run_micros` on a worker and its results
  // took `result_bytes`.
  void ObserveResult(uint64_t items, uint64_t run_micros,
                     uint64_t result_bytes);

  // A chunk's run time has been observed.
  bool measured() const { return largest_measured_ > 0; }
  // The current estimates; 0 until observed.
  double micros_per_item() const;
  double bytes_per_item() const;
  const ChunkSizerOptions& options() const { return options_; }

 private:
  const ChunkSizerOptions options_;
  uint64_t largest_measured_ = 0;  // items of the largest chunk timed
  // Decayed sums behind the estimates (see chunk_sizer.cc).
  double weighted_rates_ = 0;  // run time x (run time / items)
  double run_micros_ = 0;
  double result_bytes_ = 0;
  double result_items_ = 0;
  double input_bytes_ = 0;
  double input_items_ = 0;
};

}  // namespace tq

#endif  // TQ_COMMON_CHUNK_SIZER_H_
