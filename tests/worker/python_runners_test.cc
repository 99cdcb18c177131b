// PythonRunners with real `python -m tq.runner` processes: call styles,
// items, code caching, initializers, owner isolation, retirement and user
// errors. Deaths, cancellation and concurrency are in
// python_runners_failure_test.cc.
#include "worker/runners/python_runners.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/worker/python_test_util.h"

namespace tq {
namespace {

using testing::PickleCode;
using testing::PickleValue;
using testing::RangeChunk;
using testing::TestOptions;
using testing::Unpickle;
using Kind = PythonOutcome::Kind;

std::unique_ptr<PythonRunners> MakeRunners(int max_runners) {
  absl::StatusOr<std::unique_ptr<PythonRunners>> runners =
      PythonRunners::Create(TestOptions(max_runners));
  EXPECT_TRUE(runners.ok()) << runners.status();
  return runners.ok() ? *std::move(runners) : nullptr;
}

// The results of an outcome that must be kOk, as a Python repr.
std::string Results(const PythonOutcome& outcome) {
  EXPECT_EQ(outcome.kind, Kind::kOk) << outcome.message;
  return outcome.kind == Kind::kOk ? Unpickle(outcome.result) : "";
}

const char kPid[] = "import os\ndef pid(x): return os.getpid()";

TEST(PythonRunnersTest, MapsALambdaOverAnInclusiveRange) {
  auto runners = MakeRunners(1);
  PythonOutcome outcome = runners->Run(
      RangeChunk("alice", PickleCode("", "lambda x: x * 2"), 1, 5));
  EXPECT_EQ(Results(outcome), "[2, 4, 6, 8, 10]");
  EXPECT_TRUE(outcome.message.empty());
  PythonRunnersStats stats = runners->stats();
  EXPECT_EQ(stats.live, 1);
  EXPECT_EQ(stats.busy, 0);
  EXPECT_EQ(stats.starts, 1u);
}

TEST(PythonRunnersTest, RunsAClosure) {
  auto runners = MakeRunners(1);
  CodeBlob closure =
      PickleCode("def make(k):\n    return lambda x: x + k", "make(100)");
  EXPECT_EQ(Results(runners->Run(RangeChunk("alice", closure, 1, 3))),
            "[101, 102, 103]");
}

TEST(PythonRunnersTest, StarAndApplyCallStyles) {
  auto runners = MakeRunners(1);
  PythonChunk star =
      RangeChunk("alice", PickleCode("", "lambda a, b: a * b"), 0, 0);
  star.call_style = PythonCallStyle::kStar;
  star.items = PickledListItems{
      std::make_shared<const std::string>(PickleValue("[(1, 2), (3, 4)]")), 2};
  EXPECT_EQ(Results(runners->Run(star)), "[2, 12]");

  PythonChunk apply = RangeChunk(
      "alice", PickleCode("", "lambda x, y=0, z=0: (x, y, z)"), 0, 0);
  apply.call_style = PythonCallStyle::kApply;
  apply.items = PickledListItems{std::make_shared<const std::string>(
      PickleValue("[((1,), {'z': 3}), ((4, 5), {})]"))};
  EXPECT_EQ(Results(runners->Run(apply)), "[(1, 0, 3), (4, 5, 0)]");
}

TEST(PythonRunnersTest, PickledListRunsItsOffsetAndCount) {
  auto runners = MakeRunners(1);
  auto list =
      std::make_shared<const std::string>(PickleValue("list(range(10, 20))"));
  PythonChunk chunk = RangeChunk("alice", PickleCode("", "lambda x: -x"), 0, 0);
  chunk.items = PickledListItems{list, 10, 3, 4};
  EXPECT_EQ(Results(runners->Run(chunk)), "[-13, -14, -15, -16]");
  chunk.items = PickledListItems{list, 10, 8, 0};  // count 0: to the end
  EXPECT_EQ(Results(runners->Run(chunk)), "[-18, -19]");
}

TEST(PythonRunnersTest, FunctionIsSentOnceAndCachedBySha) {
  auto runners = MakeRunners(1);
  CodeBlob square = PickleCode("", "lambda x: x * x");
  EXPECT_EQ(Results(runners->Run(RangeChunk("alice", square, 3, 3))), "[9]");
  // Same sha, bytes that would not unpickle: only the runner's cache can
  // make this work, so the bytes were not sent (or not loaded) again.
  CodeBlob same_sha{square.sha256,
                    std::make_shared<const std::string>("not a pickle")};
  EXPECT_EQ(Results(runners->Run(RangeChunk("alice", same_sha, 4, 4))), "[16]");
}

TEST(PythonRunnersTest, InitializerRunsOncePerRunner) {
  auto runners = MakeRunners(1);
  // Globals of separately pickled functions are not shared (cloudpickle
  // gives each pickle its own), so the initializer leaves its state where
  // the function can find it: on the runner's __main__ module.
  const std::string definitions =
      "import os\n"
      "def init(value):\n"
      "    import __main__\n"
      "    __main__.VALUE = value\n"
      "    __main__.INIT_CALLS = getattr(__main__, 'INIT_CALLS', 0) + 1\n"
      "def read(x):\n"
      "    import __main__\n"
      "    return (__main__.VALUE, __main__.INIT_CALLS, os.getpid())\n";
  PythonChunk chunk =
      RangeChunk("alice", PickleCode(definitions, "read"), 1, 1);
  chunk.initializer = PickleCode(definitions, "(init, ('ready',))");
  std::string first = Results(runners->Run(chunk));
  EXPECT_NE(first.find("('ready', 1, "), std::string::npos) << first;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Results(runners->Run(chunk)), first);
  EXPECT_EQ(runners->stats().starts, 1u);
}

TEST(PythonRunnersTest, OwnersNeverShareARunner) {
  auto runners = MakeRunners(1);
  CodeBlob pid = PickleCode(kPid, "pid");
  const std::string alice1 =
      Results(runners->Run(RangeChunk("alice", pid, 0, 0)));
  const std::string bob = Results(runners->Run(RangeChunk("bob", pid, 0, 0)));
  const std::string alice2 =
      Results(runners->Run(RangeChunk("alice", pid, 0, 0)));
  EXPECT_NE(bob, alice1);
  EXPECT_NE(alice2, bob);
  EXPECT_NE(alice2, alice1);  // alice's first runner made room for bob's
  PythonRunnersStats stats = runners->stats();
  EXPECT_EQ(stats.starts, 3u);
  EXPECT_EQ(stats.retirements, 2u);
  EXPECT_EQ(stats.live, 1);
}

TEST(PythonRunnersTest, IdleRunnersOfSeveralOwnersAreReused) {
  auto runners = MakeRunners(2);
  CodeBlob pid = PickleCode(kPid, "pid");
  const std::string alice1 =
      Results(runners->Run(RangeChunk("alice", pid, 0, 0)));
  const std::string bob = Results(runners->Run(RangeChunk("bob", pid, 0, 0)));
  const std::string alice2 =
      Results(runners->Run(RangeChunk("alice", pid, 0, 0)));
  EXPECT_NE(bob, alice1);
  EXPECT_EQ(alice2, alice1);
  EXPECT_EQ(runners->stats().starts, 2u);
}

TEST(PythonRunnersTest, AnotherInitializerNeedsAnotherRunner) {
  auto runners = MakeRunners(2);
  CodeBlob pid = PickleCode(kPid, "pid");
  PythonChunk with_init = RangeChunk("alice", pid, 0, 0);
  with_init.initializer = PickleCode("", "(int, ())");
  const std::string plain =
      Results(runners->Run(RangeChunk("alice", pid, 0, 0)));
  EXPECT_NE(Results(runners->Run(with_init)), plain);
}

TEST(PythonRunnersTest, MaxChunksPerRunnerReplacesTheRunner) {
  auto runners = MakeRunners(1);
  PythonChunk chunk = RangeChunk("alice", PickleCode(kPid, "pid"), 0, 0);
  chunk.max_chunks_per_runner = 2;
  std::string pids[4];
  for (std::string& pid : pids) pid = Results(runners->Run(chunk));
  EXPECT_EQ(pids[0], pids[1]);
  EXPECT_NE(pids[1], pids[2]);
  EXPECT_EQ(pids[2], pids[3]);
  EXPECT_EQ(runners->stats().retirements, 2u);
  EXPECT_EQ(runners->stats().live, 0);
}

TEST(PythonRunnersTest, ExceptionIsAUserErrorNamingTheItem) {
  auto runners = MakeRunners(1);
  CodeBlob check = PickleCode(
      "def check(n):\n"
      "    if n == 12:\n"
      "        raise ValueError('bad n')\n"
      "    return n\n",
      "check");
  PythonOutcome outcome = runners->Run(RangeChunk("alice", check, 9, 20));
  ASSERT_EQ(outcome.kind, Kind::kUserError);
  EXPECT_EQ(outcome.message, "ValueError: bad n (item 3 of the chunk: 12)");
  EXPECT_EQ(Unpickle(outcome.details,
                     "'|'.join(str(v[k]) for k in ('type', 'message', "
                     "'item_offset', 'item_repr', 'stage'))"),
            "ValueError|bad n|3|12|call");
  EXPECT_EQ(Unpickle(outcome.details, "repr(pickle.loads(v['exception']))"),
            "ValueError('bad n')");
  const std::string traceback = Unpickle(outcome.details, "v['traceback']");
  EXPECT_NE(traceback.find("in check"), std::string::npos) << traceback;
  EXPECT_EQ(traceback.find("tq/runner.py"), std::string::npos) << traceback;
  // The runner survives its user's exceptions.
  EXPECT_EQ(Results(runners->Run(RangeChunk("alice", check, 1, 2))), "[1, 2]");
  EXPECT_EQ(runners->stats().starts, 1u);
}

TEST(PythonRunnersTest, UnpicklableExceptionStillHasTypeTextAndTraceback) {
  auto runners = MakeRunners(1);
  CodeBlob raise = PickleCode(
      "import threading\n"
      "class Locked(Exception):\n"
      "    pass\n"
      "def f(x):\n"
      "    e = Locked('holds a lock')\n"
      "    e.lock = threading.Lock()\n"
      "    raise e\n",
      "f");
  PythonOutcome outcome = runners->Run(RangeChunk("alice", raise, 0, 0));
  ASSERT_EQ(outcome.kind, Kind::kUserError);
  EXPECT_EQ(outcome.message,
            "__main__.Locked: holds a lock (item 0 of the chunk: 0)");
  EXPECT_EQ(Unpickle(outcome.details,
                     "(v['exception'], v['type'], v['message'], "
                     "'in f' in v['traceback'])"),
            "(b'', '__main__.Locked', 'holds a lock', True)");
}

TEST(PythonRunnersTest, FunctionWhoseModuleIsMissingIsAUserError) {
  auto runners = MakeRunners(1);
  // A function of an importable module pickles by reference; the runner
  // cannot import that module.
  CodeBlob by_reference = PickleCode(
      "import os, sys, tempfile\n"
      "d = tempfile.mkdtemp()\n"
      "open(os.path.join(d, 'tq_gone_module.py'), 'w').write("
      "'def f(x):\\n    return x\\n')\n"
      "sys.path.insert(0, d)\n"
      "import tq_gone_module\n",
      "tq_gone_module.f");
  PythonOutcome outcome = runners->Run(RangeChunk("alice", by_reference, 0, 0));
  ASSERT_EQ(outcome.kind, Kind::kUserError);
  EXPECT_EQ(outcome.message,
            "cannot load the function: ModuleNotFoundError: No module named "
            "'tq_gone_module'");
  EXPECT_EQ(Unpickle(outcome.details, "(v['stage'], v['item_offset'])"),
            "('function', -1)");
}

TEST(PythonRunnersTest, ResultOverTheLimitIsAUserError) {
  auto runners = MakeRunners(1);
  PythonOutcome outcome = runners->Run(
      RangeChunk("alice", PickleCode("", "lambda x: b'x' * (20 << 20)"), 0, 0,
                 /*job_id=*/42));
  ASSERT_EQ(outcome.kind, Kind::kUserError);
  EXPECT_EQ(outcome.message,
            "results of chunk 0 of job 42 are 20.0 MiB pickled; the limit is "
            "16 MiB: use a smaller chunksize");
}

TEST(PythonRunnersTest, UnpicklableResultIsAUserError) {
  auto runners = MakeRunners(1);
  PythonOutcome outcome = runners->Run(RangeChunk(
      "alice", PickleCode("import threading", "lambda x: threading.Lock()"), 0,
      0));
  ASSERT_EQ(outcome.kind, Kind::kUserError);
  EXPECT_EQ(outcome.message.rfind("results of chunk 0 of job 1 cannot be "
                                  "pickled: TypeError: cannot pickle",
                                  0),
            0u)
      << outcome.message;
}

TEST(PythonRunnersTest, FailingInitializerIsAUserErrorAndRetiresTheRunner) {
  auto runners = MakeRunners(1);
  PythonChunk chunk = RangeChunk("alice", PickleCode("", "abs"), 0, 0);
  chunk.initializer = PickleCode("import json", "(json.loads, ('{',))");
  PythonOutcome outcome = runners->Run(chunk);
  ASSERT_EQ(outcome.kind, Kind::kUserError);
  EXPECT_EQ(outcome.message.rfind("the initializer failed: "
                                  "json.decoder.JSONDecodeError: ",
                                  0),
            0u)
      << outcome.message;
  EXPECT_EQ(runners->stats().live, 0);
}

}  // namespace
}  // namespace tq
