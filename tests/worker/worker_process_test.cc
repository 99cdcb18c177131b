// tq-worker as a process against a broker the test plays by hand: the
// test-only tasks are offered only with --enable-test-tasks, and a chunk
// that ignores cancellation makes the worker hand back its queued work,
// report, say Goodbye and exit kExitWorkerWedged for its supervisor.
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/subprocess.h"
#include "tests/worker/worker_loop_test_util.h"

namespace tq {
namespace {

using ::testing::Contains;
using ::testing::Not;
using testing::Subprocess;

class WorkerProcessTest : public WorkerLoopTest {
 protected:
  std::unique_ptr<Subprocess> StartWorker(std::vector<std::string> flags) {
    std::vector<std::string> argv = {testing::WorkerBinary(),
                                     "--broker=" + endpoint_, "--threads=2",
                                     "--prefetch=1", "--verbose"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return std::make_unique<Subprocess>(argv);
  }

  // Receives a Hello (skipping what an earlier worker left), welcomes it,
  // returns the tasks it offered.
  std::vector<std::string> Welcome() {
    std::optional<v1::Envelope> hello;
    do {
      hello = Receive();
    } while (hello.has_value() && !hello->has_hello());
    EXPECT_TRUE(hello.has_value());
    if (!hello.has_value()) return {};
    v1::Envelope welcome;
    welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
    welcome.mutable_welcome()->set_heartbeat_interval_ms(200);
    welcome.mutable_welcome()->set_heartbeat_timeout_ms(20'000);
    SendToWorker(welcome);
    return {hello->hello().tasks().begin(), hello->hello().tasks().end()};
  }

  static v1::Assignment Crash(uint64_t chunk, const std::string& mode,
                              uint64_t run_limit_ms = 0) {
    v1::Assignment a;
    a.set_job_id(1);
    a.set_chunk_index(chunk);
    a.set_attempt(1);
    a.set_task("crash");
    (*a.mutable_params())["items"] = "777";
    (*a.mutable_params())["mode"] = mode;
    a.mutable_input()->mutable_range()->set_first(chunk * 100);
    a.mutable_input()->mutable_range()->set_last(chunk * 100 + 99);
    a.set_run_limit_ms(run_limit_ms);
    return a;
  }

  void Assign(const std::vector<v1::Assignment>& list) {
    v1::Envelope envelope;
    for (const v1::Assignment& a : list) {
      *envelope.mutable_assignments()->add_assignments() = a;
    }
    SendToWorker(envelope);
  }
};

TEST_F(WorkerProcessTest, TestTasksAreOfferedOnlyWhenEnabled) {
  {
    std::unique_ptr<Subprocess> worker = StartWorker({});
    std::vector<std::string> tasks = Welcome();
    EXPECT_THAT(tasks, Contains("noop"));
    EXPECT_THAT(tasks, Not(Contains("crash")));
    // A broker that sends it anyway gets an error, not a crash.
    Assign({Crash(7, "abort")});
    std::optional<v1::Envelope> message = Receive();
    ASSERT_TRUE(message.has_value());
    ASSERT_TRUE(message->has_chunk_reports()) << message->DebugString();
    EXPECT_TRUE(message->chunk_reports().reports(0).has_error());
    EXPECT_THAT(message->chunk_reports().reports(0).error().message(),
                ::testing::HasSubstr("--enable-test-tasks"));
    worker->Signal(SIGTERM);
    std::optional<testing::ExitStatus> exit = worker->Wait(std::chrono::seconds(10));
    ASSERT_TRUE(exit.has_value());
    EXPECT_TRUE(exit->exited);
    EXPECT_EQ(exit->code, 0);
  }
  std::unique_ptr<Subprocess> worker = StartWorker({"--enable-test-tasks"});
  EXPECT_THAT(Welcome(), Contains("crash"));
}

TEST_F(WorkerProcessTest, AbortModeKillsTheWorkerBySigabrt) {
  std::unique_ptr<Subprocess> worker = StartWorker({"--enable-test-tasks"});
  Welcome();
  Assign({Crash(7, "abort")});  // items 700..799
  std::optional<testing::ExitStatus> exit = worker->Wait(std::chrono::seconds(10));
  ASSERT_TRUE(exit.has_value());
  EXPECT_FALSE(exit->exited);
  EXPECT_EQ(exit->code, SIGABRT);
}

TEST_F(WorkerProcessTest, AHungChunkPastItsRunLimitMakesTheWorkerLeaveAndExit75) {
  std::unique_ptr<Subprocess> worker = StartWorker({"--enable-test-tasks"});
  Welcome();
  // Chunk 7 hangs on item 777; chunk 1 is healthy; chunk 2 waits queued.
  v1::Assignment healthy = Crash(1, "hang", 300);
  v1::Assignment queued = Crash(2, "hang", 300);
  const auto assigned_at = steady_clock::now();
  Assign({Crash(7, "hang", 300), healthy, queued});
  bool run_limit_reported = false;
  bool drained = false;
  bool goodbye = false;
  std::vector<uint64_t> reported;
  while (!goodbye) {
    std::optional<v1::Envelope> message = Receive();
    ASSERT_TRUE(message.has_value()) << worker->stderr_text();
    if (message->has_chunk_reports()) {
      for (const v1::ChunkReport& report : message->chunk_reports().reports()) {
        reported.push_back(report.chunk_index());
        if (report.chunk_index() == 7) {
          EXPECT_EQ(report.failure(), v1::FAILURE_RUN_LIMIT);
          run_limit_reported = true;
        } else {
          EXPECT_FALSE(report.has_error()) << report.DebugString();
        }
      }
    }
    if (message->has_drain()) drained = true;
    goodbye = message->has_goodbye();
  }
  EXPECT_TRUE(run_limit_reported);
  EXPECT_TRUE(drained);
  EXPECT_THAT(reported, Contains(1u));
  std::optional<testing::ExitStatus> exit = worker->Wait(std::chrono::seconds(10));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->exited);
  EXPECT_EQ(exit->code, kExitWorkerWedged) << worker->stderr_text();
  // Run limit 0.3 s + 1 s grace, then a prompt exit.
  EXPECT_LT(steady_clock::now() - assigned_at, std::chrono::seconds(5));
  EXPECT_THAT(worker->stderr_text(), ::testing::HasSubstr("did not stop"));
}

}  // namespace
}  // namespace tq
