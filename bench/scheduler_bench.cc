// The Scheduler alone, in-process, with fake peers (issue 9, part 3): how
// many chunks per second one broker thread hands out and takes back with W
// workers and J concurrent jobs, and how much memory that state holds.
//
//   build/bench/scheduler_bench [--benchmark_filter=Dispatch/10000/1000]
//
// BM_Dispatch/W/J: W one-thread workers granting credit 2 (one chunk
// running, one prefetched, as tq-worker's adaptive prefetch does for short
// chunks) and J clients with one job each (noop over 1..10^12, chunk size
// 1, a window large enough that workers, not windows, are the limit). Every
// iteration is one chunk's round: the oldest hand-out is reported (credit
// 1, 1 ms of run time), the scheduler hands out whatever that frees, and
// the client whose result was delivered grants one result of credit back.
// As the broker loop does, OnTick and NextDeadlineUs run once per wake,
// here every kMessagesPerWake messages; fake time advances 1 us per
// message. items_per_second is chunks/s.
//
// Memory: heap_bytes is what the scheduler holds in that steady state (the
// glibc heap in use, mallinfo2, after setup minus before it; the fake
// peers' bookkeeping is allocated before), bytes_per_peer that divided by
// W + J. Each worker holds 2 chunks in flight, which count in it.
//
// Setup order (workers, then jobs) and the warm-up of min(2 W, 1000) rounds
// keep the code before issue 9 measurable: its Dispatch scanned every
// worker for every job with room.
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "broker/scheduler_options.h"
#include "broker/outbox.h"
#include "broker/scheduler.h"
#include "common/payload.h"
#include "common/protocol.h"
#include "tasks/task.h"
#include "tq/v1/tq.pb.h"

namespace tq {
namespace {

constexpr int kMessagesPerWake = 64;
constexpr uint32_t kCreditPerWorker = 2;
constexpr uint64_t kRunMicros = 1000;

// One chunk on a fake worker, oldest first.
struct HandOut {
  uint32_t worker;
  uint64_t job_id;
  uint64_t chunk_index;
  uint32_t attempt;
};

// A fixed-capacity FIFO, allocated before the memory baseline.
class HandOutQueue {
 public:
  explicit HandOutQueue(size_t capacity) : ring_(capacity) {}
  bool empty() const { return size_ == 0; }
  void Push(const HandOut& h) {
    if (size_ == ring_.size()) std::abort();  // more than the credit granted
    ring_[(head_ + size_) % ring_.size()] = h;
    ++size_;
  }
  HandOut Pop() {
    HandOut h = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --size_;
    return h;
  }

 private:
  std::vector<HandOut> ring_;
  size_t head_ = 0;
  size_t size_ = 0;
};

class FakeCluster {
 public:
  FakeCluster(int workers, int jobs)
      : workers_(workers), jobs_(jobs), queue_(workers * kCreditPerWorker + 1) {
    for (int i = 0; i < workers; ++i)
      worker_ids_.push_back(absl::StrCat("w", i));
    for (int i = 0; i < jobs; ++i) client_ids_.push_back(absl::StrCat("c", i));
    result_ = Payload::FromString(std::string(8, 'r'));
    credits_.reserve(1024);
  }

  // Workers connect, then clients connect and submit (each submit hands
  // out what credit is left). Returns the heap the scheduler holds after it.
  size_t SetUp() {
    const size_t before = mallinfo2().uordblks;
    SchedulerOptions options;
    options.heartbeat_interval_ms = 1000;
    options.heartbeat_timeout_ms = 5000;
    options.lease_ms = 60'000;
    options.max_result_window = 1u << 20;
    scheduler_ = std::make_unique<Scheduler>(options);
    const uint32_t window =
        static_cast<uint32_t>(2 * kCreditPerWorker * workers_ / jobs_ + 64);
    for (int i = 0; i < workers_; ++i) {
      Deliver(worker_ids_[i], Hello(v1::ROLE_WORKER, worker_ids_[i]));
    }
    for (int i = 0; i < jobs_; ++i) {
      Deliver(client_ids_[i], Hello(v1::ROLE_CLIENT, client_ids_[i]));
      v1::Envelope env;
      v1::SubmitJob* s = env.mutable_submit_job();
      s->set_request_id(1);
      s->set_task("noop");
      s->mutable_range()->set_first(1);
      s->mutable_range()->set_last(1'000'000'000'000);
      s->set_chunk_size(1);
      s->set_result_window(window);
      Deliver(client_ids_[i], std::move(env));
      Drain();
    }
    return mallinfo2().uordblks - before;
  }

  // One chunk reported by the worker holding the oldest hand-out.
  void Step() {
    if (queue_.empty()) {  // the scheduler stopped handing out
      std::fprintf(stderr, "no chunk out after %llu messages\n",
                   static_cast<unsigned long long>(messages_));
      std::abort();
    }
    const HandOut h = queue_.Pop();
    v1::Envelope env;
    v1::ChunkReports* reports = env.mutable_chunk_reports();
    reports->set_credit(1);
    v1::ChunkReport* r = reports->add_reports();
    r->set_job_id(h.job_id);
    r->set_chunk_index(h.chunk_index);
    r->set_attempt(h.attempt);
    r->set_result_payload(0);
    r->set_run_micros(kRunMicros);
    Deliver(worker_ids_[h.worker], std::move(env), {result_});
    Drain();
  }

  void TearDown() { scheduler_.reset(); }
  uint64_t chunks_completed() const {
    return scheduler_->stats().chunks_completed;
  }

 private:
  v1::Envelope Hello(v1::Role role, const std::string& name) {
    v1::Envelope env;
    v1::Hello* hello = env.mutable_hello();
    hello->set_protocol_version(kProtocolVersion);
    hello->set_role(role);
    hello->set_name(name);
    if (role == v1::ROLE_WORKER) {
      hello->set_threads(1);
      hello->set_credit(kCreditPerWorker);
      for (const std::string& task : BuiltinTasks().Names()) {
        hello->add_tasks(task);
      }
    }
    return env;
  }

  void Deliver(const std::string& peer, v1::Envelope env,
               std::vector<Payload> payloads = {}) {
    scheduler_->OnMessage(
        InboundMessage{peer, std::move(env), std::move(payloads), ""}, now_us_,
        &out_);
    ++now_us_;
    if (++messages_ % kMessagesPerWake == 0) {
      scheduler_->OnTick(now_us_, &out_);
      benchmark::DoNotOptimize(scheduler_->NextDeadlineUs());
    }
  }

  // Takes what the scheduler sent: Assignments join the workers' queues,
  // delivered results are read and their credit granted back.
  void Drain() {
    while (!out_.empty()) {
      credits_.clear();
      for (OutgoingMessage& m : out_.Take()) {
        const v1::Envelope& env = m.envelope;
        if (env.has_assignments()) {
          const uint32_t worker = static_cast<uint32_t>(
              std::strtoul(m.peer.c_str() + 1, nullptr, 10));
          for (const v1::Assignment& a : env.assignments().assignments()) {
            queue_.Push(
                HandOut{worker, a.job_id(), a.chunk_index(), a.attempt()});
          }
        } else if (env.has_error()) {
          std::fprintf(stderr, "error to %s: %s\n", m.peer.c_str(),
                       env.error().message().c_str());
        } else if (env.has_job_results()) {
          for (const v1::ChunkResult& r : env.job_results().results()) {
            credits_.emplace_back(m.peer, r.job_id());
          }
        }
      }
      for (const auto& [client, job_id] : credits_) {
        v1::Envelope env;
        env.mutable_client_credit()->set_job_id(job_id);
        env.mutable_client_credit()->set_chunks(1);
        Deliver(client, std::move(env));
      }
    }
  }

  const int workers_;
  const int jobs_;
  std::vector<std::string> worker_ids_;
  std::vector<std::string> client_ids_;
  HandOutQueue queue_;
  std::vector<std::pair<std::string, uint64_t>> credits_;
  Payload result_;
  std::unique_ptr<Scheduler> scheduler_;
  Outbox out_;
  int64_t now_us_ = 1'000'000'000;
  uint64_t messages_ = 0;
};

void BM_Dispatch(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const int jobs = static_cast<int>(state.range(1));
  FakeCluster cluster(workers, jobs);
  const size_t heap = cluster.SetUp();
  // Past the start. TQ_BENCH_WARMUP overrides the number of warm-up
  // rounds (the code before issue 9 needs seconds per round at 10,000 x
  // 1,000).
  int warmup = std::min(workers * static_cast<int>(kCreditPerWorker), 1000);
  if (const char* env = std::getenv("TQ_BENCH_WARMUP")) warmup = std::atoi(env);
  for (int i = 0; i < warmup; ++i) cluster.Step();
  const uint64_t done_before = cluster.chunks_completed();
  for (auto _ : state) cluster.Step();
  if (cluster.chunks_completed() - done_before !=
      static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("a report was not accepted");
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["heap_bytes"] = static_cast<double>(heap);
  state.counters["bytes_per_peer"] =
      static_cast<double>(heap) / static_cast<double>(workers + jobs);
  cluster.TearDown();
}

BENCHMARK(BM_Dispatch)
    ->ArgNames({"workers", "jobs"})
    ->ArgsProduct({{10, 1000, 10000}, {1, 100, 1000}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace tq

BENCHMARK_MAIN();
