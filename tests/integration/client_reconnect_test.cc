// The client library across a broker restart, with real processes over
// loopback: the same Pool reconnects by itself and attaches its job again;
// the restarted broker keeps no journal, so it answers NOT_FOUND and the job
// fails as "lost" (kUnavailable: tq-client exits 3); new jobs and status
// work again.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/job.h"
#include "client/pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/local_cluster.h"
#include "tq/v1/tq.pb.h"

namespace tq::testing {
namespace {

using ::testing::HasSubstr;

// Primes in 1..n, through the pool; the job's error if it fails.
absl::StatusOr<uint64_t> CountPrimes(Pool& pool, uint64_t n) {
  JobSpec spec;
  spec.task = "primes";
  spec.input = NumberRange{1, n};
  absl::StatusOr<std::unique_ptr<Job>> job = pool.Submit(spec);
  if (!job.ok()) return job.status();
  uint64_t primes = 0;
  while (true) {
    absl::StatusOr<std::optional<ChunkResult>> chunk = (*job)->Next();
    if (!chunk.ok()) return chunk.status();
    if (!chunk->has_value()) return primes;
    for (uint64_t i = 0; i < (*chunk)->size(); ++i) primes += (*chunk)->bit(i);
  }
}

TEST(ClientReconnectTest, AJobInFlightFailsAsLostAndThePoolReconnects) {
  LocalCluster cluster({"--verbose"});
  ASSERT_FALSE(cluster.endpoint().empty());
  cluster.AddWorker({"--threads=1"});
  ClientOptions options;
  options.broker = cluster.endpoint();
  options.connect_timeout_ms = 10'000;
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Connect(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<uint64_t> warm = CountPrimes(**pool, 1000);
  ASSERT_TRUE(warm.ok()) << warm.status();
  ASSERT_EQ(*warm, 168u);

  // A slow job (1 ms items, 10 per chunk: 10 s of work) is running...
  JobSpec spec;
  spec.task = "spin";
  spec.input = NumberRange{1, 10'000};
  spec.chunk_size = 10;
  spec.params["us"] = "1000";
  absl::StatusOr<std::unique_ptr<Job>> job = (*pool)->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  absl::StatusOr<std::optional<ChunkResult>> first = (*job)->Next();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());

  // ...when the broker dies and a new one takes its address.
  cluster.RestartBroker();
  const absl::Time lost_by = absl::Now() + absl::Seconds(20);
  absl::Status lost;
  while (lost.ok() && absl::Now() < lost_by) {
    absl::StatusOr<JobEvent> event = (*job)->Poll(true, absl::Seconds(1));
    if (!event.ok()) lost = event.status();
    ASSERT_NE(event.ok() ? event->kind : JobEvent::Kind::kTimedOut,
              JobEvent::Kind::kDone)
        << "the job cannot complete: its broker is gone";
  }
  EXPECT_EQ(lost.code(), absl::StatusCode::kUnavailable) << lost;
  EXPECT_THAT(lost.message(), HasSubstr("lost with the connection"));
  EXPECT_THAT(lost.message(), HasSubstr("--journal"));

  // The same pool, without being told: the restarted broker (and the worker
  // that found it) run a new job, and status answers.
  absl::StatusOr<uint64_t> again = absl::UnavailableError("not run");
  const absl::Time back_by = absl::Now() + absl::Seconds(30);
  while (absl::Now() < back_by) {
    again = CountPrimes(**pool, 100'000);
    if (again.ok() || !absl::IsUnavailable(again.status())) break;
  }
  ASSERT_TRUE(again.ok()) << again.status() << "\nbroker:\n"
                          << cluster.broker().stderr_text();
  EXPECT_EQ(*again, 9592u);
  v1::StatusReply reply;
  absl::Status status = (*pool)->Status(&reply);
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace tq::testing
