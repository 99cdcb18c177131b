// Runners under a code user: as root, runners switched to `nobody` cannot
// read the worker's secret key file (mode 0600, owned by root) nor regain
// root. Skipped unless the test runs as root.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include "tests/worker/python_test_util.h"
#include "worker/runners/probe_python.h"
#include "worker/runners/python_runners.h"
#include "worker/runners/runner_launch.h"

namespace tq {
namespace {

using testing::PickleCode;
using testing::PickleValue;
using testing::RangeChunk;
using testing::ScopedTempDir;
using testing::TestOptions;
using Kind = PythonOutcome::Kind;

TEST(PythonRunnersCodeUserTest, RunsAsNobodyWhoCannotReadTheWorkersSecrets) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root: runners switch to the code user `nobody` "
                    "only when the worker runs as root";
  }
  absl::StatusOr<CodeUser> nobody = ResolveCodeUser("nobody");
  ASSERT_TRUE(nobody.ok()) << nobody.status();
  // A key file as the worker keeps it: owned by root, mode 0600.
  ScopedTempDir temp;
  const std::string secret = temp.path() + "/worker.key_secret";
  std::ofstream(secret) << "secret";
  ASSERT_EQ(chmod(secret.c_str(), 0600), 0);
  ASSERT_EQ(chmod(temp.path().c_str(), 0755), 0);

  PythonRunnersOptions options = TestOptions(1);
  options.code_user = "nobody";
  absl::StatusOr<PythonInfo> info = ProbePython(options);
  EXPECT_TRUE(info.ok()) << info.status();

  absl::StatusOr<std::unique_ptr<PythonRunners>> runners =
      PythonRunners::Create(options);
  ASSERT_TRUE(runners.ok()) << runners.status();
  PythonChunk steal = RangeChunk(
      "alice", PickleCode("", "lambda path: open(path).read()"), 0, 0);
  steal.items = PickledListItems{
      std::make_shared<const std::string>(PickleValue("['" + secret + "']"))};
  PythonOutcome stolen = (*runners)->Run(steal);
  ASSERT_EQ(stolen.kind, Kind::kUserError);
  EXPECT_EQ(stolen.message.rfind("PermissionError: [Errno 13] Permission "
                                 "denied",
                                 0),
            0u)
      << stolen.message;

  PythonOutcome who = (*runners)->Run(RangeChunk(
      "alice",
      PickleCode("import os",
                 "lambda x: (os.getuid(), os.geteuid(), os.getgid(), "
                 "os.getcwd(), os.environ['HOME'])"),
      0, 0));
  EXPECT_EQ(testing::Unpickle(who.result),
            "[(" + std::to_string(nobody->uid) + ", " +
                std::to_string(nobody->uid) + ", " +
                std::to_string(nobody->gid) + ", '/', '" + nobody->home +
                "')]");
  PythonOutcome regain = (*runners)->Run(RangeChunk(
      "alice", PickleCode("import os", "lambda x: os.setuid(0)"), 0, 0));
  EXPECT_EQ(regain.kind, Kind::kUserError);
  EXPECT_EQ(regain.message.rfind("PermissionError", 0), 0u) << regain.message;
}

}  // namespace
}  // namespace tq
