// PythonRunners when things go wrong or run at once: runners that exit,
// crash or are killed, cancellation, concurrency, broken runners, and what
// a runner starts with (fds, environment, process group). Every wait has a
// deadline; nothing sleeps to synchronise.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "tests/worker/python_test_util.h"
#include "worker/runners/pidfd.h"
#include "worker/runners/python_runners.h"

namespace tq {
namespace {

using testing::kPython;
using testing::PickleCode;
using testing::PickleValue;
using testing::RangeChunk;
using testing::ScopedTempDir;
using testing::TestOptions;
using testing::Unpickle;
using Clock = std::chrono::steady_clock;
using Kind = PythonOutcome::Kind;

std::unique_ptr<PythonRunners> MakeRunners(
    const PythonRunnersOptions& options) {
  absl::StatusOr<std::unique_ptr<PythonRunners>> runners =
      PythonRunners::Create(options);
  EXPECT_TRUE(runners.ok()) << runners.status();
  return runners.ok() ? *std::move(runners) : nullptr;
}

std::string Results(const PythonOutcome& outcome) {
  EXPECT_EQ(outcome.kind, Kind::kOk) << outcome.message;
  return outcome.kind == Kind::kOk ? Unpickle(outcome.result) : "";
}

bool WaitForFile(const std::string& path, Clock::duration timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  struct stat st;
  while (stat(path.c_str(), &st) != 0) {
    if (Clock::now() > deadline) return false;
    poll(nullptr, 0, 5);  // a deadline-bounded wait for another process
  }
  return true;
}

PythonChunk ListChunk(const std::string& owner, const CodeBlob& function,
                      const std::string& items_expr, uint64_t job_id) {
  PythonChunk chunk = RangeChunk(owner, function, 0, 0, job_id);
  chunk.items = PickledListItems{
      std::make_shared<const std::string>(PickleValue(items_expr))};
  return chunk;
}

const char kPid[] = "import os\ndef pid(x): return os.getpid()";

TEST(PythonRunnersFailureTest, ExitIsARunnerFailureThenANewRunnerWorks) {
  auto runners = MakeRunners(TestOptions(1));
  CodeBlob pid = PickleCode(kPid, "pid");
  const std::string before =
      Results(runners->Run(RangeChunk("alice", pid, 0, 0)));
  PythonOutcome outcome = runners->Run(RangeChunk(
      "alice", PickleCode("import os", "lambda x: os._exit(3)"), 0, 0));
  EXPECT_EQ(outcome.kind, Kind::kRunnerFailed);
  EXPECT_EQ(outcome.message, "runner process exited with status 3");
  const std::string after =
      Results(runners->Run(RangeChunk("alice", pid, 0, 0)));
  EXPECT_NE(after, before);
  PythonRunnersStats stats = runners->stats();
  EXPECT_EQ(stats.deaths, 1u);
  EXPECT_EQ(stats.starts, 2u);
}

TEST(PythonRunnersFailureTest, SegfaultNamesTheSignal) {
  auto runners = MakeRunners(TestOptions(1));
  PythonOutcome outcome = runners->Run(
      RangeChunk("alice",
                 PickleCode("import os, signal",
                            "lambda x: os.kill(os.getpid(), signal.SIGSEGV)"),
                 0, 0));
  EXPECT_EQ(outcome.kind, Kind::kRunnerFailed);
  EXPECT_EQ(outcome.message, "runner process killed by signal 11 (SIGSEGV)");
  EXPECT_EQ(
      Results(runners->Run(RangeChunk("alice", PickleCode("", "abs"), 1, 1))),
      "[1]");
}

TEST(PythonRunnersFailureTest, SigkillMidChunkNamesTheSignal) {
  auto runners = MakeRunners(TestOptions(1));
  PythonOutcome outcome = runners->Run(
      RangeChunk("alice",
                 PickleCode("import os, signal",
                            "lambda x: os.kill(os.getpid(), signal.SIGKILL)"),
                 0, 0));
  EXPECT_EQ(outcome.kind, Kind::kRunnerFailed);
  EXPECT_EQ(outcome.message, "runner process killed by signal 9 (SIGKILL)");
  EXPECT_EQ(runners->stats().deaths, 1u);
}

TEST(PythonRunnersFailureTest, IdleRunnerKilledFromOutsideIsReplaced) {
  auto runners = MakeRunners(TestOptions(1));
  CodeBlob pid_code = PickleCode(kPid, "pid");
  const std::string first =
      Results(runners->Run(RangeChunk("alice", pid_code, 0, 0)));
  const pid_t pid = std::atoi(first.c_str() + 1);  // "[1234]"
  ASSERT_GT(pid, 0);
  int pidfd = PidfdOpen(pid);
  ASSERT_GE(pidfd, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);  // as the OOM killer would
  pollfd exited = {pidfd, POLLIN, 0};
  ASSERT_EQ(poll(&exited, 1, 30000), 1);
  close(pidfd);
  EXPECT_NE(Results(runners->Run(RangeChunk("alice", pid_code, 0, 0))), first);
  EXPECT_EQ(runners->stats().deaths, 1u);
}

TEST(PythonRunnersFailureTest, CancelJobEndsItsChunksPromptlyAndSparesOthers) {
  auto runners = MakeRunners(TestOptions(2));
  ScopedTempDir temp;
  const std::string& dir = temp.path();
  // Each announces it runs by creating a file; the doomed one then sleeps,
  // the spared one waits (with a deadline) for the test to release it.
  CodeBlob doomed = PickleCode(
      "import time\n"
      "def f(path):\n"
      "    open(path, 'w').close()\n"
      "    time.sleep(60)\n",
      "f");
  CodeBlob spared = PickleCode(
      "import os, time\n"
      "def f(path):\n"
      "    open(path, 'w').close()\n"
      "    deadline = time.monotonic() + 60\n"
      "    while not os.path.exists(path + '.go') and time.monotonic() < "
      "deadline:\n"
      "        time.sleep(0.005)\n"
      "    return 'done'\n",
      "f");
  PythonChunk job1 = ListChunk("alice", doomed, "['" + dir + "/a']", 1);
  PythonChunk job2 = ListChunk("alice", spared, "['" + dir + "/b']", 2);
  auto run1 =
      std::async(std::launch::async, [&] { return runners->Run(job1); });
  auto run2 =
      std::async(std::launch::async, [&] { return runners->Run(job2); });
  ASSERT_TRUE(WaitForFile(dir + "/a", std::chrono::seconds(60)));
  ASSERT_TRUE(WaitForFile(dir + "/b", std::chrono::seconds(60)));

  const Clock::time_point cancelled_at = Clock::now();
  runners->CancelJob(1);
  ASSERT_EQ(run1.wait_for(std::chrono::seconds(1)), std::future_status::ready);
  const auto took = Clock::now() - cancelled_at;
  PythonOutcome outcome1 = run1.get();
  EXPECT_EQ(outcome1.kind, Kind::kCancelled) << outcome1.message;
  EXPECT_LT(took, std::chrono::seconds(1));
  std::printf("CancelJob -> Run returned in %.2f ms\n",
              std::chrono::duration<double, std::milli>(took).count());

  EXPECT_EQ(run2.wait_for(std::chrono::seconds(0)),
            std::future_status::timeout);
  std::ofstream(dir + "/b.go").close();
  ASSERT_EQ(run2.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_EQ(Results(run2.get()), "['done']");
  PythonRunnersStats stats = runners->stats();
  EXPECT_EQ(stats.cancels, 1u);
  EXPECT_EQ(stats.deaths, 0u);
  EXPECT_EQ(stats.live, 1);
}

TEST(PythonRunnersFailureTest, RunsMaxRunnersChunksAtOnce) {
  auto runners = MakeRunners(TestOptions(2));
  ScopedTempDir temp;
  const std::string& dir = temp.path();
  // A rendezvous: each creates its file, then waits for the other's. Run
  // one after the other, the first would give up after 30 s and report it.
  CodeBlob meet = PickleCode(
      "import os, time\n"
      "def f(mine, theirs):\n"
      "    start = time.time()\n"
      "    open(mine, 'w').close()\n"
      "    deadline = time.monotonic() + 30\n"
      "    while not os.path.exists(theirs) and time.monotonic() < deadline:\n"
      "        time.sleep(0.002)\n"
      "    return (start, os.path.exists(theirs), time.time())\n",
      "f");
  const std::string a = dir + "/a", b = dir + "/b";
  PythonChunk first =
      ListChunk("alice", meet, "[('" + a + "', '" + b + "')]", 1);
  PythonChunk second =
      ListChunk("alice", meet, "[('" + b + "', '" + a + "')]", 1);
  first.call_style = second.call_style = PythonCallStyle::kStar;
  auto run1 =
      std::async(std::launch::async, [&] { return runners->Run(first); });
  auto run2 =
      std::async(std::launch::async, [&] { return runners->Run(second); });
  ASSERT_EQ(run1.wait_for(std::chrono::seconds(90)), std::future_status::ready);
  ASSERT_EQ(run2.wait_for(std::chrono::seconds(90)), std::future_status::ready);
  PythonOutcome o1 = run1.get(), o2 = run2.get();
  ASSERT_EQ(o1.kind, Kind::kOk) << o1.message;
  ASSERT_EQ(o2.kind, Kind::kOk) << o2.message;
  double s1, e1, s2, e2;
  ASSERT_EQ(std::sscanf(Unpickle(o1.result, "'%r %r %r' % v[0]").c_str(),
                        "%lf True %lf", &s1, &e1),
            2);
  ASSERT_EQ(std::sscanf(Unpickle(o2.result, "'%r %r %r' % v[0]").c_str(),
                        "%lf True %lf", &s2, &e2),
            2);
  EXPECT_LT(std::max(s1, s2), std::min(e1, e2));  // the runs overlapped
  EXPECT_EQ(runners->stats().starts, 2u);
}

TEST(PythonRunnersFailureTest, RunnerOutlivesTheThreadThatFirstUsedIt) {
  // PR_SET_PDEATHSIG fires when the forking *thread* exits: runners are
  // forked from a thread of their own, not from the caller's.
  auto runners = MakeRunners(TestOptions(1));
  PythonChunk chunk = RangeChunk("alice", PickleCode(kPid, "pid"), 0, 0);
  std::string first;
  std::thread([&] { first = Results(runners->Run(chunk)); }).join();
  EXPECT_EQ(Results(runners->Run(chunk)), first);
  EXPECT_EQ(runners->stats().deaths, 0u);
}

TEST(PythonRunnersFailureTest, RunnerStartsWithOnlyItsPipesAndNoSecrets) {
  setenv("TQ_CURVE_SECRET_KEY", "do-not-leak", 1);
  auto runners = MakeRunners(TestOptions(1));
  unsetenv("TQ_CURVE_SECRET_KEY");
  CodeBlob probe = PickleCode(
      "import ctypes, os\n"
      "def f(x):\n"
      "    fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))\n"
      "    return (fds, os.readlink('/proc/self/fd/0'),\n"
      "            [k for k in os.environ if k.startswith('TQ_CURVE')],\n"
      "            os.getpgid(0) == os.getpid(),\n"
      "            ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))\n",  // GET_DUMPABLE
      "f");
  // fd 5 is listdir's own; non-dumpable: no process of its uid may trace it.
  EXPECT_EQ(Results(runners->Run(RangeChunk("alice", probe, 0, 0))),
            "[([0, 1, 2, 3, 4, 5], '/dev/null', [], True, 0)]");
}

TEST(PythonRunnersFailureTest, RunnerThatExitsAtOnceIsReportedWithItsCommand) {
  PythonRunnersOptions options = TestOptions(1);
  options.runner_argv = {kPython, "-c", "import sys; sys.exit(5)"};
  auto runners = MakeRunners(options);
  PythonOutcome outcome =
      runners->Run(RangeChunk("alice", PickleCode("", "abs"), 0, 0));
  EXPECT_EQ(outcome.kind, Kind::kRunnerFailed);
  EXPECT_EQ(outcome.message,
            "runner process exited with status 5 before it was ready "
            "(`/usr/bin/python3 -c import sys; sys.exit(5)`: see the "
            "worker's stderr)");
}

TEST(PythonRunnersFailureTest, ExecFailureIsReportedWithErrno) {
  ScopedTempDir temp;
  const std::string& dir = temp.path();
  const std::string fake = dir + "/not-a-program";
  std::ofstream(fake) << "garbage";
  chmod(fake.c_str(), 0755);
  PythonRunnersOptions options = TestOptions(1);
  options.runner_argv = {fake};
  auto runners = MakeRunners(options);
  PythonOutcome outcome =
      runners->Run(RangeChunk("alice", PickleCode("", "abs"), 0, 0));
  EXPECT_EQ(outcome.kind, Kind::kRunnerFailed);
  EXPECT_EQ(outcome.message,
            "cannot start a runner: execve " + fake + ": Exec format error");
  EXPECT_EQ(runners->stats().live, 0);
}

TEST(PythonRunnersFailureTest, MalformedReplyKillsTheRunner) {
  PythonRunnersOptions options = TestOptions(1);
  options.runner_argv = {kPython, "-c",
                         "import os, time\n"
                         "os.read(3, 1 << 20)\n"
                         "os.write(4, b'\\xff\\xff\\xff\\xff')\n"
                         "time.sleep(60)\n"};
  auto runners = MakeRunners(options);
  PythonOutcome outcome =
      runners->Run(RangeChunk("alice", PickleCode("", "abs"), 0, 0));
  EXPECT_EQ(outcome.kind, Kind::kRunnerFailed);
  EXPECT_EQ(outcome.message.rfind("runner protocol error: reply of 4294967295 "
                                  "bytes exceeds the limit",
                                  0),
            0u)
      << outcome.message;
  EXPECT_EQ(runners->stats().live, 0);
}

TEST(PythonRunnersFailureTest, UnknownInterpreterFailsCreate) {
  PythonRunnersOptions options = TestOptions(1);
  options.python = "/nonexistent/python3";
  absl::StatusOr<std::unique_ptr<PythonRunners>> runners =
      PythonRunners::Create(options);
  EXPECT_TRUE(absl::IsNotFound(runners.status())) << runners.status();
  options.python = "tq-no-such-python";
  EXPECT_TRUE(absl::IsNotFound(PythonRunners::Create(options).status()));
}

}  // namespace
}  // namespace tq
