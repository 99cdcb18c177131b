// Scheduler fairness between clients, with fake time: clients (not jobs)
// share workers; a client that arrives while another has kept the workers
// busy goes first, its chunks jump the workers' queues and the other
// client's queued chunks are given back; one client alone, or two busy all
// along, see none of that.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/broker/scheduler_test_util.h"

namespace tq::testing {
namespace {

using E = v1::Envelope;

class SchedulerFairnessTest : public ::testing::Test {
 protected:
  void SetUp() override { h_.HelloClient("c1"); }

  // Every ReturnQueued chunk asked of `worker` in `sent`.
  static std::vector<v1::ChunkRef> ReturnsAsked(const Sent& sent,
                                                const std::string& worker) {
    std::vector<v1::ChunkRef> refs;
    for (const v1::Envelope& env : BodiesTo(sent, worker, E::kReturnQueued)) {
      for (const v1::ChunkRef& ref : env.return_queued().chunks()) {
        refs.push_back(ref);
      }
    }
    return refs;
  }
  // `worker` gives `refs` back unstarted, with their credit.
  Sent GiveBack(const std::string& worker,
                const std::vector<v1::ChunkRef>& refs) {
    v1::Envelope env;
    v1::ChunkReports* reports = env.mutable_chunk_reports();
    for (const v1::ChunkRef& ref : refs) *reports->add_returned() = ref;
    reports->set_credit(static_cast<uint32_t>(refs.size()));
    return h_.Deliver(worker, env);
  }

  SchedulerHarness h_;
};

TEST_F(SchedulerFairnessTest, ClientsShareWorkersNotJobs) {
  // c1 has three jobs open, c2 one: c2 still gets half the worker.
  for (int i = 0; i < 3; ++i) {
    h_.Submit("c1", SchedulerHarness::RangeJob(1, 100, 1));
  }
  h_.HelloClient("c2");
  uint64_t c2_job = h_.Submit("c2", SchedulerHarness::RangeJob(1, 100, 1));
  auto a = AssignmentsTo(h_.HelloWorker("w1", 8, 8), "w1");
  ASSERT_EQ(a.size(), 8u);
  EXPECT_EQ(std::count_if(a.begin(), a.end(),
                          [&](const v1::Assignment& x) {
                            return x.job_id() == c2_job;
                          }),
            4);
}

TEST_F(SchedulerFairnessTest, ANewcomerJumpsTheQueueAndTheBusyClientGivesBack) {
  // c1 keeps a one-thread worker busy for 2 s (100 ms chunks), holding
  // one chunk running and one queued (prefetch).
  uint64_t c1_job = h_.Submit("c1", SchedulerHarness::RangeJob(1, 10'000, 1));
  std::vector<v1::Assignment> held = AssignmentsTo(h_.HelloWorker("w1", 1, 2), "w1");
  ASSERT_EQ(held.size(), 2u);
  for (int i = 0; i < 20; ++i) {
    h_.AdvanceMs(100);
    Sent sent = h_.Report("w1", held.front(), 1, 100'000);
    held.erase(held.begin());
    for (const v1::Assignment& a : AssignmentsTo(sent, "w1")) {
      EXPECT_FALSE(a.run_first());  // alone: nobody to jump ahead of
      held.push_back(a);
    }
    EXPECT_TRUE(ReturnsAsked(sent, "w1").empty());
  }
  ASSERT_EQ(held.size(), 2u);

  // c2 arrives; w1 has no free slot, so the broker asks for c1's newest
  // hand-out back (the one most likely still queued).
  h_.HelloClient("c2");
  Sent submitted;
  uint64_t c2_job =
      h_.Submit("c2", SchedulerHarness::RangeJob(1, 100, 1), &submitted);
  std::vector<v1::ChunkRef> asked = ReturnsAsked(submitted, "w1");
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].job_id(), c1_job);
  EXPECT_EQ(asked[0].chunk_index(), held.back().chunk_index());
  EXPECT_EQ(asked[0].attempt(), held.back().attempt());

  // Given back: requeued with no failed attempt, and its slot goes to c2,
  // whose chunk runs before anything else queued on w1.
  Sent returned = GiveBack("w1", asked);
  EXPECT_EQ(h_.scheduler().stats().requeued_returned, 1u);
  std::vector<v1::Assignment> next = AssignmentsTo(returned, "w1");
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].job_id(), c2_job);
  EXPECT_TRUE(next[0].run_first());

  // Though c1 now holds fewer chunks, c2 keeps getting the freed slots:
  // c1 used the worker for two seconds, c2 for nothing yet.
  h_.AdvanceMs(50);
  Sent sent = h_.Report("w1", held.front(), 1, 100'000);
  std::vector<v1::Assignment> after = AssignmentsTo(sent, "w1");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].job_id(), c2_job);
  // Nothing of c1's left on w1 to ask for.
  EXPECT_TRUE(ReturnsAsked(sent, "w1").empty());
}

TEST_F(SchedulerFairnessTest, AGiveBackOfAChunkAlreadyReportedChangesNothing) {
  uint64_t job = h_.Submit("c1", SchedulerHarness::RangeJob(1, 10, 1));
  std::vector<v1::Assignment> a = AssignmentsTo(h_.HelloWorker("w1", 1, 2), "w1");
  ASSERT_EQ(a.size(), 2u);
  h_.Report("w1", a[0]);
  v1::ChunkRef ref;
  ref.set_job_id(job);
  ref.set_chunk_index(a[0].chunk_index());
  ref.set_attempt(a[0].attempt());
  GiveBack("w1", {ref});
  EXPECT_EQ(h_.scheduler().stats().requeued_returned, 0u);
}

TEST_F(SchedulerFairnessTest, TwoClientsBusyAllAlongShareEquallyWithoutShuffling) {
  // Two clients with 50 ms chunks keep four one-thread workers (prefetch
  // 1) busy for 20 s of fake time; each worker runs its chunks in order.
  h_.HelloClient("c2");
  std::map<uint64_t, std::string> owner;
  owner[h_.Submit("c1", SchedulerHarness::RangeJob(1, 1'000'000, 1))] = "c1";
  owner[h_.Submit("c2", SchedulerHarness::RangeJob(1, 1'000'000, 1))] = "c2";
  std::map<std::string, std::vector<v1::Assignment>> queue;
  size_t handed_out = 0;
  size_t returns_asked = 0;
  std::vector<Sent> pending;
  // Queues hand-outs; gives back what is asked for and still queued (the
  // front of a queue is running).
  auto take = [&](Sent sent) {
    pending.push_back(std::move(sent));
    while (!pending.empty()) {
      Sent next = std::move(pending.back());
      pending.pop_back();
      for (auto& [worker, q] : queue) {
        for (const v1::Assignment& a : AssignmentsTo(next, worker)) {
          q.push_back(a);
          ++handed_out;
        }
        std::vector<v1::ChunkRef> back;
        for (const v1::ChunkRef& ref : ReturnsAsked(next, worker)) {
          ++returns_asked;
          auto it = std::find_if(q.begin() + 1, q.end(), [&](const v1::Assignment& a) {
            return a.job_id() == ref.job_id() && a.chunk_index() == ref.chunk_index();
          });
          if (q.empty() || it == q.end()) continue;
          q.erase(it);
          back.push_back(ref);
        }
        if (!back.empty()) pending.push_back(GiveBack(worker, back));
      }
    }
  };
  const std::vector<std::string> workers = {"w1", "w2", "w3", "w4"};
  for (const std::string& w : workers) queue[w];
  for (const std::string& w : workers) take(h_.HelloWorker(w, 1, 2));
  std::map<std::string, int> done;
  for (int tick = 0; tick < 400; ++tick) {
    h_.AdvanceMs(50);
    for (const std::string& w : workers) {
      std::vector<v1::Assignment>& q = queue[w];
      ASSERT_FALSE(q.empty());
      const v1::Assignment a = q.front();
      q.erase(q.begin());
      const std::string& client = owner[a.job_id()];
      ++done[client];
      take(h_.Report(w, a, 1, 50'000));
      // The client reads the result: room for one more.
      v1::Envelope credit;
      credit.mutable_client_credit()->set_job_id(a.job_id());
      credit.mutable_client_credit()->set_chunks(1);
      take(h_.Deliver(client, credit));
    }
  }
  const int total = done["c1"] + done["c2"];
  EXPECT_EQ(total, 1600);
  EXPECT_NEAR(done["c1"], total / 2, total / 20);  // within 5%
  EXPECT_LE(returns_asked, handed_out / 50);
}

}  // namespace
}  // namespace tq::testing
