// The worker loop under protocol 3 and faults, over real TCP loopback with
// the test playing the broker: epoch and session echoed, revokes that stop
// running kernels within a second and give their credit back at once, run
// limits. Every receive has a deadline; nothing sleeps.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/protocol.h"
#include "gtest/gtest.h"
#include "tests/worker/worker_loop_test_util.h"
#include "worker/worker.h"

namespace tq {
namespace {

constexpr uint64_t kEpoch = 77;
constexpr uint64_t kSession = 5;

class WorkerLoopFaultsTest : public WorkerLoopTest {
 protected:
  // Receives the Hello and welcomes it with kEpoch / kSession.
  void Welcome() {
    std::optional<v1::Envelope> hello = Receive();
    ASSERT_TRUE(hello.has_value());
    ASSERT_TRUE(hello->has_hello()) << hello->DebugString();
    v1::Envelope welcome;
    welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
    welcome.mutable_welcome()->set_heartbeat_interval_ms(200);
    welcome.mutable_welcome()->set_heartbeat_timeout_ms(20'000);
    welcome.mutable_welcome()->set_broker_epoch(kEpoch);
    welcome.mutable_welcome()->set_session(kSession);
    SendToWorker(welcome);
  }

  // Chunk `chunk` of job `job`: `us` microseconds of spin per item, 100
  // items.
  static v1::Assignment Spin(uint64_t job, uint64_t chunk, uint64_t us,
                             uint64_t run_limit_ms = 0) {
    v1::Assignment a;
    a.set_job_id(job);
    a.set_chunk_index(chunk);
    a.set_attempt(1);
    a.set_task("spin");
    (*a.mutable_params())["us"] = std::to_string(us);
    a.mutable_input()->mutable_range()->set_first(chunk * 100);
    a.mutable_input()->mutable_range()->set_last(chunk * 100 + 99);
    a.set_run_limit_ms(run_limit_ms);
    return a;
  }

  void Assign(const std::vector<v1::Assignment>& list, uint64_t session = kSession) {
    v1::Envelope envelope;
    for (const v1::Assignment& a : list) {
      *envelope.mutable_assignments()->add_assignments() = a;
    }
    envelope.mutable_assignments()->set_broker_epoch(kEpoch);
    envelope.mutable_assignments()->set_session(session);
    SendToWorker(envelope);
  }

  // Waits for a Heartbeat whose held list shows `count` running chunks.
  bool WaitUntilRunning(int count) {
    auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (steady_clock::now() < deadline) {
      std::optional<v1::Envelope> message = Receive(/*heartbeats=*/true);
      if (!message.has_value()) return false;
      if (message->has_heartbeat() &&
          message->heartbeat().held().running_size() == count) {
        EXPECT_EQ(message->heartbeat().held().session(), kSession);
        return true;
      }
    }
    return false;
  }
};

TEST_F(WorkerLoopFaultsTest, RevokeStopsRunningKernelsWithinASecondAndReturnsCreditAtOnce) {
  RunningWorker running(Options());  // 2 threads, prefetch 1
  Welcome();
  // Two chunks of 100 items x 10 s: only cancellation ends them.
  Assign({Spin(7, 0, 10'000'000), Spin(7, 1, 10'000'000)});
  ASSERT_TRUE(WaitUntilRunning(2));
  v1::Envelope revoke;
  revoke.mutable_revoke_job()->set_job_id(7);
  const auto revoked_at = steady_clock::now();
  SendToWorker(revoke);
  // The credit of both running chunks comes back at once.
  uint32_t credit = 0;
  while (credit < 2) {
    std::optional<v1::Envelope> message = Receive();
    ASSERT_TRUE(message.has_value()) << "credit so far " << credit;
    ASSERT_FALSE(message->has_chunk_reports()) << message->DebugString();
    ASSERT_TRUE(message->has_worker_credit()) << message->DebugString();
    credit += message->worker_credit().chunks();
  }
  EXPECT_LT(steady_clock::now() - revoked_at, std::chrono::seconds(1));
  // The threads are free again: a new chunk runs and is reported (with our
  // epoch and session), and nothing of job 7 ever is.
  Assign({Spin(8, 0, 0)});
  std::optional<v1::Envelope> message = Receive();
  ASSERT_TRUE(message.has_value());
  ASSERT_TRUE(message->has_chunk_reports()) << message->DebugString();
  ASSERT_EQ(message->chunk_reports().reports_size(), 1);
  EXPECT_EQ(message->chunk_reports().reports(0).job_id(), 8u);
  EXPECT_EQ(message->chunk_reports().broker_epoch(), kEpoch);
  EXPECT_EQ(message->chunk_reports().session(), kSession);
  // Stopping joins the pool: quick only if the kernels really stopped.
  const auto stop_at = steady_clock::now();
  absl::Status status = running.Finish();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_LT(steady_clock::now() - revoked_at, std::chrono::seconds(2));
  EXPECT_LT(steady_clock::now() - stop_at, std::chrono::seconds(1));
}

TEST_F(WorkerLoopFaultsTest, AssignmentsOfAnotherSessionAreNotRun) {
  RunningWorker running(Options());
  Welcome();
  Assign({Spin(1, 0, 0)}, kSession + 1);  // stale: dropped
  Assign({Spin(2, 0, 0)});
  std::optional<v1::Envelope> message = Receive();
  ASSERT_TRUE(message.has_value());
  ASSERT_TRUE(message->has_chunk_reports()) << message->DebugString();
  ASSERT_EQ(message->chunk_reports().reports_size(), 1);
  EXPECT_EQ(message->chunk_reports().reports(0).job_id(), 2u);
  running.worker().Stop();
  // Up to the Goodbye, job 1 is never reported.
  for (;;) {
    message = Receive();
    ASSERT_TRUE(message.has_value());
    ASSERT_FALSE(message->has_chunk_reports()) << message->DebugString();
    if (message->has_goodbye()) break;
  }
  EXPECT_TRUE(running.Join().ok());
}

TEST_F(WorkerLoopFaultsTest, AChunkPastItsRunLimitIsReportedAndStopped) {
  RunningWorker running(Options());
  Welcome();
  const auto assigned_at = steady_clock::now();
  Assign({Spin(3, 0, 10'000'000, /*run_limit_ms=*/300)});
  std::optional<v1::Envelope> message = Receive();
  ASSERT_TRUE(message.has_value());
  ASSERT_TRUE(message->has_chunk_reports()) << message->DebugString();
  const v1::ChunkReport& report = message->chunk_reports().reports(0);
  EXPECT_EQ(report.failure(), v1::FAILURE_RUN_LIMIT);
  EXPECT_TRUE(report.has_error());
  EXPECT_EQ(message->chunk_reports().credit(), 1u);
  const auto elapsed = steady_clock::now() - assigned_at;
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  // The kernel stopped: the worker stops cleanly, not wedged.
  absl::Status status = running.Finish();
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace tq
