// The client library end to end against an embedded cluster (the real
// Broker and Worker in-process), plus connection failures against TCP peers.
#include "client/pool.h"

#include <chrono>
#include <set>
#include <thread>

#include "broker/broker.h"
#include "client/embedded_cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace tq {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

bool IsPrime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

std::unique_ptr<Pool> Embedded(ClientOptions options = {}) {
  options.embedded_threads = 2;
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Connect(options);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? *std::move(pool) : nullptr;
}

JobSpec Primes(uint64_t lo, uint64_t hi, uint64_t chunk_size = 0) {
  JobSpec spec;
  spec.task = "primes";
  spec.input = NumberRange{lo, hi};
  spec.chunk_size = chunk_size;
  return spec;
}

TEST(PoolTest, EmbeddedClusterOffersTheBuiltinTasks) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  EXPECT_THAT(pool->tasks(), ::testing::IsSupersetOf({"noop", "primes"}));
  EXPECT_THAT(pool->endpoint(), HasSubstr("inproc://tq-embedded-"));
}

TEST(PoolTest, MapPrimesMatchesAReference) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<std::vector<ChunkResult>> chunks = pool->Map(Primes(1, 100000));
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  uint64_t expected_n = 1, trues = 0;
  for (const ChunkResult& chunk : *chunks) {
    ASSERT_EQ(chunk.kind(), ChunkResult::Kind::kBits);
    for (uint64_t i = 0; i < chunk.size(); ++i, ++expected_n) {
      ASSERT_EQ(chunk.n(i), expected_n);
      ASSERT_EQ(chunk.bit(i), IsPrime(expected_n)) << expected_n;
      trues += chunk.bit(i);
    }
  }
  EXPECT_EQ(expected_n, 100001u);
  EXPECT_EQ(trues, 9592u);
}

TEST(PoolTest, OrderedIteratorYieldsChunksInInputOrder) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<std::unique_ptr<Job>> job = pool->Submit(Primes(1, 100000, 1000));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ((*job)->chunk_count(), 100u);
  uint64_t expected = 0;
  while (true) {
    auto chunk = (*job)->Next();
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    if (!chunk->has_value()) break;
    EXPECT_EQ((*chunk)->chunk_index(), expected++);
  }
  EXPECT_EQ(expected, 100u);
}

TEST(PoolTest, UnorderedIteratorYieldsEveryChunkOnce) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<std::unique_ptr<Job>> job = pool->Submit(Primes(1, 100000, 700));
  ASSERT_TRUE(job.ok()) << job.status();
  std::set<uint64_t> seen;
  uint64_t trues = 0;
  while (true) {
    auto chunk = (*job)->NextCompleted();
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    if (!chunk->has_value()) break;
    EXPECT_TRUE(seen.insert((*chunk)->chunk_index()).second);
    trues += (*chunk)->count();
  }
  EXPECT_EQ(seen.size(), (*job)->chunk_count());
  EXPECT_EQ(trues, 9592u);
}

TEST(PoolTest, TinyResultWindowStillFinishesInOrder) {
  // Window 1 and 2: credit returns one chunk at a time; ordered reading must
  // never leave both sides waiting on each other.
  for (uint32_t window : {1u, 2u}) {
    ClientOptions options;
    options.result_window = window;
    std::unique_ptr<Pool> pool = Embedded(options);
    ASSERT_NE(pool, nullptr);
    auto chunks = pool->Map(Primes(1, 20000, 100));
    ASSERT_TRUE(chunks.ok()) << chunks.status();
    EXPECT_EQ(chunks->size(), 200u);
  }
}

TEST(PoolTest, CountReductionGivesPiOfAMillion) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  JobSpec spec = Primes(1, 1000000);
  spec.reduction = Reduction::kCount;
  auto chunks = pool->Map(spec);
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  uint64_t total = 0;
  for (const ChunkResult& chunk : *chunks) {
    EXPECT_EQ(chunk.kind(), ChunkResult::Kind::kCount);
    total += chunk.count();
  }
  EXPECT_EQ(total, 78498u);
}

TEST(PoolTest, ListInputKeepsItsOrderAndNumbers) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  JobSpec spec;
  spec.task = "primes";
  spec.input = std::vector<uint64_t>{97, 1, 2, 100, 18446744073709551557u};
  spec.chunk_size = 2;
  auto chunks = pool->Map(spec);
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  std::vector<std::pair<uint64_t, bool>> got;
  for (const ChunkResult& chunk : *chunks) {
    for (uint64_t i = 0; i < chunk.size(); ++i) got.emplace_back(chunk.n(i), chunk.bit(i));
  }
  EXPECT_EQ(got, (std::vector<std::pair<uint64_t, bool>>{
                     {97, true}, {1, false}, {2, true}, {100, false},
                     {18446744073709551557u, true}}));
}

TEST(PoolTest, RejectsBadSpecsBeforeSending) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->Submit(Primes(10, 5)).status().code(),
            absl::StatusCode::kInvalidArgument);
  JobSpec empty;
  empty.task = "primes";
  empty.input = std::vector<uint64_t>{};
  EXPECT_EQ(pool->Submit(empty).status().code(), absl::StatusCode::kInvalidArgument);
  JobSpec both = Primes(1, 10);
  both.code = CodeSpec{};
  EXPECT_THAT(pool->Submit(both).status().message(),
              HasSubstr("either a task or code"));
}

TEST(PoolTest, ALongListStreamsThroughAWindowOfChunks) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  // 5 million numbers: once more than one job could carry, now streamed by
  // the library as results make room.
  std::vector<uint64_t> numbers(5'000'000);
  for (size_t i = 0; i < numbers.size(); ++i) numbers[i] = i + 1;
  JobSpec spec;
  spec.task = "primes";
  spec.input = numbers;
  spec.reduction = Reduction::kCount;
  spec.result_window = 4;
  absl::StatusOr<std::unique_ptr<Job>> job = pool->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  uint64_t total = 0, items = 0, expected_first = 0;
  while (true) {
    auto chunk = (*job)->Next();
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    if (!chunk->has_value()) break;
    EXPECT_EQ((*chunk)->first_item(), expected_first);
    expected_first += (*chunk)->size();
    items += (*chunk)->size();
    total += (*chunk)->count();
  }
  EXPECT_EQ(items, 5'000'000u);
  EXPECT_EQ(total, 348'513u);  // pi(5e6)
  EXPECT_EQ((*job)->item_count(), absl::uint128(5'000'000));
}

TEST(PoolTest, StreamedInputIsFedAsPollMakesRoom) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  JobSpec spec;
  spec.task = "primes";
  spec.input = StreamedInput{};
  spec.result_window = 2;
  absl::StatusOr<std::unique_ptr<Job>> job = pool->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  // Ten chunks of ten numbers, fed whenever there is room; results in order.
  uint64_t next_lo = 1, primes = 0, chunks = 0, room_events = 0;
  while (true) {
    auto event = (*job)->Poll(/*ordered=*/true, absl::Seconds(30));
    ASSERT_TRUE(event.ok()) << event.status();
    if (event->kind == JobEvent::Kind::kDone) break;
    ASSERT_NE(event->kind, JobEvent::Kind::kTimedOut);
    if (event->kind == JobEvent::Kind::kInputRoom) {
      ++room_events;
      ASSERT_LE((*job)->InputRoom(), 2u);
      if (next_lo > 100) {
        ASSERT_TRUE((*job)->EndInput().ok());
        continue;
      }
      std::vector<uint64_t> numbers;
      for (int i = 0; i < 10; ++i) numbers.push_back(next_lo++);
      ASSERT_TRUE((*job)->Append(numbers).ok());
      continue;
    }
    EXPECT_EQ(event->result->chunk_index(), chunks++);
    EXPECT_EQ(event->result->n(0), event->result->first_item() + 1);
    primes += event->result->count();
  }
  EXPECT_EQ(chunks, 10u);
  EXPECT_EQ(primes, 25u);
  EXPECT_GE(room_events, 11u);
}

TEST(PoolTest, UnknownTaskErrorListsTheOfferedTasks) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  JobSpec spec = Primes(1, 10);
  spec.task = "nosuchtask";
  absl::StatusOr<std::unique_ptr<Job>> job = pool->Submit(spec);
  ASSERT_FALSE(job.ok());
  EXPECT_THAT(job.status().message(), HasSubstr("nosuchtask"));
  EXPECT_THAT(job.status().message(), HasSubstr("primes"));
  EXPECT_THAT(job.status().message(), HasSubstr("noop"));
}

TEST(PoolTest, CancelMidJobReturnsPromptly) {
  std::unique_ptr<Pool> pool = Embedded();
  ASSERT_NE(pool, nullptr);
  // ~1000 s of CPU: only cancelling ends it in time.
  JobSpec spec;
  spec.task = "spin";
  spec.input = NumberRange{1, 1000000};
  spec.params = {{"us", "1000"}};
  spec.chunk_size = 10;
  absl::StatusOr<std::unique_ptr<Job>> job = pool->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  auto first = (*job)->Next();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  Clock::time_point start = Clock::now();
  (*job)->Cancel();
  auto next = (*job)->Next();
  EXPECT_EQ(next.status().code(), absl::StatusCode::kCancelled);
  job->reset();
  pool.reset();  // stops the embedded cluster too
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

TEST(PoolTest, ConnectToASilentPeerFailsWithUnavailableNamingIt) {
  // A ROUTER that never answers holds the port, so nothing can race for it.
  zmq::context_t context;
  zmq::socket_t silent(context, zmq::socket_type::router);
  silent.set(zmq::sockopt::linger, 0);
  silent.bind("tcp://127.0.0.1:*");
  std::string endpoint = silent.get(zmq::sockopt::last_endpoint);
  ClientOptions options;
  options.broker = endpoint;
  options.connect_timeout_ms = 200;
  Clock::time_point start = Clock::now();
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Connect(options);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(pool.status().message(), HasSubstr(endpoint));
  EXPECT_THAT(pool.status().message(), HasSubstr("within 200ms"));
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(200));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
}

TEST(PoolTest, ConnectRefusesBadOptionsBeforeStartingAnything) {
  // Embedded: refused by the client's rule (embedded_threads), before the
  // cluster's own check (threads) could run.
  ClientOptions embedded;
  embedded.embedded_threads = -1;
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Connect(embedded);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.status().message(),
            "embedded_threads (-1) must be 0 (usable CPUs) or more");

  // Remote: a silent peer would keep Connect waiting for the whole timeout;
  // refused options return at once.
  zmq::context_t context;
  zmq::socket_t silent(context, zmq::socket_type::router);
  silent.set(zmq::sockopt::linger, 0);
  silent.bind("tcp://127.0.0.1:*");
  ClientOptions remote;
  remote.broker = silent.get(zmq::sockopt::last_endpoint);
  remote.connect_timeout_ms = kMaxConnectTimeoutMs + 1;
  Clock::time_point start = Clock::now();
  pool = Pool::Connect(remote);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pool.status().message(), HasSubstr("connect_timeout_ms"));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
}

TEST(EmbeddedClusterTest, StartRefusesANegativeThreadCount) {
  absl::StatusOr<std::unique_ptr<EmbeddedCluster>> cluster =
      EmbeddedCluster::Start(-1);
  EXPECT_EQ(cluster.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cluster.status().message(),
            "threads (-1) must be 0 (usable CPUs) or more");
}

TEST(PoolTest, LosingTheBrokerFailsTheJobWithUnavailable) {
  BrokerOptions broker_options;
  broker_options.listen = {"tcp://127.0.0.1:*"};
  broker_options.heartbeat_interval_ms = 50;
  broker_options.heartbeat_timeout_ms = 300;
  Broker broker(broker_options);
  ASSERT_TRUE(broker.Bind().ok());
  std::string endpoint = broker.bound_endpoints().at(0);
  std::thread broker_thread([&] { (void)broker.Run(); });

  ClientOptions options;
  options.broker = endpoint;
  options.connect_timeout_ms = 5000;
  // No broker comes back: the job fails once this is over.
  options.resume_timeout_ms = 1000;
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Connect(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  // No worker: the job waits at the broker until the broker goes away.
  absl::StatusOr<std::unique_ptr<Job>> job = (*pool)->Submit(Primes(1, 1000));
  ASSERT_TRUE(job.ok()) << job.status();
  broker.Stop();
  broker_thread.join();
  Clock::time_point start = Clock::now();
  auto next = (*job)->Next();
  EXPECT_EQ(next.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(next.status().message(), HasSubstr(endpoint));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace tq
