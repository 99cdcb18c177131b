// Times the `primes` kernel alone, single-threaded, for the numbers in the
// tasks report: 1..1e9 in chunks of 2^24 items, bitmap and count, and the
// sieve vs item-by-item costs that RangeSieveIsWorthIt is tuned from.
// Compare with `primesieve 1e9 --count -t1`. Not a test: run it by hand.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "tasks/prime_range.h"
#include "tasks/task.h"

namespace tq {
namespace {

// This thread's CPU time: steadier than wall time on a shared box.
double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         1e-9 * static_cast<double>(ts.tv_nsec);
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int Main() {
  const Task* task = *BuiltinTasks().Lookup("primes");
  constexpr uint64_t kChunk = uint64_t{1} << 24;
  constexpr uint64_t kLast = 1000000000;
  for (v1::Reduction reduction : {v1::REDUCTION_NONE, v1::REDUCTION_COUNT}) {
    uint64_t primes = 0;
    double busy = 0, cpu = 0;
    for (uint64_t first = 1; first <= kLast; first += kChunk) {
      const TaskInput input =
          TaskInput::Range(first, std::min(first + kChunk - 1, kLast));
      v1::ChunkOutput output;
      const double start = Now(), cpu_start = CpuNow();
      absl::Status status = task->Run(input, {}, reduction, &output);
      busy += Now() - start;
      cpu += CpuNow() - cpu_start;
      if (!status.ok()) {
        fprintf(stderr, "%s\n", status.ToString().c_str());
        return 1;
      }
      if (reduction == v1::REDUCTION_COUNT) {
        primes += output.count();
      } else {
        for (unsigned char byte : output.bits())
          primes += __builtin_popcount(byte);
      }
    }
    printf(
        "primes 1..1e9, 2^24-item chunks, %s: %.3f s wall, %.3f s CPU, "
        "%lu primes\n",
        reduction == v1::REDUCTION_COUNT ? "count" : "bitmap", busy, cpu,
        static_cast<unsigned long>(primes));
  }
  for (int log2 : {40, 50, 56, 63}) {
    const uint64_t base = uint64_t{1} << log2;
    for (uint64_t n = 1 << 10; n <= 1 << 20; n <<= 2) {
      std::vector<uint8_t> bits(n / 8 + 1);
      double start = Now();
      (void)MarkPrimesBySieve(base, base + n - 1, bits.data());
      const double sieve = Now() - start;
      start = Now();
      MarkPrimesItemByItem(base, base + n - 1, bits.data());
      const double item = Now() - start;
      printf("2^%d + [0, %7lu): sieve %8.5f s, item by item %8.5f s, %s\n",
             log2, static_cast<unsigned long>(n), sieve, item,
             RangeSieveIsWorthIt(base, base + n - 1) ? "sieve" : "items");
    }
  }
  return 0;
}

}  // namespace
}  // namespace tq

int main() { return tq::Main(); }
