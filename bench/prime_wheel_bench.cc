// The `primes` task's wheel kernel (tasks/prime_wheel.h), single-threaded,
// over ranges cut into 2^24-item chunks as the task sees them, next to
// primesieve::count_primes over the same chunks (the yardstick: primesieve's
// own sieving speed, no output). The bitmap kernel it replaced (primesieve's
// iterator, one bit set per prime listed) took ~2x MarkPrimeWheel's time.
// WheelCount is the wheel counting instead of marking (CountPrimesByWheel),
// CountPrimesInRange the count form's kernel: where WheelCount and
// PrimesieveCount cross is where kWheelCountMaxLast belongs.
//
//   build/bench/prime_wheel_bench [--benchmark_filter=/0$]
//
// The argument picks the region: 0 = 1..1e9 (60 chunks), 1 = 8 chunks from
// 1e12, then 4 chunks from 1e13 (2), 1e14 (3) and 1e15 (4). WheelBySieve and
// WheelByIterator force one path of MarkPrimeWheel: where they cross is
// where kWheelSieveMaxLast belongs.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"
#include "primesieve.hpp"
#include "tasks/prime_range.h"
#include "tasks/prime_wheel.h"

namespace {

constexpr uint64_t kChunk = uint64_t{1} << 24;

struct Region {
  uint64_t first;
  uint64_t last;
};
constexpr Region kRegions[] = {
    {1, 1000000000},
    {1000000000000, 1000000000000 + 8 * kChunk - 1},
    {10000000000000, 10000000000000 + 4 * kChunk - 1},
    {100000000000000, 100000000000000 + 4 * kChunk - 1},
    {1000000000000000, 1000000000000000 + 4 * kChunk - 1},
};

// Runs `mark(first, last)` over the chunks of the benchmark's region.
template <typename Mark>
void OverChunks(benchmark::State& state, Mark mark) {
  const Region region = kRegions[state.range(0)];
  for (auto _ : state) {
    for (uint64_t first = region.first; first <= region.last; first += kChunk) {
      mark(first, std::min(first + kChunk - 1, region.last));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(region.last - region.first + 1));
}

void PrimesieveCount(benchmark::State& state) {
  primesieve::set_num_threads(1);
  uint64_t count = 0;
  OverChunks(state, [&](uint64_t first, uint64_t last) {
    count += primesieve::count_primes(first, last);
  });
  benchmark::DoNotOptimize(count);
}

// A counting kernel: CountPrimesByWheel, or the count form's own
// (tasks/prime_range.h: the wheel up to kWheelCountMaxLast, primesieve past
// it).
template <absl::StatusOr<uint64_t> (*kCount)(uint64_t, uint64_t)>
void Count(benchmark::State& state) {
  uint64_t count = 0;
  OverChunks(state, [&](uint64_t first, uint64_t last) {
    absl::StatusOr<uint64_t> n = kCount(first, last);
    if (!n.ok()) state.SkipWithError("failed");
    count += n.value_or(0);
  });
  benchmark::DoNotOptimize(count);
}

template <absl::Status (*kMark)(uint64_t, uint64_t, uint8_t*)>
void Wheel(benchmark::State& state) {
  std::vector<uint8_t> wheel(kChunk / 30 + 2);
  OverChunks(state, [&](uint64_t first, uint64_t last) {
    if (!kMark(first, last, wheel.data()).ok()) state.SkipWithError("failed");
    benchmark::DoNotOptimize(wheel.data());
  });
}

void Regions(benchmark::internal::Benchmark* b) {
  b->DenseRange(0, 4)->Unit(benchmark::kMillisecond);
}

BENCHMARK(PrimesieveCount)->Apply(Regions);
BENCHMARK(Count<tq::CountPrimesByWheel>)->Name("WheelCount")->Apply(Regions);
BENCHMARK(Count<tq::CountPrimesInRange>)
    ->Name("CountPrimesInRange")
    ->Apply(Regions);
BENCHMARK(Wheel<tq::MarkPrimeWheel>)->Name("MarkPrimeWheel")->Apply(Regions);
BENCHMARK(Wheel<tq::MarkPrimeWheelBySieve>)
    ->Name("WheelBySieve")
    ->Apply(Regions);
BENCHMARK(Wheel<tq::MarkPrimeWheelByIterator>)
    ->Name("WheelByIterator")
    ->Apply(Regions);

}  // namespace

BENCHMARK_MAIN();
