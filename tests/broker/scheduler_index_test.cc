// The Scheduler's dispatch indexes (scheduler_index.cc) under random
// sequences of events: workers of three kinds (offering different tasks)
// join with various threads and credits, report, fail, give chunks back,
// drain and leave; clients submit jobs of two tasks with small windows,
// grant credit, cancel, time out and leave; time passes and ticks run. After
// every step Scheduler::CheckIndexes compares the indexes with a full scan and,
// after an event that dispatches, checks that no worker able to take a
// chunk idles while a job it can run has one. A missed index update
// starves a job or a worker; this finds it within a few hundred steps.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/broker/scheduler_test_util.h"

namespace tq::testing {
namespace {

class RandomCluster {
 public:
  explicit RandomCluster(uint32_t seed) : rng_(seed) {}

  // One random event; returns whether it ends in Dispatch.
  bool Step() {
    // Peers the scheduler found silent are gone.
    for (auto it = workers_.begin(); it != workers_.end();) {
      it = h_.scheduler().HasPeer(it->first) ? std::next(it)
                                             : workers_.erase(it);
    }
    for (auto it = clients_.begin(); it != clients_.end();) {
      it = h_.scheduler().HasPeer(*it) ? std::next(it) : clients_.erase(it);
    }
    switch (Pick(14)) {
      case 0:
      case 1:
        return WorkerHello();
      case 2:
        return WorkerLeaves();
      case 3:
      case 4:
      case 5:
        return WorkerReports(/*error=*/false);
      case 6:
        return WorkerReports(/*error=*/true);
      case 7:
        return WorkerGivesBack();
      case 8:
        return WorkerHeartbeat();
      case 9:
        return ClientHelloAndSubmit();
      case 10:
        return ClientCredit();
      case 11:
        return Pick(4) == 0 ? ClientCancelsOrLeaves() : ClientCredit();
      case 12:
        return WorkerDrains();
      default: {
        h_.AdvanceMs(Pick(3) == 0 ? Pick(3000) : Pick(50));
        Take(h_.Tick());
        return true;
      }
    }
  }

  const SchedulerStats stats() { return h_.scheduler().stats(); }

  std::string Check(bool dispatched) {
    return h_.scheduler().CheckIndexes(h_.now(), dispatched);
  }

 private:
  uint32_t Pick(uint32_t n) {
    return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_);
  }
  template <typename Map>
  typename Map::iterator Any(Map& map) {
    auto it = map.begin();
    std::advance(it, Pick(static_cast<uint32_t>(map.size())));
    return it;
  }

  // Records what the scheduler sent: assignments join their worker's
  // list, revocations and job ends leave it, results' jobs remembered.
  void Take(const Sent& sent) {
    for (const OutgoingMessage& m : sent) {
      const v1::Envelope& env = m.envelope;
      if (env.has_assignments()) {
        auto w = workers_.find(m.peer);
        if (w == workers_.end()) continue;
        for (const v1::Assignment& a : env.assignments().assignments()) {
          w->second.push_back(a);
        }
      } else if (env.has_revoke_job()) {
        auto w = workers_.find(m.peer);
        if (w == workers_.end()) continue;
        auto& held = w->second;
        held.erase(std::remove_if(held.begin(), held.end(),
                                  [&](const v1::Assignment& a) {
                                    return a.job_id() ==
                                           env.revoke_job().job_id();
                                  }),
                   held.end());
      } else if (env.has_job_accepted()) {
        jobs_[env.job_accepted().job_id()] = m.peer;
      } else if (env.has_job_finished()) {
        jobs_.erase(env.job_finished().job_id());
      }
    }
  }

  bool WorkerHello() {
    const std::string id = absl::StrCat("w", Pick(8));
    if (workers_.contains(id)) return WorkerReports(false);
    v1::Envelope env;
    v1::Hello* hello = env.mutable_hello();
    hello->set_protocol_version(kProtocolVersion);
    hello->set_role(v1::ROLE_WORKER);
    hello->set_name(id);
    hello->set_threads(1 + Pick(4));
    hello->set_credit(Pick(5));
    switch (Pick(3)) {
      case 0:
        for (const std::string& task : BuiltinTasks().Names()) {
          hello->add_tasks(task);
        }
        break;
      case 1:
        hello->add_tasks("noop");
        break;
      default:
        hello->add_tasks("primes");
        break;
    }
    workers_[id];
    Take(h_.Deliver(id, env));
    return true;
  }

  bool WorkerLeaves() {
    if (workers_.empty()) return WorkerHello();
    auto w = Any(workers_);
    const std::string id = w->first;
    workers_.erase(w);
    if (Pick(2) == 0) {
      v1::Envelope env;
      env.mutable_goodbye();
      Take(h_.Deliver(id, env));
    } else {
      Take(h_.Unreachable(id));
    }
    return true;
  }

  bool WorkerReports(bool error) {
    if (workers_.empty()) return WorkerHello();
    auto w = Any(workers_);
    auto& held = w->second;
    const uint32_t credit = Pick(3);
    if (held.empty()) {  // credit alone, either way
      v1::Envelope env;
      if (Pick(2) == 0) {
        env.mutable_worker_credit()->set_chunks(credit);
      } else {
        env.mutable_chunk_reports()->set_credit(credit);
      }
      Take(h_.Deliver(w->first, env));
      return true;
    }
    const size_t i = Pick(static_cast<uint32_t>(held.size()));
    const v1::Assignment a = held[i];
    held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
    Take(error ? h_.ReportError(w->first, a, "boom", credit)
               : h_.Report(w->first, a, credit, 1000 * (1 + Pick(200))));
    return true;
  }

  bool WorkerGivesBack() {
    if (workers_.empty()) return WorkerHello();
    auto w = Any(workers_);
    auto& held = w->second;
    if (held.empty()) return WorkerReports(false);
    const v1::Assignment a = held.back();
    held.pop_back();
    v1::Envelope env;
    v1::ChunkRef* ref = env.mutable_chunk_reports()->add_returned();
    ref->set_job_id(a.job_id());
    ref->set_chunk_index(a.chunk_index());
    ref->set_attempt(a.attempt());
    env.mutable_chunk_reports()->set_credit(1);
    Take(h_.Deliver(w->first, env));
    return true;
  }

  bool WorkerDrains() {
    if (workers_.empty()) return WorkerHello();
    auto w = Any(workers_);
    v1::Envelope env;
    v1::Drain* drain = env.mutable_drain();
    // Gives back what it has not started (all but the first).
    auto& held = w->second;
    for (size_t i = 1; i < held.size(); ++i) {
      v1::ChunkRef* ref = drain->add_returned();
      ref->set_job_id(held[i].job_id());
      ref->set_chunk_index(held[i].chunk_index());
      ref->set_attempt(held[i].attempt());
    }
    if (!held.empty()) held.resize(1);
    Take(h_.Deliver(w->first, env));
    return true;
  }

  bool WorkerHeartbeat() {
    if (workers_.empty()) return WorkerHello();
    auto w = Any(workers_);
    if (Pick(2) == 0) {
      Take(h_.Heartbeat(w->first));
      return false;  // a bare heartbeat does not dispatch
    }
    const auto& held = w->second;
    const size_t running = std::min<size_t>(held.size(), 1 + Pick(2));
    Take(h_.HeartbeatHeld(
        w->first,
        std::vector<v1::Assignment>(held.begin(), held.begin() + running),
        std::vector<v1::Assignment>(held.begin() + running, held.end()),
        Pick(100)));
    return true;
  }

  bool ClientHelloAndSubmit() {
    const std::string id = absl::StrCat("c", Pick(4));
    if (!clients_.contains(id)) {
      clients_.insert(id);
      Take(h_.HelloClient(id));
    }
    v1::Envelope env =
        SchedulerHarness::RangeJob(1, 1 + Pick(60), 1 + Pick(5), 1 + Pick(8),
                                   Pick(2) == 0 ? "noop" : "primes");
    if (Pick(3) == 0) env.mutable_submit_job()->set_timeout_ms(1 + Pick(3000));
    Take(h_.Deliver(id, env));
    return true;
  }

  bool ClientCredit() {
    if (jobs_.empty()) return ClientHelloAndSubmit();
    auto job = Any(jobs_);
    v1::Envelope env;
    env.mutable_client_credit()->set_job_id(job->first);
    env.mutable_client_credit()->set_chunks(1 + Pick(4));
    Take(h_.Deliver(job->second, env));
    return true;
  }

  bool ClientCancelsOrLeaves() {
    if (jobs_.empty()) return ClientHelloAndSubmit();
    auto job = Any(jobs_);
    const std::string client = job->second;
    if (Pick(3) == 0) {
      clients_.erase(client);
      for (auto it = jobs_.begin(); it != jobs_.end();) {
        it = it->second == client ? jobs_.erase(it) : std::next(it);
      }
      v1::Envelope env;
      env.mutable_goodbye();
      Take(h_.Deliver(client, env));
      return true;
    }
    v1::Envelope env;
    env.mutable_cancel_job()->set_job_id(job->first);
    Take(h_.Deliver(client, env));
    return true;
  }

  std::mt19937 rng_;
  SchedulerHarness h_;
  // Connected workers and the assignments each holds, oldest first.
  std::map<std::string, std::vector<v1::Assignment>> workers_;
  std::set<std::string> clients_;
  // Running jobs and their clients.
  std::map<uint64_t, std::string> jobs_;
};

// Instrumented at -O0 (scripts/sanitize.sh) the run is ~100x slower: a
// few sequences there, for memory and undefined-behaviour errors; the full
// run, and the check of what it reaches, in the normal build.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TQ_SCHEDULER_INDEX_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TQ_SCHEDULER_INDEX_TEST_SANITIZED 1
#endif
#ifdef TQ_SCHEDULER_INDEX_TEST_SANITIZED
constexpr uint32_t kSequences = 2;
#else
constexpr uint32_t kSequences = 40;
#endif

TEST(SchedulerIndexTest, IndexesAgreeWithAFullScanUnderRandomEvents) {
  SchedulerStats total;
  for (uint32_t seed = 1; seed <= kSequences; ++seed) {
    RandomCluster cluster(seed);
    for (int step = 0; step < 1500; ++step) {
      const bool dispatched = cluster.Step();
      const std::string problem = cluster.Check(dispatched);
      ASSERT_EQ(problem, "") << "seed " << seed << ", step " << step;
    }
    const SchedulerStats stats = cluster.stats();
    total.chunks_dispatched += stats.chunks_dispatched;
    total.chunks_completed += stats.chunks_completed;
    total.jobs_completed += stats.jobs_completed;
    total.jobs_cancelled += stats.jobs_cancelled;
    total.requeued_worker_lost += stats.requeued_worker_lost;
    total.requeued_returned += stats.requeued_returned;
    total.requeued_drained += stats.requeued_drained;
    total.chunks_split += stats.chunks_split;
    total.jobs_failed += stats.jobs_failed;
    total.jobs_detached += stats.jobs_detached;
  }
  if (kSequences < 40) return;  // a sanitizer's few sequences
  // The sequences reach what they are meant to.
  EXPECT_GT(total.chunks_completed, 5'000u);
  EXPECT_GT(total.jobs_completed, 50u);
  EXPECT_GT(total.jobs_cancelled, 100u);
  EXPECT_GT(total.requeued_worker_lost, 30u);
  EXPECT_GT(total.requeued_returned, 100u);
  EXPECT_GT(total.requeued_drained, 10u);
  EXPECT_GT(total.chunks_split, 10u);
  EXPECT_GT(total.jobs_failed, 10u);  // timeouts among them
  EXPECT_GT(total.jobs_detached, 10u);
  std::printf(
      "dispatched %llu, completed %llu, jobs completed %llu, "
      "cancelled %llu, lost %llu, returned %llu, drained %llu, "
      "split %llu, failed %llu, detached %llu\n",
      (unsigned long long)total.chunks_dispatched,
      (unsigned long long)total.chunks_completed,
      (unsigned long long)total.jobs_completed,
      (unsigned long long)total.jobs_cancelled,
      (unsigned long long)total.requeued_worker_lost,
      (unsigned long long)total.requeued_returned,
      (unsigned long long)total.requeued_drained,
      (unsigned long long)total.chunks_split,
      (unsigned long long)total.jobs_failed,
      (unsigned long long)total.jobs_detached);
}

}  // namespace
}  // namespace tq::testing
