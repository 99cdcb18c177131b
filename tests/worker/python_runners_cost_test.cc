// What a chunk costs on the pipe: runner start-up, the round trip of 1,000
// one-item chunks, and chunks of 10**6 ints. Prints its figures.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <variant>

#include "tests/worker/python_test_util.h"
#include "worker/runners/python_runners.h"

namespace tq {
namespace {

using testing::PickleCode;
using testing::PickleValue;
using testing::RangeChunk;
using testing::TestOptions;
using testing::Unpickle;
using Kind = PythonOutcome::Kind;

// Not a pass/fail benchmark: prints what a chunk costs on the pipe.
TEST(PythonRunnersCostTest, RoundTripOfSmallAndLargeChunks) {
  using Clock = std::chrono::steady_clock;
  auto runners = *PythonRunners::Create(TestOptions(1));
  CodeBlob identity = PickleCode("", "lambda x: x");
  Clock::time_point start = Clock::now();
  ASSERT_EQ(runners->Run(RangeChunk("alice", identity, 0, 0)).kind, Kind::kOk);
  const double startup_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();

  constexpr int kChunks = 1000;
  uint64_t inside_micros = 0;
  start = Clock::now();
  for (int i = 0; i < kChunks; ++i) {
    PythonOutcome outcome = runners->Run(RangeChunk("alice", identity, i, i));
    ASSERT_EQ(outcome.kind, Kind::kOk);
    inside_micros += outcome.run_micros;
  }
  const double per_chunk_us =
      std::chrono::duration<double, std::micro>(Clock::now() - start).count() /
      kChunks;

  // Large chunks: the best of 3, as the first run of each also pays for
  // page faults in both processes.
  struct Timing {
    double wall_ms = 1e9, inside_ms = 0;
    PythonOutcome outcome;
  };
  auto best_of_3 = [&](const PythonChunk& chunk) {
    Timing best;
    for (int i = 0; i < 3; ++i) {
      const Clock::time_point begin = Clock::now();
      PythonOutcome outcome = runners->Run(chunk);
      const double ms =
          std::chrono::duration<double, std::milli>(Clock::now() - begin)
              .count();
      EXPECT_EQ(outcome.kind, Kind::kOk) << outcome.message;
      if (ms < best.wall_ms) {
        best = {ms, outcome.run_micros / 1e3, std::move(outcome)};
      }
    }
    return best;
  };
  Timing range = best_of_3(RangeChunk("alice", identity, 0, 999999));
  EXPECT_EQ(Unpickle(range.outcome.result, "(len(v), v[-1])"),
            "(1000000, 999999)");
  PythonChunk from_list = RangeChunk("alice", identity, 0, 0);
  from_list.items = PickledListItems{
      std::make_shared<const std::string>(PickleValue("list(range(10**6))"))};
  Timing list = best_of_3(from_list);

  std::printf(
      "runner start + first chunk: %.1f ms\n"
      "%d chunks of 1 item: %.1f us per chunk round trip (%.1f us of it in "
      "the runner)\n"
      "1 chunk of range(10**6): %.1f ms (%.1f ms in the runner), results "
      "%.2f MiB\n"
      "1 chunk of a pickled list of 10**6 ints (%.2f MiB): %.1f ms (%.1f ms "
      "in the runner)\n",
      startup_ms, kChunks, per_chunk_us,
      static_cast<double>(inside_micros) / kChunks, range.wall_ms,
      range.inside_ms, range.outcome.result.size() / 1048576.0,
      std::get<PickledListItems>(from_list.items).pickle->size() / 1048576.0,
      list.wall_ms, list.inside_ms);
  EXPECT_LT(per_chunk_us, 5000);  // microseconds expected; loose for load
}

}  // namespace
}  // namespace tq
